"""HelixCodec: frames <-> entropy-coded tokens <-> a versioned container <-> DNA strands.

Two faces (STYLE.md): `forward(x)` is the training face (reconstruction through FSQ's
straight-through rounding, no coder); `compress`/`decompress` are the coding face.

Coding path (DESIGN.md "Data flow")
    uint8 frames (T, H, W, 3) -> [resampled to the coding size, see below]
    -> tokenizer.encode (pads H, W up to multiples of f)
    -> latent (T, k, h, w) -> Kronecker mixer (pads to whole blocks: (hp, wp))
    -> FSQ digits (T, k, hp, wp) -> token ids (T, hp, wp)
    -> masked token model, stage by stage, frame t conditioned on frame t-1's *decoded*
       tokens (stored ones exactly, dropped ones as the model predicts them)
    -> range coder (constriction) on integer tables of PRECISION bits: one stream per group
       of frames (default: the whole clip, so the coder's flush overhead is paid once).
`decompress` runs the same model on the same integer tables, fills dropped tokens, and decodes
digits -> latent -> mixer.inverse (crop to (h, w)) -> tokenizer.decode (crop to (H, W))
[-> resampled back to the input size].

Coding scale: with a `scale` s (every named rate point has one), frames are resampled (bicubic,
antialiased) to the coding size: s x (H, W) rounded up to whole tiles of the token grid (the
tokenizer's factor f x the mixer's block), and the decoder resamples its output back to (H, W).
At s = 1 this costs nothing: the padding the tile needs anyway (176x144 -> 192x160) carries
picture instead of repeated edges. s > 1 spends more tokens per input pixel, s < 1 fewer; for
the default model this trades rate for quality far better than dropping tokens (docs/CODEC.md).
Without a scale (and without a rate point) frames are coded at their own size, padded.

Rate: `compress` reports `estimated_bits` (-sum log2 p of the coded tokens under the token
model's float probabilities: the model's own rate), `table_bits` (the same under the integer
tables) and `actual_bits` (the streams' size, whole 32-bit words). Rate points: RATE_POINTS
(a coding scale, a drop share and a stage count each).

Speed: the token model runs per frame and stage on one thread, in float64, and its last layer
only on the positions being coded (`masked.coding_logits`); encoder and decoder make exactly
the same calls. With more than one torch thread allowed, a helper thread runs the tokenizer
(encode: the next frames; decode: the finished frames) beside the token model.

Container (`to_bytes`/`from_bytes`): a fixed big-endian header (magic, version, model hash,
geometry (input size, coding size, token grids), FSQ digits/levels, stages, drop, group, coder
name, precision) then the streams, each prefixed with its byte length. `decode_bytes` refuses a
container written by another model and decodes with the precision the header records (older
containers used 16 bits).

DNA coders (`encode_video`/`decode_video`)
- "fsm" (default): the container bytes go through `dna.archive.encode_archive`: FSM
  constrained coding, index, check bits, RaptorQ outer code; 0 violations by construction.
- "direct": the reference arm. The container header (as base-4 digits, 4 per byte, most
  significant first) followed by the stored tokens' quaternary digits, written as bases
  (digit d -> "ACGT"[d]), no entropy coding, no FSM. Digit order: frame, the stored (non-dropped)
  positions row-major, then the token's k FSQ digits, i.e.
  `digits[:, :, stored_mask].transpose(1, 2)` in C order: token by token, the order the
  synthesis term of the loss reads, so that term shapes the bases this coder writes. The stream is cut
  into DIRECT_BODY-nt bodies (the last padded with ACGT...), each prefixed by a
  DIRECT_INDEX-nt base-4 index and wrapped in the default primers. Violations are counted
  with `check_strands` and reported, never hidden.
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from ..dna.archive import decode_archive, encode_archive, find_header
from ..dna.constraints import BASES, check_strands, get_constraints
from ..dna.primers import DEFAULT_PREFIX, DEFAULT_SUFFIX
from ..errors import HelixError
from ..metrics import direct_violations
from .masked import StagePlan, coding_context, integer_frequencies, stage_masks

MAGIC = b"HXVC"
VERSION = 2  # 2: the coding size (resampling) joined the header
#: Range-coder table precision (bits) this build writes; the container records it and the
#: decoder uses the recorded one. 24 is constriction's own model precision: every symbol keeps
#: at least 2**-24, so a confident model pays ~1e-5 bits per token for the table floor (16
#: bits would cost ~0.006 bits per token with 256 symbols, several % of a low-rate clip).
PRECISION = 24
MAX_PRECISION = 24  # what constriction's range coder takes
CODERS = ("fsm", "direct")
DIRECT_BODY = 160  # digits (nt) per direct strand body
DIRECT_INDEX = 12  # base-4 index digits per direct strand (4**12 strands)
MAX_SCALE = 4.0  # largest coding scale (16x the tokens of the input size)
ENCODE_CHUNK = 4  # frames per batch through the tokenizer's encoder
DECODE_CHUNK = 4  # frames per batch through its decoder (small batches stay in cache: faster)


class RatePoint(NamedTuple):
    """A named operating point: coding scale (see the module docstring), drop share and
    coding stages."""

    scale: float
    drop: float
    stages: int


#: Rate points of the default model (`helix encode --rate`, default mid): name -> coding scale,
#: drop share, stages. Every token is stored; an explicit `scale`, `drop` or `stages` overrides
#: the point's. A drop (tokens never stored, predicted by the token model, see
#: `masked.stage_masks`) larger than the last coding stage needs fewer stages: `compress` then
#: reduces the stages as far as the drop needs (`fit_stages`) unless `stages` is given.
#: Scale, not drop, sets the rate: for the default model on carphone_pristine (30 frames),
#: dropping a quarter of the tokens cost 8.6 dB for 20% fewer nt, scale 0.75 costs 0.9 dB for
#: 30% fewer. Stages cost time and save little: 4 -> 2 -> 1 stages raised the nt by 0.4% and
#: 1.7% while encoding ran 6.1 -> 9.7 -> 14.0 frames/s at high; high codes in one stage to
#: stay above 10 frames/s on two cores (docs/CODEC.md, "Rate points").
RATE_POINTS: dict[str, RatePoint] = {"high": RatePoint(1.25, 0.0, 1),
                                     "mid": RatePoint(1.0, 0.0, 2),
                                     "low": RatePoint(0.75, 0.0, 2)}

#: progress(stage, done, total): called after each frame of each step ("tokenise",
#: "entropy-code" on encode; "entropy-decode", "reconstruct" on decode) and passed on to the
#: DNA layer ("encode" / "decode" of the outer code).
Progress = Callable[[str, int, int], None]

# magic, version, model hash, T, H, W, h, w, hp, wp, channels, levels, stages, drop, group,
# coder, precision, number of streams, coded H, coded W
_HEADER = struct.Struct(">4sB8sIHHHHHHBBBdIBBIHH")
_LEN = struct.Struct(">I")


class CodedShape(NamedTuple):
    """Everything besides the streams that decoding needs (unpacks like a tuple)."""

    frames: int
    height: int
    width: int
    h: int  # token grid of the tokenizer (ceil(H/f), ceil(W/f))
    w: int
    hp: int  # padded grid the mixer writes (whole blocks): the tokens actually coded
    wp: int
    stages: int
    drop: float
    group: int  # frames per entropy-coded stream
    coded_height: int = 0  # the size the tokenizer sees (0: the input size, no resampling)
    coded_width: int = 0

    @property
    def coded_size(self) -> tuple[int, int]:
        """(height, width) the tokens describe; decoding resamples it to (height, width)."""
        return (self.coded_height or self.height, self.coded_width or self.width)


def resample(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Frames (N, 3, h, w) in [0, 1] -> (N, 3, *size): bicubic, antialiased, clamped."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return torch.nn.functional.interpolate(x, size=tuple(size), mode="bicubic", antialias=True,
                                           align_corners=False).clamp_(0, 1)


def _tensor_bytes(t: Tensor) -> bytes:
    t = t.detach().cpu().contiguous().reshape(-1)
    return t.view(torch.uint8).numpy().tobytes() if t.numel() else b""


class HelixCodec(nn.Module):
    """Tokenizer + Kronecker mixer + FSQ + masked token model, with both faces of a codec."""

    def __init__(self, tokenizer: nn.Module, mixer: nn.Module, fsq: nn.Module,
                 token_model: nn.Module, config: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.tokenizer, self.mixer, self.fsq, self.token_model = tokenizer, mixer, fsq, token_model
        self.config = dict(config or {})
        if fsq.levels != 4:
            raise HelixError(f"DNA coding needs FSQ levels of 4 (one base per digit), "
                             f"got {fsq.levels}")
        if fsq.channels != tokenizer.channels_latent:
            raise HelixError(f"FSQ has {fsq.channels} channels, the tokenizer's latent has "
                             f"{tokenizer.channels_latent}")
        if token_model.codebook_size != fsq.codebook_size:
            raise HelixError(f"token model codebook {token_model.codebook_size} != FSQ codebook "
                             f"{fsq.codebook_size}")

    # ------------------------------------------------------------------ identity
    def model_hash(self) -> str:
        """16 hex digits: blake2b of the state_dict (names sorted, dtype, shape, raw bytes)."""
        h = hashlib.blake2b(digest_size=8)
        state = self.state_dict()
        for name in sorted(state):
            t = state[name]
            h.update(name.encode())
            h.update(str(t.dtype).encode())
            h.update(repr(tuple(t.shape)).encode())
            h.update(_tensor_bytes(t))
        return h.hexdigest()

    # ------------------------------------------------------------------ training face
    def forward(self, x: Tensor, prior: Any = None, temperature: float = 0.5
                ) -> dict[str, Any]:
        """Frames (N, 3, H, W) or clips (B, T, 3, H, W) in [0, 1] -> the training face:
        `x_hat` (shape of x, through FSQ's straight-through rounding), `digits` (N, k, hp, wp),
        `tokens` (N, hp, wp), `z_mixed` (pre-FSQ), `z_q`, `prev` (each frame's previous
        frame's tokens in its clip; a frame alone is a clip of one), and with a `prior`
        (`rate.py`) `likelihoods`: {"tokens": log2 p of each stored token (N, n), straight
        through the soft assignment at `temperature`}; bits = -their sum."""
        from .rate import log2_likelihoods, previous_tokens

        frames = x.flatten(0, 1) if x.dim() == 5 else x
        size = tuple(frames.shape[-2:])
        lat = self.tokenizer.encode(frames)
        z_mixed = self.mixer(lat)
        z_q, digits = self.fsq(z_mixed)
        z = self.mixer.inverse(z_q, size=tuple(lat.shape[-2:]))
        x_hat = self.tokenizer.decode(z, size)
        tokens = self.fsq.indices(digits)
        out: dict[str, Any] = {
            "x_hat": x_hat.reshape(x.shape), "digits": digits, "tokens": tokens,
            "z_mixed": z_mixed, "z_q": z_q,
            "prev": previous_tokens(tokens, x.shape[1] if x.dim() == 5 else 1,
                                    self.token_model.mask_id)}
        if prior is not None:
            out["likelihoods"] = {"tokens": log2_likelihoods(self.fsq, out, prior, temperature)}
        return out

    # ------------------------------------------------------------------ pieces
    def _defaults(self, stages: int | None, drop: float | None, rate: str | None = None,
                  scale: float | None = None) -> tuple[int, float, float | None]:
        """(stages, drop, scale): explicit values, else the rate point's, else the model's
        (scale None: code at the input size)."""
        if rate is not None:
            point = rate_point(rate)
            drop = point.drop if drop is None else drop
            scale = point.scale if scale is None else scale
            stages = point.stages if stages is None else stages
        if scale is not None:
            check_scale(scale)
        return (int(stages if stages is not None else self.config.get("stages", 4)),
                float(drop if drop is not None else self.config.get("drop", 0.0)), scale)

    @property
    def tile(self) -> tuple[int, int]:
        """Pixels per whole block of the token grid: (f x block height, f x block width)."""
        f = self.tokenizer.downsample
        bh, bw = getattr(self.mixer, "block", (1, 1))
        return f * bh, f * bw

    def coding_size(self, height: int, width: int, scale: float | None) -> tuple[int, int]:
        """The size frames of (height, width) are coded at: scale x the size, rounded up to
        whole tiles (at least one); the size itself when scale is None."""
        if scale is None:
            return height, width
        th, tw = self.tile
        return (max(th, math.ceil(scale * height / th - 1e-9) * th),
                max(tw, math.ceil(scale * width / tw - 1e-9) * tw))

    def _check_frames(self, frames: np.ndarray | Tensor) -> np.ndarray:
        arr = np.asarray(frames)
        if arr.ndim != 4 or arr.shape[-1] != 3 or arr.dtype != np.uint8 or not len(arr):
            raise HelixError(f"expected uint8 frames (T, H, W, 3), got {arr.dtype} "
                             f"{tuple(arr.shape)}")
        return arr

    @torch.no_grad()
    def _tokenize_chunk(self, chunk: np.ndarray, coded: tuple[int, int] | None = None
                        ) -> tuple[Tensor, tuple[int, int]]:
        """A few uint8 frames -> (token ids (n, hp, wp), latent grid (h, w)), resampled to
        the coding size `coded` first when given."""
        dev = next(self.tokenizer.parameters()).device
        x = torch.from_numpy(np.ascontiguousarray(chunk)).permute(0, 3, 1, 2)
        x = x.float().div(255.0).to(dev)
        lat = self.tokenizer.encode(resample(x, coded) if coded else x)
        _, digits = self.fsq(self.mixer(lat))
        return self.fsq.indices(digits).cpu(), tuple(lat.shape[-2:])

    def tokenize(self, frames: np.ndarray | Tensor, progress: Progress | None = None,
                 coded: tuple[int, int] | None = None) -> tuple[Tensor, tuple[int, int]]:
        """uint8 frames (T, H, W, 3) -> (token ids (T, hp, wp) int64, latent grid (h, w)),
        at the coding size `coded` (default: the frames' own)."""
        arr = self._check_frames(frames)
        ids, grid = [], (0, 0)
        for i in range(0, len(arr), ENCODE_CHUNK):
            chunk_ids, grid = self._tokenize_chunk(arr[i:i + ENCODE_CHUNK], coded)
            ids.append(chunk_ids)
            if progress:
                progress("tokenise", i + len(chunk_ids), len(arr))
        return torch.cat(ids), grid

    @torch.no_grad()
    def _reconstruct_chunk(self, digits: Tensor, grid: tuple[int, int], size: tuple[int, int],
                           out_size: tuple[int, int] | None = None) -> np.ndarray:
        dev = next(self.tokenizer.parameters()).device
        z = self.fsq.digits_to_latent(digits.to(dev))
        x = self.tokenizer.decode(self.mixer.inverse(z, size=tuple(grid)), tuple(size))
        if out_size:
            x = resample(x.clamp(0, 1), out_size)
        return (x.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()

    def reconstruct(self, digits: Tensor, grid: tuple[int, int], size: tuple[int, int],
                    progress: Progress | None = None,
                    out_size: tuple[int, int] | None = None) -> np.ndarray:
        """Digits (T, k, hp, wp) -> uint8 frames (T, H, W, 3): the model's forward pass at
        the coding size `size`, resampled to `out_size` when given."""
        t_count = digits.shape[0]
        out = np.empty((t_count, *(out_size or size), 3), dtype=np.uint8)
        for i in range(0, t_count, DECODE_CHUNK):
            out[i:i + DECODE_CHUNK] = self._reconstruct_chunk(digits[i:i + DECODE_CHUNK], grid,
                                                              size, out_size)
            if progress:
                progress("reconstruct", min(t_count, i + DECODE_CHUNK), t_count)
        return out

    # ------------------------------------------------------------------ coding face
    def compress(self, frames: np.ndarray | Tensor, stages: int | None = None,
                 drop: float | None = None, group: int | None = None, rate: str | None = None,
                 progress: Progress | None = None, scale: float | None = None
                 ) -> dict[str, Any]:
        """uint8 frames (T, H, W, 3) -> {"strings", "shape", "estimated_bits", "table_bits",
        "actual_bits", "tokens" (T, hp, wp) decoded ids, "digits" (T, k, hp, wp) their digits,
        "stored_mask" (hp, wp) bool: positions coded (the rest are dropped and predicted),
        "scale" the coding scale used (None: the input size)}.

        `estimated_bits` is the model's own rate, -sum log2 p of the coded tokens under the
        token model's float probabilities; `table_bits` the same under the integer tables the
        coder is fed (`PRECISION` bits); `actual_bits` the bits of the streams (whole 32-bit
        words). `rate` picks a RATE_POINTS scale, drop share and stage count (an explicit
        `scale`, `drop` or `stages` overrides it; a rate point's stages yield to an explicit
        drop, which fits its own); `scale` resamples the frames (see the module docstring);
        without `stages`, the model's stages are reduced as far as the drop needs
        (`fit_stages`). `progress(stage, done, total)` is called per frame (per chunk of
        ENCODE_CHUNK frames for "tokenise").

        When torch may use more than one thread, a helper thread tokenises the next frames
        while this one entropy-codes (`_Helper`); the results do not depend on it.
        """
        import constriction

        stages_given = stages is not None or (rate is not None and drop is None)
        stages, drop, coding_scale = self._defaults(stages, drop, rate, scale)
        arr = self._check_frames(frames)
        t_count = len(arr)
        coded = self.coding_size(arr.shape[1], arr.shape[2], coding_scale)
        group = t_count if group is None else int(group)
        if group < 1:
            raise HelixError(f"group must be >= 1 frames, got {group}")
        with _Helper() as helper:
            if helper.pool is None:  # tokenise everything first, then code
                all_ids, grid = self.tokenize(arr, progress, coded)
                chunks: list[Any] = [_Done((all_ids[i:i + ENCODE_CHUNK], grid))
                                     for i in range(0, t_count, ENCODE_CHUNK)]
            else:  # the helper thread tokenises ahead of the coder
                chunks = [helper.pool.submit(self.tokenize, arr[i:i + ENCODE_CHUNK], None, coded)
                          for i in range(0, t_count, ENCODE_CHUNK)]
            first, (h, w) = chunks[0].result()
            hp, wp = first.shape[-2:]
            if not stages_given:
                stages = fit_stages(hp, wp, stages, drop)
            plan = StagePlan(self.token_model, hp, wp, stages, drop)
            cat = constriction.stream.model.Categorical(perfect=False)
            scale = float(1 << PRECISION)
            strings: list[bytes] = []
            ids = torch.empty(t_count, hp, wp, dtype=torch.long)
            decoded = torch.empty_like(ids)
            est = table = 0.0
            prev: Tensor | None = None
            enc = None
            with coding_context():  # one thread: see masked.py
                for t in range(t_count):
                    if t % ENCODE_CHUNK == 0:
                        chunk_ids = chunks[t // ENCODE_CHUNK].result()[0]
                        ids[t:t + len(chunk_ids)] = chunk_ids
                        if progress and helper.pool is not None:
                            progress("tokenise", t + len(chunk_ids), t_count)
                    if t % group == 0:
                        enc = constriction.stream.queue.RangeEncoder()
                    flat = ids[t].reshape(-1)
                    for s in range(stages):
                        rows = plan.rows[s]
                        if not len(rows):
                            continue
                        probs = plan.probabilities(flat, prev, s)[0]
                        sym = flat[rows].numpy()
                        at = np.arange(len(sym))
                        est -= float(np.log2(np.maximum(probs[at, sym], 1e-300)).sum())
                        freq = integer_frequencies(probs, PRECISION)
                        table -= float(np.log2(freq[at, sym] / scale).sum())
                        enc.encode(sym.astype(np.int32), cat, freq / scale)
                    full = plan.fill(ids[t], prev)
                    decoded[t] = full
                    prev = full.reshape(-1)
                    if progress:
                        progress("entropy-code", t + 1, t_count)
                    if (t + 1) % group == 0 or t + 1 == t_count:
                        strings.append(enc.get_compressed().astype("<u4").tobytes())
        shape = CodedShape(t_count, arr.shape[1], arr.shape[2], h, w, hp, wp, stages, drop, group,
                           *coded)
        return {
            "strings": strings,
            "shape": shape,
            "estimated_bits": est,
            "table_bits": table,
            "actual_bits": 8 * sum(len(s) for s in strings),
            "tokens": decoded,
            "digits": self.fsq.digits_from_indices(decoded),
            "stored_mask": ~plan.masks[-1],
            "scale": coding_scale,
        }

    def _decoded_frames(self, strings: Sequence[bytes], shape: CodedShape, precision: int,
                        progress: Progress | None) -> Iterator[Tensor]:
        """Yield each frame's token ids (hp, wp) as the streams are decoded."""
        import constriction

        check_precision(precision, self.fsq.codebook_size)
        plan = StagePlan(self.token_model, shape.hp, shape.wp, shape.stages, shape.drop)
        cat = constriction.stream.model.Categorical(perfect=False)
        scale = float(1 << precision)
        n_groups = math.ceil(shape.frames / shape.group)
        if len(strings) != n_groups:
            raise HelixError(f"expected {n_groups} coded streams for {shape.frames} frames in "
                             f"groups of {shape.group}, got {len(strings)}")
        prev: Tensor | None = None
        for g, raw in enumerate(strings):
            if len(raw) % 4:
                raise HelixError(f"coded stream {g} is {len(raw)} bytes, not whole "
                                 "32-bit words")
            dec = constriction.stream.queue.RangeDecoder(
                np.frombuffer(raw, dtype="<u4").astype(np.uint32))
            for t in range(g * shape.group, min(shape.frames, (g + 1) * shape.group)):
                with coding_context():  # one thread: see masked.py
                    flat = torch.zeros(shape.hp * shape.wp, dtype=torch.long)
                    for s in range(shape.stages):
                        rows = plan.rows[s]
                        if not len(rows):
                            continue
                        probs = plan.probabilities(flat, prev, s)[0]
                        freq = integer_frequencies(probs, precision)
                        sym = dec.decode(cat, freq / scale)
                        flat[rows] = torch.from_numpy(np.asarray(sym, dtype=np.int64))
                    full = plan.fill(flat.view(shape.hp, shape.wp), prev)
                prev = full.reshape(-1)
                if progress:
                    progress("entropy-decode", t + 1, shape.frames)
                yield full

    def decompress_tokens(self, strings: Sequence[bytes], shape: CodedShape,
                          progress: Progress | None = None, precision: int = PRECISION, *,
                          on_frame: Callable[[int, Tensor], None] | None = None) -> Tensor:
        """Streams -> token ids (T, hp, wp): stored ones exact, dropped ones predicted.

        `precision`: the table precision the streams were coded with (the container's);
        `on_frame(t, tokens)` is called as each frame's tokens (hp, wp) are decoded."""
        shape = CodedShape(*shape)
        out = torch.empty(shape.frames, shape.hp, shape.wp, dtype=torch.long)
        for t, tok in enumerate(self._decoded_frames(strings, shape, precision, progress)):
            out[t] = tok
            if on_frame:
                on_frame(t, tok)
        return out

    def decompress(self, strings: Sequence[bytes], shape: CodedShape,
                   progress: Progress | None = None, precision: int = PRECISION) -> np.ndarray:
        """Streams + shape -> uint8 frames (T, H, W, 3).

        When torch may use more than one thread, a helper thread runs the tokenizer's decoder
        on finished frames while this one decodes the next frames' tokens (`_Helper`)."""
        shape = CodedShape(*shape)
        grid, size, out_size = (shape.h, shape.w), shape.coded_size, (shape.height, shape.width)
        with _Helper() as helper:
            if helper.pool is None:
                tokens = self.decompress_tokens(strings, shape, progress, precision)
                return self.reconstruct(self.fsq.digits_from_indices(tokens), grid, size,
                                        progress, out_size)
            pool = helper.pool
            done: list[tuple[int, Future]] = []
            chunk: list[Tensor] = []

            def on_frame(t: int, tok: Tensor) -> None:
                chunk.append(tok)
                if len(chunk) == DECODE_CHUNK or t + 1 == shape.frames:
                    digits = self.fsq.digits_from_indices(torch.stack(chunk))
                    done.append((t + 1 - len(chunk),
                                 pool.submit(self.reconstruct, digits, grid, size, None,
                                             out_size)))
                    chunk.clear()

            self.decompress_tokens(strings, shape, progress, precision, on_frame=on_frame)
            out = np.empty((shape.frames, *out_size, 3), dtype=np.uint8)
            for start, future in done:
                frames = future.result()
                out[start:start + len(frames)] = frames
                if progress:
                    progress("reconstruct", start + len(frames), shape.frames)
            return out

    # ------------------------------------------------------------------ container
    def _header(self, shape: CodedShape, coder: str, n_strings: int) -> bytes:
        if coder not in CODERS:
            raise HelixError(f"unknown coder {coder!r} (known: {', '.join(CODERS)})")
        s = CodedShape(*shape)
        try:
            return _HEADER.pack(MAGIC, VERSION, bytes.fromhex(self.model_hash()), s.frames,
                                s.height, s.width, s.h, s.w, s.hp, s.wp, self.fsq.channels,
                                self.fsq.levels, s.stages, s.drop, s.group,
                                CODERS.index(coder), PRECISION, n_strings, *s.coded_size)
        except struct.error as e:
            raise HelixError(f"clip geometry does not fit the container header: {e}") from None

    def to_bytes(self, compressed: dict[str, Any], coder: str = "fsm") -> bytes:
        """Container: header + each stream prefixed by its length (u32, big-endian)."""
        strings = compressed["strings"]
        body = b"".join(_LEN.pack(len(s)) + bytes(s) for s in strings)
        return self._header(compressed["shape"], coder, len(strings)) + body

    @staticmethod
    def from_bytes(data: bytes) -> tuple[list[bytes], CodedShape, dict[str, Any]]:
        """Container -> (strings, shape, meta); meta has version, model_hash, coder, channels,
        levels, precision and header_size. Checks magic, version and lengths, not the model."""
        data = bytes(data)
        if len(data) < _HEADER.size or data[:4] != MAGIC:
            raise HelixError("not a HELIX video container (bad magic or truncated header)")
        f = _HEADER.unpack(data[:_HEADER.size])
        if f[1] != VERSION:
            raise HelixError(f"video container version {f[1]} is not supported "
                             f"(this build reads version {VERSION})")
        if f[15] >= len(CODERS):
            raise HelixError(f"unknown coder id {f[15]} in the container header")
        shape = CodedShape(f[3], f[4], f[5], f[6], f[7], f[8], f[9], f[12], f[13], f[14], f[18],
                           f[19])
        meta = {"version": f[1], "model_hash": f[2].hex(), "channels": f[10], "levels": f[11],
                "coder": CODERS[f[15]], "precision": f[16], "header_size": _HEADER.size}
        strings, pos = [], _HEADER.size
        for i in range(f[17]):
            if pos + _LEN.size > len(data):
                raise HelixError(f"video container truncated in stream {i}")
            (n,) = _LEN.unpack_from(data, pos)
            pos += _LEN.size
            if pos + n > len(data):
                raise HelixError(f"video container truncated in stream {i}")
            strings.append(data[pos:pos + n])
            pos += n
        meta["trailing_bytes"] = len(data) - pos
        return strings, shape, meta

    def check_meta(self, meta: dict[str, Any]) -> None:
        """Refuse a container written by another model or with another geometry."""
        mine = self.model_hash()
        if meta["model_hash"] != mine:
            raise HelixError(f"archive was written by model {meta['model_hash']}, "
                             f"this checkpoint is {mine}")
        if (meta["channels"], meta["levels"]) != (self.fsq.channels, self.fsq.levels):
            raise HelixError("archive's FSQ geometry does not match this checkpoint")
        check_precision(meta["precision"], self.fsq.codebook_size)

    def decode_bytes(self, data: bytes, progress: Progress | None = None) -> np.ndarray:
        """Container bytes (range-coded) -> uint8 frames; refuses a mismatched model."""
        strings, shape, meta = self.from_bytes(data)
        self.check_meta(meta)
        return self.decompress(strings, shape, progress, meta["precision"])

    # ------------------------------------------------------------------ DNA
    def encode_video(self, frames: np.ndarray | Tensor, constraints: str = "standard",
                     coder: str = "fsm", stages: int | None = None, drop: float | None = None,
                     redundancy: float | None = None, group: int | None = None,
                     rate: str | None = None, progress: Progress | None = None,
                     scale: float | None = None) -> tuple[list[str], dict[str, Any]]:
        """uint8 frames (T, H, W, 3) -> (strands, stats). See the module docstring; `rate`,
        `scale`, `stages`, `drop` and `progress` as in `compress`. Rates per pixel count the
        input's pixels, whatever the coding size."""
        if coder not in CODERS:
            raise HelixError(f"unknown coder {coder!r} (known: {', '.join(CODERS)})")
        cs = get_constraints(constraints)
        comp = self.compress(frames, stages=stages, drop=drop, group=group, rate=rate,
                             progress=progress, scale=scale)
        shape, scale = comp["shape"], comp["scale"]
        stored = stored_digits(comp)
        stats: dict[str, Any] = {
            "coder": coder, "constraints": cs.name, "model_hash": self.model_hash(),
            "frames": shape.frames, "height": shape.height, "width": shape.width,
            "rate": rate_name(scale, shape.drop, shape.stages), "scale": scale,
            "coded_height": shape.coded_size[0], "coded_width": shape.coded_size[1],
            "stages": shape.stages, "drop": shape.drop,
            "tokens_stored": int(comp["stored_mask"].sum()) * shape.frames,
            "estimated_bits": comp["estimated_bits"], "table_bits": comp["table_bits"],
            "actual_bits": comp["actual_bits"],
            "direct_violations": direct_violations(stored, cs, DIRECT_BODY),
        }
        if coder == "fsm":
            data = self.to_bytes(comp, "fsm")
            arch = encode_archive(data, cs, redundancy=redundancy, progress=progress)
            strands = arch.strands
            source_bits = 8 * len(data)
            nt, nt_primers = arch.stats["nt"], arch.stats["nt_with_primers"]
            stats.update(container_bytes=len(data), coding_density=arch.stats["coding_density"],
                         redundancy=arch.stats["redundancy"], archive=arch.stats)
        else:
            header = self._header(shape, "direct", 0)
            strands = direct_strands(np.concatenate([_bytes_to_digits(header), stored.reshape(-1)]))
            source_bits = 2 * stored.size
            nt_primers = sum(len(s) for s in strands)
            nt = nt_primers - len(strands) * (len(DEFAULT_PREFIX) + len(DEFAULT_SUFFIX))
            stats.update(container_bytes=len(header) + math.ceil(stored.size / 4),
                         coding_density=2.0, redundancy=0.0)
        px = shape.frames * shape.height * shape.width
        stats.update(
            strands=len(strands), nt=nt, nt_with_primers=nt_primers,
            nt_per_px=nt / px, nt_per_px_with_primers=nt_primers / px,
            bits_per_px=source_bits / px, payload_bits_per_px=comp["actual_bits"] / px,
            source_bits=source_bits, net_density=source_bits / nt if nt else 0.0,
            net_density_with_primers=source_bits / nt_primers if nt_primers else 0.0,
            violations=check_strands(strands, cs).total,
        )
        return strands, stats

    def decode_video(self, strands: Sequence[str], constraints: str | None = None,
                     coder: str = "auto", support: Sequence[int] | None = None,
                     variants: Sequence[int] | None = None,
                     progress: Progress | None = None) -> np.ndarray:
        """Strands (either coder; "auto" tries fsm, then direct) -> uint8 frames (T, H, W, 3).

        Without `constraints` the fsm archive's constraint set is found once: the model's own
        set (`config["constraints"]`) is tried first, then the DNA layer's guess."""
        strands = list(strands)
        if coder not in ("auto", *CODERS):
            raise HelixError(f"unknown coder {coder!r} (known: auto, {', '.join(CODERS)})")
        found = None
        if coder in ("auto", "fsm"):
            try:
                found = self._find_header(strands, constraints)
                coder = "fsm"
            except HelixError:
                if coder == "fsm":
                    raise
                coder = "direct"
        if coder == "fsm":
            data, _ = decode_archive(strands, support, variants=variants, constraints=found.cs,
                                     progress=progress)
            return self.decode_bytes(data, progress)
        digits = read_direct_strands(strands)
        n_head = 4 * _HEADER.size
        if digits.size < n_head:
            raise HelixError("direct strands too short to hold a container header")
        _, shape, meta = self.from_bytes(_digits_to_bytes(digits[:n_head]))
        if meta["coder"] != "direct":
            raise HelixError(f"container says coder {meta['coder']!r}, strands are direct")
        self.check_meta(meta)
        stored_mask = ~stage_masks(shape.hp, shape.wp, shape.stages, shape.drop)[-1]
        k = self.fsq.channels
        n = shape.frames * k * int(stored_mask.sum())
        body = digits[n_head:n_head + n]
        if body.size < n:
            raise HelixError(f"direct strands hold {body.size} token digits, {n} needed")
        full = torch.zeros(shape.frames, k, shape.hp, shape.wp, dtype=torch.long)
        full[:, :, stored_mask] = (torch.from_numpy(body.astype(np.int64))
                                   .view(shape.frames, -1, k).transpose(1, 2))
        ids = self.fsq.indices(full)
        plan = StagePlan(self.token_model, shape.hp, shape.wp, shape.stages, shape.drop)
        prev = None
        for t in range(shape.frames):
            ids[t] = plan.fill(ids[t], prev)
            prev = ids[t]
            if progress:
                progress("fill", t + 1, shape.frames)
        digits_full = self.fsq.digits_from_indices(ids)
        return self.reconstruct(digits_full, (shape.h, shape.w), shape.coded_size, progress,
                                (shape.height, shape.width))

    def _find_header(self, strands: list[str], constraints: Any):
        """The fsm archive's header; the model's constraint set tried first when none given."""
        if constraints is None and self.config.get("constraints"):
            try:
                return find_header(strands, self.config["constraints"])
            except HelixError:
                pass
        return find_header(strands, constraints)


# ---------------------------------------------------------------------- helper thread

class _Done:
    """A result computed already, with the interface of a Future."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def result(self) -> Any:
        return self.value


class _Helper:
    """One helper thread for the tokenizer while the calling thread runs the token model.

    `pool` is a one-thread executor only when torch may use more than one intra-op thread
    (`torch.get_num_threads()` on entry), else None and the caller runs everything in turn.
    The token model runs on the calling thread with one thread (`masked.coding_context`),
    the helper thread's convolutions with one more, so the two overlap on two cores. Results
    are the same either way: the tokenizer's outputs do not depend on the thread that computes
    them (tests/test_codec_real.py encodes with 2 threads and decodes with 1).
    """

    def __init__(self) -> None:
        self.pool: ThreadPoolExecutor | None = None
        if torch.get_num_threads() > 1:
            self.pool = ThreadPoolExecutor(1, thread_name_prefix="helix-tokenizer",
                                           initializer=torch.set_num_threads, initargs=(1,))

    def __enter__(self) -> _Helper:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)


# ---------------------------------------------------------------------- rate points

def check_scale(scale: float) -> None:
    """Refuse a coding scale outside (0, MAX_SCALE] (or not a number)."""
    if not (math.isfinite(scale) and 0 < scale <= MAX_SCALE):
        raise HelixError(f"coding scale must be in (0, {MAX_SCALE:g}], got {scale}")


def rate_point(rate: str) -> RatePoint:
    """A named rate point (RATE_POINTS); HelixError for an unknown name."""
    if rate not in RATE_POINTS:
        raise HelixError(f"unknown rate point {rate!r} (known: {', '.join(RATE_POINTS)})")
    return RATE_POINTS[rate]


def rate_name(scale: float | None, drop: float, stages: int) -> str:
    """The rate point with this scale, drop share and stage count, "native" for no scale and
    no drop, else "custom"."""
    if scale is None and drop == 0:
        return "native"
    return next((name for name, p in RATE_POINTS.items() if p == (scale, drop, stages)),
                "custom")


def fit_stages(h: int, w: int, stages: int, drop: float) -> int:
    """The most stages <= `stages` whose last stage holds round(drop * h * w) tokens (what
    `stage_masks` needs; at least 1)."""
    n = h * w
    n_drop = round(drop * n)
    while stages > 1 and n_drop > n - round((stages - 1) * n / stages):
        stages -= 1
    return stages


def check_precision(precision: int, symbols: int) -> None:
    """Refuse a table precision the range coder cannot use for `symbols` symbols."""
    if not (symbols <= 1 << precision and precision <= MAX_PRECISION):
        raise HelixError(f"table precision {precision} bits does not fit {symbols} symbols "
                         f"and the range coder's {MAX_PRECISION} bits")


# ---------------------------------------------------------------------- direct mapping

def stored_digits(compressed: dict[str, Any]) -> np.ndarray:
    """The stored tokens' digits in direct-mapping order: (T, n_stored, k) uint8, C order
    (token by token, as the synthesis term reads them)."""
    d = compressed["digits"][:, :, compressed["stored_mask"]].transpose(1, 2)
    return d.numpy().astype(np.uint8)


def _bytes_to_digits(data: bytes) -> np.ndarray:
    b = np.frombuffer(data, dtype=np.uint8)
    return np.stack([(b >> s) & 3 for s in (6, 4, 2, 0)], axis=1).reshape(-1)


def _digits_to_bytes(d: np.ndarray) -> bytes:
    d = np.asarray(d, dtype=np.uint8).reshape(-1, 4)
    return ((d[:, 0] << 6) | (d[:, 1] << 4) | (d[:, 2] << 2) | d[:, 3]).astype(np.uint8).tobytes()


def _to_bases(d: np.ndarray) -> str:
    return np.frombuffer(BASES.encode(), dtype=np.uint8)[d].tobytes().decode()


def direct_strands(digits: np.ndarray, body: int = DIRECT_BODY,
                   prefix: str = DEFAULT_PREFIX, suffix: str = DEFAULT_SUFFIX) -> list[str]:
    """Digits -> strands prefix | index (DIRECT_INDEX nt, base 4) | body | suffix.

    The last body is padded to full length with the cycle 0,1,2,3 (ACGT...)."""
    d = np.asarray(digits, dtype=np.uint8).reshape(-1)
    n = max(1, math.ceil(d.size / body))
    if n > 4**DIRECT_INDEX:
        raise HelixError(f"{n} direct strands exceed the {DIRECT_INDEX}-nt index")
    pad = n * body - d.size
    d = np.concatenate([d, (np.arange(pad) % 4).astype(np.uint8)]).reshape(n, body)
    idx = np.arange(n, dtype=np.int64)[:, None] >> (2 * np.arange(DIRECT_INDEX - 1, -1, -1))
    idx = (idx & 3).astype(np.uint8)
    return [prefix + _to_bases(np.concatenate([i, b])) + suffix for i, b in zip(idx, d)]


def read_direct_strands(strands: Sequence[str], prefix: str = DEFAULT_PREFIX,
                        suffix: str = DEFAULT_SUFFIX) -> np.ndarray:
    """Inverse of `direct_strands` (padding kept): strands in any order -> digits (uint8)."""
    lut = {b: i for i, b in enumerate(BASES)}
    bodies: dict[int, np.ndarray] = {}
    for s in strands:
        if not (s.startswith(prefix) and s.endswith(suffix)):
            continue
        mid = s[len(prefix):len(s) - len(suffix)]
        if len(mid) <= DIRECT_INDEX or any(c not in lut for c in mid):
            continue
        d = np.array([lut[c] for c in mid], dtype=np.uint8)
        i = int(sum(int(x) << (2 * (DIRECT_INDEX - 1 - j)) for j, x in enumerate(d[:DIRECT_INDEX])))
        bodies.setdefault(i, d[DIRECT_INDEX:])
    if not bodies:
        raise HelixError("no direct strands (primers + index) found")
    missing = [i for i in range(max(bodies) + 1) if i not in bodies]
    if missing:
        raise HelixError(f"direct strands missing: indices {missing[:5]} "
                         f"({len(missing)} lost; the direct coder has no outer code)")
    return np.concatenate([bodies[i] for i in range(len(bodies))])
