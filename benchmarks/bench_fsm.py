"""FSM coder: density per strand and on one long stream, share of capacity, throughput.

Run: .venv/bin/python benchmarks/bench_fsm.py [--long 1000000] [--mb 1]
Per strand: 200-nt strands, default primers, 160 coded nt. Throughput: encode and decode of
1 MB worth of random bits (all strands in lockstep, one core), tables built beforehand and timed
separately. Long stream: one strand of --long coded nt between the primers, encoded and decoded.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _table import emit  # noqa: E402

from helix_lightning.dna.capacity import constraint_capacity, log2_count  # noqa: E402
from helix_lightning.dna.constraints import check_codes, get_constraints, encode_bases  # noqa: E402
from helix_lightning.dna.fsm_coder import FsmCoder  # noqa: E402
from helix_lightning.dna.primers import DEFAULT_PREFIX, DEFAULT_SUFFIX  # noqa: E402

PRE, SUF = encode_bases(DEFAULT_PREFIX), encode_bases(DEFAULT_SUFFIX)


def per_strand(name: str, mb: float) -> dict:
    cs = get_constraints(name)
    cap = constraint_capacity(cs)
    t = time.perf_counter()
    coder = FsmCoder(cs, PRE, SUF, 160)
    build = time.perf_counter() - t
    g = coder.graph
    exact = log2_count(g, coder.start, g.terminal_mask(SUF, 200), 160) / 160
    n_strands = math.ceil(mb * 8e6 / coder.k)
    bits = np.random.default_rng(0).integers(0, 2, (n_strands, coder.k), dtype=np.uint8)
    t = time.perf_counter()
    codes = coder.encode(bits)
    enc = time.perf_counter() - t
    t = time.perf_counter()
    back, ok = coder.decode(codes)
    dec = time.perf_counter() - t
    full = np.concatenate([np.broadcast_to(PRE, (n_strands, 20)), codes,
                           np.broadcast_to(SUF, (n_strands, 20))], axis=1).astype(np.uint8)
    nt = n_strands * 160
    return {"constraints": name, "capacity": cap, "strand_count_capacity": exact,
            "coding_density": coder.density, "share_of_capacity": coder.density / cap,
            "share_of_strand_count": coder.density / exact, "bits_per_strand": coder.k,
            "terminal_positions": coder.r0, "table_build_s": build,
            "encode_Mnt_s": nt / enc / 1e6, "decode_Mnt_s": nt / dec / 1e6,
            "encode_incl_build_Mnt_s": nt / (enc + build) / 1e6,
            "roundtrip_exact": bool(ok.all() and np.array_equal(back, bits)),
            "violations": check_codes(full, cs).total}


def long_stream(name: str, n: int) -> dict:
    cs = get_constraints(name)
    cap = constraint_capacity(cs)
    coder = FsmCoder(cs, PRE, SUF, n)
    bits = np.random.default_rng(1).integers(0, 2, (1, coder.k), dtype=np.uint8)
    t = time.perf_counter()
    codes = coder.encode(bits)
    back, ok = coder.decode(codes)
    secs = time.perf_counter() - t
    full = np.concatenate([PRE, codes[0], SUF])[None, :].astype(np.uint8)
    return {"constraints": name, "stream_nt": n, "capacity": cap, "coding_density": coder.density,
            "share_of_capacity": coder.density / cap,
            "roundtrip_exact": bool(ok.all() and np.array_equal(back, bits)),
            "violations": check_codes(full, cs).total, "seconds": secs}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=1.0, help="MB of random bits per set")
    ap.add_argument("--long", type=int, default=1_000_000, help="long-stream length (0: skip)")
    ap.add_argument("--sets", nargs="*", default=["rl3", "fountain", "standard", "strict",
                                                  "relaxed", "rl2"])
    args = ap.parse_args()
    emit([per_strand(n, args.mb) for n in args.sets], "FSM coder per 200-nt strand",
         "fsm_strands.csv")
    if args.long:
        sets = [s for s in args.sets if s not in ("fountain", "relaxed")]  # whole-strand GC
        emit([long_stream(n, args.long) for n in sets], f"FSM coder on one {args.long}-nt stream",
             "fsm_long_stream.csv")


if __name__ == "__main__":
    main()
