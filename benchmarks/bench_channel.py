"""Archives through the noisy channel: seeded 1 MB trials, and success against coverage and errors.

Run: .venv/bin/python benchmarks/bench_channel.py trials  [--trials 20] [--mb 1] [--constraints standard]
     .venv/bin/python benchmarks/bench_channel.py sweep   [--kb 100] [--seeds 5]
     .venv/bin/python benchmarks/bench_channel.py erasure [--mb 1] [--seeds 3]

trials:  encode a random file at the default redundancy, simulate reads at the reference channel
         (sub 1%, ins 0.5%, del 0.5%, dropout 5%, coverage 10), decode; one row per seed.
sweep:   decode success rate against mean coverage and against the total per-base error rate.
erasure: the measured strand-erasure rate of the reference channel (data strands not recovered
         after consensus and checks / strands written): what the default redundancy is sized for.
Tables print and go to bench-out/channel_*.csv; the success-rate curves also go to a PNG.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from dataclasses import replace

sys.path.insert(0, os.path.dirname(__file__))
from _table import emit  # noqa: E402

from helix_lightning.dna.archive import DecodeFailure, decode_archive, encode_archive  # noqa: E402
from helix_lightning.dna.channel import ChannelParams, simulate_reads  # noqa: E402
from helix_lightning.dna.consensus import recover_strands  # noqa: E402
from helix_lightning.dna.primers import DEFAULT_PREFIX, DEFAULT_SUFFIX  # noqa: E402
from helix_lightning.errors import HelixError  # noqa: E402

REFERENCE = ChannelParams()


def trial(data: bytes, archive, params: ChannelParams) -> dict:
    t = time.perf_counter()
    reads = simulate_reads(archive.strands, params)
    t_sim = time.perf_counter() - t
    t = time.perf_counter()
    cands = recover_strands([r[1] for r in reads], DEFAULT_PREFIX, DEFAULT_SUFFIX, 200)
    t_cons = time.perf_counter() - t
    t = time.perf_counter()
    try:
        out, report = decode_archive([c.seq for c in cands], [c.support for c in cands],
                                     variants=[c.variants for c in cands], constraints=archive.cs)
        ok = out == data
        valid = report.valid_data_strands
    except DecodeFailure as exc:
        ok, valid, report = False, exc.report.valid_data_strands, exc.report
    except HelixError:  # e.g. every header copy lost: nothing recovered
        ok, valid, report = False, 0, None
    t_dec = time.perf_counter() - t
    written = archive.stats.strands - archive.stats.header_strands
    return {"seed": params.seed, "coverage": params.coverage,
            "error_rate": params.sub + params.ins + params.dele, "reads": len(reads),
            "candidates": len(cands), "strands_written": written, "strands_recovered": valid,
            "erasure_rate": 1 - valid / written, "bit_exact": ok,
            "decode_attempts": max((seg.get("attempts", 0) for seg in report.segments), default=0)
            if report else 0,
            "corrupt_strands_caught": sum(seg.get("corrupt_found", 0) for seg in report.segments)
            if report else 0,
            "simulate_s": t_sim,
            "consensus_s": t_cons, "decode_s": t_dec}


def cmd_trials(args) -> None:
    data = random.Random(0).randbytes(int(args.mb * 1_000_000))
    archive = encode_archive(data, args.constraints)
    rows = []
    for seed in range(1, args.trials + 1):
        row = trial(data, archive, replace(REFERENCE, seed=seed))
        row.update({"constraints": args.constraints, "net_density": archive.stats.net_density,
                    "redundancy": archive.stats.redundancy})
        rows.append(row)
        print(f"seed {seed}: bit_exact={row['bit_exact']} erasure={row['erasure_rate']:.4f}",
              flush=True)
    emit(rows, f"{args.mb} MB, {args.constraints}, reference channel: "
         f"{sum(r['bit_exact'] for r in rows)}/{len(rows)} bit-exact", "channel_trials.csv")


def cmd_erasure(args) -> None:
    data = random.Random(0).randbytes(int(args.mb * 1_000_000))
    archive = encode_archive(data, args.constraints)
    rows = [trial(data, archive, replace(REFERENCE, seed=100 + s)) for s in range(args.seeds)]
    emit(rows, "measured strand-erasure rate of the reference channel", "channel_erasure.csv")
    rates = [r["erasure_rate"] for r in rows]
    print(f"erasure rate: mean {sum(rates) / len(rates):.4f}, max {max(rates):.4f}")


def cmd_sweep(args) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = random.Random(0).randbytes(args.kb * 1000)
    archive = encode_archive(data, args.constraints)
    rows = []
    for cov in args.coverages:
        for s in range(args.seeds):
            rows.append({"axis": "coverage", **trial(data, archive,
                                                     replace(REFERENCE, coverage=cov, seed=s))})
    for err in args.errors:
        for s in range(args.seeds):
            p = replace(REFERENCE, sub=err / 2, ins=err / 4, dele=err / 4, seed=s)
            rows.append({"axis": "error_rate", **trial(data, archive, p)})
    emit(rows, f"decode success, {args.kb} KB, {args.constraints}", "channel_sweep.csv")
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, axis, key, label in [(axes[0], "coverage", "coverage", "mean coverage (reads/strand)"),
                                 (axes[1], "error_rate", "error_rate", "per-base error rate")]:
        pts = sorted({r[key] for r in rows if r["axis"] == axis})
        succ = [sum(r["bit_exact"] for r in rows if r["axis"] == axis and r[key] == x)
                / sum(1 for r in rows if r["axis"] == axis and r[key] == x) for x in pts]
        ax.plot(pts, succ, "o-")
        ax.set_xlabel(label)
        ax.set_ylabel("decode success rate")
        ax.set_ylim(-0.05, 1.05)
        ax.grid(alpha=0.3)
    fig.suptitle(f"{args.kb} KB archive ({args.constraints}, default redundancy), {args.seeds} "
                 "seeds per point\nbenchmarks/bench_channel.py sweep", fontsize=9)
    fig.tight_layout()
    fig.savefig("bench-out/channel_sweep.png", dpi=120)
    print("wrote bench-out/channel_sweep.png")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("trials")
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--mb", type=float, default=1.0)
    p.add_argument("--constraints", default="standard")
    p = sub.add_parser("erasure")
    p.add_argument("--mb", type=float, default=1.0)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--constraints", default="standard")
    p = sub.add_parser("sweep")
    p.add_argument("--kb", type=int, default=100)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--constraints", default="standard")
    p.add_argument("--coverages", type=float, nargs="*", default=[2, 3, 4, 5, 6, 8, 10])
    p.add_argument("--errors", type=float, nargs="*", default=[0.02, 0.04, 0.06, 0.08, 0.10, 0.12])
    args = ap.parse_args()
    {"trials": cmd_trials, "erasure": cmd_erasure, "sweep": cmd_sweep}[args.cmd](args)


if __name__ == "__main__":
    main()
