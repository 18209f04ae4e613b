"""Reads back to strands: orientation, clustering, voted consensus, ties, progress, errors."""

import time

import numpy as np
import pytest
from test_channel import POISSON, random_strands, source

from helix_lightning.dna.channel import ChannelParams, simulate_reads
from helix_lightning.dna.consensus import (
    Candidate, cluster_middles, consensus_middles, recover_strands, vote)
from helix_lightning.dna.primers import DEFAULT_PREFIX, DEFAULT_SUFFIX, reverse_complement
from helix_lightning.errors import HelixError

REFERENCE = ChannelParams(sub=0.01, ins=0.005, dele=0.005, dropout=0, coverage=10,
                          dispersion=POISSON, seed=3)


def recover(reads, **kw) -> list[Candidate]:
    return recover_strands(reads, DEFAULT_PREFIX, DEFAULT_SUFFIX, 200, **kw)


def mutate(seq: str, rng: np.random.Generator, n_errors: int, at: int | None = None) -> str:
    """seq with n_errors random substitutions, insertions or deletions (the first at `at`)."""
    s = list(seq)
    for k in range(n_errors):
        i = at if at is not None and k == 0 else int(rng.integers(1, len(s) - 1))
        kind = rng.integers(3)
        if kind == 0:
            s[i] = "ACGT"[("ACGT".index(s[i]) + int(rng.integers(1, 4))) % 4]
        elif kind == 1:
            s.insert(i, "ACGT"[int(rng.integers(4))])
        else:
            del s[i]
    return "".join(s)


def test_recovers_99_percent_of_strands_at_reference_channel():
    strands = random_strands(500, seed=1)
    reads = simulate_reads(strands, REFERENCE)
    cands = recover([r[1] for r in reads])
    found = {c.seq for c in cands}
    assert sum(s in found for s in strands) >= 0.99 * len(strands)
    assert all(len(c.seq) == 200 for c in cands)
    assert all(c.seq.startswith(DEFAULT_PREFIX) and c.seq.endswith(DEFAULT_SUFFIX) for c in cands)


def test_best_supported_candidate_is_the_strand():
    strands = random_strands(300, seed=2)
    reads = simulate_reads(strands, REFERENCE)
    per_strand = np.bincount([source(r[0])[0] for r in reads], minlength=len(strands))
    cands = recover([r[1] for r in reads])
    assert max(c.support for c in cands) <= per_strand.max()
    truth = set(strands)
    # a candidate backed by many reads is a true strand: wrong ones come from thin clusters
    assert all(c.seq in truth for c in cands if c.support >= 6)
    # few extra candidates
    assert len(cands) < 1.2 * len(strands)


def test_well_covered_strands_survive_overdispersed_coverage():
    strands = random_strands(600, seed=4)
    params = ChannelParams(dropout=0, coverage=10, dispersion=4, seed=5)
    reads = simulate_reads(strands, params)
    counts = np.bincount([source(r[0])[0] for r in reads], minlength=len(strands))
    found = {c.seq for c in recover([r[1] for r in reads])}
    covered = [s for s, n in zip(strands, counts) if n >= 5]
    assert sum(s in found for s in covered) >= 0.99 * len(covered)


def test_error_free_reads_give_one_candidate_per_strand_with_its_read_count():
    strands = random_strands(100, seed=6)
    params = ChannelParams(sub=0, ins=0, dele=0, dropout=0, coverage=6, seed=7)
    reads = simulate_reads(strands, params)
    counts = np.bincount([source(r[0])[0] for r in reads], minlength=len(strands))
    cands = recover([r[1] for r in reads])
    support = {c.seq: c.support for c in cands}
    assert len(cands) == sum(counts > 0)
    assert all(support[s] == n for s, n in zip(strands, counts) if n)


@pytest.mark.parametrize("reverse_fraction", [0.0, 1.0])
def test_either_orientation_alone(reverse_fraction):
    strands = random_strands(100, seed=8)
    params = ChannelParams(dropout=0, coverage=8, dispersion=POISSON,
                           reverse_fraction=reverse_fraction, seed=9)
    found = {c.seq for c in recover([r[1] for r in simulate_reads(strands, params)])}
    assert sum(s in found for s in strands) >= 98


