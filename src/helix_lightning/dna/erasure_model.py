"""Predicted per-strand erasure rate of a sequencing channel for this package's decoder.

A strand is erased (lost to the outer code) when it yields no usable read, or when the reads
it has do not give it back. So, with N ~ NegativeBinomial(mean=coverage, size=dispersion)
reads per surviving strand:

    P(erased) = dropout + (1 - dropout) * sum_k P(N = k) * fail(k),   fail(0) = 1,

where fail(k) is the chance that read recovery (`reads.recover_reads`: primers, payload length,
clustering, consensus) does not return the strand among its candidates when it has exactly k
reads. fail(k) is measured, not assumed: a deterministic Monte Carlo encodes a few thousand
real data strands of the given geometry (random payloads), gives each exactly k noisy reads
(`channel.reads_per_strand`, k = 1..MAX_K, pooled together as in a real run), recovers them
with the package's own code (list decoding included, judged by the strands' own check as the
decoder judges them: `verifier.data_verifier`), and counts the strands missing from the
candidates. The table is
made non-increasing in k (pool-adjacent-violators: more reads never hurt the decoder, so a
rise is Monte Carlo noise), held for k > MAX_K, and cached in memory per (error rates, strand
length, constraint set), so coverage, dropout and dispersion cost nothing to vary.

What it leaves out: a wrong candidate that passes its strand check and outvotes the right one
(the decoder's retries handle those), and strands of other archives in the pool.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.stats import nbinom

from ..errors import HelixError
from .channel import ChannelParams, reads_per_strand
from .constraints import ConstraintSet
from .strands import StrandLayout
from .verifier import data_verifier

MAX_K = 16                 # read counts measured; fail(k) for larger k is fail(MAX_K)
STRANDS_LOW_K = 300        # strands per read count for k <= LOW_K (where fail(k) matters most)
STRANDS_HIGH_K = 100       # strands per read count above LOW_K
LOW_K = 8
MODEL_SEED = 20261129      # one fixed seed: the same question always gets the same answer
_INDEX_BITS = 16


@dataclass(frozen=True)
class ErasurePrediction:
    """Predicted share of strands erased, and its two parts."""

    strand_erasure: float       # all causes
    no_reads: float             # dropout, or zero reads (the negative binomial's P(N = 0))
    recovery: float             # reads there but recovery failed
    fail_by_reads: tuple[float, ...]  # fail(k), k = 0..MAX_K (the Monte Carlo table)

    def to_dict(self) -> dict:
        return {"strand_erasure": self.strand_erasure, "erasure_no_reads": self.no_reads,
                "erasure_recovery": self.recovery,
                "recovery_failure_by_reads": list(self.fail_by_reads)}


def predict_erasure(params: ChannelParams, cs: ConstraintSet, strand_len: int
                    ) -> ErasurePrediction:
    """The model above for `params` and strands of `strand_len` nt under `cs`."""
    params.validate()
    fail = np.array(recovery_failure_table(params.sub, params.ins, params.dele,
                                           params.reverse_fraction, cs, strand_len))
    r = params.dispersion
    reads = nbinom(r, r / (r + params.coverage))
    pmf = reads.pmf(np.arange(MAX_K + 1))
    pmf[MAX_K] = reads.sf(MAX_K - 1)  # P(N >= MAX_K): those strands fail as often as MAX_K's
    survive = 1.0 - params.dropout
    no_reads = params.dropout + survive * pmf[0]
    recovery = survive * float(pmf[1:] @ fail[1:])
    return ErasurePrediction(min(1.0, float(no_reads + recovery)), float(no_reads), recovery,
                             tuple(float(f) for f in fail))


def read_counts() -> np.ndarray:
    """Reads per Monte Carlo strand: STRANDS_LOW_K strands of each k <= LOW_K, then
    STRANDS_HIGH_K of each k up to MAX_K."""
    per_k = [STRANDS_LOW_K if k <= LOW_K else STRANDS_HIGH_K for k in range(1, MAX_K + 1)]
    return np.repeat(np.arange(1, MAX_K + 1), per_k)


@lru_cache(maxsize=64)
def recovery_failure_table(sub: float, ins: float, dele: float, reverse_fraction: float,
                           cs: ConstraintSet, strand_len: int) -> tuple[float, ...]:
    """fail(k) for k = 0..MAX_K (fail(0) = 1), measured as the module says; cached."""
    from .reads import recover_reads

    counts = read_counts()
    strands = model_strands(cs, strand_len, len(counts))
    params = ChannelParams(sub=sub, ins=ins, dele=dele, reverse_fraction=reverse_fraction)
    reads = reads_per_strand(strands, counts, params, MODEL_SEED)
    layout = StrandLayout(cs, strand_len)
    verify = data_verifier(layout, _INDEX_BITS, layout.symbol_size(_INDEX_BITS), None,
                           len(strands))
    try:
        found = set(recover_reads(reads, verify=verify).strands)
    except HelixError:  # not one read looked like a strand: every strand is lost
        found = set()
    lost = np.array([s not in found for s in strands], dtype=np.float64)
    ks = range(1, MAX_K + 1)
    raw = [float(lost[counts == k].mean()) for k in ks]
    return (1.0, *non_increasing(raw, [float((counts == k).sum()) for k in ks]))


def model_strands(cs: ConstraintSet, strand_len: int, n: int) -> list[str]:
    """n real data strands (distinct indices, random payloads) of this geometry."""
    layout = StrandLayout(cs, strand_len)
    size = layout.symbol_size(_INDEX_BITS)
    payload = np.random.default_rng(MODEL_SEED).integers(0, 256, (n, size), dtype=np.uint8)
    return layout.data_strands(np.arange(n, dtype=np.int64), payload, _INDEX_BITS)


def non_increasing(values: list[float], weights: list[float]) -> list[float]:
    """The closest non-increasing sequence in weighted least squares (pool-adjacent-violators)."""
    blocks: list[list[float]] = []  # [mean, weight, length]
    for v, w in zip(values, weights):
        blocks.append([v, w, 1])
        while len(blocks) > 1 and blocks[-2][0] < blocks[-1][0]:
            (m1, w1, n1), (m2, w2, n2) = blocks[-2], blocks.pop()
            blocks[-1] = [(m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2, n1 + n2]
    return [m for m, _, n in blocks for _ in range(n)]
