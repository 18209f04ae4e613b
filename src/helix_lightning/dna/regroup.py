"""Join small read clusters to the cluster of their strand: a second look for reads whose
anchored keys (`consensus.cluster_middles`) all carried an error.

The first clustering keys every read by k-mers at fixed offsets from its ends; a read with
errors in or before every key (an indel near a primer shifts all keys on that side) matches
none and stays alone or in a pair, and its strand loses a read it needed at low coverage.
Here the reads of small clusters, and two reads of every larger cluster, are keyed by all
their k-mers (at any offset: indels cannot shift them); two clusters sharing at least
MIN_SHARED k-mers, at least one of them small, whose reads are close in edit distance, are
joined. Buckets of very common k-mers (low complexity) are skipped.
"""

from __future__ import annotations

import edlib
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

SMALL = 2            # clusters of at most this many reads are looked at again
KMER = 12
MIN_SHARED = 4       # k-mers two clusters must share to be compared
MAX_BUCKET = 16      # reads sharing one k-mer beyond which the k-mer says nothing
MAX_DIST_FRAC = 0.25  # edit distance (of the longer read) under which two reads are one strand
_CODE = np.zeros(256, dtype=np.int64)  # A (and anything else) 0, C 1, G 2, T 3
_CODE[np.frombuffer(b"CGT", dtype=np.uint8)] = (1, 2, 3)


def join_small_clusters(middles: list[str], clusters: list[list[int]]) -> list[list[int]]:
    """The clusters (lists of indices into middles) with small ones joined (module docstring)."""
    small = [c for c, members in enumerate(clusters) if len(members) <= SMALL]
    if not small or len(clusters) < 2:
        return clusters
    pool = [j for members in clusters for j in members[:SMALL]]
    owner = np.array([c for c, members in enumerate(clusters) for _ in members[:SMALL]])
    is_small = np.zeros(len(clusters), dtype=bool)
    is_small[small] = True
    kmers, read = _all_kmers([middles[j] for j in pool])
    a, b = _bucket_pairs(kmers, read)
    ca, cb = owner[a], owner[b]
    keep = (ca != cb) & (is_small[ca] | is_small[cb])
    lo, hi = np.minimum(ca[keep], cb[keep]), np.maximum(ca[keep], cb[keep])
    n = len(clusters)
    pairs, shared = np.unique(lo.astype(np.int64) * n + hi, return_counts=True)
    pairs = pairs[shared >= MIN_SHARED]
    edges = [(x, y) for x, y in zip((pairs // n).tolist(), (pairs % n).tolist())
             if _close(middles[clusters[x][0]], middles[clusters[y][0]])]
    if not edges:
        return clusters
    first, second = np.array(edges).T
    graph = coo_matrix((np.ones(len(edges), dtype=np.int32), (first, second)), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    joined: dict[int, list[int]] = {}
    for c, members in enumerate(clusters):
        joined.setdefault(int(label[c]), []).extend(members)
    return list(joined.values())


def _all_kmers(reads: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Every KMER-mer of every read (as int64) and the read it came from."""
    lengths = np.array([len(r) for r in reads])
    codes = _CODE[np.frombuffer("".join(reads).encode("ascii", "replace"), dtype=np.uint8)]
    if codes.size < KMER:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    windows = np.lib.stride_tricks.sliding_window_view(codes, KMER)
    kmers = windows @ (4 ** np.arange(KMER - 1, -1, -1, dtype=np.int64))
    read_of = np.repeat(np.arange(len(reads)), lengths)[:len(kmers)]
    ends = np.cumsum(lengths)
    inside = np.arange(len(kmers)) + KMER <= ends[read_of]  # window within its read
    return kmers[inside], read_of[inside]


def _bucket_pairs(kmers: np.ndarray, read: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of pool reads that share a k-mer (every pair within a bucket of <= MAX_BUCKET)."""
    order = np.argsort(kmers, kind="stable")
    kmers, read = kmers[order], read[order]
    starts = np.flatnonzero(np.r_[True, kmers[1:] != kmers[:-1]])
    sizes = np.diff(np.r_[starts, len(kmers)])
    firsts, seconds = [], []
    for gap in range(1, MAX_BUCKET):
        ok = (sizes > gap) & (sizes <= MAX_BUCKET)
        for offset in range(0, MAX_BUCKET - gap):
            rows = starts[ok & (sizes > offset + gap)] + offset
            if not len(rows):
                break
            firsts.append(read[rows])
            seconds.append(read[rows + gap])
    if not firsts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(firsts), np.concatenate(seconds)


def _close(a: str, b: str) -> bool:
    bound = int(MAX_DIST_FRAC * max(len(a), len(b)))
    return edlib.align(a, b, task="distance", k=bound)["editDistance"] >= 0
