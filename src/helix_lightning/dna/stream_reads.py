"""Decode an archive from sequencing reads (FASTQ, or a FASTA of reads) of any size: the reads
are spilled to buckets on disk and each bucket is clustered and voted on its own, on a
`segment_pool` engine (local processes or Dask); memory holds a few buckets, not the reads.

1. route: reads are cut to payloads and spilled to buckets by their clustering key
   (`read_buckets`; a read whose key carries an error lands away from its strand and is lost);
2. vote: each bucket is clustered and voted (`consensus.cluster_and_vote`); the payload length
   is the one the votes of the largest bucket give (`consensus.voted_length`). Candidates go to
   a FASTA on disk, named `helix-reads:<serial> <support> <variants>`; each bucket's clusters
   are kept on disk for list decoding;
3. header: the candidates are read under the given set, the one the bootstrap sector names, or
   each set most of the first candidates satisfy, until the archive's header turns up;
4. rescue: each bucket's clusters that gave no strand passing the archive's check are
   list-decoded (`list_decode.rescue`), the strands found are added to the FASTA;
5. the FASTA is decoded by `stream_decode.decode_file`, candidates ranked by read support.

What this path does not handle (no header among the candidates: a strand length other than the
voted one, a custom set's header, a pool of several archives) raises `NotStreamable` before
anything is written; the caller decodes in memory instead.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from itertools import chain
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ..errors import HelixError
from .archive import Progress
from .consensus import Candidate, cluster_and_vote
from .constraints import ConstraintSet, get_constraints
from .fasta import iter_sequences
from .header import Header
from .list_decode import rescue
from .primers import DEFAULT_PREFIX, DEFAULT_SUFFIX, reverse_complement
from .read_buckets import (CHUNK_READS, SAMPLE_READS, CutRule, ReadBuckets, cut_rule,
                           route_chunk)
from .spill import SpillDir
from .stream_decode import (WEIGHTED, LayoutJob, NotStreamable, StreamedDecode, _first_chunk,
                            _header_of, _note_pieces, _Pass1, _strand_chunks, decode_file,
                            read_chunk)
from .verifier import data_verifier


# ---------------------------------------------------------------- the workers' tasks
def vote_bucket(middles: list[str], prefix: str, suffix: str, mid_len: int, infer: bool
                ) -> tuple[list[tuple[str, int, int, int]], list[list[str]], int]:
    """(candidates as (strand, support, variants, cluster), clusters, payload length) of one
    bucket's payloads."""
    voted = cluster_and_vote(middles, prefix, suffix, mid_len, infer_length=infer)
    return ([(c.seq, c.support, c.variants, c.cluster) for c in voted.candidates],
            voted.clusters, voted.mid_len)


@dataclass(frozen=True)
class StrandJudge:
    """`verifier.data_verifier` of an archive's geometry, as a picklable callable (a task
    carries it to its worker)."""

    job: LayoutJob
    index_bits: int
    symbol_size: int
    archive_id: int | None
    written: int

    def __call__(self, strands: list[str]) -> np.ndarray:
        return data_verifier(self.job.layout(), self.index_bits, self.symbol_size,
                             self.archive_id, self.written)(strands)


def rescue_bucket(candidates: list[tuple[str, int, int, int]], clusters: list[list[str]],
                  mid_len: int, prefix: str, suffix: str, judge: StrandJudge
                  ) -> list[tuple[str, int, int, int]]:
    """The strands list decoding finds for one bucket's clusters that gave none passing
    `judge` (`list_decode.rescue`)."""
    current = [Candidate(*c) for c in candidates]
    found = rescue(current, clusters, mid_len, prefix, suffix, judge)
    return [(c.seq, c.support, c.variants, c.cluster) for c in found]


# ---------------------------------------------------------------- the parent
@dataclass
class ReadsDecode:
    """What `decode_reads_file` did: the streamed decode of the candidates, and the reads."""

    decoded: StreamedDecode
    reads: int
    used: int
    ignored: int
    candidates: int
    rescued: int
    buckets: int
    largest_bucket: int  # payloads in the largest bucket (what one task holds)

    def summary(self) -> str:
        return (f"{self.reads} reads: {self.used} used, {self.ignored} ignored (foreign or "
                f"junk); {self.candidates} candidate strands of {self.decoded.strand_len} nt"
                + (f" ({self.rescued} by list decoding)" if self.rescued else "")
                + f"; {self.buckets} buckets of at most {self.largest_bucket} payloads")


