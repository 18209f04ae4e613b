"""The token entropy coder: range coding of a clip's token grids under the masked token model.

`TokenEntropyCoder` is the package's only range-coding loop (constriction's queue range
coder). Frame t is coded stage by stage (`masked.stage_masks`), each stage under the token
model's probabilities given the stages before it and frame t-1's *decoded* tokens (stored
ones exactly, dropped ones as the model predicts them); one stream per group of frames (the
coder's flush overhead is paid once per stream). Encoder and decoder make the same calls on
the same float64 network (`masked.StagePlan`, `masked.coding_context`).

Integer tables: the coder is fed integer frequencies of `precision` bits
(`integer_frequencies`), divided by 2**precision: exact dyadic numbers, so both sides build
the same quantised model. Probabilities are first rounded to a grid of 1e-6 (an integer count
in 0..10**6): float drift of ~1e-15 between machines (another BLAS kernel) flips such a
rounding only when a value lies within 1e-15 of a grid midpoint, a chance of about 1e-9 per
entry. Everything after that is integer arithmetic: each symbol gets 1 plus its floor share
of the remaining 2**precision - K counts, and the counts left over go to the largest
remainders (ties by lower symbol id). This build writes PRECISION = 24 bits, constriction's
own model precision: every symbol keeps at least 2**-24, so a confident model pays ~1e-5
bits per token for the table floor (16 bits would cost ~0.006 bits per token with 256
symbols, several % of a low-rate clip). Containers record their precision; the first ones
used 16 bits and still decode.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import HelixError
from .masked import StagePlan, coding_context, coding_logits

#: Range-coder table precision (bits) this build writes; decoders use the recorded one.
PRECISION = 24
MAX_PRECISION = 24  # what constriction's range coder takes
GRID = 10**6  # probabilities are rounded to multiples of 1 / GRID before quantising

#: progress(stage, done, total), called once per frame.
Progress = Callable[[str, int, int], None]


def check_precision(precision: int, symbols: int) -> None:
    """Refuse a table precision the range coder cannot use for `symbols` symbols."""
    if not (symbols <= 1 << precision and precision <= MAX_PRECISION):
        raise HelixError(f"table precision {precision} bits does not fit {symbols} symbols "
                         f"and the range coder's {MAX_PRECISION} bits")


def integer_frequencies(probs: np.ndarray, precision: int = 16) -> np.ndarray:
    """Integer tables (..., K) int64: every entry >= 1, each row sums to 2**precision.

    Probabilities are first rounded to multiples of 1e-6, then quantised with integer
    arithmetic only (see the module docstring for why this is reproducible).
    """
    p = np.asarray(probs, dtype=np.float64)
    k = p.shape[-1]
    total = 1 << precision
    if k > total:
        raise HelixError(f"{k} symbols do not fit a 2**{precision} frequency table")
    q = np.rint(np.clip(p, 0.0, None) * GRID).astype(np.int64)
    flat = q.reshape(-1, k)
    s = flat.sum(1, keepdims=True)
    flat = np.where(s > 0, flat, 1)  # a degenerate row becomes uniform
    s = flat.sum(1, keepdims=True)
    spare = total - k
    num = flat * spare
    if int(num.max()) < 2**52:  # floor division through float64 is exact here, and faster
        quot = np.floor(num / s).astype(np.int64)
    else:
        quot = num // s
    rem = num - quot * s
    freq = 1 + quot
    deficit = total - freq.sum(1)  # in [0, k)
    # the `deficit` largest remainders (ties: lower symbol id first) get one count more; as
    # one integer key per entry (all distinct): remainder, then the reversed symbol id
    key = rem * k + (k - 1 - np.arange(k))
    kth = np.sort(key, axis=1)[np.arange(len(key)), np.maximum(k - deficit, 0).clip(max=k - 1)]
    freq += (key >= kth[:, None]) & (deficit[:, None] > 0)
    return freq.reshape(p.shape)


def digit_step(codebook_size: int, digits: int | None, levels: int = 4) -> int:
    """Full token ids per coded symbol when each token keeps its first `digits` digits
    (`nested`): levels ** (K - digits) for a codebook of levels ** K; 1 for all digits."""
    channels = round(math.log(codebook_size, levels))
    if digits is None or digits == channels:
        return 1
    if isinstance(digits, bool) or int(digits) != digits or not 1 <= digits <= channels:
        raise HelixError(f"digits kept must be an integer in 1..{channels}, got {digits}")
    return levels ** (channels - int(digits))


def marginal_np(probs: np.ndarray, step: int) -> np.ndarray:
    """Probabilities over full ids (..., K) -> over the coded prefixes (..., K / step): the
    sum over each prefix's `step` completions (ids prefix * step .. prefix * step + step-1)."""
    if step == 1:
        return probs
    return probs.reshape(*probs.shape[:-1], -1, step).sum(-1)


