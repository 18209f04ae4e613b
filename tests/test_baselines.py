"""Baselines: raw bitstreams of x264/x265/SVT-AV1/VP9 through DNA strands, bit-exact against a
direct decode; header stripping; Bjontegaard deltas with known answers; a tiny `helix bench rd`."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from helix_lightning.baselines.bd import bd_compare, bd_psnr, bd_rate
from helix_lightning.baselines.dna_arms import check_densities, dna_code_names, run_dna
from helix_lightning.baselines.pipelines import (
    BASELINES,
    get_baseline,
    leb128,
    length_unframe,
    read_leb128,
    split_annexb,
)
from helix_lightning.baselines.rd_report import curves, rd_figure
from helix_lightning.cli import main
from helix_lightning.model.checkpoint import DEFAULT_CHECKPOINT
from helix_lightning.errors import HelixError


@pytest.fixture(scope="module")
def frames():
    """6 frames of 64x48 with texture and motion (a codec has something to code)."""
    rng = np.random.default_rng(0)
    t, h, w = 6, 48, 64
    yy, xx = np.mgrid[0:h, 0:w]
    out = np.empty((t, h, w, 3), np.uint8)
    for i in range(t):
        base = 128 + 90 * np.sin((xx + 2 * i) / 9.0) * np.cos(yy / 7.0)
        out[i] = np.stack([base, 255 - base, 0.5 * base + 40], -1).astype(np.uint8)
        out[i, 10:26, 8 + 3 * i:24 + 3 * i] = rng.integers(60, 200, 3)
    return out


@pytest.mark.parametrize("name", list(BASELINES))
def test_round_trip_through_strands_is_bit_exact(name, frames):
    b = get_baseline(name)
    value = b.ladder("small")[0]
    enc = b.encode(frames, value, fps=25)
    assert enc.frames == len(frames) and len(enc.stream) > 0
    for code in ("fsm:rl3", "church"):
        dna, back = run_dna(enc.stream, code)
        assert back == enc.stream
        assert dna.violations == 0
        assert 0 < dna.net_density <= dna.coding_density <= 2
    direct = b.decode_packets(enc.packets)
    mine = b.decode_stream_yuv(back)
    assert len(direct) == len(mine) == len(frames)
    assert all(np.array_equal(x, y) for x, y in zip(direct, mine))
    rgb = b.decode(back, (frames.shape[2], frames.shape[1]))
    assert rgb.shape == frames.shape and rgb.dtype == np.uint8
    mse = ((rgb.astype(float) - frames) ** 2).mean()
    assert 10 * math.log10(255**2 / mse) > 20  # a real decode of these frames


@pytest.mark.parametrize("name", list(BASELINES))
def test_stripped_stream_is_smaller_than_the_muxed_file(name, frames):
    b = get_baseline(name)
    value = b.ladder("small")[1]
    enc = b.encode(frames, value, fps=25)
    muxed = b.muxed_size(frames, value, fps=25)
    assert len(enc.stream) < muxed
    if name == "x264":  # the SEI settings string is gone, and the rest decodes
        assert enc.stripped_bytes > 300
        assert b"x264" in b"".join(enc.packets) and b"x264" not in enc.stream
        nal_types = [n[n.index(b"\x00\x00\x01") + 3] & 0x1F for n in split_annexb(enc.stream)]
        assert 6 not in nal_types and nal_types[:2] == [7, 8]
    if name == "x265":
        assert b"x265" not in enc.stream
    assert len(b.decode(enc.stream)) == len(frames)


def test_odd_sizes_are_padded_and_cropped_back(frames):
    b = get_baseline("x264")
    odd = np.ascontiguousarray(frames[:3, :47, :63])
    enc = b.encode(odd, 30)
    assert enc.framing_bytes == 4
    out = b.decode(enc.stream, (63, 47))
    assert out.shape == odd.shape


def test_leb128_round_trip():
    for n in (0, 1, 127, 128, 300, 2**21, 2**35 + 5):
        v, pos = read_leb128(leb128(n), 0)
        assert (v, pos) == (n, len(leb128(n)))
    units = [b"", b"a" * 200, b"xyz"]
    assert length_unframe(b"".join(leb128(len(u)) + u for u in units)) == units
    with pytest.raises(HelixError):
        length_unframe(leb128(10) + b"short")


def test_every_registered_dna_code_is_listed():
    names = dna_code_names()
    assert "fsm:standard" in names and {"church", "goldman", "fountain", "yinyang"} <= set(names)


def test_impossible_densities_are_refused():
    check_densities(1.5, 1.9, "ok")
    for net, coding in ((1.95, 1.9), (1.0, 2.1)):
        with pytest.raises(AssertionError):
            check_densities(net, coding, "bad")


# ---------------------------------------------------------------- Bjontegaard

RATES = np.array([0.01, 0.02, 0.04, 0.08, 0.16, 0.3])
PSNR = np.array([21.0, 24.5, 27.8, 30.6, 33.1, 35.0])


@pytest.mark.parametrize("method", ["pchip", "cubic"])
@pytest.mark.parametrize("factor", [0.5, 1.0, 1.25, 3.0])
def test_bd_rate_of_a_curve_shifted_in_rate_is_the_factor(method, factor):
    got = bd_rate(RATES, PSNR, RATES * factor, PSNR, method)
    assert got == pytest.approx((factor - 1) * 100, abs=1e-9)
    # the PSNR gap at equal rate of a slower curve is negative, and zero for the same curve
    gap = bd_psnr(RATES, PSNR, RATES * factor, PSNR, method)
    assert (gap < 0) == (factor > 1) and (abs(gap) < 1e-12) == (factor == 1)


def test_bd_psnr_of_a_curve_shifted_in_quality_is_the_shift():
    assert bd_psnr(RATES, PSNR, RATES, PSNR - 1.5) == pytest.approx(-1.5, abs=1e-9)


def test_no_shared_psnr_range_gives_the_gap_at_equal_rate_instead():
    helix_rate, helix_psnr = [0.02, 0.03, 0.05], [15.0, 16.0, 16.5]
    r = bd_compare(RATES, PSNR, helix_rate, helix_psnr, test="helix", anchor="x265")
    assert math.isnan(r.bd_rate)
    assert "share no PSNR range" in r.note and "PSNR gap at equal nt/px" in r.note
    # the gap, by hand: anchor PSNR interpolated (pchip) at the HELIX rates is ~25-29 dB
    assert -14 < r.psnr_gap_db < -8
    assert (r.rate_lo, r.rate_hi) == pytest.approx((0.02, 0.05))
    far = bd_compare(RATES, PSNR, [1.0, 2.0], [15.0, 16.0], test="helix", anchor="x265")
    assert math.isnan(far.bd_rate) and math.isnan(far.psnr_gap_db)
    assert "no shared nt/px range either" in far.note and "extrapolating" in far.note


# ---------------------------------------------------------------- the CLI

def test_bench_rd_tiny_run_writes_the_csv_and_the_report(tmp_path, capsys):
    out = tmp_path / "rd"
    rc = main(["bench", "rd", "--frames", "2", "--size", "64x48", "--ladder", "small",
               "--rates", "high,low", "--constraints", "rl3", "--dna-codes", "fsm:rl3,church",
               "--checkpoint", str(DEFAULT_CHECKPOINT), "--out", str(out), "-q"])
    assert rc == 0
    df = pd.read_csv(out / "results.csv")
    for col in ("method", "clip", "nt_per_px", "bits_per_px", "psnr", "ms_ssim",
                "coding_density", "net_density", "violations", "encode_s", "decode_s",
                "dna_code", "rate_param", "frames", "width", "height", "nt", "nt_with_primers",
                "nt_per_frame", "nt_per_second", "synthesis_cost"):
        assert col in df.columns, col
    assert set(df["method"]) == {"helix", "helix:default", *BASELINES}
    assert df["clip"].nunique() == 2 and (df["frames"] == 2).all()
    assert set(df["dna_code"]) == {"fsm:rl3", "church"}
    assert (df["violations"] == 0).all() and df["bit_exact"].all()
    assert (df["net_density"] <= df["coding_density"]).all() and (df["coding_density"] <= 2).all()
    assert np.allclose(df["synthesis_cost"], df["nt_with_primers"] * 1e-4)
    curve = df[df["dna_code"] == "fsm:rl3"]
    assert len(curve) == 2 * (2 * 2 + 2 * len(BASELINES))
    # the same model twice gives the same points
    a, b = (curve[curve["method"] == m].set_index(["clip", "rate_param"]).sort_index()
            for m in ("helix", "helix:default"))
    assert np.array_equal(a["nt"], b["nt"]) and np.allclose(a["psnr"], b["psnr"])
    report = (out / "report.md").read_text()
    for png in ("rd_nt.png", "rd_bits.png", "gaps.png", "dna_matrix.png"):
        assert (out / png).stat().st_size > 1000 and f"({png})" in report
    assert "Bjontegaard" in report and "decoder" in report.lower()
    assert "`helix` `rate=high`, `rate=low`; `helix:default` `rate=high`, `rate=low`" in report
    bd = pd.read_csv(out / "bd.csv")
    assert set(bd["anchor"]) == set(BASELINES) and bd["note"].str.len().min() > 10
    assert set(bd["test"]) == {"helix", "helix:default"}
    assert set(bd["clip"]) == {"carphone_pristine", "carphone_distorted", "average"}
    dec = pd.read_csv(out / "decoders.csv")
    assert len(dec) == 2 and (dec["nt"] > 0).all()
    assert dec["bytes"].iloc[0] == DEFAULT_CHECKPOINT.stat().st_size
    # figures are deterministic: the same rows draw the same PNG bytes
    pts = curves(df, "fsm:rl3")
    one, two = rd_figure(pts, "nt_per_px", tmp_path / "a.png", "fsm:rl3"), \
        rd_figure(pts, "nt_per_px", tmp_path / "b.png", "fsm:rl3")
    assert one.read_bytes() == two.read_bytes()
    printed = capsys.readouterr().out
    assert "rate-distortion through DNA" in printed and "report.md" in printed


@pytest.mark.parametrize("argv, message", [
    (["--clips", "no/such/clip.mp4"], "clip not found"),
    (["--size", "64by48"], "--size must be WIDTHxHEIGHT"),
    (["--size", "0x48"], "--size must be WIDTHxHEIGHT"),
    (["--frames", "0"], "--frames must be positive"),
    (["--rates", "ultra"], "unknown HELIX rate point"),
    (["--baselines", "x266"], "unknown baseline codec"),
    (["--dna-codes", "morse"], "unknown DNA code"),
    (["--price-per-nt", "-1"], "--price-per-nt"),
    (["--checkpoint", "missing.ckpt"], "checkpoint not found"),
])
def test_bench_rd_bad_input_is_one_line(tmp_path, capsys, argv, message):
    rc = main(["bench", "rd", "--out", str(tmp_path / "rd"), "-q", *argv])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "rd").exists()


def test_bench_rd_empty_clip_directory(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    rc = main(["bench", "rd", "--clips", str(tmp_path / "empty"), "-q"])
    assert rc == 2 and "no video files" in capsys.readouterr().err