@dataclass
class _Routed:
    buckets: ReadBuckets
    rule: CutRule
    reads: int = 0
    ignored: int = 0
    boot: list | None = None


def decode_reads_file(path: str | Path, out: BinaryIO, buckets: int,
                      constraints: str | ConstraintSet | None = None, *,
                      prefix: str = DEFAULT_PREFIX, suffix: str = DEFAULT_SUFFIX,
                      workers: int | None = None, dask: str | None = None,
                      progress: Progress | None = None, archive_id: int | str | None = None,
                      spill_dir: str | None = None) -> ReadsDecode:
    """Decode the archive in the reads at `path` (a file) into `out`, clustering them in
    `buckets` buckets spilled to disk (module docstring). NotStreamable (before anything is
    written) if the in-memory decoder is needed; DecodeFailure and HelixError as its."""
    from .segment_pool import segment_engine

    with SpillDir(spill_dir) as tmp:
        with segment_engine(workers, dask) as engine:
            routed = _route(engine, path, tmp.path, buckets, prefix, suffix)
            fasta = tmp.path / "candidates.fa"
            count, mid_len = _vote(engine, routed, fasta, progress)
        cs = constraints if constraints is not None else _sector_set(routed, archive_id)
        # the passes reading strands start their workers once this process has the FSM
        # tables (forked workers share them instead of building their own)
        judge = _find_header(fasta, cs, prefix, suffix, archive_id, workers, dask)
        with segment_engine(workers, dask) as engine:
            rescued = _rescue(engine, routed, fasta, count, mid_len, judge, progress)
        decoded = decode_file(fasta, out, judge.job.cs, prefix=prefix, suffix=suffix,
                              workers=workers, dask=dask, progress=progress,
                              archive_id=archive_id, spill_dir=str(tmp.path),
                              check_mixed=False)
    used = routed.reads - routed.ignored
    return ReadsDecode(decoded, routed.reads, used, routed.ignored, count + rescued, rescued,
                       buckets, int(routed.buckets.sizes.max()))


def _records(path: str | Path, routed: _Routed) -> Iterator[str]:
    """The reads of the input (N read as A, as `reads.recover_reads` does), bootstrap reads
    set aside; HelixError for unreadable input or letters other than ACGTN."""
    for _, seq, _ in iter_sequences(path, allow_n=True, required=False):
        if _is_bootstrap(seq):
            routed.boot.append(seq)
            continue
        routed.reads += 1
        yield seq.replace("N", "A")


def _is_bootstrap(seq: str) -> bool:
    from .bootstrap import is_bootstrap

    return is_bootstrap(seq) or is_bootstrap(reverse_complement(seq))


def _route(engine: Any, path: str | Path, folder: Path, count: int, prefix: str,
           suffix: str) -> _Routed:
    """Pass 1: every read cut and spilled to its bucket (the rule from the first reads)."""
    from itertools import islice

    from .segment_pool import ordered_map

    routed = _Routed(ReadBuckets(folder, count), None, boot=[])  # type: ignore[arg-type]
    reads = _records(path, routed)
    sample = list(islice(reads, SAMPLE_READS))
    if not sample:
        raise HelixError(f"{path}: no reads (only bootstrap strands, or nothing)")
    routed.rule = cut_rule(sample, prefix, suffix)

    def chunks() -> Iterator[tuple]:
        for start in range(0, len(sample), CHUNK_READS):
            yield routed.rule, count, sample[start:start + CHUNK_READS]
        while chunk := list(islice(reads, CHUNK_READS)):
            yield routed.rule, count, chunk

    for middles, where, ignored in ordered_map(engine, route_chunk, chunks()):
        routed.buckets.append(middles, where)
        routed.ignored += ignored
    routed.buckets.close()
    if not routed.buckets.sizes.sum():
        raise HelixError(f"{path}: none of {routed.reads} reads looks like a strand of this "
                         "archive (no primers, or the wrong length); nothing to decode")
    return routed