def _constriction() -> Any:
    """The constriction package (its submodules are attributes of its compiled extension)."""
    try:
        import constriction
    except ImportError as e:  # pragma: no cover - dependency missing
        raise HelixError("entropy coding needs the 'constriction' package") from e
    return constriction


class EncodedTokens(NamedTuple):
    """What `TokenEntropyCoder.encode` returns."""

    strings: list[bytes]  # one stream per group of frames, little-endian 32-bit words
    tokens: Tensor  # (T, hp, wp) int64: the grids the decoder will rebuild
    estimated_bits: float  # -sum log2 p of the coded tokens, float probabilities
    table_bits: float  # the same under the integer tables


class TokenEntropyCoder:
    """Staged range coding of (hp, wp) token grids with one token model, drop and precision.

    `encode(frames, count, group)` codes an iterable of `count` grids; `decode(strings,
    count, group)` yields them back (stored tokens exact, dropped ones predicted). A token
    model with a temporal prior (`temporal_prior`) codes frame t under the state of the
    decoded grids since the last reset: the first frame of each stream and the `resets`
    frames (an inter-coded clip's intra frames).
    """

    def __init__(self, token_model: nn.Module, hp: int, wp: int, stages: int,
                 drop: float = 0.0, precision: int = PRECISION, digits: int | None = None,
                 resets: Collection[int] = ()) -> None:
        self.step = digit_step(token_model.codebook_size, digits)
        check_precision(precision, token_model.codebook_size // self.step)
        self.plan = StagePlan(token_model, hp, wp, stages, drop)
        self.shape, self.stages, self.precision = (hp, wp), stages, precision
        self._scale = float(1 << precision)
        self._lib = _constriction()
        self._cat = self._lib.stream.model.Categorical(perfect=False)
        self._temporal = getattr(self.plan.net, "temporal", None)
        self._resets = frozenset(resets)
        self._state: Tensor | None = None  # the temporal state frame t is coded under

    def begin_frame(self, t: int, group: int, resync: int | None = None) -> None:
        """Before frame t (streams of `group` frames): the temporal state is reset at a
        stream's first frame, at `resets` frames and every `resync`-th frame. `encode`/`decode` call it; a caller
        filling grids itself (`fill`) calls it and `end_frame` around each frame."""
        if t % group == 0 or t in self._resets or (resync and t % resync == 0):
            self._state = None

    def end_frame(self, grid: Tensor) -> None:
        """The temporal state after frame t's decoded grid (hp, wp) (float64, one thread)."""
        if self._temporal is not None:
            with coding_context():
                self._state = self._temporal.step(self._state, grid.reshape(1, *self.shape))

    @property
    def stored_mask(self) -> Tensor:
        """(hp, wp) bool: the positions coded (the rest are dropped and predicted)."""
        return ~self.plan.masks[-1]

    def _tables(self, tokens: Tensor, prev: Tensor | None, stage: int
                ) -> tuple[np.ndarray, np.ndarray]:
        """(float64 probabilities, integer frequencies) of stage `stage`'s coded positions."""
        probs = marginal_np(self.plan.probabilities(tokens, prev, stage, self._state)[0],
                            self.step)
        return probs, integer_frequencies(probs, self.precision)

    def fill(self, tokens: Tensor, prev: Tensor | None) -> Tensor:
        """The grid with dropped positions filled: the model's argmax (`StagePlan.fill`);
        with digits dropped, the argmax of the prefix marginal, truncated."""
        if self.step == 1 or not len(self.plan.drop_rows):
            return self.plan.fill(tokens, prev, self._state)
        plan, flat = self.plan, tokens.reshape(1, -1).clone()
        inp = torch.where(plan.dropped, plan.net.mask_id, flat)
        with coding_context():
            logits = coding_logits(plan.net, inp, plan._flat(prev), plan.shape, plan.drop_rows,
                                   self._state)
            probs = marginal_np(torch.softmax(logits, dim=-1)[0].numpy(), self.step)
        flat[0, plan.drop_rows] = torch.from_numpy(probs.argmax(-1)) * self.step
        return flat.view(*self.shape)

    def _encode_frame(self, enc: Any, tokens: Tensor, prev: Tensor | None,
                      bits: list[float]) -> Tensor:
        """Code one grid's stored tokens into `enc`; adds to bits [estimated, table]; the
        decoded grid (dropped positions filled)."""
        flat = tokens.reshape(-1) // self.step * self.step  # the kept digits only
        for s in range(self.stages):
            rows = self.plan.rows[s]
            if not len(rows):
                continue
            probs, freq = self._tables(flat, prev, s)
            sym = flat[rows].numpy() // self.step
            at = np.arange(len(sym))
            bits[0] -= float(np.log2(np.maximum(probs[at, sym], 1e-300)).sum())
            bits[1] -= float(np.log2(freq[at, sym] / self._scale).sum())
            enc.encode(sym.astype(np.int32), self._cat, freq / self._scale)
        return self.fill(flat.view(*self.shape), prev)

    def encode(self, frames: Iterable[Tensor], count: int, group: int | None = None,
               progress: Progress | None = None, *,
               on_frame: Callable[[int, Tensor], None] | None = None,
               resync: int | None = None) -> EncodedTokens:
        """`count` grids (hp, wp) int64, frame order -> streams of `group` frames each
        (default: one stream). progress("entropy-code", t, count) after each frame;
        `on_frame(t, decoded grid)` too, before the next grid is drawn from `frames` (inter
        coding builds the next grid from it). `resync`: every resync-th frame is coded
        without frame t-1's tokens (`resilient`: decoding restarts there after a loss)."""
        group = count if group is None else group
        strings: list[bytes] = []
        decoded = torch.empty(count, *self.shape, dtype=torch.long)
        bits = [0.0, 0.0]
        prev: Tensor | None = None
        enc = None
        with coding_context():  # one thread: see masked.py
            for t, tokens in enumerate(frames):
                if t % group == 0:
                    enc = self._lib.stream.queue.RangeEncoder()
                if resync and t % resync == 0:
                    prev = None
                self.begin_frame(t, group, resync)
                decoded[t] = full = self._encode_frame(enc, tokens, prev, bits)
                self.end_frame(full)
                prev = full.reshape(-1)
                if on_frame:
                    on_frame(t, full)
                if progress:
                    progress("entropy-code", t + 1, count)
                if (t + 1) % group == 0 or t + 1 == count:
                    strings.append(enc.get_compressed().astype("<u4").tobytes())
        return EncodedTokens(strings, decoded, bits[0], bits[1])

    def _decode_frame(self, dec: Any, prev: Tensor | None) -> Tensor:
        flat = torch.zeros(self.shape[0] * self.shape[1], dtype=torch.long)
        with coding_context():  # one thread: see masked.py
            for s in range(self.stages):
                rows = self.plan.rows[s]
                if not len(rows):
                    continue
                _, freq = self._tables(flat, prev, s)
                sym = dec.decode(self._cat, freq / self._scale)
                flat[rows] = torch.from_numpy(np.asarray(sym, dtype=np.int64)) * self.step
            return self.fill(flat.view(*self.shape), prev)

    def decode(self, strings: Sequence[bytes], count: int, group: int | None = None,
               progress: Progress | None = None) -> Iterator[Tensor]:
        """Yield each of the `count` grids (hp, wp) as the streams are decoded.
        progress("entropy-decode", t, count) after each frame."""
        group = count if group is None else group
        n_groups = math.ceil(count / group)
        if len(strings) != n_groups:
            raise HelixError(f"expected {n_groups} coded streams for {count} frames in "
                             f"groups of {group}, got {len(strings)}")
        prev: Tensor | None = None
        for g, raw in enumerate(strings):
            if len(raw) % 4:
                raise HelixError(f"coded stream {g} is {len(raw)} bytes, not whole "
                                 "32-bit words")
            dec = self._lib.stream.queue.RangeDecoder(
                np.frombuffer(raw, dtype="<u4").astype(np.uint32))
            for t in range(g * group, min(count, (g + 1) * group)):
                self.begin_frame(t, group)
                try:
                    full = self._decode_frame(dec, prev)
                except AssertionError:  # constriction: the words do not decode under the model
                    raise HelixError(f"coded stream {g} is corrupt (frame {t} does not "
                                     "decode)") from None
                self.end_frame(full)
                prev = full.reshape(-1)
                if progress:
                    progress("entropy-decode", t + 1, count)
                yield full
