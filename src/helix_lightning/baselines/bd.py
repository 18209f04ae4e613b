"""Bjontegaard-delta rate and PSNR between two rate-distortion curves.

BD-rate (Bjontegaard, VCEG-M33, 2001): fit log(rate) as a function of PSNR for each curve,
integrate both fits over the PSNR interval the two curves share, and turn the mean difference
of log rates into a percentage: (exp(mean(log R_test - log R_anchor)) - 1) * 100. Negative:
the test curve needs less rate for the same quality. Two fits are offered:

- `pchip` (default): piecewise-cubic Hermite interpolation through the points (the variant
  in JVET/AOM common test conditions and in CompressAI's plots); needs 2 points per curve.
- `cubic`: the original least-squares cubic polynomial; needs 4 points per curve.

BD-PSNR swaps the axes: PSNR as a function of log(rate), averaged over the shared log-rate
interval: the quality gap (dB) at equal rate. Where the PSNR intervals do not overlap, there is
no BD-rate: `bd_compare` says so and gives the PSNR gap at equal rate instead (BD-PSNR over the
shared rate interval), or, where the rate intervals do not overlap either, says that too.
Rates here are nt/px, but any positive rate works.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import HelixError

METHODS = ("pchip", "cubic")


def _curve(rate: Sequence[float], quality: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """(log rate, quality) with non-finite points dropped, sorted by rate, equal rates merged."""
    r = np.asarray(rate, dtype=np.float64)
    q = np.asarray(quality, dtype=np.float64)
    if r.shape != q.shape:
        raise HelixError("bd: rate and quality must have the same length")
    keep = np.isfinite(r) & np.isfinite(q) & (r > 0)
    lr, q = np.log(r[keep]), q[keep]
    order = np.argsort(lr, kind="stable")
    lr, q = lr[order], q[order]
    u, inv = np.unique(lr, return_inverse=True)
    qm = np.bincount(inv, weights=q) / np.bincount(inv)
    return u, qm


def _fit_integral(x: np.ndarray, y: np.ndarray, lo: float, hi: float, method: str) -> float:
    """Integral over [lo, hi] of y(x) fitted through the points (x strictly increasing)."""
    if method == "cubic":
        if len(x) < 4:
            raise HelixError("bd: the cubic fit needs 4 points per curve (use pchip)")
        p = np.polyint(np.polyfit(x, y, 3))
        return float(np.polyval(p, hi) - np.polyval(p, lo))
    if method != "pchip":
        raise HelixError(f"bd: unknown fit {method!r} (known: {', '.join(METHODS)})")
    from scipy.interpolate import PchipInterpolator

    return float(PchipInterpolator(x, y, extrapolate=False).integrate(lo, hi))


def _by_quality(lr: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The same points as (quality, log rate), sorted by quality, equal qualities merged."""
    order = np.argsort(q, kind="stable")
    qs, lrs = q[order], lr[order]
    u, inv = np.unique(qs, return_inverse=True)
    return u, np.bincount(inv, weights=lrs) / np.bincount(inv)


def bd_rate(rate_anchor, psnr_anchor, rate_test, psnr_test, method: str = "pchip") -> float:
    """BD-rate (%) of the test curve against the anchor; NaN when the PSNR ranges do not
    overlap (or a curve has fewer than 2 distinct points)."""
    qa, la = _by_quality(*_curve(rate_anchor, psnr_anchor))
    qt, lt = _by_quality(*_curve(rate_test, psnr_test))
    if len(qa) < 2 or len(qt) < 2:
        return math.nan
    lo, hi = max(qa[0], qt[0]), min(qa[-1], qt[-1])
    if not hi > lo:
        return math.nan
    diff = (_fit_integral(qt, lt, lo, hi, method) - _fit_integral(qa, la, lo, hi, method)) \
        / (hi - lo)
    return float((math.exp(diff) - 1.0) * 100.0)


def bd_psnr(rate_anchor, psnr_anchor, rate_test, psnr_test, method: str = "pchip") -> float:
    """BD-PSNR (dB): mean PSNR of the test curve minus the anchor's over the shared log-rate
    interval; NaN when the rate ranges do not overlap."""
    la, qa = _curve(rate_anchor, psnr_anchor)
    lt, qt = _curve(rate_test, psnr_test)
    if len(la) < 2 or len(lt) < 2:
        return math.nan
    lo, hi = max(la[0], lt[0]), min(la[-1], lt[-1])
    if not hi > lo:
        return math.nan
    return float((_fit_integral(lt, qt, lo, hi, method) - _fit_integral(la, qa, lo, hi, method))
                 / (hi - lo))


