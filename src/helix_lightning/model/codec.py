"""HelixCodec: the network with both faces of a learned codec (docs/DESIGN.md, "Data flow").

`forward(x)` is the training face (reconstruction through FSQ's straight-through rounding, no
coder). `compress`/`decompress` are the coding face, frames <-> entropy-coded streams:

    uint8 frames (T, H, W, 3) -> [resampled to the coding size, see `rates`]
    -> tokenizer.encode (pads H, W up to multiples of f)
    -> latent (T, k, h, w) -> mixer (pads to whole blocks: (hp, wp))
    -> FSQ digits (T, k, hp, wp) -> token ids (T, hp, wp)
    -> `entropy.TokenEntropyCoder`: the masked token model, stage by stage, frame t
       conditioned on frame t-1's decoded tokens, range coded on integer tables
       (one stream per group of frames; default: the whole clip).

`decompress` runs the same coder backwards, fills dropped tokens, and decodes digits ->
latent -> mixer.inverse (crop to (h, w)) -> tokenizer.decode (crop to (H, W)) [-> resampled
back to the input size]. The rest of the codec lives beside it: rate points in `rates`, the
container format in `container`, frames <-> DNA strands in `pipeline` (`encode_video` and
`decode_video` here delegate to it), the direct mapping in `dna.direct`.

Rate: `compress` reports `estimated_bits` (-sum log2 p of the coded tokens under the token
model's float probabilities: the model's own rate), `table_bits` (the same under the integer
tables) and `actual_bits` (the streams' size, whole 32-bit words).

Speed: the token model runs per frame and stage on one thread, in float64 (`masked`). With
more than one torch thread allowed, a helper thread runs the tokenizer (encode: the next
frames; decode: the finished frames) beside the token model.

Identity: `model_hash()` (written into every container, checked on decode) hashes the
state_dict under the parameter names frozen in HASH_NAMES, so renaming a parameter in the
code keeps every released model's hash.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..dna.constraints import ConstraintSet, get_constraints
from ..errors import HelixError
from . import container, pipeline
from .container import CODERS, CodedShape, check_coder  # noqa: F401 (CODERS: re-exported)
from .entropy import PRECISION, Progress, TokenEntropyCoder
from . import inter_coding
from .conditional import is_conditional, unroll
from .nested import keep_latent, truncate
# rate points live in `rates`; re-exported here, where callers have always found them
from .rates import (MAX_SCALE, RATE_POINTS, RatePoint, check_scale,  # noqa: F401
                    coding_parameters, fit_stages, rate_name, rate_point)

ENCODE_CHUNK = 4  # frames per batch through the tokenizer's encoder
DECODE_CHUNK = 4  # frames per batch through its decoder (small batches stay in cache: faster)

#: The model hash's parameter names, frozen as they were on 2026-11-29: current state_dict
#: name -> the name the hash uses. Empty (identity) today. Whoever renames a parameter or a
#: part adds "new name": "old name" entries here (every renamed key), so the hash of every
#: released model, and with it the decoding of its archives, survives the rename.
HASH_NAMES: dict[str, str] = {}


def frozen_name(name: str) -> str:
    """The name parameter `name` of today's state_dict has in the model hash."""
    return HASH_NAMES.get(name, name)


def _tensor_bytes(t: Tensor) -> bytes:
    t = t.detach().cpu().contiguous().reshape(-1)
    return t.view(torch.uint8).numpy().tobytes() if t.numel() else b""


def state_hash(state: Mapping[str, Tensor]) -> str:
    """16 hex digits: blake2b of a state_dict (frozen names sorted; name, dtype, shape and
    raw bytes of each tensor)."""
    h = hashlib.blake2b(digest_size=8)
    for name, t in sorted(((frozen_name(n), t) for n, t in state.items()), key=lambda e: e[0]):
        h.update(name.encode())
        h.update(str(t.dtype).encode())
        h.update(repr(tuple(t.shape)).encode())
        h.update(_tensor_bytes(t))
    return h.hexdigest()


def resample(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Frames (N, 3, h, w) in [0, 1] -> (N, 3, *size): bicubic, antialiased, clamped."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return torch.nn.functional.interpolate(x, size=tuple(size), mode="bicubic", antialias=True,
                                           align_corners=False).clamp_(0, 1)


