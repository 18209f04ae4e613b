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


# ---------------------------------------------------------------- consensus by voting
#
# Every read of a cluster is aligned (edlib, global) to a reference; each reference base gets
# one vote per read (a base, or "gap" when the read deletes it) and each gap between reference
# bases gets the first inserted base of reads with an insertion there. The majority wins; an
# insertion needs more than half the reads. A tie (e.g. three reads, two different errors at one
# base) is not guessed at: the variants are enumerated and the caller's CRC decides.
# Slots lay a cluster out as gap 0, base 0, gap 1, base 1, ..., gap L (2L + 1 slots).

_MATCH, _INS, _DEL = 0, 1, 2
_GAP = 4  # symbol for "no base" (a deleted base, or no insertion)
_KIND = np.full(256, _MATCH, dtype=np.int8)
_KIND[ord("I")], _KIND[ord("D")] = _INS, _DEL
_CODE = np.full(256, _GAP, dtype=np.uint8)
for _i, _b in enumerate(b"ACGT"):
    _CODE[_b] = _i
_LETTERS = np.frombuffer(b"ACGT", dtype=np.uint8)
BATCH_READS = 20_000  # reads voted on at once (bounds memory)


def consensus_middles(groups: list[list[str]], mid_len: int, max_reads: int = 10,
                      max_alternatives: int = 8,
                      progress: Callable[[int], None] | None = None) -> list[list[str]]:
    """Candidate middles (each exactly mid_len nt, best first) for every cluster of middles."""
    chosen = [sorted(g, key=lambda m: abs(len(m) - mid_len))[:max_reads] for g in groups]
    out: list[list[str]] = [[] for _ in groups]
    multi = [i for i, g in enumerate(chosen) if len(g) >= 2]
    for i, g in enumerate(chosen):
        if len(g) == 1 and len(g[0]) == mid_len:
            out[i] = [g[0]]
    for batch in _batches(multi, chosen):
        variants = _vote_twice([chosen[i] for i in batch], mid_len, max_alternatives)
        for i, found in zip(batch, variants):
            if len(chosen[i]) == 2:  # a tie everywhere the two reads differ: keep the reads
                found = found + [m for m in chosen[i] if len(m) == mid_len]
            out[i] = list(dict.fromkeys(found))
        if progress:
            progress(sum(len(groups[i]) for i in batch))
    return out


def _batches(indices: list[int], chosen: list[list[str]]) -> Iterable[list[int]]:
    """Split cluster indices into batches of about BATCH_READS reads."""
    batch: list[int] = []
    reads = 0
    for i in indices:
        batch.append(i)
        reads += len(chosen[i])
        if reads >= BATCH_READS:
            yield batch
            batch, reads = [], 0
    if batch:
        yield batch


def _vote_twice(groups: list[list[str]], mid_len: int, max_alternatives: int) -> list[list[str]]:
    """Vote against each cluster's first read; vote again against the result where doubtful."""
    first = vote(groups, [g[0] for g in groups], max_alternatives)
    again = [i for i, (g, v) in enumerate(zip(groups, first))
             if len(g) >= 3 and v and (len(v) > 1 or len(v[0]) != mid_len)]
    if again:
        second = vote([groups[i] for i in again], [first[i][0] for i in again], max_alternatives)
        for i, v in zip(again, second):
            first[i] = v
    return [[s for s in v if len(s) == mid_len] for v in first]


def vote(groups: list[list[str]], refs: list[str], max_alternatives: int = 8) -> list[list[str]]:
    """Majority-vote consensus of each group aligned to its ref; tie variants after the first."""
    cigars = [edlib.align(read, ref, task="path")["cigar"]
              for group, ref in zip(groups, refs) for read in group]
    op_len, op_kind, op_aln = _parse_cigars(cigars)
    sizes = np.array([len(g) for g in groups])
    ref_len = np.array([len(r) for r in refs])
    reads = "".join(read for group in groups for read in group)
    counts, inserts = _tally(op_len, op_kind, op_aln, np.repeat(np.arange(len(groups)), sizes),
                             ref_len, _CODE[np.frombuffer(reads.encode("ascii"), np.uint8)])
    choice, options = _decide(counts, inserts, sizes, ref_len)
    return _variants(choice, options, ref_len, max_alternatives)


