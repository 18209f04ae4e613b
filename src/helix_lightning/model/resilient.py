"""Video that survives strand loss: the resilient layout (container version 7) and its decoder.

Layout (`helix encode --resilient [RESYNC]`): one range-coded stream per context chain (the
whole clip, or `resync` frames), their lengths in the container header (`container`, version
7: version 6's header and stream table, then the streams, then a header guard that rebuilds
a lost header, `header_guard`), under the outer code today's layout gets (one RaptorQ code
over the whole container, the same rule; `archive_redundancy` adds repair symbols for the
guard's strands): wherever today's layout decodes, this one decodes bit-exact. Frames are
coded as today, frame t under frame t-1's tokens, except every `resync`-th frame, coded alone:
a chain restart there (0: one chain, the cheapest; each restart costs about as much as three
frames coded under context, docs/CODEC.md).

Decoding beyond the outer code's repair (`decode_tokens`): RaptorQ is systematic, so the
source strands that arrived are known container bytes (`dna.salvage`). A stream decodes
stage by stage up to its first lost byte: a shadow range encoder re-encodes the decoded
symbols, and a coding stage is exact while the words the decoder may have read (the shadow's
words plus LOOKAHEAD_WORDS) all arrived. The rest of that frame and every later frame of the
chain are predicted by the masked token model (`predict_frame`: the coding stages in order,
each position its most probable token given the ones before and frame t-1's tokens, decoded
or predicted), and decoding resumes exactly at the next chain. Which frames were predicted is
said in a `PredictedFramesWarning` (`helix decode` prints it as a warning line).
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
from ..dna.salvage import PartialBytes, missing_ranges
from ..dna.strands import StrandLayout
from ..errors import HelixError
from . import container, header_guard
from .conditional import is_conditional
from .entropy import Progress, TokenEntropyCoder, marginal_np
from .masked import coding_context

if TYPE_CHECKING:
    from .codec import HelixCodec

#: Words a range decoder may have read beyond the words its encoder had written for the same
#: symbols: its 64-bit state, two 32-bit words (constriction's queue coder).
LOOKAHEAD_WORDS = 2


class PredictedFramesWarning(UserWarning):
    """Some frames could not be decoded exactly and were predicted (`frames`, 0-based)."""

    def __init__(self, message: str, frames: Sequence[int]) -> None:
        super().__init__(message)
        self.frames = tuple(frames)


def spans(frames: Sequence[int]) -> str:
    """0-based frame numbers as ranges: [0, 1, 2, 5] -> "0-2, 5"."""
    out: list[list[int]] = []
    for t in sorted(frames):
        if out and out[-1][1] == t - 1:
            out[-1][1] = t
        else:
            out.append([t, t])
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in out)


def chain_starts(frames: int, resync: int) -> tuple[int, ...]:
    """The frames that start a context chain (frame 0 and every `resync`-th): an inter-coded
    clip's intra frames in this layout."""
    return tuple(range(0, frames, resync)) if resync else (0,)


def default_group(frames: int, resync: int) -> int:
    """Frames per stream of the resilient layout: one stream per context chain (`resync`
    frames; 0: the whole clip of `frames`), as a chain cannot be decoded past a loss anyway
    and each stream costs its coder's flush."""
    return resync or frames


# ---------------------------------------------------------------------- encode

def archive_redundancy(data: bytes, streams: int, cs: ConstraintSet,
                       redundancy: float | None) -> float | None:
    """`encode_archive`'s redundancy for a version 7 container of `streams` streams: today's
    (`redundancy`, or the default rule) unless the header guard's g extra source symbols would
    leave it fewer spare strands than the container without its guard gets, plus ceil(g / 2):
    at strand dropout up to 1/3 the guard's strands lose fewer than that in the mean, so the
    outer code fails no more often than today's layout's (docs/CODEC.md)."""
    guard = 2 * header_guard.row_length(container.HEADERS[7].size + 4 * (1 + streams))
    layout = StrandLayout(cs)
    mine = archive_geometry(len(data), layout, redundancy)
    base = archive_geometry(len(data) - guard, layout, redundancy)
    k = sum(mine.segmentation.symbols(s) for s in range(mine.segmentation.count))
    k0 = sum(base.segmentation.symbols(s) for s in range(base.segmentation.count))
    want = sum(base.repairs) + math.ceil((k - k0) / 2)
    return redundancy if sum(mine.repairs) >= want else (want - 1e-9) / k


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


def known_words(raw: bytes) -> int | None:
    """The 32-bit words of a stream before its first lost byte (None: nothing lost)."""
    holes = missing_ranges(raw)
    return min(a for a, _ in holes) // 4 if holes else None