def check_frames(frames: np.ndarray | Tensor) -> np.ndarray:
    """uint8 frames (T, H, W, 3), T >= 1, as an array; HelixError otherwise."""
    arr = np.asarray(frames)
    if arr.ndim != 4 or arr.shape[-1] != 3 or arr.dtype != np.uint8 or not len(arr):
        raise HelixError(f"expected uint8 frames (T, H, W, 3), got {arr.dtype} "
                         f"{tuple(arr.shape)}")
    return arr


def frames_to_tensor(codec: HelixCodec, chunk: np.ndarray,
                     coded: tuple[int, int] | None = None) -> Tensor:
    """uint8 frames (n, H, W, 3) -> float (n, 3, H, W) in [0, 1] on the codec's device,
    resampled to the coding size `coded` when given."""
    dev = next(codec.tokenizer.parameters()).device
    x = torch.from_numpy(np.ascontiguousarray(chunk)).permute(0, 3, 1, 2)
    x = x.float().div(255.0).to(dev)
    return resample(x, coded) if coded else x


def token_ids(codec: HelixCodec, x: Tensor, ctx: list[Tensor] | None = None
              ) -> tuple[Tensor, tuple[int, int]]:
    """Frames (n, 3, H, W) at the coding size -> (token ids (n, hp, wp) on the CPU, latent
    grid (h, w)); `ctx`: a conditional tokenizer's reference features (`conditional`)."""
    enc = codec.tokenizer.encode
    lat = enc(x) if ctx is None else enc(x, ctx)
    _, digits = codec.fsq(codec.mixer(lat))
    return codec.fsq.indices(digits).cpu(), tuple(lat.shape[-2:])


def decode_digits(codec: HelixCodec, digits: Tensor, grid: tuple[int, int],
                  size: tuple[int, int], kept: int = 0, ctx: list[Tensor] | None = None
                  ) -> Tensor:
    """Digits (n, k, hp, wp) -> the decoder's frames (n, 3, H, W) at the coding size, not
    clamped; only the first `kept` digits read (0: all); `ctx` as in `token_ids`."""
    dev = next(codec.tokenizer.parameters()).device
    z = codec.fsq.digits_to_latent(digits.to(dev))
    if 0 < kept < codec.fsq.channels:
        z = keep_latent(z, kept)
    z = codec.mixer.inverse(z, size=tuple(grid))
    dec = codec.tokenizer.decode
    return dec(z, tuple(size)) if ctx is None else dec(z, tuple(size), ctx)


