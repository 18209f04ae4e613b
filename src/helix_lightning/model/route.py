"""Training routes: one prepared command that checks its machine, trains, and leaves the
checkpoint, the metrics CSV and a JSON summary in one output folder.

    python -m helix_lightning.model.route [--config experiments/gpu2.yaml] [--out DIR]
                                          [--cpu] [--tiny] [--set KEY=VALUE ...]

The GPU route (`make train-gpu2`, what a device command runs: scripts/device_train.sh)
refuses a machine without a visible GPU and a config whose `trainer.max_time` is over 8
minutes, so training fits one device command of 10 minutes with start-up and the final
validation. `--cpu` is the CPU route (`make train-cpu2`, budget 2 hours). `--tiny` runs the
same path on the CPU for about a minute (a few steps, small crops): the rehearsal before a
device is spent. Every check fails in one line (HelixError) before any training starts:
a missing Python module, no GPU, a training file missing or not matching its sha256.

Outputs (DIR: `$OUT` when set, else runs/device), flat so a device returns all of them:
`<name>.ckpt`, `<name>_metrics.csv`, `summary.json`.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from ..errors import HelixError

#: Modules a training run imports beyond the standard library (what a bare machine may lack).
REQUIRED_MODULES = ("torch", "torchvision", "lightning", "torchmetrics", "numpy", "scipy",
                    "yaml", "PIL", "av", "piq", "edlib", "rich", "matplotlib")
#: Longest `trainer.max_time` each route accepts, in seconds.
BUDGET_SECONDS = {"gpu": 8 * 60, "cpu": 115 * 60}
#: What --tiny lays over the config: the same code path, about a minute on a CPU.
TINY_OVERRIDES = ("trainer.max_steps=3", "trainer.max_time=00:00:01:00", "data.crop=64",
                  "data.batch_size=2", "data.val_size=64", "data.num_workers=0",
                  "trainer.limit_val_batches=1", "trainer.val_check_interval=3",
                  "trainer.log_every_n_steps=1", "optim.total_seconds=60",
                  "optim.warmup_steps=1")


def _seconds(max_time: str | None) -> float:
    """"DD:HH:MM:SS" as seconds (None: unlimited)."""
    if max_time is None:
        return float("inf")
    days, hours, minutes, seconds = (int(p) for p in str(max_time).split(":"))
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def missing_modules(names: tuple[str, ...] = REQUIRED_MODULES) -> list[str]:
    """The modules of `names` this Python cannot find."""
    return [n for n in names if importlib.util.find_spec(n) is None]


def check_environment(cfg: dict, gpu: bool) -> dict[str, Any]:
    """What the run will use ({modules, device, training files}); HelixError in one line
    naming the first thing missing: modules, a GPU (when `gpu`), or a training file."""
    missing = missing_modules()
    if missing:
        raise HelixError(f"missing Python module(s) {', '.join(missing)}: install the package "
                         "(make install) or carry wheels (scripts/device_pack.sh)")
    import torch

    if gpu and not torch.cuda.is_available():
        raise HelixError("no GPU visible to torch: the GPU route needs one (use --cpu or "
                         "--tiny on a CPU)")
    from ..video.datamodule import manifest_request
    from ..video.manifest import load_manifest, verified_files

    request = manifest_request(cfg["data"]["paths"])
    if request is None:
        raise HelixError("the routes train on a manifest: data.paths must be `manifest`")
    manifest = load_manifest(request["manifest"], request.get("data_dir"))
    files = verified_files(manifest)
    device = torch.cuda.get_device_name(0) if gpu else "cpu"
    return {"device": device, "torch": torch.__version__, "manifest": str(manifest.path),
            "videos": len(files["video"]), "photos": len(files["photo"])}


def route_config(config: str | Path, out: Path, tiny: bool, gpu: bool,
                 overrides: list[str]) -> dict:
    """The resolved config of a route: `config` with the outputs in `out` (the CSV logs in
    runs/route), the tiny overrides, then `overrides`; HelixError over the route's budget."""
    from .config import apply_overrides, load_config
    from .train import resolve_config

    items = [f"checkpoint={out}/{Path(config).stem}.ckpt", "runs_dir=runs/route"]
    items += list(TINY_OVERRIDES) + ["trainer.accelerator=cpu"] if tiny else []
    cfg = resolve_config(apply_overrides(load_config(config), items + list(overrides)))
    route = "gpu" if gpu else "cpu"
    if _seconds(cfg["trainer"]["max_time"]) > BUDGET_SECONDS[route]:
        raise HelixError(f"trainer.max_time {cfg['trainer']['max_time']} is over the {route} "
                         f"route's budget of {BUDGET_SECONDS[route] // 60} minutes")
    return cfg


def _last_metrics_csv(cfg: dict) -> Path | None:
    """The CSVLogger file of the newest version of this run, if any."""
    runs = sorted(Path(cfg["runs_dir"], cfg["name"]).glob("version_*/metrics.csv"),
                  key=lambda p: int(p.parent.name.split("_")[1]))
    return runs[-1] if runs else None


def run_route(cfg: dict, out: Path, gpu: bool) -> dict[str, Any]:
    """Check the machine, train `cfg`, and write checkpoint, metrics CSV and summary.json
    into `out`; return the summary."""
    from ..video.manifest import sha256_file
    from .train import train

    environment = check_environment(cfg, gpu)
    out.mkdir(parents=True, exist_ok=True)
    result = train(cfg)
    csv = _last_metrics_csv(cfg)
    if csv is not None:
        shutil.copyfile(csv, out / f"{cfg['name']}_metrics.csv")
    ckpt = Path(result["checkpoint"])
    summary = {"config": cfg["name"], "environment": environment,
               "steps": result["steps"], "seconds": round(result["seconds"], 1),
               "steps_per_s": round(result["steps"] / max(result["seconds"], 1e-9), 3),
               "checkpoint": ckpt.name, "checkpoint_sha256": sha256_file(ckpt),
               "checkpoint_bytes": ckpt.stat().st_size,
               "metrics": {k: v for k, v in result.items()
                           if k.startswith(("val/", "best/")) or k == "best"}}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helix_lightning.model.route",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="experiments/gpu2.yaml")
    parser.add_argument("--out", default=os.environ.get("OUT") or "runs/device")
    parser.add_argument("--cpu", action="store_true", help="the CPU route (no GPU needed)")
    parser.add_argument("--tiny", action="store_true",
                        default=os.environ.get("HELIX_ROUTE_TINY") == "1",
                        help="a minute on the CPU: the same path, a few steps")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override a config key")
    args = parser.parse_args(argv)
    gpu = not (args.cpu or args.tiny)
    out = Path(args.out)
    try:
        cfg = route_config(args.config, out, args.tiny, gpu, args.overrides)
        summary = run_route(cfg, out, gpu)
    except HelixError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    metrics = summary["metrics"]
    print(f"{summary['config']}: {summary['steps']} steps in {summary['seconds']} s "
          f"({summary['steps_per_s']} steps/s) on {summary['environment']['device']}; "
          f"val/psnr {metrics.get('val/psnr', float('nan')):.2f} dB at "
          f"{metrics.get('val/nt_per_px', float('nan')):.4f} nt/px; "
          f"{out / summary['checkpoint']}, {out / 'summary.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
