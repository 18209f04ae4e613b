"""`HelixModule`: the codec trained end to end with Lightning.

Per frame (a batch of clips (B, T, 3, H, W) is handled as B*T frames):

    frames --encode--> latents (k, h, w) --Kronecker mixer--> padded grid (k, hp, wp)
      --FSQ (levels 4, straight-through)--> quaternary digits = tokens
      --inverse mixer (crop to h, w)--> --decode--> frames in [0, 1]

Joint loss (each term times its weight from `cfg["loss"]`; a weight of 0 removes the term
and skips computing it in training):

* distortion: MSE on [0, 1], plus `ms_ssim` * (1 - MS-SSIM) (`metrics.ms_ssim`);
* `lambda_rate` * estimated rate in **nt/px**: bits / (frames x H x W) / coding density
  of the constraint set (`StrandLayout(get_constraints(name)).coder.density`);
* `mask` * the masked token model's MaskGIT loss (`MaskedTokenModel.masking_loss`);
* `synthesis` * soft direct-mapping violations per token (`metrics.soft_direct_violations`).

Rate estimate: the codec's forward (`HelixCodec.forward(x, prior=...)`) returns the
reconstruction and the `likelihoods` of its tokens under the prior `model.rate.prior` names
(`rate.py`: "staged", the masked token model in the range coder's context, whose estimate
tracks what the range coder pays; "factorised", one learned categorical, whose logits are
the module's `prior_logits`); bits = -sum of the log2 likelihoods, straight through the
soft token assignment at `soft_temperature` so the encoder learns to move towards cheaper
tokens while the token model gets the ordinary gradient of -log2 p.

The parts are registered (`model/__init__.py`) with their own configuration
(`model.config`): the module builds whatever `model.tokenizer`, `model.mixer`,
`model.masked` and `model.rate` name, and holds them as one `HelixCodec` (`self.codec`,
the coding face `checkpoint.load_codec` returns).

Synthesis term: the soft digits of a frame, written token by token (digit axis last, tokens
row-major over the padded grid: the order `metrics.direct_mapping_bases` reads with
`digits.movedim(1, -1)`), are one base sequence; `soft_direct_violations` sums its expected
violations and the module divides by the number of tokens (normalised per token).
`val/direct_violations` is the hard count (`metrics.direct_violations`) on the stored
digits, one stream per frame, **mean per frame**.

Logged per stage (torchmetrics `MeanMetric`s, one set per stage): `train/loss` (+ its terms),
`val/loss`, `val/psnr` (mean of per-frame PSNR), `val/ms_ssim`, `val/bits_per_px` and
`val/nt_per_px` (estimated, as above), `val/mask_acc`, `val/direct_violations`; the same
under `test/`. `best` (`cfg["best"]`: monitor + mode) keeps the validation metrics of the
best epoch in `self.best` and logs `val/best`.

Not modelled in training: dropped tokens (`rate.drop`) count as free but the decoder sees
the true tokens, not the model's predictions (the codec's decompress does).
"""

from __future__ import annotations

import functools
import math
import time
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import MeanMetric

from .. import metrics as M
from ..dna.constraints import get_constraints
from ..errors import HelixError
from . import build
from .codec import HelixCodec
from .config import MODULE_SECTIONS, PART_SECTIONS, resolve
from .inter_coding import check_inter
from .nested import check_digits, sample_kept
from .nested import masking_loss as nested_masking_loss
from .rate import PriorContext, soft_tokens
from .rates import check_ladder

__all__ = ["HelixModule", "build_codec", "constraint_density", "cosine_factor", "soft_tokens",
           "TimedCosine"]

STAGE_METRICS = ("loss", "psnr", "ms_ssim", "bits_per_px", "nt_per_px", "mask_acc",
                 "direct_violations")


@functools.cache
def constraint_density(name: str) -> float:
    """Coding density (bits/nt) of the FSM coder for constraint set `name` (cached)."""
    from ..dna.strands import StrandLayout

    return float(StrandLayout(get_constraints(name)).coder.density)


