"""Lightning callbacks for codec training.

`CodecMetrics` runs the *real* coding path (HelixCodec.encode_video: staged range coding on
the integer tables, the versioned container, the FSM constrained coder and the outer code)
on a small fixed validation sample at the end of each validation epoch, so the logs show
what the codec actually writes next to the module's estimates. Logged (one value per
validation, in the logger's metrics.csv with the module's val/* metrics):

- `val/actual_bits`: range-coded payload bits (whole 32-bit words, all streams);
- `val/estimated_bits`: -sum log2 p of the coded tokens under the model's float probabilities;
- `val/actual_bits_per_px`: actual_bits / (frames x H x W) of the sample (compare with the
  module's estimated `val/bits_per_px`);
- `val/container_bits_per_px`: the whole container (header + length prefixes + streams)
  per px, i.e. the source bits the DNA layer stores;
- `val/actual_nt_per_px`: all nt written, primers excluded (header strands, index, check,
  outer code and padding included) / px. On a sample this small the fixed cost (8 copies of
  the archive header: 16 strands on `standard`; the outer code's minimum repair strands; the
  54-byte container header) dominates, so it sits far above what a long clip pays per px:
  read it for trends, not as the rate;
- `val/payload_nt_per_px`: actual_bits / coding_density / px, the nt the range-coded
  payload alone occupies: the actual counterpart of the module's estimated `val/nt_per_px`;
- `val/strands`: strands written for the sample;
- `val/coding_density`, `val/net_density`: as docs/DESIGN.md defines them (net = container bits
  / all nt, primers excluded);
- `val/violations`: violations of the strands actually written (0 through the FSM coder);
- `val/direct_violations_codec`: violations of the direct mapping of the stored tokens
  (HelixCodec's order: frame, channel, positions; strands of `dna.direct.DIRECT_BODY` nt), a
  total over the sample; not the same count as the module's `val/direct_violations`
  (one stream per frame, token by token, mean per frame);
- `val/codec_psnr`: PSNR of the uint8 frames the decoder reconstructs, on the sample:
  from `compress`'s decoded grid (stored tokens exact, dropped ones as the token model
  predicts them; the decoder rebuilds that grid bit for bit), without decoding the strands;
- `val/sample_psnr`: the module's training-face PSNR on the same sample (true tokens, float
  output): the gap to `val/codec_psnr` is what training does not model (dropped tokens,
  uint8 rounding). The module's `val/psnr` is over all validation batches, not the sample;
- `val/codec_seconds`: wall time of the callback.

The sample is the first `frames` frames of the first validation batch (clips flattened in
order, so consecutive frames of one clip when `frames` <= clip length), centre-cropped to
`size`, quantised to uint8; it is taken once and kept, so every validation codes the same
pixels. Sanity-check validation is skipped; `every` = N runs the codec on every N-th
validation during fitting (and always under `trainer.validate`).
"""

from __future__ import annotations

import time
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities import rank_zero_warn

from ..errors import HelixError

#: The keys `CodecMetrics` logs (without the stage prefix).
CODEC_METRICS = ("actual_bits", "estimated_bits", "actual_bits_per_px", "container_bits_per_px",
                 "actual_nt_per_px", "payload_nt_per_px", "strands", "coding_density",
                 "net_density", "violations", "direct_violations_codec", "codec_psnr",
                 "sample_psnr", "codec_seconds")


def _size_pair(size: Any) -> tuple[int, int] | None:
    if size is None:
        return None
    pair = (size, size) if isinstance(size, int) else tuple(size)
    if len(pair) != 2 or not all(isinstance(v, int) and v >= 1 for v in pair):
        raise HelixError(f"codec_metrics.size must be null, a positive int or [height, width], "
                         f"got {size!r}")
    return int(pair[0]), int(pair[1])


def sample_frames(batch: Any, frames: int, size: tuple[int, int] | None) -> np.ndarray:
    """A validation batch ((B, T, 3, H, W) or (N, 3, H, W) in [0, 1]) -> uint8 (T', H', W', 3):
    its first `frames` frames, centre-cropped to `size` (no crop where the frame is smaller)."""
    x = batch[0] if isinstance(batch, (list, tuple)) else batch
    if not isinstance(x, torch.Tensor) or x.dim() not in (4, 5) or x.shape[-3] != 3:
        raise HelixError(f"codec metrics need frames (B, T, 3, H, W) or (N, 3, H, W), got "
                         f"{type(x).__name__} {tuple(getattr(x, 'shape', ()))}")
    x = (x.flatten(0, 1) if x.dim() == 5 else x)[:frames].detach()
    if size is not None:
        h, w = x.shape[-2:]
        ch, cw = min(size[0], h), min(size[1], w)
        top, left = (h - ch) // 2, (w - cw) // 2
        x = x[..., top:top + ch, left:left + cw]
    x = (x.float().clamp(0, 1) * 255).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).contiguous().cpu().numpy()


