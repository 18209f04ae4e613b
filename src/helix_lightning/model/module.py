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

Rate estimate (`cfg["model"]["rate"]["prior"]`)
- "staged" (default): bits = -sum log2 p(token) under the masked token model in the very
  context the range coder uses (`masked.stage_masks`): stage s sees the tokens of stages < s
  and the previous frame's tokens at the same positions; dropped tokens are not counted.
  S forward passes of the transformer per batch. This is what `encode_tokens` would pay
  (up to its 16-bit table quantisation), so the estimate tracks the actual rate.
- "factorised": one learned categorical over the 4**k token ids, shared by every position
  (no context): one softmax, no transformer pass; an upper bound on what context buys.
Gradients reach the encoder through the token's soft assignment: the one-hot token gets the
gradient of q(token) = prod_c soft_digit_c (straight-through; `FSQ.soft_digits` at
`soft_temperature`), so the loss value is the hard -log2 p while the encoder learns to move
towards cheaper tokens; the token model gets the ordinary gradient of -log2 p.

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

import copy
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
from .masked import MaskedTokenModel, stage_masks

#: What HelixModule reads from a config (the sections `model`, `loss`, `optim`, `best`) and
#: the defaults used where a key is missing. `train.DEFAULTS` extends this with data/trainer.
MODULE_DEFAULTS: dict[str, Any] = {
    "model": {
        "tokenizer": {"name": "conv", "downsample": 8, "channels_latent": 4, "width": 64,
                      "res_blocks": 1, "groups": 8, "stem": "conv"},
        "mixer": {"name": "kronecker", "mode": "learned", "block": 4,
                  "factorisation": "separable", "per_channel": False},
        "levels": 4,
        "masked": {"dim": 64, "depth": 2, "heads": 4, "max_tokens": 4096, "dropout": 0.0},
        "rate": {"prior": "staged", "stages": 4, "drop": 0.0},
        "constraints": "standard",
        "soft_temperature": 0.5,
    },
    "loss": {"lambda_rate": 0.01, "mask": 1.0, "synthesis": 0.01, "ms_ssim": 0.0},
    "optim": {"lr": 1e-3, "weight_decay": 0.0, "betas": [0.9, 0.99], "schedule": "constant",
              "warmup_steps": 0, "total_steps": None, "total_seconds": None},
    "best": {"monitor": "val/loss", "mode": "min"},
}

RATE_PRIORS = ("staged", "factorised")
STAGE_METRICS = ("loss", "psnr", "ms_ssim", "bits_per_px", "nt_per_px", "mask_acc",
                 "direct_violations")
LN2 = math.log(2.0)


def merge(defaults: dict, override: dict | None, where: str = "") -> dict:
    """Deep copy of `defaults` with `override` laid over it; unknown keys raise HelixError."""
    out = copy.deepcopy(defaults)
    for key, value in (override or {}).items():
        path = f"{where}.{key}" if where else str(key)
        if key not in defaults:
            known = ", ".join(sorted(map(str, defaults)))
            raise HelixError(f"unknown config key {path!r} (known here: {known})")
        if isinstance(defaults[key], dict):
            if not isinstance(value, dict):
                raise HelixError(f"config key {path!r} must be a mapping, got {value!r}")
            out[key] = merge(defaults[key], value, path)
        else:
            out[key] = copy.deepcopy(value)
    return out


@functools.cache
def constraint_density(name: str) -> float:
    """Coding density (bits/nt) of the FSM coder for constraint set `name` (cached)."""
    from ..dna.strands import StrandLayout

    return float(StrandLayout(get_constraints(name)).coder.density)