def _parse_cigars(cigars: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(run length, kind, alignment index) of every run of every extended CIGAR, vectorised."""
    raw = np.frombuffer("".join(cigars).encode("ascii"), dtype=np.uint8)
    is_op = raw > ord("9")
    op_pos = np.flatnonzero(is_op)
    digit_pos = np.flatnonzero(~is_op)
    owner = np.searchsorted(op_pos, digit_pos)  # the op letter each digit's number belongs to
    place = op_pos[owner] - digit_pos - 1
    value = (raw[digit_pos].astype(np.int64) - ord("0")) * np.power(10, place, dtype=np.int64)
    op_len = np.bincount(owner, weights=value, minlength=op_pos.size).astype(np.int64)
    starts = np.cumsum([0] + [len(c) for c in cigars[:-1]])
    op_aln = np.searchsorted(starts, op_pos, side="right") - 1
    return op_len, _KIND[raw[op_pos]], op_aln


def _tally(op_len: np.ndarray, op_kind: np.ndarray, op_aln: np.ndarray, aln_group: np.ndarray,
           ref_len: np.ndarray, read_codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Votes per reference base (R, 5: ACGT + gap) and first inserted bases per gap (R + G, 4)."""
    ref_start = np.concatenate([[0], np.cumsum(ref_len)[:-1]])
    n_groups, total = ref_len.size, int(ref_len.sum())
    kind = np.repeat(op_kind, op_len)  # one entry per alignment column
    col_aln = np.repeat(op_aln, op_len)
    eats_read, eats_ref = kind != _DEL, kind != _INS
    read_pos = np.cumsum(eats_read) - 1
    base = np.where(eats_read, read_codes[np.clip(read_pos, 0, None)], _GAP)
    # reference bases consumed so far within this alignment (each consumes its whole ref)
    aln_ref = ref_len[aln_group]
    aln_ref_start = np.concatenate([[0], np.cumsum(aln_ref)[:-1]])
    local = np.cumsum(eats_ref) - aln_ref_start[col_aln]
    col_group = aln_group[col_aln]
    at = ref_start[col_group[eats_ref]] + local[eats_ref] - 1
    counts = np.bincount(at * 5 + base[eats_ref], minlength=total * 5).reshape(total, 5)
    first_ins = (np.cumsum(op_len) - op_len)[op_kind == _INS]
    gap = ref_start[col_group[first_ins]] + col_group[first_ins] + local[first_ins]
    n_gaps = total + n_groups
    inserts = np.bincount(gap * 4 + base[first_ins], minlength=n_gaps * 4).reshape(n_gaps, 4)
    return counts, inserts


def _decide(counts: np.ndarray, inserts: np.ndarray, sizes: np.ndarray, ref_len: np.ndarray
            ) -> tuple[np.ndarray, dict[int, tuple[int, ...]]]:
    """Winning symbol per slot, and the options of every tied slot (winner first)."""
    n_groups = ref_len.size
    slot_base = 2 * np.concatenate([[0], np.cumsum(ref_len)[:-1]]) + np.arange(n_groups)
    base_slots = (np.repeat(slot_base, ref_len) + 1
                  + 2 * (np.arange(counts.shape[0]) - np.repeat(slot_base // 2, ref_len)
                         + np.repeat(np.arange(n_groups) // 2, ref_len)))
    gap_slots = base_slots_for_gaps(slot_base, ref_len)
    choice = np.full(counts.shape[0] + inserts.shape[0], _GAP, dtype=np.uint8)
    choice[base_slots] = counts.argmax(axis=1)
    ins_total = inserts.sum(axis=1)
    need = np.repeat(sizes, ref_len + 1)
    choice[gap_slots] = np.where(2 * ins_total > need, inserts.argmax(axis=1), _GAP)
    options: dict[int, tuple[int, ...]] = {}
    top = counts.max(axis=1, keepdims=True)
    for row in np.flatnonzero((counts == top).sum(axis=1) > 1).tolist():
        winners = np.flatnonzero(counts[row] == top[row, 0]).tolist()
        options[int(base_slots[row])] = tuple(winners)
    for row in np.flatnonzero((2 * ins_total == need) & (ins_total > 0)).tolist():
        options[int(gap_slots[row])] = (_GAP, int(inserts[row].argmax()))
    return choice, options
