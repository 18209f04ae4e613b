"""1 MB archives per constraint set: net density, redundancy, and encode/decode throughput.

Run: .venv/bin/python benchmarks/bench_archive.py [--mb 1] [--sets fountain standard ...]

For each set: a fresh coder (tables built from the on-disk cache of graphs/eigenvectors, as a
user's second run would) encodes 1 MB of random bytes at the default redundancy and decodes it
from the clean strands. Throughput counts every nt written, table building included, on one core
(numpy single-threaded: OMP/OPENBLAS threads set to 1 below). `cli_*_s` are wall times of the
`helix dna encode/decode` commands, process start-up and FASTA I/O included.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import random  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from _table import emit  # noqa: E402

from helix_lightning.dna import fsm_coder  # noqa: E402
from helix_lightning.dna.archive import decode_archive, encode_archive  # noqa: E402
from helix_lightning.dna.constraints import check_strands, get_constraints  # noqa: E402


def one(name: str, data: bytes, cli: bool) -> dict:
    fsm_coder._CODERS.clear()
    t = time.perf_counter()
    archive = encode_archive(data, name)
    enc = time.perf_counter() - t
    fsm_coder._CODERS.clear()
    t = time.perf_counter()
    out, _ = decode_archive(archive.strands, constraints=name)
    dec = time.perf_counter() - t
    s = archive.stats
    row = {"constraints": name, "bytes": len(data), "strands": s.strands,
           "redundancy": s.redundancy, "coding_density": s.coding_density,
           "net_density": s.net_density, "net_density_with_primers":
           s.net_density_with_primers, "violations": check_strands(archive.strands,
                                                                      get_constraints(name)).total,
           "roundtrip_ok": out == data, "encode_s": enc, "decode_s": dec,
           "encode_Mnt_s": s.nt / enc / 1e6, "decode_Mnt_s": s.nt / dec / 1e6}
    if cli:
        with tempfile.TemporaryDirectory() as tmp:
            src, fa, back = Path(tmp, "in.bin"), Path(tmp, "a.fasta"), Path(tmp, "out.bin")
            src.write_bytes(data)
            helix = [sys.executable, "-m", "helix_lightning", "dna"]
            t = time.perf_counter()
            subprocess.run(helix + ["encode", str(src), "-o", str(fa), "--constraints", name,
                                    "-q", "--json"], check=True, capture_output=True)
            row["cli_encode_s"] = time.perf_counter() - t
            t = time.perf_counter()
            subprocess.run(helix + ["decode", str(fa), "-o", str(back), "-q"], check=True,
                           capture_output=True)
            row["cli_decode_s"] = time.perf_counter() - t
            row["cli_roundtrip_ok"] = back.read_bytes() == data
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=1.0)
    ap.add_argument("--sets", nargs="*", default=["fountain", "standard", "strict", "rl3",
                                                  "relaxed"])
    ap.add_argument("--no-cli", action="store_true", help="skip the command-line timings")
    args = ap.parse_args()
    data = random.Random(0).randbytes(int(args.mb * 1_000_000))
    emit([one(n, data, not args.no_cli) for n in args.sets],
         f"{args.mb} MB random file per constraint set (default redundancy)", "archive.csv")


if __name__ == "__main__":
    main()
