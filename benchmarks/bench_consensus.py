"""Channel simulation and read-to-strand recovery: time and exact-recovery share.

Run: .venv/bin/python benchmarks/bench_consensus.py [--strands 33000 5000] [--seed 1]
     [--dropout 0.05] [--coverage 10] [--dispersion 4]

Strands are random (primer + 160 nt without homopolymers over 3 + primer, 200 nt), 33,000 of
them being about 1 MB of payload. recovered_exact_share: strands found exactly among the
candidates / strands written (dropout and thin coverage count as losses). One core.
The table prints and goes to bench-out/consensus.csv.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _table import emit  # noqa: E402

from helix_lightning.dna.channel import ChannelParams, simulate_reads  # noqa: E402
from helix_lightning.dna.consensus import recover_strands  # noqa: E402
from helix_lightning.dna.primers import DEFAULT_PREFIX, DEFAULT_SUFFIX  # noqa: E402

MIDDLE = 160


def random_strands(n: int, seed: int) -> list[str]:
    """Primer + MIDDLE random bases, no homopolymer over 3 inside the middle, + primer."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4, size=(n, MIDDLE))
    for j in range(3, MIDDLE):
        run = (codes[:, j - 1] == codes[:, j - 2]) & (codes[:, j - 2] == codes[:, j - 3])
        clash = run & (codes[:, j] == codes[:, j - 1])
        codes[clash, j] = (codes[clash, j] + rng.integers(1, 4, size=int(clash.sum()))) % 4
    letters = np.frombuffer(b"ACGT", dtype=np.uint8)[codes]
    return [DEFAULT_PREFIX + row.tobytes().decode() + DEFAULT_SUFFIX for row in letters]


def run(n: int, params: ChannelParams) -> dict:
    strands = random_strands(n, params.seed)
    t = time.perf_counter()
    reads = simulate_reads(strands, params)
    t_sim = time.perf_counter() - t
    t = time.perf_counter()
    cands = recover_strands([r[1] for r in reads], DEFAULT_PREFIX, DEFAULT_SUFFIX,
                            len(strands[0]))
    t_rec = time.perf_counter() - t
    found = {c.seq for c in cands}
    exact = sum(s in found for s in strands)
    return {"strands": n, "reads": len(reads), "simulate_s": t_sim, "recover_s": t_rec,
            "recovered_exact_share": exact / n, "candidates": len(cands),
            "wrong_candidates": len(found - set(strands))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--strands", type=int, nargs="+", default=[33000])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dropout", type=float, default=ChannelParams.dropout)
    ap.add_argument("--coverage", type=float, default=ChannelParams.coverage)
    ap.add_argument("--dispersion", type=float, default=ChannelParams.dispersion)
    args = ap.parse_args()
    params = ChannelParams(dropout=args.dropout, coverage=args.coverage,
                           dispersion=args.dispersion, seed=args.seed)
    rows = [run(n, params) for n in args.strands]
    emit(rows, f"simulate + recover (dropout {params.dropout}, coverage {params.coverage}, "
         f"dispersion {params.dispersion})", "consensus.csv")


if __name__ == "__main__":
    main()
