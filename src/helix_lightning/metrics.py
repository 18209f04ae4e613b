"""Metrics shared by the model and the lab: quality, rate, and the direct-mapping violations.

Every name follows docs/DESIGN.md's "Definitions" section.

Quality
- `psnr(x, y)`: PSNR on RGB in [0, 255]. Integer arrays (uint8) are read as [0, 255], floating
  arrays/tensors as [0, 1] (scaled by 255, not rounded). With 4-D input the first axis is the
  frame axis and the result is the **mean over frames of the per-frame PSNR** (each frame's MSE
  over all its pixels and channels; the layout of the other axes does not matter). Lower-D input
  is one frame. A per-frame PSNR is capped at `PSNR_CAP_DB` (100 dB), so identical frames give
  100.0 and one perfect frame cannot make a clip's mean infinite.
- `ms_ssim(x, y)`: piq's MS-SSIM on (N, 3, H, W) floats in [0, 1], with a 3x3 Gaussian kernel
  (sigma 1.0) and the standard five scale weights (0.0448, 0.2856, 0.3001, 0.2363, 0.1333).
  piq needs every side >= (kernel_size - 1) * 2**(scales - 1) + 1 = 33 for that choice, so one
  setting serves both 64x64 and 176x144 frames (the standard 11x11 kernel needs 161 px, and a
  5x5 kernel with five scales needs 65). Frames under 33 px use fewer scales (the first ones,
  renormalised). The result is a differentiable torch scalar (mean over N).

Rate (plain functions, defined once in `dna/density.py` and re-exported here)
- `bits_per_px`, `nt_per_px`, `coding_density`, `net_density` (see docs/DESIGN.md for what is
  counted); `video_quality` gives PSNR and MS-SSIM of decoded frames against the originals.

Direct mapping (the reference arm of the ablations)
- `direct_mapping_bases(digits)`: quaternary digits -> base codes (digit d -> code d: A, C, G, T),
  flattened in C order. The caller fixes the order: to write token by token, put the digit
  (channel) axis last first, e.g. `digits.movedim(1, -1)` for FSQ's (B, C, H, W) digits.
- `direct_violations(digits, cs, strand_len=None)`: violations (runs over max_run, GC windows,
  whole-strand GC, motifs) of that base sequence, as one long stream or cut into strands of
  `strand_len` (the last, shorter strand is checked on its own).
- `soft_direct_violations(probs, cs)`: a differentiable surrogate on probabilities over the four
  bases, shape (..., L, 4) (each leading index is one sequence). It sums, over all sequences:
  * GC: a **linear hinge in base counts** on the expected G+C count of every `gc_window`
    window (and of the whole sequence), outside the same integer bounds the hard checker uses
    (`cs.gc_bounds`): relu(lo - E[count]) + relu(E[count] - hi). One-hot input gives exactly
    the number of bases by which the window is out of range (>= 1 for a violating window, 0
    for a good one); the gradient is constant outside the range and zero inside.
  * runs: the expected number of windows of max_run + 1 identical bases,
    sum over windows of sum_b prod_j p_j(b), computed in log space (log p clamped at the
    dtype's smallest normal number). A hard run of length r > max_run contributes r - max_run.
  * motifs: the expected number of occurrences of each forbidden motif (same log-space product).
  One-hot input thus gives a penalty >= 1 exactly where `check_codes` finds a violation and
  ~0 (below 1e-30) where it finds none.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .dna.constraints import (
    BASE_CODE,
    ConstraintSet,
    ViolationReport,
    check_codes,
    get_constraints,
)
from .dna.density import bits_per_px, coding_density, net_density, nt_per_px
from .errors import HelixError

PSNR_CAP_DB = 100.0
MS_SSIM_KERNEL_SIZE = 3
MS_SSIM_KERNEL_SIGMA = 1.0
MS_SSIM_SCALE_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)

__all__ = [
    "MS_SSIM_KERNEL_SIGMA",
    "MS_SSIM_KERNEL_SIZE",
    "MS_SSIM_SCALE_WEIGHTS",
    "PSNR_CAP_DB",
    "bits_per_px",
    "coding_density",
    "direct_mapping_bases",
    "direct_mapping_probs",
    "direct_violation_report",
    "direct_violations",
    "ms_ssim",
    "net_density",
    "nt_per_px",
    "psnr",
    "psnr_frames",
    "soft_direct_violations",
    "video_quality",
]


# ---------------------------------------------------------------- quality

def _to_255(a: Any) -> np.ndarray:
    """Array/tensor -> float64 numpy on [0, 255]: integer dtypes as is, floats times 255."""
    if isinstance(a, Tensor):
        a = a.detach().cpu()
        is_float = a.is_floating_point()
        a = a.double().numpy() if is_float else a.numpy()
    a = np.asarray(a)
    if np.issubdtype(a.dtype, np.floating):
        return a.astype(np.float64) * 255.0
    if np.issubdtype(a.dtype, np.integer) or a.dtype == np.bool_:
        return a.astype(np.float64)
    raise HelixError(f"psnr: unsupported dtype {a.dtype}")


def psnr_frames(x: Any, y: Any) -> np.ndarray:
    """Per-frame PSNR (dB, capped at PSNR_CAP_DB); 4-D input: frames on axis 0, else one frame."""
    a, b = _to_255(x), _to_255(y)
    if a.shape != b.shape:
        raise HelixError(f"psnr: shapes differ {a.shape} vs {b.shape}")
    if a.size == 0:
        raise HelixError("psnr: empty input")
    frames = a.reshape(a.shape[0], -1) if a.ndim == 4 else a.reshape(1, -1)
    other = b.reshape(frames.shape)
    mse = ((frames - other) ** 2).mean(axis=1)
    floor = 255.0**2 / 10 ** (PSNR_CAP_DB / 10)  # the MSE that gives exactly the cap
    return 10.0 * np.log10(255.0**2 / np.maximum(mse, floor))


def psnr(x: Any, y: Any) -> float:
    """PSNR in dB on RGB [0, 255] (uint8 as is, floats in [0, 1]); a clip: mean over frames."""
    return float(psnr_frames(x, y).mean())


def _ms_ssim_weights(h: int, w: int, kernel_size: int, dtype, device) -> Tensor:
    weights = list(MS_SSIM_SCALE_WEIGHTS)
    while len(weights) > 1 and min(h, w) < (kernel_size - 1) * 2 ** (len(weights) - 1) + 1:
        weights.pop()
    if min(h, w) < kernel_size:
        raise HelixError(f"ms_ssim: frames of {h}x{w} are smaller than the {kernel_size}-px kernel")
    t = torch.tensor(weights, dtype=dtype, device=device)
    return t / t.sum()


def ms_ssim(x: Tensor, y: Tensor, kernel_size: int = MS_SSIM_KERNEL_SIZE,
            kernel_sigma: float = MS_SSIM_KERNEL_SIGMA) -> Tensor:
    """MS-SSIM (piq) of (N, 3, H, W) floats in [0, 1] (values clamped there); mean over N.

    Also takes a single (3, H, W) frame. Differentiable; use float() for a number.
    """
    import piq

    if not (isinstance(x, Tensor) and isinstance(y, Tensor)):
        raise HelixError("ms_ssim: expects torch tensors (N, 3, H, W) in [0, 1]")
    if x.shape != y.shape:
        raise HelixError(f"ms_ssim: shapes differ {tuple(x.shape)} vs {tuple(y.shape)}")
    if x.dim() == 3:
        x, y = x.unsqueeze(0), y.unsqueeze(0)
    if x.dim() != 4:
        raise HelixError(f"ms_ssim: expects (N, 3, H, W), got {tuple(x.shape)}")
    if not x.is_floating_point():
        x, y = x.float() / 255.0, y.float() / 255.0
    weights = _ms_ssim_weights(x.shape[-2], x.shape[-1], kernel_size, x.dtype, x.device)
    return piq.multi_scale_ssim(x.clamp(0, 1), y.clamp(0, 1), kernel_size=kernel_size,
                                kernel_sigma=kernel_sigma, data_range=1.0, reduction="mean",
                                scale_weights=weights)


def video_quality(decoded: np.ndarray, original: np.ndarray) -> tuple[float, float]:
    """(PSNR in dB, MS-SSIM) of uint8 frames (T, H, W, 3) against the originals: the pair every
    report, sweep, benchmark and `helix decode --reference` quotes."""
    x = torch.from_numpy(np.ascontiguousarray(decoded)).permute(0, 3, 1, 2).float() / 255.0
    y = torch.from_numpy(np.ascontiguousarray(original)).permute(0, 3, 1, 2).float() / 255.0
    with torch.no_grad():
        return psnr(decoded, original), float(ms_ssim(x, y))


# ---------------------------------------------------------------- direct mapping (hard)

def direct_mapping_bases(digits: Any) -> np.ndarray:
    """Quaternary digits (any shape, C order) -> 1-D uint8 base codes, digit d -> base code d."""
    if isinstance(digits, Tensor):
        digits = digits.detach().cpu().numpy()
    arr = np.asarray(digits)
    if arr.size and not (np.issubdtype(arr.dtype, np.integer) or np.all(arr == np.round(arr))):
        raise HelixError("direct mapping: digits must be integers")
    flat = arr.reshape(-1)
    if flat.size and (flat.min() < 0 or flat.max() > 3):
        raise HelixError("direct mapping: digits must be in {0, 1, 2, 3}")
    return flat.astype(np.uint8)


def direct_violation_report(digits: Any, cs: str | ConstraintSet,
                            strand_len: int | None = None) -> ViolationReport:
    """`check_codes` on the direct mapping: one stream, or strands of `strand_len`."""
    cs = get_constraints(cs)
    bases = direct_mapping_bases(digits)
    if strand_len is None or bases.size == 0:
        return check_codes(bases.reshape(1, -1), cs)
    if strand_len < 1:
        raise HelixError(f"strand_len must be >= 1, got {strand_len}")
    n_full = bases.size // strand_len
    reports = []
    if n_full:
        reports.append(check_codes(bases[: n_full * strand_len].reshape(n_full, strand_len), cs))
    if bases.size % strand_len:
        reports.append(check_codes(bases[n_full * strand_len:].reshape(1, -1), cs))
    return ViolationReport(
        sum(r.run_violations for r in reports), sum(r.window_violations for r in reports),
        sum(r.strand_gc_violations for r in reports), sum(r.motif_violations for r in reports),
        max(r.max_run for r in reports), min(r.gc_min_seen for r in reports),
        max(r.gc_max_seen for r in reports))


def direct_violations(digits: Any, cs: str | ConstraintSet, strand_len: int | None = None) -> int:
    """Total violations of `cs` on the direct mapping of `digits` (see module docstring)."""
    return direct_violation_report(digits, cs, strand_len).total


# ---------------------------------------------------------------- direct mapping (soft)

def direct_mapping_probs(probs: Tensor, strand_len: int | None = None) -> Tensor:
    """Soft digits (..., 4) -> (n, L, 4) in the same C order as `direct_mapping_bases`.

    One stream (n = 1) by default; with `strand_len` the flat sequence must divide evenly.
    """
    if probs.shape[-1] != 4:
        raise HelixError(f"expected 4 probabilities on the last axis, got {tuple(probs.shape)}")
    flat = probs.reshape(-1, 4)
    if strand_len is None:
        return flat.unsqueeze(0)
    if flat.shape[0] % strand_len:
        raise HelixError(f"{flat.shape[0]} digits do not fill strands of {strand_len}")
    return flat.reshape(-1, strand_len, 4)


def _window_log_sum(logp: Tensor, k: int) -> Tensor:
    """(n, L, c) log-probs -> (n, L-k+1, c) sums over windows of k consecutive positions."""
    return logp.unfold(1, k, 1).sum(-1)


def soft_direct_violations(probs: Tensor, cs: str | ConstraintSet,
                           reduction: str = "sum") -> Tensor:
    """Differentiable expected-violation penalty of (..., L, 4) base probabilities (A, C, G, T).

    `reduction`: "sum" over sequences (default) or "mean" per sequence.
    """
    cs = get_constraints(cs)
    if probs.dim() < 2 or probs.shape[-1] != 4:
        raise HelixError(f"expected probabilities of shape (..., L, 4), got {tuple(probs.shape)}")
    p = probs.reshape(-1, probs.shape[-2], 4)
    n, length, _ = p.shape
    total = p.new_zeros(())
    if length == 0 or n == 0:
        return total
    logp = torch.log(p.clamp_min(torch.finfo(p.dtype).tiny))

    # runs: expected windows of max_run + 1 identical bases
    k = cs.max_run + 1
    if length >= k:
        total = total + torch.logsumexp(_window_log_sum(logp, k), dim=-1).exp().sum()

    # GC: linear hinge in base counts, on every window and on the whole sequence
    if cs.has_gc:
        gc = p[..., BASE_CODE["C"]] + p[..., BASE_CODE["G"]]  # (n, L)
        lo, hi = cs.gc_bounds(length)
        whole = gc.sum(-1)
        total = total + (F.relu(lo - whole) + F.relu(whole - hi)).sum()
        w = cs.gc_window
        if w is not None and length >= w:
            win = gc.unfold(1, w, 1).sum(-1)  # (n, L-w+1) expected counts
            wlo, whi = cs.gc_bounds(w)
            total = total + (F.relu(wlo - win) + F.relu(win - whi)).sum()

    # motifs: expected occurrences
    for motif in cs.motifs:
        m = len(motif)
        if length >= m:
            idx = torch.tensor([BASE_CODE[b] for b in motif], device=p.device)
            picked = logp[..., idx]  # (n, L, m): picked[:, i, j] = log p_i(motif[j])
            # window at i multiplies p_{i+j}(motif[j]) over j
            windows = torch.stack([picked[:, j: length - m + 1 + j, j] for j in range(m)], -1)
            total = total + windows.sum(-1).exp().sum()

    if reduction == "mean":
        return total / n
    if reduction != "sum":
        raise HelixError(f"unknown reduction {reduction!r} (sum or mean)")
    return total
