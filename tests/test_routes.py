"""Training routes (model/route.py, scripts/device_train.sh): the tiny CPU rehearsal of the
GPU route runs end to end on a tiny manifest and leaves checkpoint, metrics CSV and summary
in the output folder; the environment check fails in one line before training."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from helix_lightning.errors import HelixError
from helix_lightning.model.route import BUDGET_SECONDS, main, missing_modules, route_config
from helix_lightning.model.train import synthetic_clips
from helix_lightning.video.manifest import sha256_file

REPO = Path(__file__).resolve().parents[1]


def tiny_manifest(tmp_path: Path) -> Path:
    """A manifest of one synthetic clip and one noise photo, installed under tmp/train."""
    data = tmp_path / "train"
    clips = synthetic_clips(data / "video", videos=1, frames=8, height=80, width=96)
    (data / "photo").mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (90, 120, 3), dtype=np.uint8)).save(
        data / "photo" / "noise.jpg", quality=95)
    files = [clips / "synthetic_00.mkv", data / "photo" / "noise.jpg"]
    entries = [{"name": str(f.relative_to(data)), "kind": f.parent.name, "registry": "pypi",
                "package": "pkg", "version": "1.0", "path": f"pkg/{f.name}",
                "sha256": sha256_file(f), "license": "MIT"} for f in files]
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(yaml.safe_dump({"version": 1, "data_dir": "train", "files": entries}))
    return manifest


def paths_override(manifest: Path) -> str:
    """--set data.paths=... : the tiny manifest, validated and tested on its own clip."""
    clip = str(manifest.parent / "train" / "video" / "synthetic_00.mkv")
    return "data.paths=" + json.dumps({"manifest": str(manifest), "val": [clip],
                                       "test": [clip]})


def test_tiny_route_end_to_end_through_the_script(tmp_path):
    manifest = tiny_manifest(tmp_path)
    out = tmp_path / "out"
    env = dict(os.environ, OUT=str(out), PY=sys.executable, HELIX_ROUTE_TINY="1")
    done = subprocess.run(
        [str(REPO / "scripts" / "device_train.sh"), "--set", paths_override(manifest),
         "--set", "data.num_workers=0", "--set", "data.cache=false"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["config"] == "gpu2" and summary["steps"] == 3
    assert summary["environment"] == {**summary["environment"], "device": "cpu",
                                      "videos": 1, "photos": 1}
    ckpt = out / "gpu2.ckpt"
    assert summary["checkpoint"] == "gpu2.ckpt" and ckpt.stat().st_size > 10_000
    assert summary["checkpoint_sha256"] == sha256_file(ckpt)
    state = torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]
    assert any("token_model" in k or "masked" in k for k in state)
    assert np.isfinite(summary["metrics"]["val/psnr"])
    assert (out / "gpu2_metrics.csv").read_text().startswith(("epoch", "step", "train", "val"))
    assert "gpu2: 3 steps" in done.stdout


def test_environment_check_fails_in_one_line_without_training_data(tmp_path, capsys):
    manifest = tiny_manifest(tmp_path)
    (tmp_path / "train" / "photo" / "noise.jpg").unlink()
    code = main(["--tiny", "--out", str(tmp_path / "out"), "--set", paths_override(manifest)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    assert err.startswith("error: training file missing") and "noise.jpg" in err
    assert not (tmp_path / "out" / "summary.json").exists()


def test_environment_check_names_a_changed_file_and_a_missing_gpu(tmp_path, capsys):
    manifest = tiny_manifest(tmp_path)
    (tmp_path / "train" / "photo" / "noise.jpg").write_bytes(b"other bytes")
    assert main(["--tiny", "--out", str(tmp_path), "--set", paths_override(manifest)]) == 2
    assert "sha256 mismatch" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main(["--out", str(tmp_path), "--set", paths_override(manifest)]) == 2
        assert capsys.readouterr().err.startswith("error: no GPU visible")


def test_route_configs_resolve_within_their_budgets(tmp_path):
    gpu = route_config(REPO / "experiments" / "gpu2.yaml", tmp_path, False, True, [])
    cpu = route_config(REPO / "experiments" / "cpu2.yaml", tmp_path, False, False, [])
    for cfg in (gpu, cpu):
        assert cfg["model"]["masked"]["name"] == "local" and cfg["data"]["paths"] == "manifest"
        assert cfg["model"]["nested"]["min_digits"] == 2 and len(cfg["model"]["ladder"]) >= 5
        assert cfg["data"]["cache"] is True and cfg["optim"]["schedule"] == "cosine"
        assert cfg["optim"]["total_seconds"] <= 60 * int(cfg["trainer"]["max_time"][6:8]) + \
            3600 * int(cfg["trainer"]["max_time"][3:5])
    assert gpu["checkpoint"] == f"{tmp_path}/gpu2.ckpt"
    assert gpu["model"]["tokenizer"] == cpu["model"]["tokenizer"]
    assert gpu["model"]["masked"] == cpu["model"]["masked"]
    with pytest.raises(HelixError, match="over the gpu route's budget of 8 minutes"):
        route_config(REPO / "experiments" / "gpu2.yaml", tmp_path, False, True,
                     ["trainer.max_time=00:00:09:00"])
    assert BUDGET_SECONDS["cpu"] < 2 * 3600
    assert missing_modules(("helix_lightning", "no_such_module_x")) == ["no_such_module_x"]
