"""The study's one shared pretrained model: trained once from the base config, then reused.

`ensure_pretrained(sweep)` returns the record of `<run_dir>/pretrained.ckpt` (written beside
it as `pretrained.json`: config hash, file sha256, validation metrics and curve, seconds,
command, and `time_capped` when the time cap stopped it early, see `time_cap.py`; a line on
stderr says so then). It trains only when the checkpoint is missing or was trained from
another config (the hash of the resolved pretraining config differs); a file lock keeps two
processes on one machine from training it twice. Every trial then starts from these weights
(`train(..., init_from=...)`), so trials differ only in what the study varies and the seed.

A study with `pretrain.from` (the shipped ablations: `src/helix_lightning/model/default.ckpt`,
the committed default model) trains nothing here: the record describes that checkpoint
(`from_checkpoint`: path, sha256, the codec's model hash, its stored best validation) and is
written to `pretrained.json` like a trained one. The study's base config must build the very
model the checkpoint holds (its `model` section equal to the checkpoint's, else HelixError
naming the keys that differ), so a trial that keeps every part loads every tensor; an arm that
changes a part's shape (another mixer block, say) loads what fits and records the rest in its
`init` attribute (`checkpoint.load_matching`).

On many machines (PostgreSQL storage) the study records the checkpoint's sha256 in its user
attribute `pretrained`; a machine whose local copy differs (or that has none) stops with a
message instead of silently sweeping from another model: copy `pretrained.ckpt` and
`pretrained.json` from the machine that trained them into the same run directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from ..errors import HelixError
from .config import Sweep
from .time_cap import message, time_capped

#: Config keys that say where or how visibly a run goes, not what it learns.
_NOT_HASHED = ("checkpoint", "runs_dir", "logger")


def config_hash(cfg: dict) -> str:
    clean = {k: v for k, v in cfg.items() if k not in _NOT_HASHED}
    clean["trainer"] = {k: v for k, v in cfg["trainer"].items() if k != "progress_bar"}
    return hashlib.sha256(json.dumps(clean, sort_keys=True, default=str).encode()).hexdigest()[:16]


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def paths(sweep: Sweep) -> tuple[Path, Path]:
    return sweep.run_dir / "pretrained.ckpt", sweep.run_dir / "pretrained.json"


def pretrain_seed(sweep: Sweep) -> int:
    seed = sweep.spec["pretrain"]["seed"]
    return int(seed if seed is not None else sweep.seeds[0])


def pretrain_config(sweep: Sweep) -> dict:
    ckpt, _ = paths(sweep)
    cfg, _ = sweep.training_config("pretrain", seed=pretrain_seed(sweep), checkpoint=ckpt)
    return cfg


def differing_keys(a: Any, b: Any, prefix: str = "") -> list[str]:
    """Dotted keys where two nested mappings differ (a key only one has counts)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for k in sorted(set(a) | set(b), key=str):
            out += differing_keys(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    return [] if a == b else [prefix.rstrip(".")]


def from_checkpoint(sweep: Sweep) -> dict:
    """The record of the study's `pretrain.from` checkpoint (see the module docstring)."""
    from ..model.checkpoint import load_codec, read_checkpoint
    from ..model.train import resolve_config

    path = sweep.pretrained_from
    if path.resolve().is_relative_to(Path.cwd().resolve()):
        path = path.resolve().relative_to(Path.cwd().resolve())  # as the YAML names it
    ckpt = read_checkpoint(path)
    stored = (ckpt.get("hyper_parameters") or {}).get("config")
    if not isinstance(stored, dict):
        raise HelixError(f"{path} holds no training config: cannot check that the study's "
                         "base config builds its model")
    cfg = pretrain_config(sweep)
    differ = differing_keys(resolve_config(stored)["model"], cfg["model"], "model.")
    if differ:
        raise HelixError(f"{sweep.path}: the base config's model is not the one in {path} "
                         f"(differs in {', '.join(differ[:6])}): trials could not load it")
    best = ckpt.get("helix_best") or {}
    return {
        "path": str(path), "sha256": file_sha256(path), "from_checkpoint": True,
        "model_hash": load_codec(path).model_hash(), "config_hash": config_hash(cfg),
        "seconds": 0.0, "steps": int(ckpt.get("global_step", 0)), "seed": None,
        "metrics": {k: float(v) for k, v in best.items() if k.startswith("val/")},
        "curve": [], "config": stored,
    }


def read_record(sweep: Sweep) -> dict | None:
    """The stored record if the checkpoint exists and matches the current config (for a
    study with `pretrain.from`: that checkpoint's record, always)."""
    if sweep.pretrained_from is not None:
        return from_checkpoint(sweep)
    ckpt, meta = paths(sweep)
    if not (ckpt.is_file() and meta.is_file()):
        return None
    try:
        record = json.loads(meta.read_text())
    except (OSError, ValueError):
        return None
    if record.get("config_hash") != config_hash(pretrain_config(sweep)):
        return None
    return record


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str))
    os.replace(tmp, path)


def ensure_pretrained(sweep: Sweep, log=print, train_allowed: bool = True) -> dict:
    """The pretrained model's record (see the module docstring), training it if needed."""
    from filelock import FileLock

    from ..model.train import train
    from .callbacks import TrialReporter

    sweep.run_dir.mkdir(parents=True, exist_ok=True)
    ckpt, meta = paths(sweep)
    if sweep.pretrained_from is not None:
        record = from_checkpoint(sweep)
        _write_json(meta, record)
        return dict(record, reused=True)
    with FileLock(str(sweep.run_dir / "pretrained.lock")):
        record = read_record(sweep)
        if record is not None:
            return dict(record, reused=True)
        if not train_allowed:
            raise HelixError(f"no pretrained model at {ckpt} for this study's config: copy "
                             "pretrained.ckpt and pretrained.json from the machine that "
                             "trained it (see the study's `pretrained` attribute)")
        cfg = pretrain_config(sweep)
        if ckpt.exists():
            log(f"pretrained model {ckpt} is from another config: training it again")
        steps = cfg["trainer"]["max_steps"]
        log(f"pretraining the shared model ({steps} steps, seed {cfg['seed']}) -> {ckpt}")
        reporter = TrialReporter()
        result = train(cfg, callbacks=[reporter])
        record = {
            "path": str(ckpt), "sha256": file_sha256(ckpt), "config_hash": config_hash(cfg),
            "seconds": result["seconds"], "steps": result["steps"], "seed": cfg["seed"],
            "metrics": {k: v for k, v in result.items() if k.startswith(("val/", "best/"))},
            "curve": reporter.curve, "config": cfg, "trained_at": time.strftime("%F %T"),
        }
        capped = time_capped(cfg, result)
        if capped is not None:
            record["time_capped"] = capped
            print(message("pretraining", capped), file=sys.stderr, flush=True)
        _write_json(meta, record)
        return dict(record, reused=False)