def to_uint8(x: Tensor) -> np.ndarray:
    """Frames (n, 3, H, W) in [0, 1] (clamped here) -> uint8 (n, H, W, 3)."""
    return (x.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def _frames_forward(codec: HelixCodec, frames: Tensor, kept: Tensor | None,
                    ctx: list[Tensor] | None = None) -> dict[str, Any]:
    """The training face on frames (N, 3, H, W): x_hat, digits, ids, tokens (truncated to
    the `kept` digits when given), z_mixed, z_q; each frame coded alone, or against the
    reference features `ctx` of a conditional tokenizer (`conditional.unroll`)."""
    size = tuple(frames.shape[-2:])
    enc, dec = codec.tokenizer.encode, codec.tokenizer.decode
    lat = enc(frames) if ctx is None else enc(frames, ctx)
    z_mixed = codec.mixer(lat)
    z_q, digits = codec.fsq(z_mixed)
    ids = tokens = codec.fsq.indices(digits)
    if kept is not None:
        z_q = keep_latent(z_q, kept)
        tokens = truncate(ids, codec.fsq.levels ** (codec.fsq.channels - kept))
    z = codec.mixer.inverse(z_q, size=tuple(lat.shape[-2:]))
    return {"x_hat": dec(z, size) if ctx is None else dec(z, size, ctx), "digits": digits,
            "tokens": tokens, "ids": ids, "z_mixed": z_mixed, "z_q": z_q}


class HelixCodec(nn.Module):
    """Tokenizer + mixer + FSQ + masked token model, with both faces of a codec."""

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
        """16 hex digits: `state_hash` of the state_dict (frozen names, see HASH_NAMES)."""
        return state_hash(self.state_dict())

    # ------------------------------------------------------------------ training face
    def forward(self, x: Tensor, prior: Any = None, temperature: float = 0.5,
                kept: Tensor | None = None) -> dict[str, Any]:
        """Frames (N, 3, H, W) or clips (B, T, 3, H, W) in [0, 1] -> the training face:
        `x_hat` (shape of x, through FSQ's straight-through rounding), `digits` (N, k, hp, wp),
        `tokens` (N, hp, wp), `z_mixed` (pre-FSQ), `z_q`, `prev` (each frame's previous
        frame's tokens in its clip; a frame alone is a clip of one), and with a `prior`
        (`rate.py`) `likelihoods`: {"tokens": log2 p of each stored token (N, n), straight
        through the soft assignment at `temperature`}; bits = -their sum. `kept` (N,):
        digits kept per frame (`nested`): the latent's dropped channels are 0, `tokens`
        truncated, `ids` the full ids, likelihoods the prefixes' marginals."""
        from .rate import log2_likelihoods, previous_tokens

        if x.dim() == 5 and is_conditional(self):
            out = unroll(self, x, kept)  # frame t against frame t-1's reconstruction
        else:
            out = _frames_forward(self, x.flatten(0, 1) if x.dim() == 5 else x, kept)
        out["x_hat"] = out["x_hat"].reshape(x.shape)
        t_count = x.shape[1] if x.dim() == 5 else 1
        out["prev"] = previous_tokens(out["tokens"], t_count, self.token_model.mask_id)
        if getattr(self.token_model, "temporal", None) is not None:  # `temporal_prior`
            out["temporal"] = self.token_model.temporal.states(
                out["tokens"].unflatten(0, (-1, t_count)))
        if kept is None:
            del out["ids"]
        else:
            out["kept"] = kept
        if prior is not None:
            out["likelihoods"] = {"tokens": log2_likelihoods(self.fsq, out, prior, temperature)}
        return out

    # ------------------------------------------------------------------ pieces
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

    @torch.no_grad()
    def _tokenize_chunk(self, chunk: np.ndarray, coded: tuple[int, int] | None = None
                        ) -> tuple[Tensor, tuple[int, int]]:
        """A few uint8 frames -> (token ids (n, hp, wp), latent grid (h, w)), resampled to
        the coding size `coded` first when given."""
        return token_ids(self, frames_to_tensor(self, chunk, coded))

    def tokenize(self, frames: np.ndarray | Tensor, progress: Progress | None = None,
                 coded: tuple[int, int] | None = None) -> tuple[Tensor, tuple[int, int]]:
        """uint8 frames (T, H, W, 3) -> (token ids (T, hp, wp) int64, latent grid (h, w)),
        at the coding size `coded` (default: the frames' own)."""
        arr = check_frames(frames)
        ids, grid = [], (0, 0)
        for i in range(0, len(arr), ENCODE_CHUNK):
            chunk_ids, grid = self._tokenize_chunk(arr[i:i + ENCODE_CHUNK], coded)
            ids.append(chunk_ids)
            if progress:
                progress("tokenise", i + len(chunk_ids), len(arr))
        return torch.cat(ids), grid

    @torch.no_grad()
    def _reconstruct_chunk(self, digits: Tensor, grid: tuple[int, int], size: tuple[int, int],
                           out_size: tuple[int, int] | None = None, kept: int = 0) -> np.ndarray:
        x = decode_digits(self, digits, grid, size, kept)
        return to_uint8(resample(x.clamp(0, 1), out_size) if out_size else x)

    def reconstruct(self, digits: Tensor, grid: tuple[int, int], size: tuple[int, int],
                    progress: Progress | None = None,
                    out_size: tuple[int, int] | None = None, kept: int = 0) -> np.ndarray:
        """Digits (T, k, hp, wp) -> uint8 frames (T, H, W, 3): the model's forward pass at
        the coding size `size`, resampled to `out_size` when given; only the first `kept`
        digits read (0: all; the rest neutral, `nested.keep_latent`)."""
        t_count = digits.shape[0]
        out = np.empty((t_count, *(out_size or size), 3), dtype=np.uint8)
        for i in range(0, t_count, DECODE_CHUNK):
            out[i:i + DECODE_CHUNK] = self._reconstruct_chunk(digits[i:i + DECODE_CHUNK], grid,
                                                              size, out_size, kept)
            if progress:
                progress("reconstruct", min(t_count, i + DECODE_CHUNK), t_count)
        return out

    # ------------------------------------------------------------------ coding face
    def compress(self, frames: np.ndarray | Tensor, stages: int | None = None,
                 drop: float | None = None, group: int | None = None, rate: str | None = None,
                 progress: Progress | None = None, scale: float | None = None, *,
                 precision: int = PRECISION, digits: int | None = None,
                 resync: int | None = None) -> dict[str, Any]:
        """uint8 frames (T, H, W, 3) -> {"strings", "shape", "estimated_bits", "table_bits",
        "actual_bits", "tokens" (T, hp, wp) decoded ids, "digits" (T, k, hp, wp) their digits,
        "stored_mask" (hp, wp) bool: positions coded (the rest are dropped and predicted),
        "scale" the coding scale used (None: the input size), "precision" the tables' bits}.

        `rate` picks a point of the model's ladder (`rates.ladder`): scale, drop share, stage
        count, digits kept (an explicit `scale`, `drop`, `stages` or `digits` overrides it;
        a rate point's stages yield to an explicit drop, which fits its own); without
        `stages`, the model's stages are reduced as far as the drop needs (`fit_stages`).
        `digits`: each token's first digits coded (`nested`; default all). `group`: frames
        per stream (default all); `resync`: frames per temporal context chain (`resilient`).
        `progress(stage, done, total)` is called per frame (per chunk of ENCODE_CHUNK frames
        for "tokenise"). A helper thread may tokenise ahead (`_Helper`); results do not
        depend on it."""
        stages_given = stages is not None or (rate is not None and drop is None)
        stages, drop, coding_scale, digits = coding_parameters(self.config, stages, drop, rate,
                                                               scale, digits)
        kept = digits or self.fsq.channels
        arr = check_frames(frames)
        t_count, coded = len(arr), self.coding_size(arr.shape[1], arr.shape[2], coding_scale)
        group = t_count if group is None else int(group)
        if group < 1:
            raise HelixError(f"group must be >= 1 frames, got {group}")
        if is_conditional(self):  # closed loop, frame by frame
            with _Helper() as helper:
                return dict(inter_coding.compress(self, arr, coded, stages, drop, group,
                                                  precision, kept, not stages_given, progress,
                                                  helper.pool, resync), scale=coding_scale)
        with _Helper() as helper:
            chunks = _token_chunks(self, arr, coded, progress, helper)
            first, (h, w) = chunks[0].result()
            hp, wp = first.shape[-2:]
            if not stages_given:
                stages = fit_stages(hp, wp, stages, drop)
            coder = TokenEntropyCoder(self.token_model, hp, wp, stages, drop, precision, kept)
            ahead = helper.pool is not None  # report "tokenise" as the helper's chunks arrive
            frames_in = _chunk_frames(chunks, t_count, progress if ahead else None)
            out = coder.encode(frames_in, t_count, group, progress, resync=resync)
        return {"strings": out.strings,
                "shape": CodedShape(t_count, arr.shape[1], arr.shape[2], h, w, hp, wp, stages,
                                    drop, group, *coded, kept),
                "estimated_bits": out.estimated_bits, "table_bits": out.table_bits,
                "actual_bits": 8 * sum(len(s) for s in out.strings), "tokens": out.tokens,
                "digits": self.fsq.digits_from_indices(out.tokens),
                "stored_mask": coder.stored_mask, "scale": coding_scale, "precision": precision}

    def decompress_tokens(self, strings: Sequence[bytes], shape: CodedShape,
                          progress: Progress | None = None, precision: int = PRECISION, *,
                          on_frame: Callable[[int, Tensor], None] | None = None) -> Tensor:
        """Streams -> token ids (T, hp, wp): stored ones exact, dropped ones predicted.

        `precision`: the table precision the streams were coded with (the container's);
        `on_frame(t, tokens)` is called as each frame's tokens (hp, wp) are decoded."""
        shape = CodedShape(*shape)
        coder = TokenEntropyCoder(self.token_model, shape.hp, shape.wp, shape.stages,
                                  shape.drop, precision, shape.digits or None,
                                  resets=shape.intra or ())
        out = torch.empty(shape.frames, shape.hp, shape.wp, dtype=torch.long)
        for t, tok in enumerate(coder.decode(strings, shape.frames, shape.group, progress)):
            out[t] = tok
            if on_frame:
                on_frame(t, tok)
        return out

    def decompress(self, strings: Sequence[bytes], shape: CodedShape,
                   progress: Progress | None = None, precision: int = PRECISION) -> np.ndarray:
        """Streams + shape -> uint8 frames (T, H, W, 3). A helper thread may run the
        tokenizer's decoder on finished frames meanwhile (`_Helper`)."""
        shape = CodedShape(*shape)
        if shape.intra is not None:
            return inter_coding.decompress(self, strings, shape, progress, precision)
        with _Helper() as helper:
            if helper.pool is None:
                tokens = self.decompress_tokens(strings, shape, progress, precision)
                return self.reconstruct(self.fsq.digits_from_indices(tokens), (shape.h, shape.w),
                                        shape.coded_size, progress, (shape.height, shape.width),
                                        shape.digits)
            return _decompress_overlapped(self, helper.pool, strings, shape, progress, precision)

    # ------------------------------------------------------------------ container and DNA
    def to_bytes(self, compressed: dict[str, Any], coder: str = "fsm") -> bytes:
        """`compress`'s result as a container (`pipeline.container_bytes`)."""
        return pipeline.container_bytes(self, compressed, coder)

    from_bytes = staticmethod(container.from_bytes)

    def decode_bytes(self, data: bytes, progress: Progress | None = None) -> np.ndarray:
        """Container bytes -> uint8 frames (`pipeline.decode_container`)."""
        return pipeline.decode_container(self, data, progress)

    def encode_video(self, frames: np.ndarray | Tensor,
                     constraints: str | ConstraintSet = "standard", coder: str = "fsm",
                     **options: Any) -> tuple[list[str], pipeline.VideoStats]:
        """uint8 frames -> (strands, stats): `pipeline.encode_video` under the constraint set
        `constraints` (a name, a YAML path or a ConstraintSet)."""
        check_coder(coder)
        return pipeline.encode_video(self, frames, get_constraints(constraints), coder,
                                     **options)

    def decode_video(self, strands: Sequence[str],
                     constraints: str | ConstraintSet | None = None, coder: str = "auto",
                     **options: Any) -> np.ndarray:
        """Strands -> uint8 frames: `pipeline.decode_video`. An fsm archive cannot be read
        under a set that does not resolve: "auto" then tries the direct coder."""
        try:
            cs = None if constraints is None else get_constraints(constraints)
        except HelixError:
            if coder == "fsm":
                raise
            cs, coder = None, "direct" if coder == "auto" else coder
        return pipeline.decode_video(self, strands, cs, coder, **options)


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


def _token_chunks(codec: HelixCodec, arr: np.ndarray, coded: tuple[int, int],
                  progress: Progress | None, helper: _Helper) -> list[Any]:
    """Futures of (token ids, grid) per ENCODE_CHUNK frames: on the helper thread when
    there is one (tokenising ahead of the coder), else computed now."""
    t_count = len(arr)
    if helper.pool is None:
        all_ids, grid = codec.tokenize(arr, progress, coded)
        return [_Done((all_ids[i:i + ENCODE_CHUNK], grid))
                for i in range(0, t_count, ENCODE_CHUNK)]
    return [helper.pool.submit(codec.tokenize, arr[i:i + ENCODE_CHUNK], None, coded)
            for i in range(0, t_count, ENCODE_CHUNK)]


def _chunk_frames(chunks: list[Any], count: int, progress: Progress | None) -> Iterator[Tensor]:
    """Each frame's token ids (hp, wp) from the chunk futures, in order; progress("tokenise")
    as each chunk arrives (when given: the helper thread tokenised it)."""
    done = 0
    for chunk in chunks:
        ids = chunk.result()[0].long()
        done += len(ids)
        if progress:
            progress("tokenise", done, count)
        yield from ids


def _decompress_overlapped(codec: HelixCodec, pool: ThreadPoolExecutor,
                           strings: Sequence[bytes], shape: CodedShape,
                           progress: Progress | None, precision: int) -> np.ndarray:
    """`decompress` with the tokenizer's decoder on `pool`, DECODE_CHUNK frames at a time,
    while this thread decodes the next frames' tokens."""
    grid, size, out_size = (shape.h, shape.w), shape.coded_size, (shape.height, shape.width)
    done: list[tuple[int, Future]] = []
    chunk: list[Tensor] = []

    def on_frame(t: int, tok: Tensor) -> None:
        chunk.append(tok)
        if len(chunk) == DECODE_CHUNK or t + 1 == shape.frames:
            digits = codec.fsq.digits_from_indices(torch.stack(chunk))
            done.append((t + 1 - len(chunk),
                         pool.submit(codec.reconstruct, digits, grid, size, None, out_size,
                                     shape.digits)))
            chunk.clear()

    codec.decompress_tokens(strings, shape, progress, precision, on_frame=on_frame)
    out = np.empty((shape.frames, *out_size, 3), dtype=np.uint8)
    for start, future in done:
        frames = future.result()
        out[start:start + len(frames)] = frames
        if progress:
            progress("reconstruct", start + len(frames), shape.frames)
    return out
