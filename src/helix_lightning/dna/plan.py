"""Plan an archive before synthesis: redundancy, strands, cost and failure odds for a channel.

1. The per-strand erasure rate p of the channel is predicted (`erasure_model`: no reads, or
   read recovery failing at the reads a strand has).
2. The archive's layout is the one `encode_archive` writes (`archive.archive_geometry`: index
   width, symbol size, RaptorQ segments); each segment of k source symbols gets the fewest
   repair symbols r with P(Binomial(k + r, 1 - p) < k + 2) <= t, the outer code's rule
   (`outer.repair_symbols`), with t = target / segments, halved until the archive meets the
   target under the fuller model of step 3.
3. A segment fails when fewer than k of its k + r strands arrive, or when RaptorQ fails on
   k + h received symbols, which RFC 6330 puts at about 10^-(2(h+1)):
   P(segment fails) = P(R < k) + sum_h P(R = k + h) 10^-(2(h+1)), R ~ Binomial(k + r, 1 - p).
   The archive fails when any segment does: 1 - prod(1 - P(segment fails)).
Encoding with `erasure_rate=p` and `failure_target=t` (what `encode_options` hands to
`encode_archive`) writes exactly the planned strands.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import binom

from ..errors import HelixError
from .archive import Geometry, archive_geometry
from .channel import ChannelParams
from .constraints import ConstraintSet, get_constraints
from .density import net_density
from .erasure_model import ErasurePrediction, predict_erasure
from .strands import DEFAULT_STRAND_LEN, StrandLayout

DEFAULT_ARCHIVE_TARGET = 1e-6  # chance the whole archive cannot be decoded
DEFAULT_PRICE_PER_NT = 1e-4    # USD per synthesised nt, primers included: an assumption, the
#                                same as `helix bench rd`'s, not a quote
MAX_ERASURE = 0.85             # beyond this no sensible redundancy carries the channel
_RAPTORQ_TERMS = 10            # overheads h whose RaptorQ failure 10^-(2(h+1)) is summed
_MAX_HALVINGS = 200


@dataclass
class ArchivePlan:
    """What `plan_archive` chose and predicts."""

    channel: str
    params: ChannelParams
    prediction: ErasurePrediction
    geometry: Geometry
    header_strands: int
    segment_target: float
    failure_target: float
    failure_probability: float
    price_per_nt: float

    @property
    def strand_erasure(self) -> float:
        return self.prediction.strand_erasure

    def to_dict(self) -> dict[str, Any]:
        """The plan as `helix dna plan --json` prints it."""
        geo, layout = self.geometry, self.geometry.layout
        seg = geo.segmentation
        data = sum(seg.symbols(s) for s in range(seg.count))
        parity = sum(geo.repairs)
        strands = self.header_strands + data + parity
        nt, nt_primers = strands * layout.coded_nt, strands * layout.strand_len
        p = self.params
        return {
            "channel": self.channel, "sub": p.sub, "ins": p.ins, "del": p.dele,
            "dropout": p.dropout, "coverage": p.coverage, "dispersion": p.dispersion,
            "constraints": layout.cs.name, "bytes": geo.size, "strand_length": layout.strand_len,
            "index_bits": geo.index_bits, "symbol_bytes": geo.symbol_size,
            "segments": seg.count, **self.prediction.to_dict(),
            "redundancy": parity / data, "data_strands": data, "parity_strands": parity,
            "header_strands": self.header_strands, "strands": strands, "nt": nt,
            "nt_with_primers": nt_primers,
            "net_density": net_density(8 * geo.size, nt, empty=0.0),
            "net_density_with_primers": net_density(8 * geo.size, nt_primers),
            "price_per_nt": self.price_per_nt, "cost_usd": nt_primers * self.price_per_nt,
            "failure_target": self.failure_target, "segment_target": self.segment_target,
            "failure_probability": self.failure_probability,
        }

    def summary_line(self) -> str:
        """One line: the channel, the predicted erasure and what was chosen for it."""
        d = self.to_dict()
        return (f"plan: channel {self.channel}: strand erasure {self.strand_erasure:.2%} "
                f"predicted -> redundancy {d['redundancy']:.3f}, failure "
                f"{self.failure_probability:.1e} (target {self.failure_target:.0e})")


def plan_archive(size: int, params: ChannelParams, constraints: str | ConstraintSet = "standard",
                 strand_len: int = DEFAULT_STRAND_LEN, *,
                 failure_target: float = DEFAULT_ARCHIVE_TARGET,
                 price_per_nt: float = DEFAULT_PRICE_PER_NT, channel: str = "custom"
                 ) -> ArchivePlan:
    """Plan a `size`-byte archive on `params` (module docstring); HelixError on a bad setting
    or a channel no redundancy can carry. `channel` names the channel in the output."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise HelixError(f"plan: size must be a whole number of bytes >= 1, got {size!r}")
    if not 0.0 < failure_target < 1.0:
        raise HelixError(f"plan: failure target must be in (0, 1), got {failure_target}")
    if not (price_per_nt >= 0.0 and math.isfinite(price_per_nt)):
        raise HelixError(f"plan: price per nt must be >= 0, got {price_per_nt}")
    layout = StrandLayout(get_constraints(constraints), strand_len)
    prediction = predict_erasure(params, layout.cs, strand_len)
    p = prediction.strand_erasure
    if p > MAX_ERASURE:
        raise HelixError(f"plan: channel {channel}: {p:.1%} of strands predicted lost "
                         f"({prediction.no_reads:.1%} without reads, {prediction.recovery:.1%} "
                         "where read recovery fails); no redundancy carries that: "
                         + _advice(prediction))
    target = failure_target / archive_geometry(size, layout, None, p).segmentation.count
    for _ in range(_MAX_HALVINGS):
        geo = archive_geometry(size, layout, None, p, target)
        failure = archive_failure(geo, p)
        if failure <= failure_target:
            return ArchivePlan(channel, params, prediction, geo, geo.header_strands(), target,
                               failure_target, failure, price_per_nt)
        target /= 2
    raise HelixError(f"plan: cannot bring the failure probability under {failure_target:g}")


def _advice(prediction: ErasurePrediction) -> str:
    """What would help: more reads, unless recovery fails even with many."""
    if prediction.fail_by_reads[-1] > 0.5:
        return (f"read recovery fails even with {len(prediction.fail_by_reads) - 1} reads per "
                "strand at these error rates")
    return "raise the coverage or lower the error rates"


def segment_failure(k: int, r: int, erasure: float) -> float:
    """P(a segment of k source and r repair symbols fails) at strand-erasure rate `erasure`
    (module docstring, step 3)."""
    n, arrive = k + r, 1.0 - erasure
    h = np.arange(_RAPTORQ_TERMS)
    raptorq = float(binom.pmf(k + h, n, arrive) @ (10.0 ** (-2.0 * (h + 1))))
    return min(1.0, float(binom.cdf(k - 1, n, arrive)) + raptorq)


def archive_failure(geo: Geometry, erasure: float) -> float:
    """P(at least one segment fails)."""
    seg = geo.segmentation
    survive = sum(math.log1p(-min(segment_failure(seg.symbols(s), geo.repairs[s], erasure),
                                  1.0 - 1e-16)) for s in range(seg.count))
    return -math.expm1(survive)
