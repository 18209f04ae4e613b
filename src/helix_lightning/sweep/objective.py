"""One trial: parameters -> training config -> fine-tune from the pretrained model ->
encode/decode the evaluation clip -> objective values, every metric a user attribute.

A trial is one (configuration, seed). Its parameters are the study's `arm` (if it has arms),
every `space` key, and `seed`. It writes under `<run_dir>/trial_<number>/`: `model.ckpt`
(training trials), `frame0.png` and `frame0.npz` (the first original and decoded frame).

User attributes (all JSON): psnr, ms_ssim, bits_per_px, nt_per_px, coding_density,
net_density, capacity, share_of_capacity, violations, direct_violations (and the other
`evaluate.evaluate` keys: histograms, strands, nt, *_with_primers, encode/decode seconds),
mask_acc (last validation), train_seconds, steps, params (number of model parameters), seed,
arm, settings (the dotted settings the parameters stand for), config (the resolved training
config), eval (evaluation settings), eval_clip, command (reruns this trial:
`helix sweep NAME --params JSON`), curve (one {step, psnr, nt_per_px, loss} per validation),
init (pretrained tensors loaded / not loaded), pretrained (sha256), frame_image (PNG),
frame_npz, val (the last validation's val/* metrics), and `helix:time_capped` ({steps,
max_steps, max_time, ...}) only when the time cap stopped its training early (`time_cap.py`;
a line on stderr says so at the time).

Training goes through `model.train.train` unchanged, so `trainer.devices`,
`trainer.num_nodes` and `trainer.strategy` in `trial.overrides` give Lightning's DDP inside a
trial. Use a spawning strategy (`ddp_spawn_find_unused_parameters_true`): the subprocess
launcher of plain `ddp` re-runs the whole command on every rank, which would start a sweep per
rank. tests/test_ddp.py runs two spawned CPU ranks through `train`; multi-GPU and multi-node
runs are not exercised here. The pruner's report comes from rank 0 only.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from ..errors import HelixError
from .config import Sweep
from .storage import DUPLICATE_ATTR, WORKER_ATTR, grid_twin, worker_id
from .time_cap import TIME_CAPPED_ATTR, message, time_capped


def suggest(sweep: Sweep, trial) -> dict[str, Any]:
    """The trial's parameters (arm, space keys, seed) from its sampler or queue entry."""
    params: dict[str, Any] = {}
    for name, dom in sweep.params_space().items():
        if isinstance(dom, list):
            params[name] = trial.suggest_categorical(name, dom)
        elif all(isinstance(dom.get(k), int) for k in ("low", "high")) and \
                isinstance(dom.get("step", 1), int) and not isinstance(dom.get("low"), bool):
            params[name] = trial.suggest_int(name, dom["low"], dom["high"],
                                             step=dom.get("step", 1), log=dom.get("log", False))
        else:
            params[name] = trial.suggest_float(name, float(dom["low"]), float(dom["high"]),
                                               step=dom.get("step"), log=dom.get("log", False))
    return params


def check_params(sweep: Sweep, params: dict) -> dict:
    """Parameters given by hand (`--params`): every key of the study's space, known values."""
    space = sweep.params_space()
    unknown = sorted(set(params) - set(space))
    missing = sorted(set(space) - set(params))
    if unknown or missing:
        raise HelixError(f"--params must give exactly {', '.join(space)} "
                         f"({'unknown: ' + ', '.join(unknown) if unknown else ''}"
                         f"{'; ' if unknown and missing else ''}"
                         f"{'missing: ' + ', '.join(missing) if missing else ''})")
    if "arm" in params and params["arm"] not in sweep.spec["arms"]:
        raise HelixError(f"unknown arm {params['arm']!r} (known: {', '.join(sweep.spec['arms'])})")
    if not isinstance(params["seed"], int):
        raise HelixError(f"seed must be an integer, got {params['seed']!r}")
    return params


def pruning_monitor(sweep: Sweep) -> str | None:
    pruner = sweep.spec["pruner"]
    return pruner.get("monitor") if pruner["name"] != "none" else None


