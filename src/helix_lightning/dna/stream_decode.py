"""Decode a FASTA of strands (as written, in any order) of any size: bounded memory, every core.

Three passes, each a stream of small tasks on a `segment_pool` engine (local processes or
Dask), results taken in order:
1. records are read in chunks of CHUNK strands; workers FSM-decode them under the archive's
   set (named in the record names, or given); their bits are spilled to disk and the header
   strands noted;
2. once the header is known, workers parse the spilled bits into (index, payload, valid) and
   the valid rows are spilled again, one file per RaptorQ segment;
3. workers decode one segment each from its rows, and the bytes are written in order.

Candidate choice per index and the outer decoding are those of `archive.decode_found` (the
first valid strand of an index in input order wins, a disagreeing one makes it weak), so the
bytes and the report equal the in-memory decoder's. What this path does not handle (FASTQ
reads, records that are not strands as written, no set named, a pool of several archives, a
custom set) raises `NotStreamable` before anything is written, and the caller decodes in
memory instead.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from itertools import islice
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ..errors import HelixError
from .archive import (CONFIDENT_SUPPORT, DecodeFailure, DecodeReport, Progress,
                      _decode_one_segment, choose_candidates)
from .constraints import ConstraintSet, get_constraints
from .fasta import open_input
from .header import Header, constraint_fingerprint
from .outer import SEGMENT_HASH
from .pool import HEADER_COPIES, _archive_set, _header_bytes, find_archives, parse_id
from .primers import DEFAULT_PREFIX, DEFAULT_SUFFIX
from .spill import BitsSpill, SegmentSpill, SpillDir
from .strands import MIN_CHECK_BITS, StrandLayout

CHUNK = 8_192  # strands per task of passes 1 and 2 (the FSM decode is fastest near this)


class NotStreamable(Exception):
    """This input needs the in-memory decoder (the reason is the message)."""


class ReadsInput(NotStreamable):
    """The input holds reads, not strands as written: the bucketed read decoder
    (`stream_reads`) or the in-memory one."""


WEIGHTED = "helix-reads:"  # record names `helix-reads:<serial> <support> <variants>`


@dataclass(frozen=True)
class LayoutJob:
    """The archive's strand layout as its settings (cheap to send; the FSM tables are built
    on, or inherited by, the worker)."""

    cs: ConstraintSet
    strand_len: int
    prefix: str
    suffix: str

    def layout(self) -> StrandLayout:
        return _layout(self)


@lru_cache(maxsize=4)
def _layout(job: LayoutJob) -> StrandLayout:
    return StrandLayout(job.cs, job.strand_len, job.prefix, job.suffix)


# ---------------------------------------------------------------- the workers' tasks
def read_chunk(job: LayoutJob, strands: list[str]
               ) -> tuple[np.ndarray, np.ndarray, list[tuple[int, Any, int, bytes]]]:
    """Pass 1: (packed bits, ok, header pieces (row in chunk, ID, part, body)) of strands."""
    layout = job.layout()
    bits, ok = layout.read_bits(strands)
    rows = np.flatnonzero(ok).tolist()
    pieces = [(r, *p) for r, p in zip(rows, layout.header_pieces(bits[ok])) if p is not None]
    return np.packbits(bits, axis=1), ok, pieces


def parse_chunk(job: LayoutJob, packed: np.ndarray, ok: np.ndarray, index_bits: int, T: int,
                archive_id: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pass 2: (valid mask, their indices, their payloads) of spilled bits."""
    layout = job.layout()
    bits = np.unpackbits(packed, axis=1, count=layout.bits)
    idx, payload, valid = layout.parse_data_bits(bits, index_bits, T, archive_id)
    valid &= ok
    return valid, idx[valid], payload[valid]


def decode_segment_rows(idx: np.ndarray, payload: np.ndarray, base: int, k: int, r: int,
                        length: int, T: int, s: int, support: np.ndarray, variants: np.ndarray
                        ) -> tuple[bytes | None, dict, int, list[int]]:
    """Pass 3: segment s from its valid rows (input order): (its bytes or None, the decode
    info, indices received, the first five lost), choosing candidates as
    `archive.decode_found` does (`archive.choose_candidates`)."""
    best, weak, trust = choose_candidates(idx, payload, support, variants)
    got, info = _decode_one_segment(best, weak, base, k, r, length, T, s, trust)
    lost = [] if got is not None else [i for i in range(base, base + k + r) if i not in best]
    return got, info, len(best), lost[:5]


