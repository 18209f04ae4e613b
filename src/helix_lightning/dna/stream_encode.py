"""Encode a file of any size into FASTA segment by segment, on every core, in bounded memory.

The file is read twice, never whole: once for its hash (the header carries it, and the
header strands come first), then one RaptorQ segment at a time by the workers, which read
their own byte range and return their segment's FASTA records as text. Records are written
in segment order as they come back, so the output is byte-identical to `encode_archive`'s
(`helix dna encode` of the in-memory path) whatever the worker count.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO, Sequence

from ..errors import HelixError
from .archive import (DEFAULT_ERASURE_RATE, ArchiveStats, Geometry, Progress, archive_stats,
                      geometry_and_header, header_strands, segment_strands)
from .constraints import ConstraintSet, get_constraints
from .outer import SEGMENT_HASH, Segmentation
from .records import record_name
from .strands import StrandLayout

READ_BLOCK = 1 << 24  # bytes hashed at a time


def file_hash(path: str | Path) -> bytes:
    """The archive's file hash (8-byte BLAKE2b) of a file, read in blocks."""
    digest = hashlib.blake2b(digest_size=SEGMENT_HASH)
    with open(path, "rb") as f:
        while block := f.read(READ_BLOCK):
            digest.update(block)
    return digest.digest()


@dataclass(frozen=True)
class SegmentJob:
    """What a worker needs to write any segment of one archive (small, so cheap to send):
    the layout's settings and the geometry's numbers; the FSM tables are built (or found in
    the process's cache, inherited from the parent by a fork) on the worker."""

    path: str
    cs: ConstraintSet
    strand_len: int
    prefix: str
    suffix: str
    size: int
    index_bits: int
    symbol_size: int
    repairs: tuple[int, ...]
    archive_id: int | None
    version: int
    first_serial: int  # record number of the first data strand (after the header strands)

    def geometry(self) -> Geometry:
        return _geometry(self)


@lru_cache(maxsize=4)
def _geometry(job: SegmentJob) -> Geometry:
    layout = StrandLayout(job.cs, job.strand_len, job.prefix, job.suffix)
    return Geometry(job.size, layout, job.index_bits, job.symbol_size,
                    Segmentation(job.size, job.symbol_size), list(job.repairs))


def fasta_text(strands: Sequence[str], constraints: str, version: int, first: int) -> bytes:
    """FASTA records (one line per sequence, as `fasta.write_fasta` writes) numbered from
    `first`."""
    return "".join(f">{record_name(constraints, first + i, version)}\n{s}\n"
                   for i, s in enumerate(strands)).encode("ascii")


def encode_segment_records(job: SegmentJob, s: int, base: int) -> bytes:
    """Segment `s` (first index `base`) of the job's file as FASTA text (a worker's task)."""
    geo = job.geometry()
    lo, hi = geo.segmentation.chunk_range(s)
    with open(job.path, "rb") as f:
        f.seek(lo)
        chunk = f.read(hi - lo)
    if len(chunk) != hi - lo:
        raise HelixError(f"{job.path} changed while it was being encoded")
    strands = segment_strands(chunk, geo, job.archive_id, s, base)
    return fasta_text(strands, job.cs.name, job.version, job.first_serial + base)


@dataclass
class StreamedArchive:
    """What `encode_file` wrote: the header, the set, the stats, and the first strand (for
    the bootstrap sector, which names the primers)."""

    header: Any
    cs: ConstraintSet
    stats: ArchiveStats
    first_strand: str

    @property
    def strands(self) -> "_Outline":
        return _Outline(self.first_strand, self.stats.strands)

    def fasta_records(self) -> list[tuple[str, str]]:
        return []  # written already: `bootstrap.encoded_pool` adds only the bootstrap's


class _Outline(Sequence):
    """The strand list as the bootstrap sector reads it: its length and first strand."""

    def __init__(self, first: str, count: int):
        self.first, self.count = first, count

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i):  # type: ignore[override]
        if i != 0:
            raise IndexError("only the first strand is kept")
        return self.first


def encode_file(path: str | Path, out: BinaryIO, constraints: str | ConstraintSet = "standard",
                *, workers: int | None = None, progress: Progress | None = None,
                **options: Any) -> StreamedArchive:
    """Encode the file at `path` into FASTA records written to `out` (binary), segment by
    segment on `workers` processes (every core by default); `options` as `encode_archive`'s
    (redundancy, erasure_rate, strand_len, prefix, suffix, archive_id, failure_target)."""
    from .segment_pool import ordered_map, segment_engine, worker_count

    cs = get_constraints(constraints)
    size = os.path.getsize(path)
    redundancy = options.get("redundancy")
    geo, header = geometry_and_header(size, file_hash(path), cs, **options)
    layout, seg = geo.layout, geo.segmentation
    heads = header_strands(header, layout)
    out.write(fasta_text(heads, cs.name, header.version, 0))
    job = SegmentJob(str(path), cs, layout.strand_len, layout.prefix, layout.suffix, size,
                     geo.index_bits, geo.symbol_size, tuple(geo.repairs), header.archive_id,
                     header.version, len(heads))
    bases = [0]
    for s in range(seg.count):
        bases.append(bases[-1] + seg.symbols(s) + geo.repairs[s])
    with segment_engine(min(worker_count(workers), seg.count)) as engine:
        tasks = ((job, s, bases[s]) for s in range(seg.count))
        for s, text in enumerate(ordered_map(engine, encode_segment_records, tasks)):
            out.write(text)
            if progress:
                progress("encode", bases[s + 1], geo.total_symbols)
    stats = archive_stats(geo, len(heads), redundancy,
                          options.get("erasure_rate", DEFAULT_ERASURE_RATE))
    return StreamedArchive(header, cs, stats, heads[0])

