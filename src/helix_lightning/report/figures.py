"""The report's figures: one function per figure, each returning a `FigureResult`.

Every figure is drawn with matplotlib's object API (no pyplot, no global backend), at a fixed
size and dpi, from data iterated in sorted order, and saved as PNG without metadata
(no Software or date chunk), so the same study gives byte-identical files.
A figure whose data are missing is skipped: its result carries the sentence saying why.
"""

from __future__ import annotations

import math
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from .load import StudyData, TrialRecord, sort_key

DPI = 100
RC = {
    "font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "legend.fontsize": 8,
    "figure.titlesize": 11, "axes.grid": True, "grid.alpha": 0.3, "grid.linewidth": 0.6,
    "lines.linewidth": 1.4, "lines.markersize": 5, "savefig.dpi": DPI, "figure.dpi": DPI,
    "path.simplify": False,
}
ABLATION_ORDER = ("model.mixer.mode", "model.mixer.block", "model.mixer.factorisation", "coder",
                  "constraints", "model.rate.drop", "model.rate.stages", "loss.lambda_rate")
MAX_CATEGORIES = 10   # a param with more distinct values is drawn as continuous
MAX_FRAME_ROWS = 4    # rates shown in the frame grid
MIN_TRIALS_IMPORTANCE = 8

# preferred order of params to colour points by (first one that varies and is categorical)
COLOUR_ORDER = ("model.mixer.mode", "constraints", "coder", "model.mixer.factorisation",
                "model.mixer.block", "model.rate.stages", "model.rate.drop", "loss.lambda_rate")

METRIC_LABELS = {
    "psnr": "PSNR (dB, RGB 0-255)",
    "ms_ssim": "MS-SSIM",
    "nt_per_px": "nt/px (primers excl.)",
    "bits_per_px": "bits/px",
    "coding_density": "coding density (bits/nt)",
    "net_density": "net density (bits/nt)",
    "share_of_capacity": "share of capacity",
    "violations": "violations (count)",
    "direct_violations": "direct-mapping violations (count)",
    "mask_acc": "masked-token accuracy",
    "train_seconds": "training time (s)",
    "loss": "training loss",
}


@dataclass
class FigureResult:
    key: str                  # stable id, e.g. "rate_distortion", "ablation_model.mixer.mode"
    title: str                # section heading in the report
    filename: str | None      # PNG beside report.md; None when skipped
    n_used: int = 0           # complete trials the figure draws
    detail: str = ""          # what the figure shows (one or two sentences)
    skipped: str = ""         # why there is no figure (a sentence), when filename is None
    table: str = ""           # an optional markdown table shown under the figure
    extra: list[str] = field(default_factory=list)  # more lines for the report


@contextmanager
def style() -> Iterator[None]:
    """matplotlib's defaults plus RC, whatever the user's matplotlibrc says."""
    import matplotlib

    with matplotlib.rc_context():
        matplotlib.rcdefaults()
        matplotlib.rcParams.update(RC)
        yield


def new_figure(width: float, height: float, left: float = 0.75, right: float = 0.2,
               bottom: float = 0.6, top: float = 0.6, wspace: float = 0.35,
               hspace: float = 0.5):
    """A figure of fixed size with fixed margins (inches; no layout engine: fast, stable)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    fig.subplots_adjust(left=left / width, right=1 - right / width, bottom=bottom / height,
                        top=1 - top / height, wspace=wspace, hspace=hspace)
    return fig


def save(fig, path: Path) -> None:
    """PNG without Software/date metadata: the same figure gives the same bytes."""
    fig.savefig(path, format="png", dpi=DPI, metadata={"Software": None})


# ---------------------------------------------------------------- helpers
def attr(t: TrialRecord, name: str, study: StudyData | None = None) -> Any:
    """A trial's user attr, falling back to its objective value of that name."""
    v = t.attrs.get(name)
    if v is None and study is not None and t.values is not None and name in study.objectives:
        i = study.objectives.index(name)
        v = t.values[i] if i < len(t.values) else None
    return v


def number(v: Any) -> float | None:
    if isinstance(v, bool) or v is None:
        return None if v is None else float(v)
    if isinstance(v, (int, float)) and math.isfinite(float(v)):
        return float(v)
    return None