def soft_tokens(soft: Tensor) -> Tensor:
    """Soft digits (N, k, h, w, L) -> probabilities over the L**k token ids (N, h, w, L**k).

    Channel 0 is the most significant digit, as in `FSQ.indices`.
    """
    sd = soft.movedim(1, -2)  # (N, h, w, k, L)
    q = sd[..., 0, :]
    for c in range(1, sd.shape[-2]):
        q = (q[..., :, None] * sd[..., c, None, :]).flatten(-2)
    return q


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
    """Tokenizer + Kronecker mixer + FSQ + masked token model, trained on the joint loss."""

    def __init__(self, config: dict | None = None) -> None:
        super().__init__()
        cfg = merge(MODULE_DEFAULTS, {k: v for k, v in (config or {}).items()
                                      if k in MODULE_DEFAULTS})
        self.save_hyperparameters({"config": config or {}})
        self.cfg = cfg
        m = cfg["model"]
        tok = dict(m["tokenizer"])
        self.tokenizer = build("tokenizer", tok.pop("name"), **tok)
        k = self.tokenizer.channels_latent
        mix = dict(m["mixer"])
        block = mix.pop("block")
        mix["block"] = tuple(block) if isinstance(block, (list, tuple)) else int(block)
        self.mixer = build("mixer", mix.pop("name"), channels=k, **mix)
        self.fsq = build("quantizer", "fsq", levels=m["levels"], channels=k)
        self.token_model = MaskedTokenModel(codebook_size=self.fsq.codebook_size, **m["masked"])
        rate = m["rate"]
        if rate["prior"] not in RATE_PRIORS:
            raise HelixError(f"unknown rate prior {rate['prior']!r} (known: "
                             f"{', '.join(RATE_PRIORS)})")
        self.prior_logits = nn.Parameter(torch.zeros(self.fsq.codebook_size))  # factorised
        self.stages, self.drop = int(rate["stages"]), float(rate["drop"])
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

    # ------------------------------------------------------------------ codec path
    def forward(self, x: Tensor) -> dict[str, Tensor]:
        """Frames (N, 3, H, W) or clips (B, T, 3, H, W) in [0, 1] -> dict with
        `x_hat` (same shape as x), `digits` (N, k, hp, wp) int64, `tokens` (N, hp, wp),
        `z_mixed` (N, k, hp, wp, pre-tanh), `z_q` (quantised, straight-through)."""
        clip_shape = x.shape
        frames = x.flatten(0, 1) if x.dim() == 5 else x
        size = tuple(frames.shape[-2:])
        z = self.tokenizer.encode(frames)
        z_mixed = self.mixer(z)
        z_q, digits = self.fsq(z_mixed)
        z_hat = self.mixer.inverse(z_q, size=tuple(z.shape[-2:]))
        x_hat = self.tokenizer.decode(z_hat, size)
        return {"x_hat": x_hat.reshape(clip_shape), "digits": digits,
                "tokens": self.fsq.indices(digits), "z_mixed": z_mixed, "z_q": z_q}

    @staticmethod
    def previous_tokens(tokens: Tensor, frames_per_clip: int, mask_id: int) -> Tensor:
        """Each frame's previous frame's tokens within its clip (mask_id for first frames)."""
        clips = tokens.unflatten(0, (-1, frames_per_clip))
        prev = torch.cat([torch.full_like(clips[:, :1], mask_id), clips[:, :-1]], dim=1)
        return prev.flatten(0, 1)

    def token_log2_probs(self, tokens: Tensor, prev: Tensor) -> tuple[Tensor, Tensor]:
        """log2 p of every token id at every position (N, hp*wp, K) and the stored mask (n,).

        staged: position in stage s gets the model's prediction with stages < s visible
        (the range coder's context); factorised: the shared learned categorical.
        """
        n, h, w = tokens.shape
        kk = self.fsq.codebook_size
        if self.cfg["model"]["rate"]["prior"] == "factorised":
            logp = F.log_softmax(self.prior_logits, -1).expand(n, h * w, kk)
            return logp / LN2, torch.ones(h * w, dtype=torch.bool, device=tokens.device)
        masks = [m.to(tokens.device) for m in stage_masks(h, w, self.stages, self.drop)]
        mask_id = self.token_model.mask_id
        visible = torch.zeros(h, w, dtype=torch.bool, device=tokens.device)
        logp = None
        for s in range(self.stages):
            coded = (masks[s] & ~masks[-1]).flatten()
            if bool(coded.any()):
                inp = torch.where(visible, tokens, torch.full_like(tokens, mask_id))
                lp = F.log_softmax(self.token_model(inp, prev, (h, w)), -1)
                logp = lp if logp is None else torch.where(coded[None, :, None], lp, logp)
            visible = visible | masks[s]
        return logp / LN2, ~masks[-1].flatten()

    def estimated_bits(self, out: dict[str, Tensor], prev: Tensor) -> Tensor:
        """Estimated bits of all stored tokens of the batch (scalar; see module docstring)."""
        tokens = out["tokens"]
        log2p, stored = self.token_log2_probs(tokens, prev)
        soft = self.fsq.soft_digits(out["z_mixed"], self.cfg["model"]["soft_temperature"])
        q = soft_tokens(soft).flatten(1, 2)  # (N, n, K)
        hard = F.one_hot(tokens.flatten(1), q.shape[-1]).to(q.dtype)
        q = hard + q - q.detach()  # value: the hard token; gradient: its soft assignment
        return -(q * log2p).sum(-1)[:, stored].sum()

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
               generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """Loss terms and the weighted `loss` for clips (B, T, 3, H, W) (or frames (N, 3, H, W)).

        Terms with weight 0 are skipped unless `everything` (validation computes them all).
        Keys: loss, mse, ms_ssim, rate_nt_per_px, bits_per_px, mask, mask_acc, synthesis, plus
        `out` (the forward dict) for the caller's metrics.
        """
        if clips.dim() == 4:
            clips = clips.unsqueeze(1)
        b, t, _, h, w = clips.shape
        out = self.forward(clips)
        wt = self.weights
        terms: dict[str, Tensor] = {"mse": F.mse_loss(out["x_hat"], clips)}
        loss = terms["mse"]
        x, x_hat = clips.flatten(0, 1), out["x_hat"].flatten(0, 1)
        if wt["ms_ssim"] or everything:
            terms["ms_ssim"] = M.ms_ssim(x_hat, x)
            loss = loss + wt["ms_ssim"] * (1 - terms["ms_ssim"])
        prev = self.previous_tokens(out["tokens"], t, self.token_model.mask_id)
        if wt["lambda_rate"] or everything:
            bits = self.estimated_bits(out, prev)
            terms["bits_per_px"] = bits / (b * t * h * w)
            terms["rate_nt_per_px"] = terms["bits_per_px"] / self.density
            loss = loss + wt["lambda_rate"] * terms["rate_nt_per_px"]
        if wt["mask"] or everything:
            terms["mask"], terms["mask_acc"] = self.token_model.masking_loss(
                out["tokens"], prev, generator=generator)
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