def build_codec(model_cfg: dict[str, Any]) -> HelixCodec:
    """The HelixCodec of a resolved `model` section: tokenizer, mixer, FSQ and token model
    built by name from the registry, `model.rate` stages and drop and `model.constraints`
    as its coding defaults, and `model.nested` and `model.ladder` where the model states
    them (`nested`, `rates.ladder`)."""
    m = model_cfg
    name, kwargs = PART_SECTIONS["tokenizer"].part_kwargs(m["tokenizer"])
    tokenizer = build("tokenizer", name, **kwargs)
    k = tokenizer.channels_latent
    name, kwargs = PART_SECTIONS["mixer"].part_kwargs(m["mixer"])
    mixer = build("mixer", name, channels=k, **kwargs)
    fsq = build("quantizer", "fsq", levels=m["levels"], channels=k)
    name, kwargs = PART_SECTIONS["token_model"].part_kwargs(m["masked"])
    token_model = build("token_model", name, codebook_size=fsq.codebook_size, **kwargs)
    config = {"stages": int(m["rate"]["stages"]), "drop": float(m["rate"]["drop"]),
              "constraints": m["constraints"]}
    for key in ("nested", "ladder", "inter"):  # optional sections: only a model that states them
        if key in m:
            config[key] = m[key]
    if "ladder" in m:
        check_ladder(m["ladder"], k)
    if "nested" in m:
        check_digits(m["nested"]["min_digits"], k)
    if "inter" in m:
        check_inter(m["inter"], tokenizer)
    return HelixCodec(tokenizer, mixer, fsq, token_model, config)


