"""Reads back to candidate strands: orient and trim, cluster by strand, take a consensus.

1. Orientation: a forward read starts with the prefix primer and ends with the suffix primer;
   a reverse-complemented one starts with rc(suffix) and ends with rc(prefix). Primers are
   found near the read ends (exact match first, edlib HW alignment as fallback); reads with no
   primer pair in either orientation are dropped. What lies between the primers is the middle.
2. Clustering: every middle gets a few k-mer keys at fixed offsets from its start and from its
   end; reads sharing a key are joined (union-find) if their edit distance is small. Keys
   anchored to the primers survive indels elsewhere in the read; no all-pairs comparison.
3. Consensus: a partial-order alignment (pyspoa) of up to `max_poa_reads` middles per cluster,
   trimmed at the ends to bases covered by a majority; clusters of 1-2 reads return their
   reads of the right length. Candidates whose middle has the wrong length are dropped.

A true strand may come back as several candidates (split clusters); the caller keeps the
CRC-valid one with the highest support.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Callable, Iterable

import edlib
import numpy as np

from ..errors import HelixError
from .primers import reverse_complement

KMER = 12
KEY_OFFSETS = (0, 14, 28)       # taken from the start and (mirrored) from the end of a middle
PRIMER_SLACK = 8                # extra bases searched beyond the primer length at each read end
MAX_LEN_DEVIATION = 12          # middles further than this from the expected length are dropped
PROGRESS_EVERY = 2000


@dataclass
class Candidate:
    """A candidate strand: exactly strand_len nt, forward orientation, primers included."""

    seq: str
    support: int


@dataclass(frozen=True)
class _Primers:
    """Primer pair and the search settings derived from it."""

    prefix: str
    suffix: str
    max_dist: int

    @property
    def rc_prefix(self) -> str:
        return reverse_complement(self.prefix)

    @property
    def rc_suffix(self) -> str:
        return reverse_complement(self.suffix)


def recover_strands(reads: Iterable[str], prefix: str, suffix: str, strand_len: int,
                    progress: Callable[[int, int], None] | None = None,
                    max_poa_reads: int = 10) -> list[Candidate]:
    """Candidate strands from raw reads (either orientation, primers included).

    `progress(done, total)` is called now and then with work units: total is twice the number
    of reads (one unit per read trimmed, one per read whose cluster got its consensus).
    """
    mid_len = strand_len - len(prefix) - len(suffix)
    if mid_len <= KMER or not prefix or not suffix:
        raise HelixError(
            f"recover_strands: strand_len {strand_len} leaves no room between the primers")
    reads = list(reads)
    total = 2 * len(reads)
    report = progress or (lambda done, tot: None)
    primers = _Primers(prefix, suffix, max_dist=max(2, len(prefix) // 4))
    middles = _trim_all(reads, primers, mid_len, report, total)
    clusters = cluster_middles(middles)
    candidates: list[Candidate] = []
    done = len(reads)
    for i, members in enumerate(clusters):
        group = [middles[j] for j in members]
        candidates.extend(Candidate(prefix + mid + suffix, len(group))
                          for mid in consensus_middles(group, mid_len, max_poa_reads))
        done += len(group)
        if i % PROGRESS_EVERY == 0:
            report(done, total)
    report(total, total)
    return candidates


# ---------------------------------------------------------------- orientation and trimming

def _trim_all(reads: list[str], primers: _Primers, mid_len: int,
              report: Callable[[int, int], None], total: int) -> list[str]:
    """Forward-oriented middles of all reads that have a primer pair."""
    middles = []
    for i, read in enumerate(reads):
        mid = orient_and_trim(read, primers)
        if mid is not None and abs(len(mid) - mid_len) <= MAX_LEN_DEVIATION:
            middles.append(mid)
        if i % (PROGRESS_EVERY * 10) == 0:
            report(i, total)
    report(len(reads), total)
    return middles


def orient_and_trim(read: str, primers: _Primers) -> str | None:
    """The region between the primers, forward orientation; None if no primer pair is found."""
    fwd = _trim(read, primers.prefix, primers.suffix, primers.max_dist)
    if fwd is not None and fwd[1] == 0:
        return fwd[0]
    rev = _trim(read, primers.rc_suffix, primers.rc_prefix, primers.max_dist)
    if rev is not None and (fwd is None or rev[1] < fwd[1]):
        return reverse_complement(rev[0])
    return fwd[0] if fwd is not None else None


def _trim(read: str, head: str, tail: str, max_dist: int) -> tuple[str, int] | None:
    """(middle, primer edit distance) if `head` starts and `tail` ends the read."""
    head_win = read[:len(head) + PRIMER_SLACK]
    found = _locate(head, head_win, max_dist)
    if found is None:
        return None
    start, d_head = found[1], found[2]
    tail_from = max(start, len(read) - len(tail) - PRIMER_SLACK)
    found_tail = _locate(tail, read[tail_from:], max_dist)
    if found_tail is None:
        return None
    end = tail_from + found_tail[0]
    if end <= start:
        return None
    return read[start:end], d_head + found_tail[2]


def _locate(primer: str, window: str, max_dist: int) -> tuple[int, int, int] | None:
    """(start, end exclusive, edit distance) of the primer's best match in window, or None."""
    at = window.find(primer)
    if at >= 0:
        return at, at + len(primer), 0
    res = edlib.align(primer, window, mode="HW", task="locations", k=max_dist)
    if res["editDistance"] < 0:
        return None
    start, end = res["locations"][0]
    return start, end + 1, res["editDistance"]


