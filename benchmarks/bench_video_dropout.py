"""Video under strand dropout: today's layout against the resilient one (`helix encode
--resilient`), and what the resilient layout costs.

Run: .venv/bin/python benchmarks/bench_video_dropout.py [--frames 16] [--cost-frames 30]
     [--seeds 3] [--rate mid] [--out reports/dna] [--part cost|dropout|both] [--replot]

Part 1 (cost): the first `--cost-frames` frames of carphone_pristine (the held-out test clip)
at each rate point of the default model, in today's layout and in the resilient one (container
version 7 under today's outer code; resync never, every 8 and every 16 frames): nt, the change
against today's, and the chance that some segment receives fewer strands than its source
symbols + 2 (the redundancy rule's margin) or than its source symbols (it cannot decode) at
the default channel's strand-erasure rate 0.07 (some frame predicted; today's layout: nothing
written). Table printed, CSV `video_layout_cost.csv`.

Part 2 (dropout): the first `--frames` frames at `--rate`, each layout encoded once; per
dropout rate 0.05-0.40 and seed, every strand (header strands too) is lost with that
probability and the rest decoded (`pipeline.decode_video`). Per trial: whether a video was
written, its PSNR against the original, and the frames identical to the clean decode.
Table printed, CSV `video_dropout.csv`, figure `video_dropout.png` (`--replot` redraws it
from the CSV).
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _table import emit  # noqa: E402

from helix_lightning.errors import HelixError  # noqa: E402

DROPOUTS = (0.05, 0.10, 0.15, 0.20, 0.25, 0.30, 0.35, 0.40)
#: name -> resync period (None: today's layout)
LAYOUTS = {"today": None, "resilient": 0, "resilient, resync 8": 8}
COST_LAYOUTS = {**LAYOUTS, "resilient, resync 16": 16}
DESIGN_ERASURE = 0.07  # dna.archive.DEFAULT_ERASURE_RATE


def clip(frames: int) -> np.ndarray:
    from helix_lightning.demo import test_clip
    from helix_lightning.video.io import read_video

    return read_video(test_clip(), frames=frames)


def segment_failure(strands: list[str], erasure: float, overhead: int = 2) -> float:
    """P(some segment of the archive in `strands` receives fewer than its source symbols +
    `overhead`) at `erasure` (overhead 2: the redundancy rule's margin; 0: too few to decode
    at all, a lower bound of the failure rate)."""
    from scipy.stats import binom

    from helix_lightning.dna.archive import find_header

    header = find_header(strands).header
    seg = header.segmentation()
    ok = math.prod(1 - binom.cdf(seg.symbols(s) + overhead - 1,
                                 seg.symbols(s) + header.repair(s), 1 - erasure)
                   for s in range(seg.count))
    return 1 - ok


def encode_layout(codec, video: np.ndarray, rate: str, resync: int | None
                  ) -> tuple[list[str], int, int]:
    """(strands, nt, container bytes) of `video` in a layout of LAYOUTS."""
    from helix_lightning.dna.constraints import get_constraints
    from helix_lightning.model.pipeline import encode_video

    strands, st = encode_video(codec, video, get_constraints("standard"), rate=rate,
                               resync=resync)
    return strands, st.nt, st.container_bytes


def cost_rows(codec, frames: int) -> list[dict]:
    video, rows = clip(frames), []
    for rate in ("high", "mid", "low"):
        base = None
        for name, layout in COST_LAYOUTS.items():
            strands, nt, size = encode_layout(codec, video, rate, layout)
            base = base or nt
            rows.append({"rate": rate, "layout": name, "frames": frames,
                         "container_bytes": size, "strands": len(strands),
                         "nt": nt, "nt_change_pct": round(100 * (nt / base - 1), 2),
                         "p_short_k2_at_0.07": float(f"{segment_failure(strands, DESIGN_ERASURE):.3g}"),
                         "p_short_k_at_0.07": float(f"{segment_failure(strands, DESIGN_ERASURE, 0):.3g}")})
    return rows


def trial(codec, strands: list[str], clean: np.ndarray, original: np.ndarray, p: float,
          seed: int) -> dict:
    from helix_lightning.metrics import psnr
    from helix_lightning.model.pipeline import decode_video

    rng = np.random.default_rng(seed)
    kept = [s for s in strands if rng.random() >= p]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = decode_video(codec, kept)
    except HelixError:
        return {"written": 0, "psnr_db": float("nan"), "exact_frames": 0}
    exact = sum(np.array_equal(a, b) for a, b in zip(out, clean))
    return {"written": 1, "psnr_db": round(psnr(out, original), 3), "exact_frames": exact}


def dropout_rows(codec, frames: int, seeds: int, rate: str) -> list[dict]:
    from helix_lightning.metrics import psnr
    from helix_lightning.model.pipeline import decode_video

    video, rows = clip(frames), []
    for name, layout in LAYOUTS.items():
        strands, nt, _ = encode_layout(codec, video, rate, layout)
        clean = decode_video(codec, strands)
        for p in DROPOUTS:
            for seed in range(1, seeds + 1):
                r = trial(codec, strands, clean, video, p, seed)
                rows.append({"layout": name, "nt": nt, "dropout": p, "seed": seed,
                             "frames": frames, **r, "clean_psnr_db": round(psnr(clean, video), 3)})
    return rows


def plot(rows: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(7, 7), sharex=True)
    for name in dict.fromkeys(r["layout"] for r in rows):
        mine = [r for r in rows if r["layout"] == name]
        ps = sorted({float(r["dropout"]) for r in mine})
        psnr_mean, written, exact = [], [], []
        for p in ps:
            at = [r for r in mine if float(r["dropout"]) == p]
            vals = [float(r["psnr_db"]) for r in at if int(r["written"])]
            psnr_mean.append(np.mean(vals) if vals else np.nan)
            written.append(sum(int(r["written"]) for r in at) / len(at))
            exact.append(np.mean([int(r["exact_frames"]) / int(r["frames"]) for r in at]))
        label = f"{name} ({mine[0]['nt']} nt)"
        line = ax1.plot(ps, psnr_mean, "o-", label=label)[0]
        for p, v, w in zip(ps, psnr_mean, written):
            if w < 1 and not np.isnan(v):
                ax1.annotate(f"{w:.0%}", (p, v), textcoords="offset points", xytext=(4, 4),
                             fontsize=7, color=line.get_color())
        nothing = [p for p, w in zip(ps, written) if w == 0]
        ax1.plot(nothing, [6.5 + 0.4 * len(ax1.lines) / 2] * len(nothing), "x",
                 color=line.get_color())
        ax2.plot(ps, exact, "o-", label=label, color=line.get_color())
    clean = float(rows[0]["clean_psnr_db"])
    ax1.axhline(clean, color="grey", ls=":", lw=1, label=f"no loss ({clean:.1f} dB)")
    ax1.set_ylabel("PSNR of the written video (dB)")
    ax1.set_title("PSNR against strand dropout (labels: share of trials that wrote a video; "
                  "x: none did)", fontsize=9)
    ax1.legend(fontsize=8)
    ax2.set_ylabel("frames bit-exact to the clean decode")
    ax2.set_xlabel("strand dropout (every strand lost with this probability)")
    ax2.set_ylim(-0.05, 1.05)
    fig.suptitle(f"{rows[0]['frames']} frames of carphone_pristine, default model; "
                 f"{len({r['seed'] for r in rows})} seeds per point", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    print(f"wrote {out}")


def write_csv(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--cost-frames", type=int, default=30)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--rate", default="mid")
    ap.add_argument("--out", default="reports/dna")
    ap.add_argument("--replot", action="store_true")
    ap.add_argument("--part", choices=("cost", "dropout", "both"), default="both")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.replot:
        with (out / "video_dropout.csv").open() as fh:
            plot(list(csv.DictReader(fh)), out / "video_dropout.png")
        return
    from helix_lightning.model.checkpoint import load_codec

    codec, t0 = load_codec(), time.time()
    if args.part in ("cost", "both"):
        cost = cost_rows(codec, args.cost_frames)
        emit(cost, "resilient layout: cost in nt (carphone_pristine, default model)",
             "video_layout_cost.csv")
        write_csv(out / "video_layout_cost.csv", cost)
    if args.part in ("dropout", "both"):
        rows = dropout_rows(codec, args.frames, args.seeds, args.rate)
        emit(rows, "PSNR against strand dropout", "video_dropout.csv")
        write_csv(out / "video_dropout.csv", rows)
        plot(rows, out / "video_dropout.png")
    print(f"{time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
