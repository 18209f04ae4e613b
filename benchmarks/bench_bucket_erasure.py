"""What bucketing reads costs in coverage: strand erasure of the in-memory read decoder
against the bucketed one (`helix dna decode --buckets N`), on the same simulated reads.

A read whose first payload bases (the routing key, `dna.read_buckets`) carry an error lands in
another bucket than its strand and is lost to it. Per bucket count this prints the share of
reads routed away from their strand's bucket (the bucket most of its reads went to; read
names say the strand), the data strands recovered (distinct valid indices) and the strand
erasure 1 - recovered / written, and whether the file came back.

Run: PYTHONPATH=src python benchmarks/bench_bucket_erasure.py --size 1MB --seeds 1
     [--buckets 4 64 256] [--workers 2]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _table import emit  # noqa: E402


def misrouted(reads: list[tuple[str, str, str]], count: int) -> float:
    """Share of cut payloads routed to another bucket than most of their strand's."""
    from helix_lightning.dna.primers import DEFAULT_PREFIX, DEFAULT_SUFFIX
    from helix_lightning.dna.read_buckets import cut_rule, route_chunk

    rule = cut_rule([s for _, s, _ in reads[:65_536]], DEFAULT_PREFIX, DEFAULT_SUFFIX)
    strand_of, buckets = [], []
    for name, seq, _ in reads:  # one at a time: a read cut away leaves no payload
        middles, where, _ = route_chunk(rule, count, [seq])
        if middles:
            strand_of.append(int(name.split(":")[1][1:]))
            buckets.append(int(where[0]))
    home: dict[int, Counter] = {}
    for s, b in zip(strand_of, buckets):
        home.setdefault(s, Counter())[b] += 1
    away = sum(n - c.most_common(1)[0][1] for c in home.values() for n in [sum(c.values())])
    return away / max(1, len(buckets))


def trial(size: int, seed: int, counts: list[int], workers: int, folder: Path) -> list[dict]:
    from helix_lightning.dna.archive import encode_archive
    from helix_lightning.dna.channel import ChannelParams, simulate_reads
    from helix_lightning.dna.fasta import write_fastq
    from helix_lightning.dna.read_decode import decode_loaded
    from helix_lightning.dna.reads import recover_reads
    from helix_lightning.dna.stream_reads import decode_reads_file

    data = np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()
    archive = encode_archive(data)
    header = archive.header
    seg = header.segmentation()
    written = sum(seg.symbols(s) + header.repair(s) for s in range(seg.count))
    reads = simulate_reads(archive.strands, ChannelParams(seed=seed))
    fastq = folder / f"reads-{seed}.fq"
    write_fastq(fastq, reads)
    loaded = recover_reads([s for _, s, _ in reads])
    got, report, _ = decode_loaded(loaded, "standard")
    rows = [{"seed": seed, "decoder": "in-memory", "buckets": 1, "reads": len(reads),
             "misrouted": 0.0, "written": written, "recovered": report.valid_data_strands,
             "erasure": 1 - report.valid_data_strands / written, "ok": got == data}]
    for count in counts:
        out = io.BytesIO()
        done = decode_reads_file(fastq, out, count, workers=workers)
        recovered = done.decoded.report.valid_data_strands
        rows.append({"seed": seed, "decoder": "bucketed", "buckets": count,
                     "reads": len(reads), "misrouted": misrouted(reads, count),
                     "written": written, "recovered": recovered,
                     "erasure": 1 - recovered / written, "ok": out.getvalue() == data})
    return rows


def main() -> None:
    sys.path.insert(0, os.path.dirname(__file__))
    from bench_scale import parse_size

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=parse_size, default=parse_size("1MB"))
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--buckets", type=int, nargs="+", default=[4, 64, 256])
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-buckets-") as tmp:
        for seed in range(1, args.seeds + 1):
            rows += trial(args.size, seed, args.buckets, args.workers, Path(tmp))
    emit(rows, f"bucketed read decoding: {args.size / 1e6:g} MB, standard, reference channel",
         f"bucket_erasure_{args.size // 10**6}MB.csv")


if __name__ == "__main__":
    main()