def label(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def pareto_mask(good: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """True where no other point has good >= and cost <= with one strictly better."""
    n = len(good)
    keep = np.ones(n, dtype=bool)
    for i in range(n):
        better = (good >= good[i]) & (cost <= cost[i]) & ((good > good[i]) | (cost < cost[i]))
        keep[i] = not better.any()
    return keep


def colour_param(study: StudyData) -> str | None:
    """The param to colour points by: a varying one with few values, in COLOUR_ORDER first."""
    varying = study.varying_params()
    ordered = [p for p in COLOUR_ORDER if p in varying] + [p for p in varying
                                                          if p not in COLOUR_ORDER]
    for p in ordered:
        values = {label(t.params.get(p)) for t in study.trials}
        if 1 < len(values) <= MAX_CATEGORIES:
            return p
    return None


def categories(trials: list[TrialRecord], param: str | None) -> list[tuple[str, list[TrialRecord]]]:
    """Trials grouped by a param's value, groups in sorted order ("all" if param is None)."""
    if param is None:
        return [("all trials", list(trials))]
    groups: dict[str, tuple[tuple, list[TrialRecord]]] = {}
    for t in trials:
        v = t.params.get(param)
        key = label(v) if v is not None else "(not set)"
        groups.setdefault(key, (sort_key(v), []))[1].append(t)
    return [(k, g[1]) for k, g in sorted(groups.items(), key=lambda kv: (kv[1][0], kv[0]))]


def palette(n: int) -> list:
    import matplotlib

    cmap = matplotlib.colormaps["tab10"]
    return [cmap(i % 10) for i in range(n)]


def _log_scale(values: list[float]) -> bool:
    pos = [v for v in values if v > 0]
    return len(pos) == len(values) and len(pos) > 1 and max(pos) / min(pos) > 20


def _short(param: str) -> str:
    return param.split(".")[-1] if param else param


# ---------------------------------------------------------------- rate-distortion
def rate_distortion(study: StudyData, out: Path) -> FigureResult:
    res = FigureResult("rate_distortion", "Rate-distortion", None)
    rows = []
    for t in study.trials:
        rows.append({m: number(attr(t, m, study)) for m in
                     ("psnr", "ms_ssim", "nt_per_px", "bits_per_px")} | {"t": t})
    quality = [m for m in ("psnr", "ms_ssim") if any(r[m] is not None for r in rows)]
    rates = [m for m in ("nt_per_px", "bits_per_px") if any(r[m] is not None for r in rows)]
    if not quality or not rates:
        res.skipped = ("No rate-distortion figure: the trials record no "
                       + ("PSNR or MS-SSIM" if not quality else "nt/px or bits/px") + ".")
        return res
    cparam = colour_param(study)
    groups = categories(study.trials, cparam)
    colours = dict(zip([g for g, _ in groups], palette(len(groups))))
    group_of = {t.number: g for g, ts in groups for t in ts}
    fig = new_figure(10, 7.6 if len(quality) == 2 else 4.2, hspace=0.35, wspace=0.25)
    axes = fig.subplots(len(quality), len(rates), squeeze=False)
    used = set()
    for i, q in enumerate(quality):
        for j, r in enumerate(rates):
            ax = axes[i][j]
            pts = [row for row in rows if row[q] is not None and row[r] is not None]
            for g, _ in groups:
                sel = [p for p in pts if group_of[p["t"].number] == g]
                if sel:
                    ax.scatter([p[r] for p in sel], [p[q] for p in sel], s=22, alpha=0.8,
                               color=colours[g], label=g if cparam else "trial",
                               edgecolors="none")
            if pts:
                used.update(p["t"].number for p in pts)
                good = np.array([p[q] for p in pts])
                cost = np.array([p[r] for p in pts])
                mask = pareto_mask(good, cost)
                order = np.argsort(cost[mask], kind="stable")
                fx, fy = cost[mask][order], good[mask][order]
                ax.step(fx, fy, where="post", color="black", lw=1.2, label="Pareto front")
                ax.scatter(fx, fy, s=70, facecolors="none", edgecolors="black", lw=1.2)
                if _log_scale(list(cost)):
                    ax.set_xscale("log")
            ax.set_xlabel(METRIC_LABELS[r])
            ax.set_ylabel(METRIC_LABELS[q])
            ax.set_title(f"{'PSNR' if q == 'psnr' else 'MS-SSIM'} against "
                         f"{'nt/px' if r == 'nt_per_px' else 'bits/px'}")
            if i == 0 and j == 0:
                ax.legend(title=_short(cparam) if cparam else None, loc="best")
    fig.suptitle(f"{study.name}: rate-distortion of the complete trials "
                 "(black: Pareto front, higher quality at lower rate)")
    res.filename = "rate_distortion.png"
    save(fig, out / res.filename)
    res.n_used = len(used)
    res.detail = ("Each point is one trial; the black staircase joins the trials no other trial "
                  "beats on both axes of that panel"
                  + (f"; colour: `{cparam}`" if cparam else "") + ".")
    missing = [m for m in ("psnr", "ms_ssim", "nt_per_px", "bits_per_px")
               if m not in quality + rates]
    if missing:
        res.extra.append("Not drawn (no trial records it): "
                         + ", ".join(f"`{m}`" for m in missing) + ".")
    return res


# ---------------------------------------------------------------- ablations
ABLATION_METRICS = ("psnr", "ms_ssim", "nt_per_px")


def ablation(study: StudyData, param: str, out: Path) -> FigureResult:
    res = FigureResult(f"ablation_{param}", f"Ablation: `{param}`", None)
    trials = [t for t in study.trials if param in t.params]
    metrics = [m for m in ABLATION_METRICS
               if any(number(attr(t, m, study)) is not None for t in trials)]
    if not metrics:
        res.skipped = f"No figure for `{param}`: the trials record none of {ABLATION_METRICS}."
        return res
    groups = categories(trials, param)
    continuous = len(groups) > MAX_CATEGORIES and all(
        number(t.params[param]) is not None for t in trials)
    names = [g for g, _ in groups]
    crowded = not continuous and (sum(len(g) for g in names) > 24
                                  or max(len(g) for g in names) > 9)
    longest = max(len(g) for g in names)
    # slanted long labels need room below and to the left of the first axes
    fig = (new_figure(10, 3.8 + 0.06 * longest, left=0.3 + 0.055 * longest,
                      bottom=0.5 + 0.065 * longest, wspace=0.45) if crowded
           else new_figure(10, 3.8, bottom=0.9, wspace=0.4))
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    seeds = {t.params.get("seed", t.attrs.get("seed")) for t in trials}
    for ax, m in zip(axes, metrics):
        if continuous:
            xs = [float(t.params[param]) for t in trials if number(attr(t, m, study)) is not None]
            ys = [number(attr(t, m, study)) for t in trials if number(attr(t, m, study))
                  is not None]
            ax.scatter(xs, ys, s=18, alpha=0.8, color="C0", edgecolors="none")
            if _log_scale(xs):
                ax.set_xscale("log")
        else:
            for k, (g, ts) in enumerate(groups):
                ys = np.array([v for v in (number(attr(t, m, study)) for t in ts)
                               if v is not None])
                if ys.size == 0:
                    continue
                ax.scatter(np.full(ys.size, k + 0.18), ys, s=14, alpha=0.6,
                           color="C0", edgecolors="none",
                           label="trials" if k == 0 else None)
                mean = float(ys.mean())
                ax.errorbar([k], [mean], yerr=[[max(0.0, mean - float(ys.min()))],
                                               [max(0.0, float(ys.max()) - mean)]],
                            fmt="o", color="C3", ecolor="C3", capsize=4, ms=6, lw=1.4,
                            label="mean, min-max" if k == 0 else None)
            ax.set_xticks(range(len(groups)), names, rotation=35 if crowded else 0,
                          ha="right" if crowded else "center",
                          rotation_mode="anchor" if crowded else "default")
            ax.set_xlim(-0.6, len(groups) - 0.4)
        ax.set_xlabel(param)
        ax.set_ylabel(METRIC_LABELS[m])
        if not continuous and ax is axes[0]:
            ax.legend(loc="best")
    fig.suptitle(f"{study.name}: effect of {param} "
                 + ("(each point a trial)" if continuous else
                    f"(mean and min-max over {len(seeds)} seed(s) and the other params)"))
    res.filename = f"ablation_{_slug(param)}.png"
    save(fig, out / res.filename)
    res.n_used = len(trials)
    res.detail = (f"`{param}` against its effect on " + ", ".join(metrics) + ". "
                  + ("The param is continuous: each point is a trial." if continuous else
                     "Red: mean over the trials with that value (all seeds, the other searched "
                     "params marginalised), bars from min to max; blue dots: the trials."))
    if not continuous:
        res.table = effect_table(study, groups, param)
    return res


EFFECT_COLUMNS = ("psnr", "ms_ssim", "nt_per_px", "bits_per_px", "net_density",
                  "share_of_capacity", "violations", "direct_violations")


def effect_table(study: StudyData, groups, param: str) -> str:
    import pandas as pd

    rows = []
    for g, ts in groups:
        row: dict[str, Any] = {param: g, "trials": len(ts),
                               "seeds": len({t.params.get("seed", t.attrs.get("seed"))
                                             for t in ts})}
        for m in EFFECT_COLUMNS:
            vals = np.array([v for v in (number(attr(t, m, study)) for t in ts) if v is not None])
            if vals.size == 0:
                continue
            if m in ("psnr", "ms_ssim", "nt_per_px"):
                sem = float(vals.std(ddof=1) / math.sqrt(vals.size)) if vals.size > 1 else 0.0
                row[f"{m} mean ± s.e."] = f"{_fmt(float(vals.mean()))} ± {_fmt(sem)}"
            else:
                row[f"{m} mean"] = float(vals.mean())
        rows.append(row)
    return markdown_table(pd.DataFrame(rows))


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


def _fmt(v: float) -> str:
    return f"{v:.4g}"


def markdown_table(df) -> str:
    """pandas -> GitHub markdown (tabulate), 4 significant digits, blanks for missing.

    Cells go to tabulate as Python objects, so an int column stays an int column (a table
    of numbers alone would otherwise reach tabulate as one float array)."""
    cells = df.astype(object).where(df.notna(), None)
    return cells.to_markdown(index=False, floatfmt=".4g", missingval="")


# ---------------------------------------------------------------- density against capacity
def _constraint_set(t: TrialRecord) -> str | None:
    v = t.params.get("constraints")
    if v is None:
        cfg = t.attrs.get("config")
        if isinstance(cfg, dict):
            v = cfg.get("constraints")
            if v is None and isinstance(cfg.get("model"), dict):
                v = cfg["model"].get("constraints")
    return None if v is None else str(v)


def capacity_of(name: str) -> float | None:
    """Shannon capacity (bits/nt) of a named constraint set, from dna/capacity.py."""
    try:
        from ..dna.capacity import constraint_capacity

        return constraint_capacity(name)
    except Exception:  # unknown name, a YAML file that is gone: no capacity line
        return None


def density_capacity(study: StudyData, out: Path) -> FigureResult:
    res = FigureResult("density_capacity", "Coding density against capacity", None)
    trials = [t for t in study.trials if number(t.attrs.get("coding_density")) is not None]
    if not trials:
        res.skipped = "No density figure: the trials record no `coding_density`."
        return res
    coder_varies = "coder" in study.varying_params()
    groups: dict[str, list[TrialRecord]] = {}
    for t in trials:
        cs = _constraint_set(t) or "(set not recorded)"
        g = f"{cs} / {t.params.get('coder')}" if coder_varies else cs
        groups.setdefault(g, []).append(t)
    names = sorted(groups)
    caps: dict[str, float | None] = {}
    cap_source: dict[str, str] = {}
    for g in names:
        recorded = [number(t.attrs.get("capacity")) for t in groups[g]]
        recorded = [c for c in recorded if c is not None]
        if recorded:
            caps[g], cap_source[g] = float(np.median(recorded)), "trial attrs"
        else:
            cs = g.split(" / ")[0]
            caps[g], cap_source[g] = capacity_of(cs), "dna/capacity.py"
    fig = new_figure(11, 4.4, bottom=0.95, wspace=0.25)
    ax1, ax2 = fig.subplots(1, 2)
    x = np.arange(len(names))
    w = 0.27
    cap_vals = [caps[g] if caps[g] is not None else np.nan for g in names]
    ax1.bar(x - w, cap_vals, w, color="0.75", hatch="//", edgecolor="0.4", label="capacity")
    for off, key, colour, lab in ((0.0, "coding_density", "C0", "coding density"),
                                  (w, "net_density", "C2", "net density")):
        means, lo, hi = [], [], []
        for g in names:
            vals = np.array([v for v in (number(t.attrs.get(key)) for t in groups[g])
                             if v is not None])
            if vals.size:
                means.append(vals.mean())
                lo.append(max(0.0, vals.mean() - vals.min()))
                hi.append(max(0.0, vals.max() - vals.mean()))
            else:
                means.append(np.nan)
                lo.append(0.0)
                hi.append(0.0)
        if not all(np.isnan(means)):
            ax1.bar(x + off, means, w, yerr=[lo, hi], capsize=3, color=colour, label=lab)
    for k, g in enumerate(names):
        dens = [number(t.attrs.get("coding_density")) for t in groups[g]]
        if caps[g]:
            ax1.annotate(f"{np.mean(dens) / caps[g]:.1%}", (k, np.mean(dens)),
                         textcoords="offset points", xytext=(0, 10), ha="center", fontsize=7)
    ax1.set_xticks(x, names, rotation=20 if len(names) > 3 else 0)
    ax1.set_xlabel("constraint set" + (" / coder" if coder_varies else ""))
    ax1.set_ylabel("bits/nt")
    ax1.set_ylim(0, 2.65)  # room for the legend above the bars (densities stay <= 2)
    ax1.set_title("per constraint set: mean, min-max; % = share of capacity")
    ax1.legend(loc="upper center", ncol=3)
    colours = palette(len(names))
    for k, g in enumerate(names):
        if caps[g] is None:
            continue
        dens = [number(t.attrs.get("coding_density")) for t in groups[g]]
        ax2.scatter(np.full(len(dens), caps[g]), dens, s=24, color=colours[k], label=g,
                    edgecolors="none", alpha=0.85)
    known = [c for c in caps.values() if c is not None]
    if known:
        lo_c, hi_c = min(known) - 0.05, max(known) + 0.05
        ax2.plot([lo_c, hi_c], [lo_c, hi_c], color="black", lw=1, ls="--",
                 label="y = x (capacity)")
        ax2.legend(loc="upper left")
    ax2.set_xlabel("capacity of the constraint set (bits/nt)")
    ax2.set_ylabel("coding density (bits/nt)")
    ax2.set_title("per trial (above y = x: a bug, or the direct mapping)")
    fig.suptitle(f"{study.name}: coding density against the Shannon capacity of each "
                 "constraint set")
    res.filename = "density_capacity.png"
    save(fig, out / res.filename)
    res.n_used = len(trials)
    sources = sorted(set(cap_source.values()))
    res.detail = ("Coding density: bits the FSM writes / non-primer nt; net density: source "
                  "bits / all nt written (outer code and padding included, primers excluded); "
                  "capacity: log2 of the constraint graph's Perron root (from "
                  + " and ".join(sources) + "). The direct mapping writes 2 bits/nt "
                  "regardless of the constraints, so it can sit above capacity (with "
                  "violations).")
    import pandas as pd

    rows = []
    for g in names:
        ts = groups[g]
        dens = np.array([number(t.attrs.get("coding_density")) for t in ts])
        row = {"constraint set" + (" / coder" if coder_varies else ""): g, "trials": len(ts),
               "capacity": caps[g], "coding density mean": float(dens.mean()),
               "share of capacity": (float(dens.mean()) / caps[g]) if caps[g] else None}
        net = [v for v in (number(t.attrs.get("net_density")) for t in ts) if v is not None]
        if net:
            row["net density mean"] = float(np.mean(net))
        vio = [v for v in (number(t.attrs.get("violations")) for t in ts) if v is not None]
        if vio:
            row["violations max"] = max(vio)
        rows.append(row)
    res.table = markdown_table(pd.DataFrame(rows))
    return res


# ---------------------------------------------------------------- strand histograms
def _sum_counts(trials: list[TrialRecord], key: str) -> np.ndarray | None:
    arrays = [np.asarray(t.attrs[key], dtype=float) for t in trials
              if isinstance(t.attrs.get(key), (list, tuple)) and len(t.attrs[key]) > 0]
    if not arrays:
        return None
    n = max(a.size for a in arrays)
    total = np.zeros(n)
    for a in arrays:
        total[: a.size] += a
    return total


def strand_histograms(study: StudyData, out: Path) -> FigureResult:
    res = FigureResult("strand_histograms", "Homopolymer runs and GC content", None)
    keys = ("hist_runs_written", "hist_runs_direct", "hist_gc_written", "hist_gc_direct")
    have = [t for t in study.trials if any(isinstance(t.attrs.get(k), (list, tuple))
                                           for k in keys)]
    if not have:
        res.skipped = ("No histogram figure: the trials record no run-length or GC "
                       "histograms (`hist_runs_written`, `hist_gc_written`, ...).")
        return res
    coder_groups = categories(have, "coder") if "coder" in study.varying_params() else \
        [("", have)]
    mode = "model.mixer.mode"

    def mixer_mode(t) -> str | None:
        """The trial's mixer mode: a searched param, or set by its arm (attrs "settings")."""
        settings = t.attrs.get("settings") if isinstance(t.attrs.get("settings"), dict) else {}
        value = t.params.get(mode, settings.get(mode))
        return None if value is None else label(value)

    modes = {m for m in map(mixer_mode, have) if m is not None}
    split_mixer = "none" in modes and len(modes) > 1
    series_runs, series_gc = [], []
    for g, ts in coder_groups:
        tag = f" (coder {g})" if g else ""
        series_runs.append((f"written{tag}", _sum_counts(ts, "hist_runs_written")))
        series_gc.append((f"written{tag}", _sum_counts(ts, "hist_gc_written")))
    if split_mixer:
        on = [t for t in have if mixer_mode(t) not in (None, "none")]
        off = [t for t in have if mixer_mode(t) == "none"]
        for name, ts in (("direct mapping, with Kronecker mixer", on),
                         ("direct mapping, no mixer (mode none)", off)):
            series_runs.append((name, _sum_counts(ts, "hist_runs_direct")))
            series_gc.append((name, _sum_counts(ts, "hist_gc_direct")))
    else:
        series_runs.append(("direct mapping", _sum_counts(have, "hist_runs_direct")))
        series_gc.append(("direct mapping", _sum_counts(have, "hist_gc_direct")))
    series_runs = [(n, c) for n, c in series_runs if c is not None and c.sum() > 0]
    series_gc = [(n, c) for n, c in series_gc if c is not None and c.sum() > 0]
    edges = None
    for t in have:
        e = t.attrs.get("hist_gc_edges")
        if isinstance(e, (list, tuple)) and len(e) > 1:
            edges = np.asarray(e, dtype=float)
            break
    sets = sorted({s for s in (_constraint_set(t) for t in have) if s})
    csets = []
    for name in sets[:4]:
        try:
            from ..dna.constraints import get_constraints

            csets.append((name, get_constraints(name)))
        except Exception:
            pass
    fig = new_figure(10, 4.0, wspace=0.25)
    ax1, ax2 = fig.subplots(1, 2)
    notes = []
    if series_runs:
        longest = max(int(np.nonzero(c)[0].max()) + 1 for _, c in series_runs)
        k = len(series_runs)
        width = 0.8 / k
        for i, (name, c) in enumerate(series_runs):
            share = np.zeros(longest)
            share[: min(longest, c.size)] = c[:longest] / c.sum()
            xs = np.arange(1, longest + 1) + (i - (k - 1) / 2) * width
            ax1.bar(xs, np.where(share > 0, share, np.nan), width, label=name, color=f"C{i}")
        for i, max_run in enumerate(sorted({c.max_run for _, c in csets})):
            names = ", ".join(n for n, c in csets if c.max_run == max_run)
            ax1.axvline(max_run + 0.5, color="black", ls=("--", ":", "-.")[i % 3], lw=1,
                        label=f"max_run {max_run} ({names})")
        ax1.set_yscale("log")
        ax1.set_ylim(top=8.0)  # room for the legend above the bars
        lengths = {len(t.attrs[k]) for t in have for k in ("hist_runs_written",
                                                             "hist_runs_direct")
                   if isinstance(t.attrs.get(k), (list, tuple))}
        ticks = [str(i) for i in range(1, longest + 1)]
        if lengths == {longest}:  # a fixed number of buckets: the last holds longer runs too
            ticks[-1] += "+"
        ax1.set_xticks(range(1, longest + 1), ticks)
        ax1.legend(loc="upper right")
    else:
        ax1.text(0.5, 0.5, "no run-length histograms recorded", ha="center",
                 transform=ax1.transAxes)
        notes.append("no run-length histograms")
    ax1.set_xlabel("homopolymer run length (nt)")
    ax1.set_ylabel("share of runs (log)")
    ax1.set_title("homopolymer run lengths")
    if series_gc:
        top = max(float((c / c.sum()).max()) for _, c in series_gc)
        ax2.set_ylim(0, top * 1.7)
        for i, (name, c) in enumerate(series_gc):
            e = edges if edges is not None and edges.size == c.size + 1 else \
                np.linspace(0.0, 1.0, c.size + 1)
            ax2.stairs(c / c.sum(), e, label=name, color=f"C{i}", lw=1.6)
        limits = sorted({(c.gc_min, c.gc_max) for _, c in csets if c.has_gc})
        for i, (lo, hi) in enumerate(limits):
            names = ", ".join(n for n, c in csets if c.has_gc and (c.gc_min, c.gc_max) ==
                              (lo, hi))
            style_ = ("--", ":", "-.")[i % 3]
            for v in (lo, hi):
                ax2.axvline(v, color="black", ls=style_, lw=1)
            ax2.plot([], [], color="black", ls=style_, lw=1, label=f"GC {lo:g}-{hi:g} ({names})")
        ax2.legend(loc="upper left", fontsize=7)
        if edges is None:
            notes.append("no `hist_gc_edges`: bins taken as equal over 0-1")
    else:
        ax2.text(0.5, 0.5, "no GC histograms recorded", ha="center", transform=ax2.transAxes)
        notes.append("no GC histograms")
    ax2.set_xlabel("GC share of a window")
    ax2.set_ylabel("share of windows")
    ax2.set_title("windowed GC content")
    fig.suptitle(f"{study.name}: strands written against the direct mapping of the same tokens "
                 f"(summed over {len(have)} trials)")
    res.filename = "strand_histograms.png"
    save(fig, out / res.filename)
    res.n_used = len(have)
    res.detail = ("Counts summed over the trials and normalised per series. \"written\": the "
                  "strands the trial actually wrote; \"direct mapping\": the stored tokens' "
                  "digits written as bases in order (no entropy coding, no FSM)"
                  + ("; split by whether the Kronecker mixer was on (`model.mixer.mode` none "
                     "against the others)" if split_mixer else "") + ".")
    if notes:
        res.extra.append("Partly drawn: " + "; ".join(notes) + ".")
    return res


# ---------------------------------------------------------------- training curves
def training_curves(study: StudyData, out: Path) -> FigureResult:
    res = FigureResult("training_curves", "Training curves", None)
    curves = []
    for t in study.trials:
        c = t.attrs.get("curve")
        if isinstance(c, list) and c and all(isinstance(p, dict) and "step" in p for p in c):
            curves.append((t, sorted(c, key=lambda p: p["step"])))
    if not curves:
        res.skipped = "No training curves: the trials record no `curve`."
        return res
    metrics = [m for m in ("psnr", "nt_per_px", "loss")
               if any(number(p.get(m)) is not None for _, c in curves for p in c)]
    if not metrics:
        res.skipped = "No training curves: the recorded curves hold no psnr, nt_per_px or loss."
        return res
    cparam = colour_param(study)
    groups = categories([t for t, _ in curves], cparam)
    colours = dict(zip([g for g, _ in groups], palette(len(groups))))
    group_of = {t.number: g for g, ts in groups for t in ts}
    fig = new_figure(10, 3.6, wspace=0.4)
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    for ax, m in zip(axes, metrics):
        labelled = set()
        for t, c in curves:
            pts = [(p["step"], number(p.get(m))) for p in c if number(p.get(m)) is not None]
            if not pts:
                continue
            g = group_of[t.number]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], color=colours[g], alpha=0.6,
                    lw=1.0, label=g if g not in labelled and cparam else None)
            labelled.add(g)
        ax.set_xlabel("training step")
        ax.set_ylabel(("validation " if m != "loss" else "") + METRIC_LABELS[m])
        if m == "loss" and all(number(p.get("loss")) is None or number(p.get("loss")) > 0
                               for _, c in curves for p in c):
            ax.set_yscale("log")
        if cparam and ax is axes[0]:
            ax.legend(title=_short(cparam), loc="best")
    fig.suptitle(f"{study.name}: training curves, one line per trial")
    res.filename = "training_curves.png"
    save(fig, out / res.filename)
    res.n_used = len(curves)
    res.detail = ("Validation metrics and training loss against step, one line per trial"
                  + (f", coloured by `{cparam}`" if cparam else "") + ".")
    return res