def run_trial(sweep: Sweep, params: dict, pretrained: dict, out_dir: Path,
              trial: Any = None, attrs: dict | None = None) -> dict[str, Any]:
    """Run one trial (see the module docstring); return its user attributes. With an Optuna
    `trial` and a pruner, validations feed the pruner; `attrs` (if given) is filled as the
    trial goes, so a pruned trial still leaves its curve and config."""
    import optuna

    from ..model.checkpoint import load_codec
    from ..model.train import train
    from .callbacks import TrialReporter
    from .evaluate import evaluate, read_clip

    attrs = {} if attrs is None else attrs
    seed = int(params["seed"])
    settings = sweep.settings(params)
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt = out_dir / "model.ckpt"
    cfg, ev = sweep.training_config("trial", settings, seed, checkpoint=ckpt)
    attrs.update(seed=seed, arm=params.get("arm"), settings=settings, config=cfg, eval=ev,
                 command=sweep.command(params), pretrained=pretrained["sha256"])
    if sweep.trains:
        monitor = pruning_monitor(sweep)
        reporter = TrialReporter(trial if monitor else None, monitor)
        t0 = time.perf_counter()
        try:
            result = train(cfg, callbacks=[reporter], init_from=pretrained["path"])
        except optuna.TrialPruned:
            attrs.update(curve=reporter.curve, train_seconds=time.perf_counter() - t0)
            raise
        init = result["init"]
        capped = time_capped(cfg, result)
        if capped is not None:
            attrs[TIME_CAPPED_ATTR] = capped
            print(message(f"{out_dir.name}: training", capped), file=sys.stderr, flush=True)
        attrs.update(
            train_seconds=float(result["seconds"]), steps=int(result["steps"]),
            mask_acc=float(result.get("val/mask_acc", float("nan"))), curve=reporter.curve,
            init={"loaded": init["loaded"], "not_loaded": init["not_loaded"],
                  "unexpected": init["unexpected"]},
            val={k: float(v) for k, v in result.items() if k.startswith("val/")})
        model_path = ckpt
    else:
        metrics = pretrained.get("metrics", {})
        attrs.update(train_seconds=0.0, steps=0, mask_acc=float(metrics.get("val/mask_acc",
                                                                            float("nan"))),
                     curve=pretrained.get("curve", []),
                     init={"loaded": "all (no training)", "not_loaded": [], "unexpected": []},
                     val={k: v for k, v in metrics.items() if k.startswith("val/")})
        model_path = Path(pretrained["path"])
    codec = load_codec(model_path)
    rate = cfg["model"]["rate"]
    codec.config.update(stages=int(rate["stages"]), drop=float(rate["drop"]))
    attrs["params"] = int(sum(p.numel() for p in codec.parameters()))
    frames, clip = read_clip(ev, cfg)
    constraints = ev["constraints"] or cfg["model"]["constraints"]
    attrs["eval_clip"] = clip
    attrs.update(evaluate(codec, frames, coder=ev["coder"], constraints=constraints,
                          redundancy=ev["redundancy"], out_dir=out_dir))
    return attrs


class Objective:
    """The Optuna objective of a sweep: returns the objective values of one trial."""

    def __init__(self, sweep: Sweep, pretrained: dict) -> None:
        self.sweep, self.pretrained = sweep, pretrained

    def __call__(self, trial) -> tuple[float, ...] | float:
        sweep = self.sweep
        storage = trial.storage
        params = suggest(sweep, trial)
        storage.set_trial_system_attr(trial._trial_id, WORKER_ATTR, worker_id())
        system = storage.get_trial_system_attrs(trial._trial_id)
        twin = grid_twin(trial.study, trial.number, system.get("grid_id"))
        if twin is not None:  # another worker took this grid point at the same moment
            storage.set_trial_system_attr(trial._trial_id, DUPLICATE_ATTR, twin)
            raise HelixError(f"trial {trial.number}: its grid point is trial {twin}'s "
                             "(two workers picked it at once); not run")
        if (sweep.spec["sampler"]["name"] != "grid" and "fixed_params" not in system
                and "failed_trial" not in system):
            # a fresh configuration (seed = seeds[0]): queue its other seeds now, so a worker
            # picks them up next and every configuration runs once per seed
            for s in sweep.seeds[1:]:
                trial.study.enqueue_trial({**params, "seed": s})
        attrs: dict[str, Any] = {}
        out_dir = sweep.run_dir / f"trial_{trial.number}"
        try:
            run_trial(sweep, params, self.pretrained, out_dir, trial=trial, attrs=attrs)
        finally:
            for key, value in attrs.items():
                trial.set_user_attr(key, value)
        values = tuple(float(attrs[o["metric"]]) for o in sweep.objectives)
        return values if len(values) > 1 else values[0]