def test_reads_without_primers_are_dropped():
    rng = np.random.default_rng(10)
    junk = ["".join(rng.choice(list("ACGT"), 200)) for _ in range(200)]
    assert recover(junk) == []
    assert recover([]) == []
    strands = random_strands(50, seed=11)
    reads = [r[1] for r in simulate_reads(strands, REFERENCE)] + junk
    cands = recover(reads)
    found = {c.seq for c in cands}
    assert sum(s in found for s in strands) >= 49
    assert len(found - set(strands)) <= 5


def test_reads_are_trimmed_to_the_primers():
    strand = random_strands(1, seed=12)[0]
    padded = ["GATTACA" + strand + "TTGA", reverse_complement(strand) + "CC", strand[:-1] + "G"]
    assert [c.seq for c in recover(padded)] == [strand]


def test_vote_fixes_one_error_per_read():
    rng = np.random.default_rng(13)
    truth = random_strands(1, seed=14, primers=False)[0]
    for _ in range(30):
        # errors apart from each other (adjacent ones can be truly ambiguous with 3 reads)
        sites = rng.choice(np.arange(10, 150, 12), size=3, replace=False)
        reads = [mutate(truth, rng, 1, at=int(i)) for i in sites]
        primary, variants = vote([reads], [reads[0]], len(truth))
        assert primary[0] == truth and variants[0] == [truth]


def test_vote_enumerates_ties():
    truth = random_strands(1, seed=15, primers=False)[0]
    other = truth[:50] + ("A" if truth[50] != "A" else "C") + truth[51:]
    _, variants = vote([[truth, other]], [truth], len(truth))
    assert set(variants[0]) == {truth, other}
    _, only = vote([[truth, other]], [truth], len(truth), max_alternatives=1)
    assert len(only[0]) == 1


def test_consensus_middles_lengths_and_singletons():
    truth = random_strands(1, seed=16, primers=False)[0]
    rng = np.random.default_rng(17)
    groups = [[truth], [truth[:-1]], [mutate(truth, rng, 2) for _ in range(5)] + [truth]]
    out = consensus_middles(groups, len(truth))
    assert out[0] == [truth] and out[1] == []
    assert out[2][0] == truth and all(len(m) == len(truth) for m in out[2])


def test_clustering_keeps_strands_apart():
    rng = np.random.default_rng(18)
    mids = random_strands(200, seed=19, primers=False)
    reads = [mutate(m, rng, 3) for m in mids for _ in range(5)]
    clusters = cluster_middles(reads)
    assert all(len({i // 5 for i in c}) == 1 for c in clusters)  # never mixes strands
    assert len(clusters) <= 210  # and rarely splits one


def test_progress_is_reported_and_ends_at_total():
    strands = random_strands(60, seed=20)
    reads = [r[1] for r in simulate_reads(strands, REFERENCE)]
    calls = []
    recover(reads, progress=lambda d, t: calls.append((d, t)))
    assert calls and calls[-1] == (2 * len(reads), 2 * len(reads))
    done = [d for d, _ in calls]
    assert done == sorted(done) and all(t == 2 * len(reads) for _, t in calls)


def test_is_deterministic():
    strands = random_strands(80, seed=21)
    reads = [r[1] for r in simulate_reads(strands, ChannelParams(seed=22))]
    assert recover(reads) == recover(reads)


@pytest.mark.parametrize("kw", [dict(strand_len=60), dict(prefix=""), dict(max_reads=0),
                                dict(max_alternatives=0)])
def test_bad_arguments_raise(kw):
    args = dict(prefix=DEFAULT_PREFIX, suffix=DEFAULT_SUFFIX, strand_len=200) | kw
    with pytest.raises(HelixError):
        recover_strands(["ACGT"], **args)


@pytest.mark.slow
def test_one_megabyte_of_strands_in_reasonable_time():
    strands = random_strands(33000, seed=23)
    reads = [r[1] for r in simulate_reads(strands, ChannelParams(dropout=0, seed=24))]
    start = time.perf_counter()
    found = {c.seq for c in recover(reads)}
    elapsed = time.perf_counter() - start
    assert sum(s in found for s in strands) >= 0.93 * len(strands)
    assert elapsed < 60