def _vote(engine: Any, routed: _Routed, fasta: Path, progress: Progress | None
          ) -> tuple[int, int]:
    """Pass 2: every bucket voted (the largest first, for the payload length); candidates
    written to `fasta`, clusters kept beside it. (candidates written, payload length)."""
    from .segment_pool import ordered_map

    store, rule = routed.buckets, routed.rule
    largest = int(store.sizes.argmax())
    first = engine.submit(vote_bucket, store.middles(largest), rule.prefix, rule.suffix,
                          rule.mid_len, True).result()
    mid_len = first[2]
    order = [b for b in range(store.count) if store.sizes[b] and b != largest]
    tasks = ((store.middles(b), rule.prefix, rule.suffix, mid_len, False) for b in order)
    written = 0
    with open(fasta, "w") as out:
        for n, (b, (cands, clusters, _)) in enumerate(
                zip([largest] + order, chain([first], ordered_map(engine, vote_bucket, tasks)))):
            written = _write(out, cands, written)
            with open(_clusters_path(store, b), "wb") as f:
                pickle.dump((cands, clusters), f, protocol=pickle.HIGHEST_PROTOCOL)
            store.remove(b)
            if progress:
                progress("consensus", n + 1, len(order) + 1)
    if not written:
        raise HelixError("no consensus strand from the reads; nothing to decode")
    return written, mid_len


def _clusters_path(store: ReadBuckets, b: int) -> Path:
    return store.folder / f"clusters-{b:05d}.pkl"


def _write(out: Any, cands: list[tuple[str, int, int, int]], serial: int) -> int:
    """Candidates appended to the FASTA as weighted records; the next serial."""
    out.write("".join(f">{WEIGHTED}{serial + i:09d} {n} {v}\n{seq}\n"
                      for i, (seq, n, v, _) in enumerate(cands)))
    return serial + len(cands)


def _sector_set(routed: _Routed, archive_id: int | str | None) -> ConstraintSet | None:
    """The constraint set the bootstrap reads' sector names, if any."""
    if not routed.boot:
        return None
    from .bootstrap import read_bootstrap, sector_hint

    return sector_hint(read_bootstrap(routed.boot), archive_id)


def _find_header(fasta: Path, cs: str | ConstraintSet | None, prefix: str, suffix: str,
                 archive_id: int | str | None, workers: int | None, dask: str | None
                 ) -> StrandJudge:
    """Pass 3: the archive's header among the candidates, read under `cs` or each set most of
    the first candidates satisfy; its geometry as a judge of strands. NotStreamable if none
    is found."""
    from .pool import _header_candidates, parse_id
    from .segment_pool import ordered_map, segment_engine

    want = None if archive_id is None else parse_id(archive_id)
    first, records = _first_chunk(fasta)
    records.close()
    sets = ([get_constraints(cs)] if cs is not None else
            [s for s, only_valid, _ in _header_candidates([q for _, q in first], None)
             if not only_valid])
    for candidate_set in sets:
        first, records = _first_chunk(fasta)
        try:
            job = LayoutJob(candidate_set, len(first[0][1]), prefix, suffix)
            job.layout()  # the tables, before the workers start
            scan = _Pass1(job, boot=[], pieces={}, header_rows={}, weights=[])
            row = 0
            with segment_engine(workers, dask) as engine:
                for _, ok, pieces in ordered_map(engine, read_chunk,
                                                 _strand_chunks(first, records, scan)):
                    _note_pieces(scan, pieces, row)
                    row += len(ok)
            key, header = _header_of(scan, archive_id is not None, want, candidate_set)
        except NotStreamable:
            continue
        finally:
            records.close()
        return _judge(job, key, header)
    raise NotStreamable("no header among the reads' candidates")


def _judge(job: LayoutJob, key: int | None, header: Header) -> StrandJudge:
    return StrandJudge(job, header.index_bits, header.symbol_size, key,
                       header.strands_written())


def _rescue(engine: Any, routed: _Routed, fasta: Path, serial: int, mid_len: int,
            judge: StrandJudge, progress: Progress | None) -> int:
    """Pass 4: every bucket's failed clusters list-decoded; strands found appended to
    `fasta`. How many."""
    from .segment_pool import ordered_map

    store, rule = routed.buckets, routed.rule
    done = [b for b in range(store.count) if store.sizes[b]]

    def tasks() -> Iterator[tuple]:
        for b in done:
            with open(_clusters_path(store, b), "rb") as f:
                cands, clusters = pickle.load(f)
            yield cands, clusters, mid_len, rule.prefix, rule.suffix, judge

    start = serial
    with open(fasta, "a") as out:
        for n, found in enumerate(ordered_map(engine, rescue_bucket, tasks())):
            serial = _write(out, found, serial)
            _clusters_path(store, done[n]).unlink()
            if progress:
                progress("list decoding", n + 1, len(done))
    return serial - start