# ---------------------------------------------------------------- clustering

def cluster_middles(middles: list[str], max_dist_frac: float = 0.25) -> list[list[int]]:
    """Group middles by strand: shared k-mer key and edit distance <= max_dist_frac * length."""
    parent = list(range(len(middles)))

    def find(x: int) -> int:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    for bucket in _buckets(middles):
        rep = bucket[0]
        rep_seq = middles[rep]
        bound = int(max_dist_frac * len(rep_seq))
        for other in bucket[1:]:
            a, b = find(rep), find(other)
            if a == b:
                continue
            dist = edlib.align(middles[other], rep_seq, task="distance", k=bound)["editDistance"]
            if dist >= 0:
                parent[b] = a
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(len(middles)):
        groups[find(i)].append(i)
    return list(groups.values())


def _buckets(middles: list[str]) -> Iterable[list[int]]:
    """Read-index lists sharing a k-mer key (only buckets with at least two reads)."""
    table: dict[str, list[int]] = defaultdict(list)
    for i, mid in enumerate(middles):
        for key in _keys(mid):
            table[key].append(i)
    return (b for b in table.values() if len(b) > 1)


def _keys(mid: str) -> list[str]:
    """K-mers at fixed offsets from both ends, tagged with their slot so slots never mix."""
    n = len(mid)
    keys = [f"{slot}{mid[o:o + KMER]}" for slot, o in enumerate(KEY_OFFSETS)]
    keys += [f"{slot}-{mid[n - o - KMER:n - o]}" for slot, o in enumerate(KEY_OFFSETS)]
    return keys


# ---------------------------------------------------------------- consensus

def consensus_middles(group: list[str], mid_len: int, max_poa_reads: int = 10) -> list[str]:
    """Consensus middle(s) of one cluster, each exactly mid_len long (maybe none)."""
    if len(group) < 3:
        return list(dict.fromkeys(m for m in group if len(m) == mid_len))
    # reads without a net indel first: they agree best with the true strand
    chosen = sorted(group, key=lambda m: abs(len(m) - mid_len))[:max_poa_reads]
    cons = _poa(chosen)
    if len(cons) == mid_len:
        return [cons]
    exact = [m for m in group if len(m) == mid_len]
    return [column_vote(exact)] if exact else []


def _poa(seqs: list[str]) -> str:
    """Partial-order-alignment consensus, ends trimmed to majority coverage."""
    from spoa import poa

    cons, _ = poa(seqs, algorithm=1, genmsa=False, min_coverage=len(seqs) // 2 + 1)
    return cons


def column_vote(seqs: list[str]) -> str:
    """Per-column majority of equal-length sequences (ties go to the first base in ACGT)."""
    arr = np.frombuffer("".join(seqs).encode("ascii"), dtype=np.uint8).reshape(len(seqs), -1)
    letters = np.frombuffer(b"ACGT", dtype=np.uint8)
    counts = np.stack([(arr == c).sum(axis=0) for c in letters])
    return letters[counts.argmax(axis=0)].tobytes().decode("ascii")
