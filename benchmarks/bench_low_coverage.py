"""How far the channel can go: the net density the plan needs against coverage and against
the per-base error rate, with published systems' points marked.

Run: .venv/bin/python benchmarks/bench_low_coverage.py [--mb 1] [--kb 100] [--seeds 0] [--replot]

For every point the plan (`helix dna plan`: the erasure model of this package's own read
recovery, list decoding included) chooses the redundancy a `--mb` MB archive on `standard`
needs to decode with failure probability <= 1e-6; the figure shows the net density that
leaves (0 where no redundancy carries the channel). Panel 1: coverage 3-10 at the reference
error rates. Panel 2: total error 2-10% at coverage 15, split 13:31:6 (sub:del:ins, the
indel-heavy mix) and 2:1:1 (the reference mix). With `--seeds N`, N end-to-end trials per
point (a `--kb` kB random file encoded at the plan, reads simulated, decoded, compared) are
run too and marked as the share decoded bit-exact.

Published points marked: Ding et al. 2024 (error-free at mean coverage 4.5x and 6x, 1.73 and
1.82 bits/nt); DNA-Aeon (8% errors) and DNA StairLoop (10%, 13:31:6) at 15x; HEDGES (7%).
Outputs: bench-out/low_coverage.csv and bench-out/low_coverage.png (`--replot` redraws the
figure from the CSV).
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _table import emit  # noqa: E402

from helix_lightning.dna.archive import DecodeFailure, encode_archive  # noqa: E402
from helix_lightning.dna.channel import ChannelParams, simulate_reads  # noqa: E402
from helix_lightning.dna.plan import plan_archive  # noqa: E402
from helix_lightning.dna.read_decode import decode_loaded  # noqa: E402
from helix_lightning.dna.reads import recover_reads  # noqa: E402
from helix_lightning.errors import HelixError  # noqa: E402

COVERAGES = (3, 4, 5, 6, 7, 8, 10)
ERRORS = (0.02, 0.04, 0.06, 0.08, 0.10)
MIXES = {"13:31:6": (13, 6, 31), "2:1:1": (2, 1, 1)}  # sub, ins, del shares
DING = ((4.5, 1.73), (6.0, 1.82))
AT_15X = (("DNA-Aeon", 0.08), ("StairLoop", 0.10), ("HEDGES", 0.07))


def split(total: float, mix: tuple[int, int, int]) -> dict:
    s, i, d = (total * m / sum(mix) for m in mix)
    return {"sub": s, "ins": i, "dele": d}


def trials(params: ChannelParams, plan, kb: int, seeds: int) -> float | None:
    """Share of `seeds` end-to-end trials decoded bit-exact (None if seeds == 0)."""
    if not seeds or plan is None:
        return None
    data = np.random.default_rng(3).bytes(kb * 1000)
    archive = encode_archive(data, "standard", erasure_rate=plan.strand_erasure,
                             failure_target=plan.segment_target)
    ok = 0
    for seed in range(1, seeds + 1):
        reads = [r for _, r, _ in simulate_reads(archive.strands, replace(params, seed=seed))]
        try:
            ok += decode_loaded(recover_reads(reads), "standard")[0] == data
        except (DecodeFailure, HelixError):
            pass
    return ok / seeds


def point(panel: str, params: ChannelParams, size: int, kb: int, seeds: int, **extra) -> dict:
    try:
        plan = plan_archive(size, params, "standard", channel=panel)
        d = plan.to_dict()
        net, erasure = d["net_density"], d["strand_erasure"]
    except HelixError:
        plan, net, erasure = None, 0.0, float("nan")
    row = {"panel": panel, **extra, "coverage": params.coverage,
           "error": round(params.sub + params.ins + params.dele, 4),
           "strand_erasure": round(erasure, 4), "net_density": round(net, 3)}
    success = trials(params, plan, kb, seeds)
    row["bit_exact_share"] = "" if success is None else round(success, 3)
    print(row, flush=True)
    return row


def figure(rows: list[dict], path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    cov = [r for r in rows if r["panel"] == "coverage"]
    a.plot([r["coverage"] for r in cov], [r["net_density"] for r in cov], "o-",
           label="HELIX standard, planned (1e-6 failure)")
    for r in cov:
        if r["bit_exact_share"] != "":
            a.annotate(f"{r['bit_exact_share']:.0%}", (r["coverage"], r["net_density"]),
                       textcoords="offset points", xytext=(0, -14), ha="center", fontsize=7)
    a.plot(*zip(*DING), "r*", ms=12, label="Ding et al. 2024 (error-free)")
    a.set(xlabel="mean coverage (reads per strand)", ylabel="net density (bits/nt)",
          title="reference errors (1% sub, 0.5% ins, 0.5% del)", ylim=(0, 2))
    a.legend(fontsize=8, loc="lower right")
    for name in MIXES:
        err = [r for r in rows if r["panel"] == "error" and r.get("mix") == name]
        order = "sub:del:ins" if name == "13:31:6" else "sub:ins:del"
        b.plot([100 * r["error"] for r in err], [r["net_density"] for r in err], "o-",
               label=f"HELIX, {order} {name}, planned")
        for r in err:
            if r["bit_exact_share"] != "":
                b.annotate(f"{r['bit_exact_share']:.0%}", (100 * r["error"], r["net_density"]),
                           textcoords="offset points", fontsize=7, ha="center",
                           xytext=(0, -14 if name == "13:31:6" else 8))
    for name, e in AT_15X:
        b.axvline(100 * e, color="gray", ls="--", lw=0.8)
        b.text(100 * e, 0.9, name, rotation=90, va="bottom", ha="right", fontsize=8)
    b.set(xlabel="total per-base error (%) at coverage 15", ylabel="net density (bits/nt)",
          title="error rate at 15x (published systems tolerate: dashed)", ylim=(0, 2))
    b.legend(fontsize=8, loc="lower left")
    if any(r["bit_exact_share"] != "" for r in rows):
        fig.text(0.5, 0.005, "% under a point: share of end-to-end trials (random file encoded at "
                 "that plan, reads simulated, decoded) that came back bit-exact",
                 ha="center", fontsize=8)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(path, dpi=120)


def read_rows(path: str) -> list[dict]:
    """The rows of a CSV this script wrote, numbers as numbers."""
    import csv

    def number(v: str):
        try:
            return float(v) if "." in v or v == "nan" else int(v)
        except ValueError:
            return v

    with open(path, newline="") as fh:
        return [{k: number(v) for k, v in row.items()} for row in csv.DictReader(fh)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=1.0)
    ap.add_argument("--kb", type=int, default=100)
    ap.add_argument("--seeds", type=int, default=0)
    ap.add_argument("--replot", action="store_true",
                    help="redraw bench-out/low_coverage.png from its CSV, computing nothing")
    args = ap.parse_args()
    if args.replot:
        figure(read_rows(os.path.join("bench-out", "low_coverage.csv")),
               os.path.join("bench-out", "low_coverage.png"))
        return
    size = int(args.mb * 1_000_000)
    rows = [point("coverage", ChannelParams(coverage=c), size, args.kb, args.seeds,
                  mix="2:1:1") for c in COVERAGES]
    for name, mix in MIXES.items():
        rows += [point("error", ChannelParams(coverage=15.0, **split(e, mix)), size, args.kb,
                       args.seeds, mix=name) for e in ERRORS]
    emit(rows, "net density the plan needs, against coverage and error rate",
         "low_coverage.csv")
    figure(rows, os.path.join("bench-out", "low_coverage.png"))


if __name__ == "__main__":
    main()
