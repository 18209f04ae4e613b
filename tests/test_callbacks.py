"""CodecMetrics: the real codec's bits, densities and violations in the CSV log of a short run."""

import csv
import math

import numpy as np
import pytest
import torch

from helix_lightning.errors import HelixError
from helix_lightning.model.callbacks import CODEC_METRICS, CodecMetrics, sample_frames
from helix_lightning.model.train import train

TINY = {
    "model": {
        "tokenizer": {"downsample": 8, "channels_latent": 4, "width": 16},
        "mixer": {"mode": "learned", "block": 4, "factorisation": "separable"},
        "masked": {"dim": 32, "depth": 1, "heads": 2},
        "rate": {"prior": "staged", "stages": 4, "drop": 0.0},
        "constraints": "standard",
    },
    "loss": {"lambda_rate": 0.5, "mask": 1.0, "synthesis": 0.3, "ms_ssim": 0.0},
}


@pytest.fixture(scope="module")
def video_dir(tmp_path_factory):
    from helix_lightning.video.io import write_video

    d = tmp_path_factory.mktemp("clips")
    rng = np.random.default_rng(0)
    for i in range(3):
        frames = rng.integers(0, 256, (12, 32, 32, 3), dtype=np.uint8)
        frames[:, 8:20, 8:20] = 200  # a little structure
        write_video(d / f"clip{i}.mkv", frames)
    return d


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_codec_metrics_land_in_the_csv_log(video_dir, tmp_path):
    cfg = {
        **TINY,
        "name": "cb", "runs_dir": str(tmp_path / "runs"), "logger": True,
        "checkpoint": str(tmp_path / "cb.ckpt"),
        "codec_metrics": {"every": 1, "frames": 2, "size": 32},
        "data": {"paths": str(video_dir), "clip_frames": 2, "crop": 32, "val_size": 32,
                 "batch_size": 2, "clips_per_epoch": 8, "clips_per_file": 1},
        "trainer": {"max_steps": 4, "val_check_interval": 2, "log_every_n_steps": 1,
                    "progress_bar": False},
    }
    result = train(cfg)
    assert result["steps"] == 4
    files = list((tmp_path / "runs" / "cb").glob("version_*/metrics.csv"))
    assert len(files) == 1
    rows = [r for r in _rows(files[0]) if r.get("val/actual_bits")]
    assert len(rows) == 2  # validations after steps 2 and 4, no sanity check, no extra one
    for row in rows:
        for key in CODEC_METRICS + ("psnr", "bits_per_px", "nt_per_px", "direct_violations"):
            assert row.get(f"val/{key}") not in (None, ""), key
        v = {k: float(row[f"val/{k}"]) for k in CODEC_METRICS}
        assert all(math.isfinite(x) for x in v.values())
        assert v["violations"] == 0  # through the FSM coder
        assert 1.0 < v["coding_density"] <= 2.0
        assert v["coding_density"] == pytest.approx(1.9, rel=1e-6)  # standard: 304 bits/160 nt
        assert 0 < v["net_density"] <= v["coding_density"]
        assert v["actual_bits"] > 0 and v["actual_bits"] % 32 == 0  # whole 32-bit words
        # the estimate is -log2 p under the coder's own tables: within the coder's flush
        assert v["estimated_bits"] - 32 <= v["actual_bits"] <= v["estimated_bits"] + 96
        assert v["actual_bits_per_px"] == pytest.approx(v["actual_bits"] / (2 * 32 * 32))
        assert v["container_bits_per_px"] > v["actual_bits_per_px"]  # + header, lengths
        assert v["payload_nt_per_px"] == pytest.approx(
            v["actual_bits_per_px"] / v["coding_density"], rel=1e-5)
        assert v["actual_nt_per_px"] == pytest.approx(v["strands"] * 160 / (2 * 32 * 32))
        assert v["actual_nt_per_px"] > v["payload_nt_per_px"]
        assert v["direct_violations_codec"] >= 0
        # nothing dropped: the decoder gets the true tokens, up to uint8 rounding
        assert v["codec_psnr"] == pytest.approx(v["sample_psnr"], abs=0.5)
    # the callback's values are also in the dict train() returns (the last validation)
    assert result["val/violations"] == 0
    assert result["val/actual_bits"] == pytest.approx(float(rows[-1]["val/actual_bits"]))


def test_callback_off_and_every(video_dir, tmp_path):
    cfg = {
        **TINY,
        "name": "off", "runs_dir": str(tmp_path / "runs"), "logger": False,
        "checkpoint": str(tmp_path / "off.ckpt"),
        "codec_metrics": {"every": 0},
        "data": {"paths": str(video_dir), "clip_frames": 2, "crop": 32, "val_size": 32,
                 "batch_size": 2, "clips_per_epoch": 4, "clips_per_file": 1},
        "trainer": {"max_steps": 1, "val_check_interval": 1, "progress_bar": False},
    }
    result = train(cfg)
    assert "val/psnr" in result and "val/actual_bits" not in result


def test_measure_with_dropped_tokens_restores_train_mode():
    from helix_lightning.model.module import HelixModule

    torch.manual_seed(0)
    module = HelixModule({**TINY, "model": {**TINY["model"], "rate": {"stages": 2, "drop": 0.25}}})
    module.train()
    cb = CodecMetrics(frames=2, size=None)
    cb.sample = sample_frames(torch.rand(1, 2, 3, 32, 48), 2, None)
    rng = torch.get_rng_state()
    v = cb.measure(module)
    assert module.training and torch.equal(rng, torch.get_rng_state())
    assert not hasattr(module.token_model, "_coding_copy")
    assert v["violations"] == 0 and v["actual_bits"] > 0
    assert 0 < v["net_density"] <= v["coding_density"] <= 2.0
    assert np.isfinite(v["codec_psnr"]) and np.isfinite(v["sample_psnr"])


def test_sample_frames_crop_and_validation():
    batch = torch.rand(2, 3, 3, 40, 48)
    s = sample_frames(batch, 4, (32, 32))
    assert s.shape == (4, 32, 32, 3) and s.dtype == np.uint8
    ref = (batch.flatten(0, 1)[:4, :, 4:36, 8:40].clamp(0, 1) * 255).round().to(torch.uint8)
    assert np.array_equal(s, ref.permute(0, 2, 3, 1).numpy())
    assert sample_frames(batch, 2, None).shape == (2, 40, 48, 3)
    assert sample_frames(batch, 1, (64, 64)).shape == (1, 40, 48, 3)  # no crop when smaller
    with pytest.raises(HelixError):
        sample_frames(torch.rand(3, 8, 8), 1, None)
    for bad in ({"every": -1}, {"frames": 0}, {"size": 0}, {"coder": "zip"}):
        with pytest.raises(HelixError):
            CodecMetrics(**bad)