class CodecMetrics(L.Callback):
    """Actual bits, nt/px, densities and violations of the real codec on a fixed val sample.

    every: run on every N-th (non-sanity) validation while fitting (0: never); frames and
    size: the sample (see the module docstring); coder: "fsm" (the default) or "direct".
    The module is put in eval mode under no_grad for the call and its mode restored; the
    global RNG states are left as they were, so training is unchanged by the callback.
    """

    def __init__(self, every: int = 1, frames: int = 2, size: Any = 64,
                 coder: str = "fsm") -> None:
        super().__init__()
        if not isinstance(every, int) or every < 0:
            raise HelixError(f"codec_metrics.every must be an int >= 0, got {every!r}")
        if not isinstance(frames, int) or frames < 1:
            raise HelixError(f"codec_metrics.frames must be an int >= 1, got {frames!r}")
        if coder not in ("fsm", "direct"):
            raise HelixError(f"codec_metrics.coder must be fsm or direct, got {coder!r}")
        self.every, self.frames, self.size, self.coder = every, frames, _size_pair(size), coder
        self.sample: np.ndarray | None = None
        self.validations = 0  # non-sanity validation epochs seen while fitting
        self.last: dict[str, float] = {}

    # ------------------------------------------------------------------ hooks
    def on_validation_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule,
                                outputs: Any, batch: Any, batch_idx: int,
                                dataloader_idx: int = 0) -> None:
        if self.sample is None and batch_idx == 0 and dataloader_idx == 0:
            self.sample = sample_frames(batch, self.frames, self.size)

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or self.sample is None or not self.every:
            return
        if trainer.state.fn == TrainerFn.FITTING:
            self.validations += 1
            if (self.validations - 1) % self.every:
                return
        try:
            values = self.measure(pl_module)
        except HelixError as exc:  # a metric must not end a long run; say why it is missing
            rank_zero_warn(f"CodecMetrics skipped: {exc}")
            return
        self.last = values
        for name, value in values.items():
            pl_module.log(f"val/{name}", value, on_step=False, on_epoch=True)

    # ------------------------------------------------------------------ the codec
    def measure(self, pl_module: L.LightningModule) -> dict[str, float]:
        """Encode the sample with the module's current weights; the metric dict (no prefix)."""
        from .. import metrics as M
        from .codec import HelixCodec

        start = time.perf_counter()
        m = pl_module.cfg["model"]
        config = {"stages": int(m["rate"]["stages"]), "drop": float(m["rate"]["drop"]),
                  "constraints": m["constraints"]}
        was_training = pl_module.training
        np_state = np.random.get_state()
        pl_module.eval()
        try:
            with torch.random.fork_rng(devices=[]), torch.no_grad():
                codec = HelixCodec(pl_module.tokenizer, pl_module.mixer, pl_module.fsq,
                                   pl_module.token_model, config)
                _, stats = codec.encode_video(self.sample, constraints=m["constraints"],
                                              coder=self.coder)
                # what the decoder reconstructs: compress is deterministic, so this is the
                # token grid encode_video stored (dropped positions filled by prediction)
                comp = codec.compress(self.sample)
                shape = comp["shape"]
                decoded = codec.reconstruct(comp["digits"], (shape.h, shape.w),
                                            (shape.height, shape.width))
                x = torch.from_numpy(self.sample).permute(0, 3, 1, 2).float().div(255.0)
                x_hat = pl_module(x.to(pl_module.device))["x_hat"].float().cpu()
        finally:
            pl_module.train(was_training)
            np.random.set_state(np_state)
            # the float64 coding copy of the token model is stale after the next step
            pl_module.token_model.__dict__.pop("_coding_copy", None)
        return {
            "actual_bits": float(stats.actual_bits),
            "estimated_bits": float(stats.estimated_bits),
            "actual_bits_per_px": stats.payload_bits_per_px,
            "container_bits_per_px": float(stats.bits_per_px),
            "actual_nt_per_px": float(stats.nt_per_px),
            "payload_nt_per_px": stats.payload_bits_per_px / float(stats.coding_density),
            "strands": float(stats.strands),
            "coding_density": float(stats.coding_density),
            "net_density": float(stats.net_density),
            "violations": float(stats.violations),
            "direct_violations_codec": float(stats.direct_violations),
            "codec_psnr": M.psnr(decoded, self.sample),
            "sample_psnr": M.psnr(x_hat, x),
            "codec_seconds": time.perf_counter() - start,
        }
