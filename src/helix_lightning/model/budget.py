"""Sizing a synthesis order: the best rate point of a model whose strands fit N nucleotides.

`encode_within_budget(codec, frames, budget)` encodes at the highest-quality point of the
model's ladder (`rates.ladder`, best first) whose strands hold at most `budget` nt in all,
primers included (every base of the FASTA: what an order pays for). The ladder's points are
assumed to cost fewer nt the further down the ladder they sit (true of scale and digits
kept on natural clips), so a binary search finds the point with ceil(log2(points + 1))
encodes; every answer is a real encode, whose nt are checked, never an estimate. When even
the cheapest point is over the budget, one HelixError line names the smallest budget
possible: that point's nt.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import HelixError
from .rates import ladder

if TYPE_CHECKING:
    from .codec import HelixCodec
    from .pipeline import VideoStats


def budget_nt(stats: VideoStats) -> int:
    """The nucleotides a budget counts: every base written, primers included."""
    return int(stats.nt_with_primers)


def encode_within_budget(codec: HelixCodec, frames: np.ndarray, budget: int,
                         **options: Any) -> tuple[list[str], VideoStats]:
    """(strands, stats) at the best point of the codec's ladder that fits `budget` nt;
    `options` as in `HelixCodec.encode_video` (constraints, coder, fps, ...; not `rate`).
    HelixError naming the smallest budget possible when no point fits."""
    if isinstance(budget, bool) or int(budget) != budget or budget < 1:
        raise HelixError(f"nt budget must be a positive whole number, got {budget}")
    if "rate" in options:
        raise HelixError("an nt budget picks the rate point itself: give no rate")
    names = list(ladder(codec.config))
    done: dict[int, tuple[list[str], VideoStats]] = {}

    def encode(i: int) -> tuple[list[str], VideoStats]:
        if i not in done:
            done[i] = codec.encode_video(frames, rate=names[i], **options)
        return done[i]

    lo, hi = 0, len(names) - 1  # the answer, if any, is the first fitting index in [lo, hi]
    while lo < hi:
        mid = (lo + hi) // 2
        if budget_nt(encode(mid)[1]) <= budget:
            hi = mid
        else:
            lo = mid + 1
    strands, stats = encode(lo)
    if budget_nt(stats) > budget:
        raise HelixError(f"no rate point fits {budget} nt: the smallest budget possible is "
                         f"{budget_nt(stats)} nt (rate point {names[lo]!r}, primers "
                         f"included)")
    return strands, stats
