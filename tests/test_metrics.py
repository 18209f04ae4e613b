"""Metrics: PSNR/MS-SSIM values, rate ratios, direct-mapping violations and their soft surrogate."""

import itertools
import math

import numpy as np
import pytest
import torch

from helix_lightning.dna.constraints import check_codes, get_constraints
from helix_lightning.errors import HelixError
from helix_lightning.metrics import (
    PSNR_CAP_DB,
    bits_per_px,
    coding_density,
    direct_mapping_bases,
    direct_mapping_probs,
    direct_violation_report,
    direct_violations,
    ms_ssim,
    net_density,
    nt_per_px,
    psnr,
    psnr_frames,
    soft_direct_violations,
)

# ---------------------------------------------------------------- quality


def test_psnr_identical_is_cap_and_constant_offset_known():
    rng = np.random.default_rng(0)
    clip = rng.integers(0, 200, size=(3, 16, 16, 3), dtype=np.uint8)
    assert psnr(clip, clip) == PSNR_CAP_DB
    shifted = clip + np.uint8(16)
    assert psnr(clip, shifted) == pytest.approx(20 * math.log10(255 / 16), abs=1e-9)
    # float tensors in [0, 1] give the same number
    x = torch.from_numpy(clip).float() / 255
    y = torch.from_numpy(shifted).float() / 255
    assert psnr(x, y) == pytest.approx(20 * math.log10(255 / 16), abs=1e-4)


def test_psnr_is_mean_over_frames():
    a = np.zeros((2, 8, 8, 3), np.uint8)
    b = a.copy()
    b[0] += 16
    b[1] += 4
    per = psnr_frames(a, b)
    assert per == pytest.approx([20 * math.log10(255 / 16), 20 * math.log10(255 / 4)])
    assert psnr(a, b) == pytest.approx(per.mean())
    with pytest.raises(HelixError):
        psnr(a, b[:1])


@pytest.mark.parametrize("shape", [(2, 3, 64, 64), (1, 3, 144, 176)])
def test_ms_ssim_identical_is_one_and_drops_with_noise(shape):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(shape, generator=g)
    assert float(ms_ssim(x, x)) == pytest.approx(1.0, abs=1e-5)
    noisy = (x + 0.2 * torch.randn(shape, generator=g)).clamp(0, 1)
    value = float(ms_ssim(x, noisy))
    assert 0.0 < value < 0.99


def test_ms_ssim_is_differentiable():
    x = torch.rand(1, 3, 64, 64)
    y = torch.rand(1, 3, 64, 64, requires_grad=True)
    ms_ssim(x, y).backward()
    assert y.grad is not None and y.grad.abs().sum() > 0


# ---------------------------------------------------------------- rate


def test_rate_ratios():
    assert bits_per_px(4800, 3, 40, 40) == pytest.approx(1.0)
    assert nt_per_px(2400, 3, 40, 40) == pytest.approx(0.5)
    assert coding_density(190, 100) == pytest.approx(1.9)
    assert net_density(150, 100) == pytest.approx(1.5)
    with pytest.raises(HelixError):
        net_density(1, 0)


# ---------------------------------------------------------------- direct mapping


def test_direct_mapping_is_digit_to_base_in_order():
    digits = torch.tensor([[0, 1], [2, 3]])
    assert direct_mapping_bases(digits).tolist() == [0, 1, 2, 3]  # A C G T
    with pytest.raises(HelixError):
        direct_mapping_bases([0, 4])


def test_direct_violations_hand_built():
    # a run of 5 equal digits under rl3: one violation
    assert direct_violations([0, 1, 2, 2, 2, 2, 2, 3, 0], "rl3") == 1
    assert direct_violations([0, 1, 2, 2, 2, 3, 0], "rl3") == 0
    # GC-balanced, run-free 20 nt (ACGT repeated) is clean under standard
    clean = [0, 1, 2, 3] * 5
    assert direct_violations(clean, "standard") == 0
    # 20 nt with 16 GC (CG repeated, then 4 AT): the single window and the strand both fail
    heavy = [1, 2] * 8 + [0, 3, 0, 3]
    rep = direct_violation_report(heavy, "standard")
    assert rep.window_violations == 1 and rep.strand_gc_violations == 1 and rep.run_violations == 0
    assert direct_violations(heavy, "standard") == 2
    # cut into strands: the run across the cut is no longer a run
    digits = [1, 2, 0, 0] + [0, 0, 1, 2]
    assert direct_violations(digits, "rl3") == 1
    assert direct_violations(digits, "rl3", strand_len=4) == 0


# ---------------------------------------------------------------- soft surrogate


def _one_hot(codes: np.ndarray) -> torch.Tensor:
    return torch.nn.functional.one_hot(torch.from_numpy(codes.astype(np.int64)), 4).double()


def test_soft_gradient_nonzero():
    logits = torch.randn(2, 40, 4, dtype=torch.float64, requires_grad=True)
    loss = soft_direct_violations(torch.softmax(logits, -1), "standard")
    assert loss.item() > 0
    loss.backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0


@pytest.mark.parametrize("name", ["rl3", "standard", "strict", "relaxed", "rl2"])
def test_soft_one_hot_agrees_with_hard_checker(name):
    cs = get_constraints(name)
    rng = np.random.default_rng(1)
    seen = set()
    for trial in range(40):
        length = int(rng.integers(8, 40))
        if trial % 2:  # fewer distinct bases -> more runs and GC excursions
            codes = rng.choice([0, 1, 2, 3], size=(1, length), p=[0.1, 0.4, 0.4, 0.1])
        else:
            codes = rng.integers(0, 4, size=(1, length))
        hard = check_codes(codes.astype(np.uint8), cs).total
        soft = soft_direct_violations(_one_hot(codes), cs).item()
        if hard:
            assert soft >= 1.0 - 1e-9, (codes, hard, soft)
        else:
            assert soft < 1e-12, (codes, soft)
        seen.add(hard > 0)
    assert seen == {True, False}


def test_soft_one_hot_run_counts_excess():
    # run of 5 under rl3 -> 2 windows of 4 identical bases
    codes = np.array([[0, 1, 2, 2, 2, 2, 2, 3, 0]])
    assert soft_direct_violations(_one_hot(codes), "rl3").item() == pytest.approx(2.0)


def test_soft_monotonic_in_window_gc_share():
    cs = get_constraints("standard")  # 20-nt windows, GC 0.40-0.60 -> 8..12 GC bases
    values = []
    for gc_share in np.linspace(1.0, 0.6, 9):
        p_gc = float(gc_share)
        probs = torch.tensor([[(1 - p_gc) / 2, p_gc / 2, p_gc / 2, (1 - p_gc) / 2]] * 20,
                             dtype=torch.float64)
        values.append(soft_direct_violations(probs, cs).item())
    assert all(a > b for a, b in itertools.pairwise(values))


def test_direct_mapping_probs_matches_hard_order():
    digits = torch.randint(0, 4, (2, 4, 3, 5))
    probs = torch.nn.functional.one_hot(digits, 4).double()
    flat = direct_mapping_probs(probs, strand_len=20)
    assert flat.shape == (6, 20, 4)
    assert flat.argmax(-1).reshape(-1).tolist() == direct_mapping_bases(digits).tolist()
    soft = soft_direct_violations(flat, "standard").item()
    hard = direct_violations(digits, "standard", strand_len=20)
    assert (soft >= 1 - 1e-9) == (hard > 0)
