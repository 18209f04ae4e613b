"""Inter coding: frames coded conditioned on the previous decoded frame, closed loop.

A codec whose tokenizer is `conditional` codes a clip frame by frame. Frame t is *intra*
(coded alone) when it starts a group of pictures (`gop` frames since the last intra frame)
or a scene cut (`scene_cut`), else *inter*: its encoder and decoder see the reference, frame
t-1 as the decoder rebuilds it (uint8 at the coding size). The encoder runs that decoder in
the loop (`compress`: tokenise frame t, entropy-code it, rebuild it from the *decoded* tokens,
dropped ones as the token model predicts them, then tokenise frame t+1 against it), so the
reference is exactly the one the decoder will have: no drift between the two sides. The
entropy coding itself does not depend on pixels (tokens are coded given the previous frame's
tokens, as for intra codecs), so the streams decode exactly whatever the float arithmetic;
the reconstruction runs the same network calls in the same order on both sides.

Scene cuts (a documented rule, decided by the encoder and stored, so the decoder needs no
rule): frame t > 0 is a cut when the mean absolute difference of the luma (BT.601 weights)
of frames t and t-1, both averaged over 8x8 blocks, exceeds `scene_cut` x 255. A cut restarts
the group of pictures. The frames coded intra are stored in the container (version 5).
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import HelixError
from .container import CodedShape
from .entropy import Progress, TokenEntropyCoder, digit_step

#: `model.inter`'s keys and defaults: an intra frame at least every `gop` frames, and at
#: scene cuts (mean absolute block-luma difference over `scene_cut` of full scale).
INTER_DEFAULTS = {"gop": 8, "scene_cut": 0.12}
#: Largest grid (tokens per frame) the helper thread works ahead on. The overlap adds the
#: helper's working set to the token model's tables: measured on 2 cores, at 176x144 (480
#: tokens) it took `compress` from 14.6 to 19.3 frames/s; at 1280x720 (14,720 tokens) the
#: encode from 0.34 to 0.47 frames/s but its peak RSS from 1.99 to 4.78 GiB, over the 4 GB
#: the codec may take there (benchmarks/bench_codec.py --size 1280x720).
OVERLAP_MAX_TOKENS = 4096
LUMA = np.array([0.299, 0.587, 0.114])
CUT_BLOCK = 8


def check_inter(section: dict[str, Any], tokenizer: nn.Module) -> None:
    """Refuse a `model.inter` section that cannot code: gop < 1, scene_cut outside (0, 1],
    or a tokenizer that takes no reference."""
    gop, cut = section.get("gop"), section.get("scene_cut")
    if isinstance(gop, bool) or not isinstance(gop, int) or gop < 1:
        raise HelixError(f"model.inter.gop must be an integer >= 1, got {gop!r}")
    if isinstance(cut, bool) or not isinstance(cut, (int, float)) or not 0 < cut <= 1:
        raise HelixError(f"model.inter.scene_cut must be in (0, 1], got {cut!r}")
    if not getattr(tokenizer, "conditional", False):
        raise HelixError("model.inter needs a conditional tokenizer "
                         "(model.tokenizer.name: conditional)")


def block_luma(frame: np.ndarray, block: int = CUT_BLOCK) -> np.ndarray:
    """uint8 frame (H, W, 3) -> its luma averaged over block x block tiles (edges cropped)."""
    h, w = frame.shape[0] // block * block, frame.shape[1] // block * block
    y = frame[: max(h, 1), : max(w, 1)].astype(np.float64) @ LUMA
    if h == 0 or w == 0:
        return y.mean(keepdims=True)
    return y.reshape(h // block, block, w // block, block).mean(axis=(1, 3))


def intra_frames(frames: np.ndarray, gop: int, scene_cut: float) -> tuple[int, ...]:
    """The frames (T, H, W, 3) coded intra: frame 0, every gop-th frame since the last intra
    frame, and scene cuts (see the module docstring)."""
    out, last, prev = [0], 0, block_luma(frames[0])
    for t in range(1, len(frames)):
        cur = block_luma(frames[t])
        if t - last >= gop or float(np.abs(cur - prev).mean()) > scene_cut * 255:
            out.append(t)
            last = t
        prev = cur
    return tuple(out)


def frame_tensor(codec: nn.Module, frame: np.ndarray, coded: tuple[int, int]) -> Tensor:
    """One uint8 frame (H, W, 3) -> (1, 3, h, w) at the coding size."""
    from .codec import frames_to_tensor

    return frames_to_tensor(codec, frame[None], coded)


def tokenise(codec: nn.Module, x: Tensor, ctx: list[Tensor] | None
              ) -> tuple[Tensor, tuple[int, int]]:
    """One frame (1, 3, H, W) at the coding size -> (token ids (hp, wp), latent grid)."""
    from .codec import token_ids

    ids, grid = token_ids(codec, x, ctx)
    return ids[0], grid


def rebuild(codec: nn.Module, ids: Tensor, grid: tuple[int, int], size: tuple[int, int],
            kept: int, ctx: list[Tensor] | None) -> Tensor:
    """A frame's token ids (hp, wp) -> the decoded frame (1, 3, H, W) at the coding size, on
    the uint8 grid (it is the next frame's reference)."""
    from .codec import decode_digits

    x = decode_digits(codec, codec.fsq.digits_from_indices(ids[None]), grid, size, kept, ctx)
    return (x.clamp(0, 1) * 255).round() / 255


def _context(codec: nn.Module, t: int, intra: tuple[int, ...], ref: Tensor | None
             ) -> list[Tensor] | None:
    """The reference's features for frame t; None for an intra frame."""
    return None if t in intra or ref is None else codec.tokenizer.context(ref)


def _chain(codec: nn.Module, arr: np.ndarray, coded: tuple[int, int], intra: tuple[int, ...],
           kept: int, decoded: Callable[[int, Tensor], Tensor]) -> Iterator[Tensor]:
    """Each frame's token ids in order, frame t tokenised against frame t-1 as the decoder
    rebuilds it from `decoded(t - 1, ids)`: the grid the decoder will have (the context of a
    frame is computed once and serves its tokenising and its rebuilding)."""
    ref = None
    for t in range(len(arr)):
        ctx = _context(codec, t, intra, ref)
        ids, grid = tokenise(codec, frame_tensor(codec, arr[t], coded), ctx)
        yield ids
        if t + 1 < len(arr):
            ref = rebuild(codec, decoded(t, ids), grid, coded, kept, ctx)


def _ahead(pool: Any, chain: Iterator[Tensor]) -> Iterator[Tensor]:
    """`chain` run on the helper thread `pool` (it tokenises ahead of the range coder); its
    items in order, its exception re-raised here."""
    items: queue.Queue = queue.Queue()

    def run() -> None:
        try:
            for item in chain:
                items.put((item, None))
            items.put((None, None))  # the end
        except BaseException as exc:  # handed to the consumer
            items.put((None, exc))

    pool.submit(run)
    while True:
        item, exc = items.get()
        if exc is not None:
            raise exc
        if item is None:
            return
        yield item


@torch.no_grad()
def compress(codec: nn.Module, arr: np.ndarray, coded: tuple[int, int], stages: int,
             drop: float, group: int, precision: int, kept: int, fit: bool,
             progress: Progress | None = None, pool: Any = None,
             resync: int | None = None) -> dict[str, Any]:
    """`HelixCodec.compress` for a conditional codec (closed loop, see the module
    docstring); `fit`: reduce the stages to the drop (`rates.fit_stages`). With no token
    dropped the decoder's grid is the stored one (its kept digits), so a helper thread `pool`
    can tokenise and rebuild ahead of the range coder; each coded grid is checked to be the
    one the chain assumed. `resync` (the resilient layout): the intra frames are its chain
    starts (`resilient.chain_starts`), where token contexts restart too."""
    from .rates import fit_stages
    from .resilient import chain_starts

    cfg = codec.config.get("inter", {})
    intra = (intra_frames(arr, int(cfg.get("gop", INTER_DEFAULTS["gop"])),
                          float(cfg.get("scene_cut", INTER_DEFAULTS["scene_cut"])))
             if resync is None else chain_starts(len(arr), resync))
    t_count, step = len(arr), digit_step(codec.fsq.codebook_size, kept)
    grid = codec.tokenizer.latent_size(*coded)
    hp, wp = getattr(codec.mixer, "padded_size", lambda h, w: (h, w))(*grid)
    if fit:
        stages = fit_stages(hp, wp, stages, drop)
    coder = TokenEntropyCoder(codec.token_model, hp, wp, stages, drop, precision, kept,
                              resets=intra)
    coded_grids: list[Tensor] = []
    # ahead: no token dropped, so the decoder's grid is the stored one; not on large grids
    # (see OVERLAP_MAX_TOKENS)
    ahead = (pool is not None and not len(coder.plan.drop_rows)
             and hp * wp <= OVERLAP_MAX_TOKENS)
    if ahead:
        chain = _ahead(pool, _chain(codec, arr, coded, intra, kept,
                                    lambda t, ids: ids // step * step))
    else:  # wait for the coder's grid of each frame (dropped tokens are predicted)
        chain = _chain(codec, arr, coded, intra, kept, lambda t, ids: coded_grids[t])

    def on_frame(t: int, grid_t: Tensor) -> None:
        coded_grids.append(grid_t)

    out = coder.encode(chain, t_count, group, progress, on_frame=on_frame, resync=resync)
    if ahead:
        tokens = out.tokens.reshape(t_count, -1)
        if not torch.equal(tokens, tokens // step * step):  # pragma: no cover - invariant
            raise HelixError("internal error: the coded grids are not the stored tokens")
    shape = CodedShape(t_count, arr.shape[1], arr.shape[2], *grid, hp, wp, stages, drop, group,
                       *coded, kept, intra)
    return {"strings": out.strings, "shape": shape, "estimated_bits": out.estimated_bits,
            "table_bits": out.table_bits,
            "actual_bits": 8 * sum(len(s) for s in out.strings), "tokens": out.tokens,
            "digits": codec.fsq.digits_from_indices(out.tokens),
            "stored_mask": coder.stored_mask, "precision": precision}


@torch.no_grad()
def reconstruct(codec: nn.Module, tokens: Tensor, shape: CodedShape,
                progress: Progress | None = None) -> np.ndarray:
    """Decoded token ids (T, hp, wp) of an inter-coded clip -> uint8 frames (T, H, W, 3):
    frame by frame, each inter frame against the one before it."""
    from .codec import resample, to_uint8

    shape = CodedShape(*shape)
    out = np.empty((shape.frames, shape.height, shape.width, 3), dtype=np.uint8)
    intra, ref = tuple(shape.intra or (0,)), None
    kept = shape.digits or codec.fsq.channels
    for t in range(shape.frames):
        ref = rebuild(codec, tokens[t], (shape.h, shape.w), shape.coded_size, kept,
                      _context(codec, t, intra, ref))
        out[t] = to_uint8(resample(ref, (shape.height, shape.width)))[0]
        if progress:
            progress("reconstruct", t + 1, shape.frames)
    return out


def decompress(codec: nn.Module, strings: list[bytes], shape: CodedShape,
               progress: Progress | None = None, precision: int = 24) -> np.ndarray:
    """`HelixCodec.decompress` for an inter-coded clip: every token (they do not depend on
    pixels), then the frames in order."""
    if not getattr(codec.tokenizer, "conditional", False):
        raise HelixError("this video was inter coded; the model given cannot decode it "
                         "(its tokenizer takes no reference frame)")
    tokens = codec.decompress_tokens(strings, shape, progress, precision)
    return reconstruct(codec, tokens, shape, progress)
