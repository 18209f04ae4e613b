"""Reads back to candidate strands: orient and trim, cluster by strand, take a consensus.

1. Orientation: a forward read starts with the prefix primer and ends with the suffix primer;
   a reverse-complemented one starts with rc(suffix) and ends with rc(prefix). Primers are
   found near the read ends (exact match first, edlib HW alignment as fallback); reads with no
   primer pair in either orientation are dropped. What lies between the primers is the middle.
2. Clustering: every middle gets k-mer keys at fixed offsets from its start and from its end
   (anchored to the primers, so indels elsewhere do not shift them). Reads adjacent in a sorted
   bucket of equal keys are linked if they share a second key or are close in edit distance;
   clusters are the connected components. No all-pairs comparison.
3. Consensus: up to `max_reads` middles per cluster (closest to the expected length first) are
   aligned to a reference read (edlib) and vote base by base, indels included. Where the vote
   is doubtful (a tie, or a winner of the wrong length) it is repeated against the winner and
   then other reads. Ties are enumerated into a few variants instead of guessed. A single read
   is its own candidate; a pair of reads also returns both reads. Every candidate has the
   expected length; clusters with none give nothing.

A true strand may come back as several candidates (split clusters); the caller keeps the
CRC-valid one with the highest support. `recover_strands` does all three steps on reads that
carry both primers; `recover_middles` does steps 2 and 3 on payloads a caller has cut itself
(`dna.reads` does so for reads with partial, trimmed or read-through primers).
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Iterable

import edlib
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ..errors import HelixError
from .primers import reverse_complement
from .regroup import join_small_clusters

KMER = 12
KEY_OFFSETS = (0, 12, 24, 36)   # taken from the start and (mirrored) from the end of a middle
PRIMER_SLACK = 8                # extra bases searched beyond the primer length at each read end
MAX_LEN_DEVIATION = 12          # middles further than this from the expected length are dropped
PROGRESS_EVERY = 5000           # reads trimmed between progress calls

_MATCH, _INS, _DEL = 0, 1, 2
_GAP = 4  # symbol for "no base" (a deleted base, or no insertion)
_KIND = np.full(256, _MATCH, dtype=np.int8)
_KIND[ord("I")], _KIND[ord("D")] = _INS, _DEL
_CODE = np.full(256, _GAP, dtype=np.uint8)
for _i, _b in enumerate(b"ACGT"):
    _CODE[_b] = _i
_LETTERS = np.frombuffer(b"ACGT", dtype=np.uint8)


@dataclass
class Candidate:
    """A candidate strand: exactly strand_len nt, forward orientation, primers included."""

    seq: str
    support: int
    variants: int = 1  # candidates its cluster gave (ties, pairs): > 1 means less confident
    cluster: int = -1  # which read cluster gave it (`cluster_and_vote`), -1 if unknown


@dataclass(frozen=True)
class _Primers:
    """Primer pair, their reverse complements and the search tolerance."""

    prefix: str
    suffix: str
    max_dist: int
    rc_prefix: str = ""
    rc_suffix: str = ""

    @classmethod
    def of(cls, prefix: str, suffix: str) -> "_Primers":
        return cls(prefix, suffix, max(2, len(prefix) // 4),
                   reverse_complement(prefix), reverse_complement(suffix))


def recover_strands(reads: Iterable[str], prefix: str, suffix: str, strand_len: int,
                    progress: Callable[[int, int], None] | None = None,
                    max_reads: int = 10, max_alternatives: int = 8) -> list[Candidate]:
    """Candidate strands from raw reads (either orientation, primers included).

    At most `max_reads` reads per cluster (closest to the expected length first) are voted on;
    a cluster whose vote has ties yields up to `max_alternatives` variants (a pair of reads
    also both reads), all with the cluster's read count as support. `progress(done, total)` is
    called now and then with work units: total is twice the number of reads (one unit per read
    trimmed, one per read whose cluster was voted on).
    """
    mid_len = strand_len - len(prefix) - len(suffix)
    _check_arguments(mid_len, prefix, suffix, max_reads, max_alternatives)
    reads = list(reads)
    total = 2 * len(reads)
    done = [0]

    def advance(units: int) -> None:
        done[0] += units
        if progress:
            progress(done[0], total)

    primers = _Primers.of(prefix, suffix)
    middles = _trim_all(reads, primers, mid_len, advance)
    advance(len(reads) - len(middles))  # dropped reads need no consensus
    candidates = cluster_and_vote(middles, prefix, suffix, mid_len, max_reads, max_alternatives,
                                  advance).candidates
    if progress:
        progress(total, total)
    return candidates


def recover_middles(middles: list[str], prefix: str, suffix: str, mid_len: int,
                    progress: Callable[[int, int], None] | None = None,
                    max_reads: int = 10, max_alternatives: int = 8) -> list[Candidate]:
    """Candidate strands from reads already oriented and cut to what lies between the primers.

    The second half of `recover_strands` (clustering and voting), for callers that locate the
    primers themselves; the primers are put back on every candidate. `progress(done, total)`
    counts middles voted on.
    """
    _check_arguments(mid_len, prefix, suffix, max_reads, max_alternatives)
    done = [0]

    def advance(units: int) -> None:
        done[0] += units
        if progress:
            progress(done[0], len(middles))

    return cluster_and_vote(middles, prefix, suffix, mid_len, max_reads, max_alternatives,
                            advance).candidates


def _check_arguments(mid_len: int, prefix: str, suffix: str, max_reads: int,
                     max_alternatives: int) -> None:
    if mid_len - MAX_LEN_DEVIATION < KMER + max(KEY_OFFSETS) or not prefix or not suffix:
        raise HelixError(f"recover_strands: strand_len {mid_len + len(prefix) + len(suffix)} "
                         "leaves too little room between primers")
    if max_reads < 1 or max_alternatives < 1:
        raise HelixError("recover_strands: max_reads and max_alternatives must be >= 1")


@dataclass
class Voted:
    """What `cluster_and_vote` found: candidates (each naming its cluster), the clusters'
    middles, and the payload length the candidates have."""

    candidates: list[Candidate]
    clusters: list[list[str]]
    mid_len: int


def cluster_and_vote(middles: list[str], prefix: str, suffix: str, mid_len: int,
                     max_reads: int = 10, max_alternatives: int = 8,
                     advance: Callable[[int], None] | None = None, *,
                     infer_length: bool = False) -> Voted:
    """Cluster the middles, vote within each cluster, put the primers back. With
    `infer_length`, `mid_len` is only a guess: the length is the one most votes of large
    clusters give (`voted_length`), which indels in the reads do not shift."""
    members = join_small_clusters(middles, cluster_middles(middles))
    clusters = [[middles[j] for j in group] for group in members]
    if infer_length:
        mid_len = voted_length(clusters, mid_len)
    found = consensus_middles(clusters, mid_len, max_reads, max_alternatives, advance)
    return Voted([Candidate(prefix + mid + suffix, len(group), len(mids), c)
                  for c, (group, mids) in enumerate(zip(clusters, found)) for mid in mids],
                 clusters, mid_len)


LENGTH_SAMPLE = 300     # clusters voted on to measure the payload length
LENGTH_MIN_READS = 4    # reads a cluster needs to be measured (fewer: 3)


def voted_length(clusters: list[list[str]], guess: int) -> int:
    """The most common length of the vote winners of up to LENGTH_SAMPLE clusters of at least
    LENGTH_MIN_READS reads (3 if there are too few such clusters; `guess` if none). Reads
    with more deletions than insertions are short on average, so their most common length
    undershoots; a majority vote restores most deleted bases and drops most inserted ones
    (voted twice: the second time against the first winners, not a read with its own
    deletions)."""
    for least in (LENGTH_MIN_READS, 3):
        big = [g[:10] for g in clusters if len(g) >= least][:LENGTH_SAMPLE]
        if len(big) >= 20 or (least == 3 and big):
            break
    else:
        return guess
    refs = [min(g, key=lambda m: abs(len(m) - guess)) for g in big]
    winners, _ = vote(big, refs, guess)
    winners, _ = vote(big, winners, guess)  # again, against the first winners
    return Counter(len(w) for w in winners).most_common(1)[0][0]


# ---------------------------------------------------------------- orientation and trimming

def _trim_all(reads: list[str], primers: _Primers, mid_len: int,
              advance: Callable[[int], None]) -> list[str]:
    """Forward-oriented middles of all reads that have a primer pair of about the right length."""
    middles = []
    for i, read in enumerate(reads, 1):
        mid = orient_and_trim(read, primers)
        if mid is not None and abs(len(mid) - mid_len) <= MAX_LEN_DEVIATION:
            middles.append(mid)
        if i % PROGRESS_EVERY == 0:
            advance(PROGRESS_EVERY)
    advance(len(reads) % PROGRESS_EVERY)
    return middles


def orient_and_trim(read: str, primers: _Primers) -> str | None:
    """The region between the primers, forward orientation; None if no primer pair is found."""
    head = read[:len(primers.prefix) + PRIMER_SLACK]
    reverse_first = primers.prefix not in head and (
        primers.rc_suffix in head or _distance(primers.rc_suffix, head)
        < _distance(primers.prefix, head))
    for reverse in (reverse_first, not reverse_first):
        if reverse:
            found = _trim(read, primers.rc_suffix, primers.rc_prefix, primers.max_dist)
            if found is not None:
                return reverse_complement(found)
        else:
            found = _trim(read, primers.prefix, primers.suffix, primers.max_dist)
            if found is not None:
                return found
    return None


def _distance(primer: str, window: str) -> int:
    """Edit distance of the primer's best match inside window."""
    return edlib.align(primer, window, mode="HW", task="distance")["editDistance"]


