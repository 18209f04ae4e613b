"""`TrialReporter`: a Lightning callback that records a trial's validation curve and feeds
Optuna's pruner.

Why not optuna-integration's `PyTorchLightningPruningCallback`: it does import `lightning`
(not only `pytorch_lightning`), but it reports at step = epoch, while this project validates
every `val_check_interval` steps inside long epochs (several validations would share one
step and Optuna keeps only the first), and it adds a dependency. This callback reports at
the global step instead. Optuna cannot prune multi-objective studies (`Trial.report` raises
there), so `trial` is passed only when the sweep prunes (single objective; `config.py`).
"""

from __future__ import annotations

import math
from typing import Any

import lightning as L

#: Validation metrics kept per point of the curve (key in the curve: name after `val/`).
CURVE_METRICS = ("val/psnr", "val/nt_per_px", "val/loss")


class TrialReporter(L.Callback):
    """After every (non-sanity) validation: append {step, psnr, nt_per_px, loss} to `curve`;
    with a trial, report `monitor` at the global step and raise TrialPruned if told to."""

    def __init__(self, trial: Any = None, monitor: str | None = None) -> None:
        super().__init__()
        self.trial, self.monitor = trial, monitor
        self.curve: list[dict[str, float]] = []

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        step = int(trainer.global_step)
        if self.curve and self.curve[-1]["step"] == step:
            return  # the final validation of a run whose last step was already validated
        metrics = trainer.callback_metrics
        point: dict[str, float] = {"step": step}
        for key in CURVE_METRICS:
            if key in metrics:
                point[key.split("/", 1)[1]] = float(metrics[key])
        self.curve.append(point)
        if self.trial is None or self.monitor not in metrics:
            return
        import optuna

        value = float(metrics[self.monitor])
        if not math.isfinite(value):
            raise optuna.TrialPruned(f"{self.monitor} is {value} at step {step}")
        self.trial.report(value, step=step)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned at step {step}: {self.monitor} = {value:.4g}")