# ---------------------------------------------------------------- decoded frames
def _find_image(path: str, study: StudyData) -> Path | None:
    p = Path(path)
    candidates = [p]
    if not p.is_absolute() and study.source.kind == "journal":
        candidates.append(Path(study.source.storage).parent / p)
    for c in candidates:
        if c.is_file():
            return c
    return None


def frames_grid(study: StudyData, out: Path) -> FigureResult:
    res = FigureResult("frames", "Original and decoded frames", None)
    with_image = []
    missing = 0
    for t in study.trials:
        path = t.attrs.get("frame_image")
        if not isinstance(path, str) or not path:
            continue
        found = _find_image(path, study)
        if found is None:
            missing += 1
        elif number(attr(t, "nt_per_px", study)) is not None:
            with_image.append((number(attr(t, "nt_per_px", study)), t.number, t, found))
    if not with_image:
        res.skipped = ("No frame grid: " + (f"the {missing} recorded `frame_image` files are "
                                            "missing" if missing else
                                            "the trials record no `frame_image`") + ".")
        return res
    import matplotlib.image as mpimg

    with_image.sort(key=lambda r: (r[0], r[1]))
    k = min(MAX_FRAME_ROWS, len(with_image))
    picks = sorted({int(round(i)) for i in np.linspace(0, len(with_image) - 1, k)})
    chosen = [with_image[i] for i in picks]
    cols = 1 if len(chosen) == 1 else 2
    rows = (len(chosen) + cols - 1) // cols
    fig = new_figure(5.0 * cols, 2.9 * rows + 0.6, left=0.15, right=0.15, bottom=0.1,
                     top=0.6, hspace=0.25, wspace=0.08)
    axes = list(fig.subplots(rows, cols, squeeze=False).ravel())
    for ax in axes[len(chosen):]:
        ax.set_axis_off()
    for ax, (rate, num, t, path) in zip(axes, chosen):
        try:
            img = mpimg.imread(str(path))
        except Exception:
            ax.text(0.5, 0.5, f"{path.name}: not a readable PNG", ha="center",
                    transform=ax.transAxes)
            img = None
        if img is not None:
            ax.imshow(img, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        psnr = number(attr(t, "psnr", study))
        ms = number(t.attrs.get("ms_ssim"))
        parts = [f"trial {num}", f"{rate:.4g} nt/px"]
        if psnr is not None:
            parts.append(f"{psnr:.2f} dB")
        if ms is not None:
            parts.append(f"MS-SSIM {ms:.3f}")
        ax.set_title(" | ".join(parts), fontsize=9)
    fig.suptitle(f"{study.name}: first frame, original (left half) and decoded (right half), "
                 f"at {len(chosen)} rate(s)")
    res.filename = "frames.png"
    save(fig, out / res.filename)
    res.n_used = len(chosen)
    res.detail = ("Trials chosen evenly by nt/px among the " + str(len(with_image))
                  + " with a saved frame image, lowest rate first (left to right, top to "
                  "bottom); each panel is the trial's own `frame_image` (original | decoded).")
    if missing:
        res.extra.append(f"{missing} trial(s) name a `frame_image` file that is missing.")
    return res


# ---------------------------------------------------------------- optimisation history
def history(study: StudyData, out: Path) -> FigureResult:
    res = FigureResult("history", "Optimisation history", None)
    objs = [(i, name, d) for i, (name, d) in enumerate(zip(study.objectives, study.directions))]
    series = []
    for i, name, d in objs:
        pts = [(t.number, t.values[i]) for t in study.trials
               if t.values is not None and i < len(t.values) and number(t.values[i]) is not None]
        if pts:
            series.append((name, d, pts))
    if not series:
        res.skipped = "No optimisation history: the complete trials hold no objective values."
        return res
    fig = new_figure(10, 3.6, wspace=0.3)
    axes = fig.subplots(1, len(series), squeeze=False)[0]
    for ax, (name, d, pts) in zip(axes, series):
        xs = np.array([p[0] for p in pts])
        ys = np.array([p[1] for p in pts], dtype=float)
        best = np.maximum.accumulate(ys) if d == "maximize" else np.minimum.accumulate(ys)
        ax.scatter(xs, ys, s=16, color="C0", alpha=0.7, edgecolors="none", label="trial")
        ax.step(xs, best, where="post", color="C3", label=f"best so far ({d})")
        ax.set_xlabel("trial number")
        ax.set_ylabel(METRIC_LABELS.get(name, name))
        ax.set_title(f"objective {i_of(study, name)}: {name} ({d})")
        ax.legend(loc="best")
    fig.suptitle(f"{study.name}: optimisation history of the complete trials")
    res.filename = "history.png"
    save(fig, out / res.filename)
    res.n_used = len({p[0] for _, _, pts in series for p in pts})
    res.detail = "Each objective against trial number, with the best value reached so far."
    return res


def i_of(study: StudyData, name: str) -> int:
    return study.objectives.index(name)


# ---------------------------------------------------------------- importances
def importances(study: StudyData, out: Path) -> FigureResult:
    res = FigureResult("importances", "Parameter importances", None)
    params = study.varying_params()
    if len(params) < 2:
        res.skipped = (f"No importances: they need two or more searched params that vary "
                       f"(seed excluded); this study varies {len(params)}"
                       + (f" (`{params[0]}`)" if params else "") + ".")
        return res
    if study.n_complete < MIN_TRIALS_IMPORTANCE:
        res.skipped = (f"No importances: {study.n_complete} complete trials, fewer than the "
                       f"{MIN_TRIALS_IMPORTANCE} PED-ANOVA needs to say anything.")
        return res
    if study.study is None:
        res.skipped = "No importances: the study object is not available."
        return res
    import optuna
    from optuna.importance import PedAnovaImportanceEvaluator

    targets: list[tuple[str, Callable | None]] = []
    if len(study.directions) > 1:
        targets.append(("Pareto front (all objectives)", None))
    for i, (name, d) in enumerate(zip(study.objectives, study.directions)):
        sign = -1.0 if d == "maximize" else 1.0
        targets.append((f"{name} ({d})", (lambda t, i=i, s=sign: s * t.values[i])))
    results: list[tuple[str, dict[str, float]]] = []
    failed = []
    for name, target in targets:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                imp = optuna.importance.get_param_importances(
                    study.study, evaluator=PedAnovaImportanceEvaluator(), params=params,
                    target=target, normalize=True)
            results.append((name, {p: float(imp.get(p, 0.0)) for p in params}))
        except Exception as exc:  # too few trials above the quantile, odd distributions
            failed.append(f"{name}: {exc.__class__.__name__}")
    if not results:
        res.skipped = "No importances: PED-ANOVA could not be computed (" + "; ".join(failed) + ")."
        return res
    fig = new_figure(10, 1.4 + 0.3 * len(params) * len(results), left=2.2)
    ax = fig.subplots()
    y = np.arange(len(params))
    h = 0.8 / len(results)
    for i, (name, imp) in enumerate(results):
        ax.barh(y + (i - (len(results) - 1) / 2) * h, [imp[p] for p in params], h,
                label=name, color=f"C{i}")
    ax.set_yticks(y, params)
    ax.invert_yaxis()
    ax.set_xlabel("importance (PED-ANOVA, normalised to sum 1 per target)")
    ax.set_ylabel("searched param")
    ax.legend(title="target", loc="lower right")
    fig.suptitle(f"{study.name}: which params matter for reaching the top 10% of trials")
    res.filename = "importances.png"
    save(fig, out / res.filename)
    res.n_used = study.n_complete
    res.detail = ("Optuna's PED-ANOVA importance of each searched param (seed excluded) for "
                  "reaching the top 10% of the trials on each target; the Pareto-front target "
                  "ranks trials by non-domination, as multi-objective TPE does.")
    if failed:
        res.extra.append("Not computed: " + "; ".join(failed) + ".")
    import pandas as pd

    table = pd.DataFrame({"param": params} | {name: [imp[p] for p in params]
                                              for name, imp in results})
    res.table = markdown_table(table)
    return res


def all_figures(study: StudyData, out: Path) -> list[FigureResult]:
    """Every figure of a study's report, in the report's order."""
    with style():
        results = [rate_distortion(study, out)]
        params = study.varying_params()
        params = [p for p in ABLATION_ORDER if p in params] + [p for p in params
                                                              if p not in ABLATION_ORDER]
        for p in params:
            results.append(ablation(study, p, out))
        results += [density_capacity(study, out), strand_histograms(study, out),
                    training_curves(study, out), frames_grid(study, out), history(study, out),
                    importances(study, out)]
    return results