# ---------------------------------------------------------------- the parent
@dataclass
class StreamedDecode:
    """What `decode_file` did: the report, bytes written and what became of the records."""

    report: DecodeReport
    size: int
    records: int
    ignored: int
    strand_len: int

    def summary(self) -> str:
        return (f"{self.records} strands: {self.records - self.ignored} used, {self.ignored} "
                f"ignored (foreign or junk); {self.report.candidates} candidate strands of "
                f"{self.strand_len} nt")


@dataclass
class _Pass1:
    job: LayoutJob
    records: int = 0
    ignored: int = 0
    candidates: int = 0
    boot: list | None = None
    pieces: dict | None = None  # ID -> part -> bodies
    header_rows: dict | None = None  # ID -> rows
    parts_found: int = 0  # header parts of the archive decoded
    weights: list | None = None  # (support, variants) arrays of chunks not yet spilled


def decode_file(path: str | Path, out: BinaryIO, constraints: str | ConstraintSet | None = None,
                *, prefix: str = DEFAULT_PREFIX, suffix: str = DEFAULT_SUFFIX,
                workers: int | None = None, dask: str | None = None,
                progress: Progress | None = None, archive_id: int | str | None = None,
                spill_dir: str | None = None, check_mixed: bool = True) -> StreamedDecode:
    """Decode the archive in the FASTA at `path` (a file; `-` is not read twice) into `out`.
    NotStreamable (before anything is written) if the input needs `reads.load_strands` and
    `archive.decode_archive` instead; DecodeFailure as theirs. Records named
    `helix-reads:<serial> <support> <variants>` (what `stream_reads` writes) carry their
    read support and cluster variants, ranked as `archive.decode_found` ranks them.
    `check_mixed`: look for another archive's header among the strands this one does not
    explain (reads' consensus leaves many such strands: `stream_reads` skips it)."""
    from .segment_pool import ordered_map, segment_engine

    want = None if archive_id is None else parse_id(archive_id)
    first, records = _first_chunk(path)
    if len(first) < CHUNK and not dask:
        workers = 1  # the whole input is one chunk: no pool to start
    try:
        with SpillDir(spill_dir) as tmp, segment_engine(workers, dask) as engine:
            job = _job_for(first, constraints, prefix, suffix)
            scan = _Pass1(job, boot=[], pieces={}, header_rows={}, weights=[])
            bits = BitsSpill(tmp.path, (job.layout().bits + 7) // 8)
            for packed, ok, pieces in ordered_map(engine, read_chunk,
                                                  _strand_chunks(first, records, scan)):
                _note_pieces(scan, pieces, bits.rows)
                bits.append(packed, ok, *scan.weights.pop(0))
            key, header = _header_of(scan, archive_id is not None, want, constraints)
            spill = _spill_segments(engine, bits, job, key, header, scan,
                                    path if check_mixed else None)
            return _decode_segments(engine, spill, header, scan, out, progress)
    finally:
        records.close()


def _spill_segments(engine: Any, bits: BitsSpill, job: LayoutJob, key: int | None,
                    header: Header, scan: _Pass1, path: str | Path | None) -> SegmentSpill:
    """Pass 2: the spilled bits parsed on the engine, the valid rows spilled per segment;
    NotStreamable if the rows no strand of the archive explains hold another archive."""
    from .segment_pool import ordered_map

    seg = header.segmentation()
    sizes = [seg.symbols(s) + header.repair(s) for s in range(seg.count)]
    bases = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    spill = SegmentSpill(bits.folder, bases, header.symbol_size)
    explained = np.zeros(bits.rows, dtype=bool)
    explained[scan.header_rows[key]] = True
    weights: list[tuple[np.ndarray, np.ndarray]] = []

    def tasks() -> Iterator[tuple]:
        for _, packed, ok, support, variants in bits.chunks(CHUNK):
            weights.append((support, variants))
            yield job, packed, ok, header.index_bits, header.symbol_size, key

    row = 0
    for valid, idx, payload in ordered_map(engine, parse_chunk, tasks()):
        support, variants = weights.pop(0)
        explained[row:row + len(valid)] |= valid
        row += len(valid)
        spill.append(idx, payload, support[valid], variants[valid])
    bits.close()
    if path is not None:
        _refuse_mixed(path, explained, job.prefix, job.suffix, job)
    return spill


def _first_chunk(path: str | Path) -> tuple[list[tuple[str, str]], Iterator]:
    """The first CHUNK records of a FASTA (upper-cased) and an iterator over the rest."""
    if str(path) == "-":
        raise NotStreamable("standard input is read in memory")
    rest = _Records(path)
    first = list(islice(rest, CHUNK))
    if not first:
        raise NotStreamable("no records")
    return first, rest


def record_weights(name: str) -> tuple[int, int]:
    """(support, variants) a `helix-reads:` record name carries; (CONFIDENT_SUPPORT, 1),
    trusted, for any other name."""
    if name.startswith(WEIGHTED):
        parts = name.split()
        if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
            return int(parts[1]), int(parts[2])
    return CONFIDENT_SUPPORT, 1


class _Records:
    """(name, upper-cased sequence) of each FASTA record, streamed; FASTQ or unreadable input
    raises NotStreamable (the in-memory reader gives the user the right message)."""

    def __init__(self, path: str | Path):
        import dnaio

        self._ctx = open_input(path)
        stream = self._ctx.__enter__()
        try:
            self._reader = dnaio.open(stream, mode="r")
        except Exception as exc:
            self.close()
            raise NotStreamable(str(exc)) from None
        if isinstance(self._reader, dnaio.FastqReader):
            self.close()
            raise ReadsInput("FASTQ reads")
        self._it = iter(self._reader)

    def __iter__(self) -> "_Records":
        return self

    def __next__(self) -> tuple[str, str]:
        try:
            rec = next(self._it)
        except StopIteration:
            self.close()
            raise
        except Exception as exc:
            self.close()
            raise NotStreamable(str(exc)) from None
        return rec.name, rec.sequence.upper()

    def close(self) -> None:
        if self._ctx is not None:
            self._ctx.__exit__(None, None, None)
            self._ctx = None


def _job_for(first: list[tuple[str, str]], constraints: str | ConstraintSet | None,
             prefix: str, suffix: str) -> LayoutJob:
    """The layout to read under: the strands' length (as `reads._as_written` measures it on
    the first chunk) and the given set, else the one the record names name."""
    from .bootstrap import split_bootstrap
    from .reads import _as_written, constraint_hint

    _, rest = split_bootstrap(first)
    written = _as_written(rest, prefix, suffix) if rest else None
    if written is None:
        raise ReadsInput("not strands as written")
    name = constraint_hint(rest[0][0]) if constraints is None else None
    if constraints is None and name is None:
        raise NotStreamable("no constraint set named")
    cs = get_constraints(constraints if constraints is not None else name)
    return LayoutJob(cs, len(written[0]), prefix, suffix)


def _strand_chunks(first: list, rest: Iterator, scan: _Pass1) -> Iterator[tuple]:
    """Tasks of pass 1: chunks of candidate strands (framed, of the layout's length, ACGT);
    other records are counted as ignored, bootstrap strands kept aside."""
    job = scan.job
    records = iter(first)
    chunk: list[str] = []
    weights: list[tuple[int, int]] = []
    for source in (records, rest):
        for name, seq in source:
            if not _framed(seq, job):
                if _bootstrap(seq):
                    scan.boot.append(seq)
                else:
                    scan.records += 1
                    scan.ignored += 1
                continue
            scan.records += 1
            chunk.append(seq)
            weights.append(record_weights(name))
            if len(chunk) == CHUNK:
                yield _checked_chunk(chunk, weights, scan)
                chunk, weights = [], []
    if chunk:
        yield _checked_chunk(chunk, weights, scan)


def _framed(seq: str, job: LayoutJob) -> bool:
    """A candidate strand: the layout's length, both primers whole, no N."""
    return (len(seq) == job.strand_len and seq.startswith(job.prefix)
            and seq.endswith(job.suffix) and "N" not in seq)


def _bootstrap(seq: str) -> bool:
    from .bootstrap import is_bootstrap
    from .primers import reverse_complement

    return is_bootstrap(seq) or is_bootstrap(reverse_complement(seq))


def _checked_chunk(chunk: list[str], weights: list[tuple[int, int]], scan: _Pass1
                   ) -> tuple[LayoutJob, list[str]]:
    """The task of one chunk (its records' weights noted for `BitsSpill`); NotStreamable if
    a strand has letters other than ACGT (the in-memory reader names the record)."""
    if "".join(chunk).encode("ascii", "replace").translate(None, b"ACGT"):
        raise NotStreamable("a record has non-ACGT characters")
    scan.candidates += len(chunk)
    pairs = np.array(weights, dtype=np.int32).reshape(-1, 2)
    scan.weights.append((pairs[:, 0], pairs[:, 1]))
    return scan.job, chunk


def _note_pieces(scan: _Pass1, pieces: list, first_row: int) -> None:
    for row, key, part, body in pieces:
        scan.pieces.setdefault(key, {}).setdefault(part, set()).add(body)
        scan.header_rows.setdefault(key, []).append(first_row + row)


def _header_of(scan: _Pass1, asked: bool, want: int | None,
               constraints: str | ConstraintSet | None) -> tuple[int | None, Header]:
    """The archive's ID and header, as `pool.find_archives` would read them; NotStreamable
    for anything but one archive (or the one asked for) of the layout's own set."""
    from .bootstrap import read_bootstrap, sector_hint

    keys = list(scan.pieces)
    if not keys or (not asked and len(keys) > 1) or (asked and want not in keys):
        raise NotStreamable("no single archive found")
    key = want if asked else keys[0]
    parts = scan.pieces[key]
    if any(len(bodies) > 1 for bodies in parts.values()):
        raise NotStreamable("two headers share an ID")
    layout, cs = scan.job.layout(), scan.job.cs
    if constraints is None and scan.boot:
        sector = sector_hint(read_bootstrap(scan.boot), None if want is None else f"{want:08x}")
        if sector is not None and constraint_fingerprint(sector) != constraint_fingerprint(cs):
            raise NotStreamable("the bootstrap sector names another set")
    try:
        header = Header.unpack(_header_bytes({p: next(iter(b)) for p, b in parts.items()},
                                             layout.header_chunk_of(key)))
        if header.archive_id != key:
            raise HelixError("header ID mismatch")
        data_cs = _archive_set(header, cs, cs)
        header.check_geometry(layout.bits, layout.strand_len, len(layout.prefix),
                              len(layout.suffix), MIN_CHECK_BITS)
    except HelixError as exc:
        raise NotStreamable(str(exc)) from None
    if constraint_fingerprint(data_cs) != constraint_fingerprint(cs):
        raise NotStreamable("a custom set's header")
    scan.parts_found = len(parts)
    return key, header


def _refuse_mixed(path: str | Path, explained: np.ndarray, prefix: str, suffix: str,
                  job: LayoutJob) -> None:
    """NotStreamable if the strands this archive does not explain hold another archive's
    header (a mixed pool: the in-memory decoder says so, or decodes the one asked for)."""
    left = np.flatnonzero(~explained)
    if len(left) < HEADER_COPIES:
        return
    wanted, rows, strands = set(left.tolist()), 0, []
    for _, seq in _Records(path):
        if _framed(seq, job):
            if rows in wanted:
                strands.append(seq)
            rows += 1
    try:
        find_archives(strands, None, prefix, suffix)
    except HelixError:
        return
    raise NotStreamable("another archive's header strands")


def _decode_segments(engine: Any, spill: SegmentSpill, header: Header, scan: _Pass1,
                     out: BinaryIO, progress: Progress | None) -> StreamedDecode:
    """Pass 3: every segment decoded on the engine, its bytes written in order."""
    from .segment_pool import ordered_map

    seg, T = header.segmentation(), header.symbol_size
    digest = hashlib.blake2b(digest_size=SEGMENT_HASH)
    reports, received, size = [], spill.outside, 0
    parts = scan.parts_found

    def tasks() -> Iterator[tuple]:
        for s in range(seg.count):
            idx, payload, support, variants = spill.rows(s)
            k, r = seg.symbols(s), header.repair(s)
            yield (idx, payload, int(spill.bases[s]), k, r, seg.length(s), T, s, support,
                   variants)

    results = ordered_map(engine, decode_segment_rows, tasks())
    for s, (got, info, n_best, lost) in enumerate(results):
        k, r = seg.symbols(s), header.repair(s)
        received += n_best
        reports.append({"segment": s, "source": k, "parity": r, **info,
                        "decoded": got is not None})
        if progress:
            progress("decode", s + 1, seg.count)
        if got is None:
            report = DecodeReport(scan.job.cs.name, scan.candidates, received, parts, reports,
                                  False)
            reason = (f"{info['received']} of {k + r} strands recovered, {k} needed (lost "
                      f"{info['lost']} strands, e.g. indices {lost})"
                      if info["received"] < k + 2 else
                      f"no consistent decode after {info['attempts']} attempts")
            raise DecodeFailure(f"segment {s}: {reason}; nothing written", report)
        out.write(got)
        digest.update(got)
        size += len(got)
    report = DecodeReport(scan.job.cs.name, scan.candidates, received, parts, reports, True)
    if digest.digest() != header.file_hash:
        report.ok = False
        raise DecodeFailure("decoded bytes do not match the archive's file hash; nothing "
                            "written", report)
    return StreamedDecode(report, size, scan.records, scan.ignored, scan.job.strand_len)
