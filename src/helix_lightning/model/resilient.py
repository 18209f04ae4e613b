"""Video that survives strand loss: the resilient layout (container version 6) and its decoder.

Layout (`helix encode --resilient`): one range-coded stream per group of RESILIENT_GROUP
frames, their lengths in the container header (`container`, version 6), and an outer code
of small segments (`segment_symbols`: about one group's symbols each, the size chosen that
wastes the fewest strands) with the redundancy today's layout would get, so a segment that
cannot be recovered costs the streams whose bytes it held, not the clip. Frames are coded as
today, frame t under frame t-1's tokens, except every `resync`-th frame, coded alone: a chain
of context restarts there (0: one chain, the cheapest; each restart costs about as much as
three frames coded under context, docs/CODEC.md).

Decoding (`decode_tokens`): a stream decodes when all its bytes arrived and the chain it
belongs to is intact up to it; every other frame is predicted by the masked token model
(`predict_frame`: the coding stages in order, each position its most probable token given
the ones before and frame t-1's tokens, decoded or predicted), and decoding resumes exactly
at the next chain. Which frames were predicted is said in a `PredictedFramesWarning`
(`helix decode` prints it as a warning line).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from ..dna.archive import archive_geometry
from ..dna.constraints import ConstraintSet
from ..dna.outer import OVERHEAD, Segmentation
from ..dna.salvage import PartialBytes, missing_ranges
from ..dna.strands import StrandLayout
from ..errors import HelixError
from . import container
from .entropy import Progress, TokenEntropyCoder, marginal_np
from .masked import coding_context

if TYPE_CHECKING:
    from .codec import HelixCodec

RESILIENT_GROUP = 8  # frames per stream: at most +1% nt at each rate (docs/CODEC.md)


class PredictedFramesWarning(UserWarning):
    """Some frames could not be decoded exactly and were predicted (`frames`, 0-based)."""

    def __init__(self, message: str, frames: Sequence[int]) -> None:
        super().__init__(message)
        self.frames = tuple(frames)


def spans(frames: Sequence[int]) -> str:
    """0-based frame numbers as ranges: [0, 1, 2, 5] -> "0-2, 5"."""
    out: list[str] = []
    for t in sorted(frames):
        if out and out[-1][1] == t - 1:
            out[-1][1] = t
        else:
            out.append([t, t])
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in out)


# ---------------------------------------------------------------------- encode

def _share(repairs: int, k_plain: int, seg: Segmentation) -> tuple[int, int]:
    """(repair symbols of a full segment, strands in all) when the segments of `seg` share
    `repairs` in proportion to their source symbols (today's layout: `k_plain` of them)."""
    k = [seg.symbols(i) for i in range(seg.count)]
    r_full = max(OVERHEAD, round(repairs * k[0] / max(k_plain, k[0])))
    share = (r_full - 1e-9) / k[0]  # encode_archive: ceil(share x k) per segment
    return r_full, sum(n + math.ceil(share * n) for n in k)


def archive_options(data: bytes, streams: int, cs: ConstraintSet,
                    redundancy: float | None) -> dict[str, Any]:
    """`encode_archive`'s redundancy and segment size for a resilient container of `streams`
    streams: segments of half a stream's symbols to one stream's sharing, in proportion, the
    repair symbols today's layout (one segment; `redundancy`, else the default rule) would
    give it, the size that writes the fewest strands (the smaller on ties)."""
    plain = archive_geometry(len(data), StrandLayout(cs), redundancy)
    repairs, T = sum(plain.repairs), plain.symbol_size
    k_plain = sum(plain.segmentation.symbols(s) for s in range(plain.segmentation.count))
    target = max(1, math.ceil(len(data) / max(1, streams) / T))
    best: tuple[int, int, int] | None = None  # (strands, segment symbols, full repair)
    for most in range(max(1, math.ceil(target / 2)), target + 1):
        seg = Segmentation(len(data), T, most)
        r_full, total = _share(repairs, k_plain, seg)
        if best is None or total < best[0]:
            best = (total, most, r_full)
    assert best is not None
    _, most, r_full = best
    k_full = Segmentation(len(data), T, most).symbols(0)
    return {"redundancy": (r_full - 1e-9) / k_full, "segment_symbols": most}


# ---------------------------------------------------------------------- decode

def predict_frame(coder: TokenEntropyCoder, prev: Tensor | None) -> Tensor:
    """A frame none of whose tokens arrived: the coding stages in order, each position set to
    its most probable token (the kept digits' marginal) given the positions set before and
    `prev`, frame t-1's tokens; then the dropped positions (`coder.fill`)."""
    hp, wp = coder.shape
    flat = torch.zeros(hp * wp, dtype=torch.long)
    with coding_context():
        for s in range(coder.stages):
            rows = coder.plan.rows[s]
            if not len(rows):
                continue
            probs = marginal_np(coder.plan.probabilities(flat, prev, s, coder._state)[0],
                                coder.step)
            flat[rows] = torch.from_numpy(probs.argmax(-1).astype(np.int64)) * coder.step
        return coder.fill(flat.view(hp, wp), prev)


def _decoder(coder: TokenEntropyCoder, raw: bytes) -> Any:
    return coder._lib.stream.queue.RangeDecoder(np.frombuffer(raw, dtype="<u4").astype(np.uint32))


def decode_tokens(coder: TokenEntropyCoder, streams: Sequence[bytes | None], count: int,
                  group: int, resync: int, progress: Progress | None = None
                  ) -> tuple[Tensor, list[int]]:
    """Token grids (count, hp, wp) from the streams of a version 6 container (None: a stream
    that did not arrive) and the frames predicted instead of decoded."""
    out = torch.empty(count, *coder.shape, dtype=torch.long)
    predicted: list[int] = []
    prev: Tensor | None = None
    intact = True
    for g, raw in enumerate(streams):
        start = g * group
        intact = (intact or (resync and start % resync == 0)) and raw is not None
        if intact and len(raw) % 4:
            intact = False
        dec = _decoder(coder, raw) if intact else None
        for t in range(start, min(count, start + group)):
            context = None if t == 0 or (resync and t % resync == 0) else prev
            coder.begin_frame(t, group, resync)  # a temporal prior's state, if any
            full = None
            if dec is not None:
                try:
                    full = coder._decode_frame(dec, context)
                except AssertionError:  # words that do not decode: lost after all
                    dec, intact = None, False
            if full is None:
                full = predict_frame(coder, prev)
                predicted.append(t)
            out[t] = full
            coder.end_frame(full)
            prev = full.reshape(-1)
            if progress:
                progress("entropy-decode", t + 1, count)
    return out, predicted


def held_streams(data: bytes, meta: dict[str, Any]) -> list[bytes | None]:
    """The version 6 container's streams, None for one with a byte the outer code lost."""
    pos, out = meta["header_size"], []
    for n in meta["stream_lengths"]:
        known = not any(a < pos + n and pos < b for a, b in missing_ranges(data))
        out.append(bytes(data[pos:pos + n]) if known else None)
        pos += n
    return out


def check_readable(data: bytes) -> None:
    """Raise the outer code's failure for a container with holes unless it is a resilient one
    whose header and stream table arrived: only that layout can be decoded in part."""
    if not missing_ranges(data):
        return
    assert isinstance(data, PartialBytes)
    try:
        size = container.header_size(data[:container.HEADERS[6].size])
        readable = (data[4] == container.RESILIENT_VERSION and data.known(0, size))
    except HelixError:
        readable = False
    if not readable:
        raise data.failure


def decode_container(codec: HelixCodec, data: bytes, progress: Progress | None = None,
                     on_header: Any = None) -> np.ndarray:
    """A version 6 container, all or part of it (`dna.salvage.PartialBytes`) -> uint8
    frames; frames that could not be decoded are predicted, and a PredictedFramesWarning
    names them."""
    from .pipeline import check_meta

    check_readable(data)
    strings, shape, meta = container.from_bytes(data)
    check_meta(codec, meta, shape)
    if on_header:
        on_header(shape, meta)
    coder = TokenEntropyCoder(codec.token_model, shape.hp, shape.wp, shape.stages, shape.drop,
                              meta["precision"], shape.digits or None)
    tokens, predicted = decode_tokens(coder, held_streams(data, meta), shape.frames,
                                      shape.group, meta["resync"], progress)
    if predicted:
        warn_predicted(predicted, shape.frames, getattr(data, "failure", None))
    return codec.reconstruct(codec.fsq.digits_from_indices(tokens), (shape.h, shape.w),
                             shape.coded_size, progress, (shape.height, shape.width),
                             shape.digits)


def warn_predicted(frames: Sequence[int], count: int, failure: Exception | None) -> None:
    """Warn (PredictedFramesWarning) that `frames` of `count` were predicted, and why."""
    why = str(failure).removesuffix("; nothing written") if failure else "a stream is corrupt"
    exact = sorted(set(range(count)) - set(frames))
    rest = f"frames {spans(exact)} decoded exactly" if exact else "no frame decoded exactly"
    warnings.warn(PredictedFramesWarning(
        f"frames {spans(frames)} of {count} predicted by the token model (strands lost beyond "
        f"the outer code's repair: {why}); {rest}", frames), stacklevel=2)