def _trim(read: str, head: str, tail: str, max_dist: int) -> str | None:
    """The middle if `head` starts and `tail` ends the read (within max_dist edits each)."""
    found = _locate(head, read[:len(head) + PRIMER_SLACK], max_dist)
    if found is None:
        return None
    start = found[1]
    tail_from = max(start, len(read) - len(tail) - PRIMER_SLACK)
    found_tail = _locate(tail, read[tail_from:], max_dist)
    if found_tail is None:
        return None
    end = tail_from + found_tail[0]
    return read[start:end] if end > start else None


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
    """Group middles (indices) by strand.

    Reads are linked when they share a k-mer key and either share a second key or are within
    edit distance max_dist_frac * length; clusters are the connected components.
    """
    if not middles:
        return []
    n = len(middles)
    keys = _key_matrix(middles)
    first, second = _key_edges(keys)
    sure = (keys[first] == keys[second]).sum(axis=1) >= 2  # 2 shared 12-mers: never by chance
    pair = np.unique(first[~sure] * n + second[~sure])
    close = np.array([_close(middles[a], middles[b], max_dist_frac)
                      for a, b in zip((pair // n).tolist(), (pair % n).tolist())], dtype=bool)
    first = np.concatenate([first[sure], (pair // n)[close]])
    second = np.concatenate([second[sure], (pair % n)[close]])
    graph = coo_matrix((np.ones(first.size, dtype=np.int32), (first, second)), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    order = np.argsort(label, kind="stable")
    cuts = np.flatnonzero(np.diff(label[order])) + 1
    return [part.tolist() for part in np.split(order, cuts)]


def _close(a: str, b: str, max_dist_frac: float) -> bool:
    """Edit distance of a and b at most max_dist_frac times the longer length."""
    bound = int(max_dist_frac * max(len(a), len(b)))
    return edlib.align(a, b, task="distance", k=bound)["editDistance"] >= 0


def _key_matrix(middles: list[str]) -> np.ndarray:
    """(n, slots) int64 k-mer keys at KEY_OFFSETS from the start and from the end of each middle."""
    width = max(KEY_OFFSETS) + KMER
    head = _codes("".join(m[:width] for m in middles)).reshape(len(middles), width)
    tail = _codes("".join(m[-width:] for m in middles)).reshape(len(middles), width)
    weights = 4 ** np.arange(KMER - 1, -1, -1, dtype=np.int64)
    cols = [np.minimum(head[:, o:o + KMER], 3) @ weights for o in KEY_OFFSETS]
    cols += [np.minimum(tail[:, width - o - KMER:width - o], 3) @ weights for o in KEY_OFFSETS]
    return np.stack(cols, axis=1)


def _key_edges(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Read pairs adjacent in a bucket of equal keys (a chain per bucket and slot)."""
    firsts, seconds = [], []
    for slot in range(keys.shape[1]):
        order = np.argsort(keys[:, slot], kind="stable")
        same = keys[order[1:], slot] == keys[order[:-1], slot]
        firsts.append(order[:-1][same])
        seconds.append(order[1:][same])
    return np.concatenate(firsts), np.concatenate(seconds)


def _codes(text: str) -> np.ndarray:
    """ASCII bases to codes 0-3 (anything else: _GAP)."""
    return _CODE[np.frombuffer(text.encode("ascii", "replace"), dtype=np.uint8)]


# ---------------------------------------------------------------- consensus by voting
#
# Every read of a cluster is aligned (edlib, global) to a reference; each reference base gets
# one vote per read (a base, or "gap" when the read deletes it) and each gap between reference
# bases gets the first inserted base of reads with an insertion there. The majority wins; an
# insertion needs more than half the reads. A tie (e.g. three reads, two different errors at one
# base) is not guessed at: the variants are enumerated and the caller's check decides.
# Slots lay a cluster out as gap 0, base 0, gap 1, base 1, ..., gap L (2L + 1 slots).

BATCH_READS = 20_000  # reads voted on at once (bounds memory)


def consensus_middles(groups: list[list[str]], mid_len: int, max_reads: int = 10,
                      max_alternatives: int = 8,
                      progress: Callable[[int], None] | None = None) -> list[list[str]]:
    """Candidate middles (each exactly mid_len nt, best first) for every cluster of middles.

    `progress(units)` is told how many reads each finished batch of clusters held.
    """
    chosen = [sorted(g, key=lambda m: abs(len(m) - mid_len))[:max_reads] for g in groups]
    out: list[list[str]] = [[] for _ in groups]
    multi = [i for i, g in enumerate(chosen) if len(g) >= 2]
    for i, g in enumerate(chosen):
        if len(g) == 1 and len(g[0]) == mid_len:
            out[i] = [g[0]]
    if progress:
        progress(sum(len(g) for g in groups) - sum(len(groups[i]) for i in multi))
    for batch in _batches(multi, chosen):
        variants = _vote_rounds([chosen[i] for i in batch], mid_len, max_alternatives)
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


def _vote_rounds(groups: list[list[str]], mid_len: int, max_alternatives: int
                 ) -> list[list[str]]:
    """Vote against each cluster's first read; where doubtful, again against other references.

    Doubtful: no winner of the right length, or ties. The later references are the first
    round's winner, then the second and third reads; variants of all rounds are kept.
    """
    primary, variants = vote(groups, [g[0] for g in groups], mid_len, max_alternatives)
    results = [list(v) for v in variants]
    doubtful = [i for i, (g, v) in enumerate(zip(groups, variants))
                if len(g) >= 3 and len(v) != 1]
    for pick in (lambda i: primary[i], lambda i: groups[i][1], lambda i: groups[i][2]):
        todo = [i for i in doubtful if pick(i)]
        if not todo:
            break
        _, again = vote([groups[i] for i in todo], [pick(i) for i in todo], mid_len,
                        max_alternatives)
        for i, v in zip(todo, again):
            results[i] = list(dict.fromkeys(results[i] + v))[:max_alternatives]
        doubtful = [i for i, v in zip(todo, again) if len(v) != 1]
    return results


def vote(groups: list[list[str]], refs: list[str], length: int, max_alternatives: int = 8
         ) -> tuple[list[str], list[list[str]]]:
    """Majority-vote consensus of every group of reads aligned to its ref.

    Returns the winning sequence per group and, per group, the sequences of exactly `length`
    nt among the winner and (if the ties allow at most 4 * max_alternatives spellings) its tie
    variants, at most max_alternatives, winner first.
    """
    cigars = [f"{len(ref)}=" if read is ref else edlib.align(read, ref, task="path")["cigar"]
              for group, ref in zip(groups, refs) for read in group]
    op_len, op_kind, op_aln = _parse_cigars(cigars)
    sizes = np.array([len(g) for g in groups])
    ref_len = np.array([len(r) for r in refs])
    reads = "".join(read for group in groups for read in group)
    counts, inserts = _tally(op_len, op_kind, op_aln, np.repeat(np.arange(len(groups)), sizes),
                             ref_len, _codes(reads))
    choice, options = _decide(counts, inserts, sizes, ref_len)
    return _variants(choice, options, ref_len, length, max_alternatives)


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
    group_ids = np.arange(ref_len.size)
    # base r (global) of group g sits in slot 2r + g + 1; gap q (global) in slot 2q - g
    base_slots = 2 * np.arange(counts.shape[0]) + np.repeat(group_ids, ref_len) + 1
    gap_slots = 2 * np.arange(inserts.shape[0]) - np.repeat(group_ids, ref_len + 1)
    choice = np.full(counts.shape[0] + inserts.shape[0], _GAP, dtype=np.uint8)
    choice[base_slots] = counts.argmax(axis=1)
    ins_total = inserts.sum(axis=1)
    need = np.repeat(sizes, ref_len + 1)
    choice[gap_slots] = np.where(2 * ins_total > need, inserts.argmax(axis=1), _GAP)
    options: dict[int, tuple[int, ...]] = {}
    top = counts.max(axis=1, keepdims=True)
    for row in np.flatnonzero((counts == top).sum(axis=1) > 1).tolist():
        options[int(base_slots[row])] = tuple(np.flatnonzero(counts[row] == top[row, 0]).tolist())
    for row in np.flatnonzero((2 * ins_total == need) & (ins_total > 0)).tolist():
        options[int(gap_slots[row])] = (_GAP, int(inserts[row].argmax()))
    return choice, options


def _variants(choice: np.ndarray, options: dict[int, tuple[int, ...]], ref_len: np.ndarray,
              length: int, max_alternatives: int) -> tuple[list[str], list[list[str]]]:
    """Per group: the winning spelling, and the right-length spellings (winner, tie variants).

    Ties are enumerated only if they allow at most 4 * max_alternatives spellings.
    """
    ends = np.cumsum(2 * ref_len + 1).tolist()
    tied = sorted(options)
    primary, variants = [], []
    lo = 0
    for a, b in zip([0] + ends[:-1], ends):
        hi = bisect.bisect_left(tied, b, lo)
        seg = choice[a:b]
        best = _spell(seg)
        found = [best] if len(best) == length else []
        ties = [(s - a, options[s]) for s in tied[lo:hi]]
        if ties and math.prod(len(o) for _, o in ties) <= 4 * max_alternatives:
            found = _enumerate(seg.copy(), ties, length)[:max_alternatives]
        primary.append(best)
        variants.append(found)
        lo = hi
    return primary, variants


def _enumerate(seg: np.ndarray, ties: list[tuple[int, tuple[int, ...]]], length: int) -> list[str]:
    """Spellings of exactly `length` nt of seg over all combinations of tie options."""
    slots = [slot for slot, _ in ties]
    found = []
    for combo in itertools.product(*(opts for _, opts in ties)):
        seg[slots] = combo
        spelled = _spell(seg)
        if len(spelled) == length:
            found.append(spelled)
    return found


def _spell(seg: np.ndarray) -> str:
    """Slots to a base string (gaps dropped)."""
    return _LETTERS[seg[seg != _GAP]].tobytes().decode("ascii")