def cosine_factor(step: int, warmup: int, total: int, floor: float = 0.02,
                  progress: float = 0.0) -> float:
    """Learning-rate factor at `step`: linear warm-up to 1, then cosine down to `floor`
    (at least `progress` of the way down: the time share, see `TimedCosine`)."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, max(progress, (step - warmup) / max(1, total - warmup)))
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


class TimedCosine:
    """`cosine_factor` whose progress is the larger of the step share and the share of
    `total_seconds` elapsed, so a run stopped by a time budget (trainer.max_time) still ends
    its decay on time."""

    def __init__(self, warmup: int, total: int, total_seconds: float | None = None) -> None:
        self.warmup, self.total, self.total_seconds = warmup, total, total_seconds
        self.start: float | None = None

    def __call__(self, step: int) -> float:
        if self.start is None:
            self.start = time.monotonic()
        share = ((time.monotonic() - self.start) / self.total_seconds
                 if self.total_seconds else 0.0)
        return cosine_factor(step, self.warmup, self.total, progress=share)


class HelixModule(L.LightningModule):
    """A HelixCodec (tokenizer + mixer + FSQ + token model) trained on the joint loss."""

    def __init__(self, config: dict | None = None) -> None:
        super().__init__()
        cfg = resolve({k: v for k, v in (config or {}).items() if k in MODULE_SECTIONS},
                      sections=MODULE_SECTIONS)
        self.save_hyperparameters({"config": config or {}})
        self.cfg = cfg
        m = cfg["model"]
        self.codec = build_codec(m)
        # the factorised prior's logits live here, not in the codec: the codec's parameter
        # names are hashed into every container (`HelixCodec.model_hash`)
        self.prior_logits = nn.Parameter(torch.zeros(self.codec.fsq.codebook_size))
        name, kwargs = PART_SECTIONS["prior"].part_kwargs(m["rate"])
        context = PriorContext(self.codec.token_model, self.prior_logits,
                               int(m["rate"]["stages"]), float(m["rate"]["drop"]))
        self.prior = build("prior", name, context=context, **kwargs)
        self.constraints = get_constraints(m["constraints"])
        self.density = constraint_density(m["constraints"])
        self.weights = {key: float(v) for key, v in cfg["loss"].items()}
        if cfg["best"]["mode"] not in ("min", "max"):
            raise HelixError(f"best.mode must be min or max, got {cfg['best']['mode']!r}")
        self.metrics = nn.ModuleDict({
            stage: nn.ModuleDict({name: MeanMetric() for name in STAGE_METRICS})
            for stage in ("val", "test")})
        self.best: dict[str, float] = {}
        self.last_val_step = -1  # global step of the last (non-sanity) validation

    # the codec's parts, read-only (their weights are saved as `codec.<part>.*`)
    tokenizer = property(lambda self: self.codec.tokenizer)
    mixer = property(lambda self: self.codec.mixer)
    fsq = property(lambda self: self.codec.fsq)
    token_model = property(lambda self: self.codec.token_model)

    # ------------------------------------------------------------------ codec path
    def forward(self, x: Tensor, rate: bool = False, kept: Tensor | None = None
                ) -> dict[str, Tensor]:
        """The codec's forward (`HelixCodec.forward`): frames (N, 3, H, W) or clips
        (B, T, 3, H, W) in [0, 1] -> `x_hat` (shape of x), `digits`, `tokens`, `z_mixed`,
        `z_q`, `prev`, and with `rate` the `likelihoods` under the module's prior; `kept`
        (N,) the digits kept per frame (`nested`)."""
        return self.codec(x, prior=self.prior if rate else None,
                          temperature=self.cfg["model"]["soft_temperature"], kept=kept)

    def digits_kept(self, clips: int, frames: int, kept: int | None = None
                    ) -> Tensor | None:
        """Digits kept per frame of `clips` clips of `frames` frames: `kept` for all when
        given; in training a nested model (`model.nested`) draws one per clip
        (`nested.sample_kept`); else None (every digit)."""
        if kept is not None:
            return torch.full((clips * frames,), check_digits(kept, self.fsq.channels))
        nested = self.cfg["model"].get("nested")
        if nested is None or not self.training:
            return None
        return sample_kept(clips, frames, int(nested["min_digits"]), self.fsq.channels)

    def estimated_bits(self, out: dict[str, Tensor]) -> Tensor:
        """Estimated bits of all stored tokens of a forward dict made with `rate=True`."""
        return -out["likelihoods"]["tokens"].sum()

    def soft_synthesis(self, z_mixed: Tensor) -> Tensor:
        """Soft direct-mapping violations per token (differentiable)."""
        soft = self.fsq.soft_digits(z_mixed, self.cfg["model"]["soft_temperature"])
        seq = soft.permute(0, 2, 3, 1, 4).flatten(1, 3)  # (N, hp*wp*k, 4): token by token
        tokens = z_mixed.shape[0] * z_mixed.shape[-2] * z_mixed.shape[-1]
        return M.soft_direct_violations(seq, self.constraints, reduction="sum") / tokens

    def hard_direct_violations(self, digits: Tensor) -> float:
        """Mean per frame of `metrics.direct_violations` on the stored digits."""
        counts = [M.direct_violations(d.movedim(0, -1), self.constraints) for d in digits]
        return float(np.mean(counts))

    # ------------------------------------------------------------------ loss
    def losses(self, clips: Tensor, everything: bool = False,
               generator: torch.Generator | None = None, kept: int | None = None
               ) -> dict[str, Tensor]:
        """Loss terms and the weighted `loss` for clips (B, T, 3, H, W) (or frames (N, 3, H, W)).

        Terms with weight 0 are skipped unless `everything` (validation computes them all).
        Keys: loss, mse, ms_ssim, rate_nt_per_px, bits_per_px, mask, mask_acc, synthesis, plus
        `out` (the forward dict) for the caller's metrics. `kept`: every frame keeps its
        first `kept` digits (default: `digits_kept`'s draw for a nested model in training).
        """
        if clips.dim() == 4:
            clips = clips.unsqueeze(1)
        b, t, _, h, w = clips.shape
        wt = self.weights
        out = self.forward(clips, rate=bool(wt["lambda_rate"] or everything),
                           kept=self.digits_kept(b, t, kept))
        terms: dict[str, Tensor] = {"mse": F.mse_loss(out["x_hat"], clips)}
        loss = terms["mse"]
        x, x_hat = clips.flatten(0, 1), out["x_hat"].flatten(0, 1)
        if wt["ms_ssim"] or everything:
            terms["ms_ssim"] = M.ms_ssim(x_hat, x)
            loss = loss + wt["ms_ssim"] * (1 - terms["ms_ssim"])
        prev = out["prev"]
        if "likelihoods" in out:
            bits = self.estimated_bits(out)
            terms["bits_per_px"] = bits / (b * t * h * w)
            terms["rate_nt_per_px"] = terms["bits_per_px"] / self.density
            loss = loss + wt["lambda_rate"] * terms["rate_nt_per_px"]
        if wt["mask"] or everything:
            if "kept" in out:  # truncated context, full ids predicted: `nested`
                terms["mask"], terms["mask_acc"] = nested_masking_loss(
                    self.token_model, out["tokens"], out["ids"], prev, generator,
                    out.get("temporal"))
            else:
                terms["mask"], terms["mask_acc"] = self.token_model.masking_loss(
                    out["tokens"], prev, generator=generator, temporal=out.get("temporal"))
            loss = loss + wt["mask"] * terms["mask"]
        if wt["synthesis"] or everything:
            terms["synthesis"] = self.soft_synthesis(out["z_mixed"])
            loss = loss + wt["synthesis"] * terms["synthesis"]
        terms["loss"] = loss
        terms["out"] = out  # type: ignore[assignment]
        return terms

    # ------------------------------------------------------------------ Lightning hooks
    def training_step(self, batch: Tensor, batch_idx: int) -> Tensor:
        terms = self.losses(batch)
        bs = batch.shape[0]
        self.log("train/loss", terms["loss"], prog_bar=True, batch_size=bs)
        for key in ("mse", "rate_nt_per_px", "mask", "mask_acc", "synthesis", "ms_ssim"):
            if key in terms:
                self.log(f"train/{key}", terms[key], batch_size=bs)
        return terms["loss"]

    def _eval_step(self, stage: str, batch: Tensor, batch_idx: int) -> None:
        gen = torch.Generator().manual_seed(batch_idx)  # same masks every evaluation
        terms = self.losses(batch, everything=True, generator=gen)
        out = terms["out"]
        frames = batch.flatten(0, 1)
        n = frames.shape[0]
        mets = self.metrics[stage]
        for value in M.psnr_frames(out["x_hat"].flatten(0, 1), frames):
            mets["psnr"].update(float(value))
        mets["loss"].update(terms["loss"].detach(), n)
        mets["ms_ssim"].update(terms["ms_ssim"].detach(), n)
        mets["bits_per_px"].update(terms["bits_per_px"].detach(), n)
        mets["nt_per_px"].update(terms["rate_nt_per_px"].detach(), n)
        mets["mask_acc"].update(terms["mask_acc"].detach(), n)
        mets["direct_violations"].update(self.hard_direct_violations(out["digits"]), n)

    def _eval_epoch_end(self, stage: str) -> dict[str, float]:
        values = {}
        for name, metric in self.metrics[stage].items():
            if metric.update_count:
                values[f"{stage}/{name}"] = float(metric.compute())
            metric.reset()
        for key, value in values.items():
            self.log(key, value, prog_bar=key in (f"{stage}/psnr", f"{stage}/nt_per_px"))
        return values

    def validation_step(self, batch: Tensor, batch_idx: int) -> None:
        with torch.no_grad():
            self._eval_step("val", batch, batch_idx)

    def on_validation_epoch_end(self) -> None:
        values = self._eval_epoch_end("val")
        if not values or (self._trainer is not None and self.trainer.sanity_checking):
            return
        self.last_val_step = self.global_step
        monitor, mode = self.cfg["best"]["monitor"], self.cfg["best"]["mode"]
        if monitor not in values:
            raise HelixError(f"best.monitor {monitor!r} is not a validation metric "
                             f"({', '.join(sorted(values))})")
        current, best = values[monitor], self.best.get(monitor)
        if best is None or (current < best if mode == "min" else current > best):
            self.best = dict(values, step=float(self.global_step))
        self.log("val/best", self.best[monitor])

    def test_step(self, batch: Tensor, batch_idx: int) -> None:
        with torch.no_grad():
            self._eval_step("test", batch, batch_idx)

    def on_test_epoch_end(self) -> None:
        self._eval_epoch_end("test")

    def configure_optimizers(self) -> Any:
        """AdamW; `optim.schedule` "cosine" adds a linear warm-up then a cosine decay to 1/50
        of the rate over `optim.total_steps` (or the trainer's max_steps), stepped per batch;
        with `optim.total_seconds` the decay ends by then too, whichever comes first."""
        o = self.cfg["optim"]
        opt = torch.optim.AdamW(self.parameters(), lr=float(o["lr"]),
                                weight_decay=float(o["weight_decay"]),
                                betas=tuple(float(b) for b in o["betas"]))
        if o["schedule"] == "constant":
            return opt
        if o["schedule"] != "cosine":
            raise HelixError(f"optim.schedule must be constant or cosine, got {o['schedule']!r}")
        total = o["total_steps"]
        if total is None and self._trainer is not None and self.trainer.max_steps > 0:
            total = self.trainer.max_steps
        if not total:
            raise HelixError("optim.schedule cosine needs optim.total_steps or trainer.max_steps")
        warm = int(o["warmup_steps"])
        seconds = o.get("total_seconds")
        if seconds is not None and float(seconds) <= 0:
            raise HelixError(f"optim.total_seconds must be > 0, got {seconds}")
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, TimedCosine(warm, int(total), float(seconds) if seconds else None))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def on_fit_end(self) -> None:
        """Under a spawning DDP strategy the fit runs in child processes and the caller's copy
        of the module gets only the weights back: rank 0 leaves the step count and the best
        validation in `fit_summary_path` (set by `train.train`) for the caller to read."""
        path = getattr(self, "fit_summary_path", None)
        if path and self.trainer.world_size > 1 and self.trainer.is_global_zero:
            import json

            Path(path).write_text(json.dumps({"steps": int(self.global_step),
                                              "last_val_step": int(self.last_val_step),
                                              "best": self.best}))

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["helix_best"] = dict(self.best)

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.best = dict(checkpoint.get("helix_best", {}))