@dataclass
class BDResult:
    """A comparison of a test curve with an anchor, in words and numbers."""

    bd_rate: float            # % (NaN: no shared PSNR interval)
    psnr_lo: float            # the shared PSNR interval (NaN when none)
    psnr_hi: float
    psnr_gap_db: float        # test - anchor PSNR at equal rate (BD-PSNR), NaN when undefined
    rate_lo: float            # the shared rate interval the gap was taken over (NaN: none)
    rate_hi: float
    test_psnr: tuple[float, float]
    anchor_psnr: tuple[float, float]
    test_rate: tuple[float, float]
    anchor_rate: tuple[float, float]
    note: str                 # one sentence saying what was (or could not be) computed
    extrapolated_gap_db: float = math.nan  # only where the rate ranges do not overlap either


def bd_compare(rate_anchor, psnr_anchor, rate_test, psnr_test, method: str = "pchip",
               unit: str = "nt/px", test: str = "test", anchor: str = "anchor") -> BDResult:
    """BD-rate where the PSNR ranges overlap, else the PSNR gap at equal rate, said plainly."""
    la, qa = _curve(rate_anchor, psnr_anchor)
    lt, qt = _curve(rate_test, psnr_test)
    nan = math.nan

    def span(v):
        return (float(v.min()), float(v.max())) if len(v) else (nan, nan)

    tq, aq = span(qt), span(qa)
    tr, ar = span(np.exp(lt)), span(np.exp(la))
    if len(la) == 0 or len(lt) == 0:
        return BDResult(nan, nan, nan, nan, nan, nan, tq, aq, tr, ar,
                        f"no valid points for {test if len(lt) == 0 else anchor}")
    bd = bd_rate(np.exp(la), qa, np.exp(lt), qt, method)
    plo, phi = max(tq[0], aq[0]), min(tq[1], aq[1])
    rlo, rhi = max(tr[0], ar[0]), min(tr[1], ar[1])
    gap = bd_psnr(np.exp(la), qa, np.exp(lt), qt, method)
    if math.isnan(gap) and rhi >= rlo and (len(la) == 1 or len(lt) == 1):
        gap = _point_gap(la, qa, lt, qt)
    ranges = (f"{test} {tq[0]:.2f}-{tq[1]:.2f} dB, {anchor} {aq[0]:.2f}-{aq[1]:.2f} dB")
    if not math.isnan(bd):
        note = (f"BD-rate {bd:+.1f}% in {unit} over the shared PSNR range "
                f"{plo:.2f}-{phi:.2f} dB ({method} fit)")
        return BDResult(bd, plo, phi, gap, rlo, rhi, tq, aq, tr, ar, note)
    if phi > plo:
        why = "a curve has fewer than 2 points"
    else:
        why = f"the curves share no PSNR range ({ranges})"
    if not math.isnan(gap):
        where = (f"at {unit} {rlo:.4g}" if rhi == rlo else f"over {unit} {rlo:.4g}-{rhi:.4g}")
        note = (f"no BD-rate: {why}; PSNR gap at equal {unit} {gap:+.2f} dB "
                f"({test} minus {anchor}, interpolated {where})")
        return BDResult(nan, nan, nan, gap, rlo, rhi, tq, aq, tr, ar, note)
    shared = (f"no shared {unit} range either ({test} {tr[0]:.4g}-{tr[1]:.4g}, {anchor} "
              f"{ar[0]:.4g}-{ar[1]:.4g})")
    ext = _extrapolated_gap(la, qa, lt, qt)
    if not math.isnan(ext):
        note = (f"no BD-rate: {why}; and {shared}: PSNR gap {ext:+.2f} dB only by extrapolating "
                f"{anchor}'s curve linearly in log {unit} from its two nearest points to "
                f"{test}'s rates (an estimate, not a measurement)")
        return BDResult(nan, nan, nan, nan, nan, nan, tq, aq, tr, ar, note, ext)
    note = f"no BD-rate: {why}; and {shared}, so no gap at equal rate"
    return BDResult(nan, nan, nan, nan, nan, nan, tq, aq, tr, ar, note)


def _extrapolated_gap(la, qa, lt, qt) -> float:
    """Mean PSNR of the test points minus the anchor's curve extended linearly (in log rate)
    from its two points nearest to them; NaN if the anchor has fewer than 2 points."""
    if len(la) < 2 or len(lt) == 0:
        return math.nan
    below = lt.mean() < la[0]
    x0, x1 = (la[0], la[1]) if below else (la[-2], la[-1])
    y0, y1 = (qa[0], qa[1]) if below else (qa[-2], qa[-1])
    slope = (y1 - y0) / (x1 - x0)
    return float(np.mean(qt - (y0 + slope * (lt - x0))))


def _point_gap(la, qa, lt, qt) -> float:
    """PSNR gap when one curve is a single point inside the other's rate range."""
    if len(lt) == 1 and len(la) >= 2 and la[0] <= lt[0] <= la[-1]:
        return float(qt[0] - np.interp(lt[0], la, qa))
    if len(la) == 1 and len(lt) >= 2 and lt[0] <= la[0] <= lt[-1]:
        return float(np.interp(la[0], lt, qt) - qa[0])
    if len(la) == 1 and len(lt) == 1 and la[0] == lt[0]:
        return float(qt[0] - qa[0])
    return math.nan