class _ChainDecoder:
    """Decodes one stream stage by stage while every word its decoder may read arrived."""

    def __init__(self, coder: TokenEntropyCoder, raw: bytes | None) -> None:
        self.coder, self.dec, self.shadow, self.limit = coder, None, None, 0
        if raw is None or len(raw) % 4:
            return
        self.dec, limit = _decoder(coder, raw), known_words(raw)
        if limit is not None:  # a shadow encoder counts the words read (LOOKAHEAD_WORDS)
            self.shadow, self.limit = coder._lib.stream.queue.RangeEncoder(), limit

    def frame(self, context: Tensor | None, prev: Tensor | None) -> tuple[Tensor, bool]:
        """The next frame's grid (coded under `context`) and whether it is exact: its coding
        stages decoded while they could be, the rest predicted as `predict_frame` does from
        `prev` (and no more decoding from this stream)."""
        coder = self.coder
        flat = torch.zeros(coder.shape[0] * coder.shape[1], dtype=torch.long)
        exact = self.dec is not None
        with coding_context():
            for s in range(coder.stages):
                rows = coder.plan.rows[s]
                if not len(rows):
                    continue
                sym = self._stage(flat, context, s) if self.dec is not None else None
                if sym is None:
                    self.dec, exact = None, False
                    sym = marginal_np(coder.plan.probabilities(flat, prev, s, coder._state)[0],
                                      coder.step).argmax(-1)
                flat[rows] = torch.from_numpy(np.asarray(sym, dtype=np.int64)) * coder.step
            return coder.fill(flat.view(*coder.shape), context if exact else prev), exact

    def _stage(self, flat: Tensor, context: Tensor | None, s: int) -> np.ndarray | None:
        """Stage s's symbols, or None where they may have read a lost word or do not decode."""
        coder = self.coder
        _, freq = coder._tables(flat, context, s)
        try:
            sym = self.dec.decode(coder._cat, freq / coder._scale)
        except AssertionError:  # words that do not decode: lost after all
            return None
        if self.shadow is not None:
            self.shadow.encode(np.asarray(sym, dtype=np.int32), coder._cat, freq / coder._scale)
            if self.shadow.num_words() + LOOKAHEAD_WORDS > self.limit:
                return None
        return sym


def decode_tokens(coder: TokenEntropyCoder, streams: Sequence[bytes | None], count: int,
                  group: int, resync: int, progress: Progress | None = None
                  ) -> tuple[Tensor, list[int]]:
    """Token grids (count, hp, wp) from the streams of a version 6 or 7 container (None: a
    stream that did not arrive; `dna.salvage.PartialBytes`: one with holes, decoded up to the
    first) and the frames predicted (in whole or in part) instead of decoded."""
    out = torch.empty(count, *coder.shape, dtype=torch.long)
    predicted: list[int] = []
    prev: Tensor | None = None
    intact = True
    for g, raw in enumerate(streams):
        start = g * group
        intact = intact or bool(resync and start % resync == 0)
        chain = _ChainDecoder(coder, raw if intact else None)
        for t in range(start, min(count, start + group)):
            context = None if t == 0 or (resync and t % resync == 0) else prev
            coder.begin_frame(t, group, resync)  # a temporal prior's state, if any
            full, exact = chain.frame(context, prev)
            if not exact:
                intact = False
                predicted.append(t)
            out[t] = full
            coder.end_frame(full)
            prev = full.reshape(-1)
            if progress:
                progress("entropy-decode", t + 1, count)
    return out, predicted


def held_streams(data: bytes, meta: dict[str, Any]) -> list[bytes]:
    """The version 6 container's streams; one with bytes the outer code lost comes as
    `PartialBytes` (zeros there, its holes counted from the stream's start)."""
    pos, out = meta["header_size"], []
    for n in meta["stream_lengths"]:
        raw = bytes(data[pos:pos + n])
        holes = [(max(a, pos) - pos, min(b, pos + n) - pos)
                 for a, b in missing_ranges(data) if a < pos + n and pos < b]
        out.append(PartialBytes(raw, holes, data.failure) if holes else raw)
        pos += n
    return out


MAX_STREAMS_TRIED = 4096  # stream counts `header_guard.recover` tries for a lost header


def check_readable(data: bytes) -> bytes:
    """`data`, its header rebuilt from the header guard if it was lost (version 7); raise the
    outer code's failure for a container with holes unless it is a resilient one whose header
    and stream table arrived or could be rebuilt: only that layout can be decoded in part."""
    if not missing_ranges(data):
        return data
    assert isinstance(data, PartialBytes)
    try:
        size = container.header_size(data[:container.HEADERS[6].size])
        if data[4] in container.RESILIENT_VERSIONS and data.known(0, size):
            return data
    except HelixError:
        pass
    if data.known(4, 5) and data[4] != container.RESILIENT_VERSION:
        raise data.failure  # another layout, or version 6: no guard to rebuild it from
    return _rebuilt_header(data)


def _rebuilt_header(data: PartialBytes) -> PartialBytes:
    """`data` with its header rebuilt from the guard (`header_guard.recover`), its holes less
    the header's; the outer code's failure if no stream count gives a consistent header."""
    fixed = container.HEADERS[7].size + 4  # the fixed fields and the resync period

    def consistent(head: bytes, n: int) -> bool:
        try:
            _, meta, streams = container.read_header(head)
        except HelixError:
            return False
        return (meta["version"] == 7 and meta["header_size"] == n and
                n + sum(meta["stream_lengths"]) + container.guard_size(meta) == len(data))

    sizes = (fixed + 4 * s for s in range(1, MAX_STREAMS_TRIED + 1))
    head = header_guard.recover(data, data.missing, sizes, consistent)
    if head is None:
        raise data.failure
    holes = [(max(a, len(head)), b) for a, b in data.missing if b > len(head)]
    return PartialBytes(head + bytes(data[len(head):]), holes, data.failure)


def decode_container(codec: HelixCodec, data: bytes, progress: Progress | None = None,
                     on_header: Any = None) -> np.ndarray:
    """A version 6 or 7 container, all or part of it (`dna.salvage.PartialBytes`) -> uint8
    frames; frames that could not be decoded are predicted, and a PredictedFramesWarning
    names them."""
    from .pipeline import check_meta

    data = check_readable(data)
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
    if is_conditional(codec):  # inter coded: intra at the chain starts
        from .inter_coding import reconstruct

        intra = chain_starts(shape.frames, meta["resync"])
        return reconstruct(codec, tokens, shape._replace(intra=intra), progress)
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
