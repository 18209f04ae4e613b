"""Channel simulator: error rates, dropout, coverage law, orientation, shuffle, determinism."""

import re

import edlib
import numpy as np
import pytest

from helix_lightning.dna.channel import ChannelParams, expected_erasure_rate, simulate_reads
from helix_lightning.dna.primers import DEFAULT_PREFIX, DEFAULT_SUFFIX, reverse_complement
from helix_lightning.errors import HelixError

POISSON = 1e9  # a dispersion this large makes the negative binomial a Poisson


def random_strands(n: int, seed: int = 0, middle: int = 160, primers: bool = True) -> list[str]:
    """Primer + `middle` random bases + primer, no homopolymer longer than 3 (junctions too)."""
    rng = np.random.default_rng(seed)
    head = [("ACGT".index(b)) for b in DEFAULT_PREFIX[-3:]] if primers else [0, 1, 2]
    codes = np.concatenate([np.tile(head, (n, 1)), rng.integers(0, 4, size=(n, middle))], axis=1)
    for j in range(3, middle + 3):
        run = (codes[:, j - 1] == codes[:, j - 2]) & (codes[:, j - 2] == codes[:, j - 3])
        clash = run & (codes[:, j] == codes[:, j - 1])
        codes[clash, j] = (codes[clash, j] + rng.integers(1, 4, size=int(clash.sum()))) % 4
    if primers:  # the last three bases must not run on into the suffix primer's first base
        tail = "ACGT".index(DEFAULT_SUFFIX[0])
        clash = (codes[:, -3:] == tail).all(axis=1)
        codes[clash, -1] = (tail + 1) % 4
    letters = np.frombuffer(b"ACGT", dtype=np.uint8)[codes[:, 3:]]
    mids = [row.tobytes().decode() for row in letters]
    return [DEFAULT_PREFIX + m + DEFAULT_SUFFIX for m in mids] if primers else mids


def source(name: str) -> tuple[int, bool]:
    """(strand index, reverse-complemented?) from a simulated read name."""
    _, s, sign = name.split(":")
    return int(s[1:]), sign == "-"


def forward(read: tuple[str, str, str]) -> str:
    return reverse_complement(read[1]) if source(read[0])[1] else read[1]


def test_random_strands_helper_respects_run_limit():
    for s in random_strands(200, seed=3):
        assert len(s) == 200 and not re.search(r"AAAA|CCCC|GGGG|TTTT", s)


def test_no_errors_gives_exact_copies_in_both_orientations():
    strands = random_strands(50)
    reads = simulate_reads(strands, ChannelParams(sub=0, ins=0, dele=0, dropout=0, seed=4))
    assert reads
    for read in reads:
        idx, flipped = source(read[0])
        assert read[1] == (reverse_complement(strands[idx]) if flipped else strands[idx])
        assert read[2] == "I" * len(read[1])


def test_error_rates_match_request():
    strands = random_strands(300, seed=1)
    params = ChannelParams(sub=0.02, ins=0.01, dele=0.015, dropout=0, coverage=20,
                           dispersion=POISSON, seed=2)
    reads = simulate_reads(strands, params)
    ops = {"X": 0, "I": 0, "D": 0}
    bases = 0
    for read in reads:
        ref = strands[source(read[0])[0]]
        cigar = edlib.align(forward(read), ref, task="path")["cigar"]
        for n, op in re.findall(r"(\d+)([=XID])", cigar):
            if op in ops:
                ops[op] += int(n)
        bases += len(ref)
    # alignment can merge or re-label a few nearby events: allow 10% relative slack
    assert ops["X"] / bases == pytest.approx(params.sub, rel=0.10)
    assert ops["I"] / bases == pytest.approx(params.ins, rel=0.10)
    assert ops["D"] / bases == pytest.approx(params.dele, rel=0.10)


def test_mean_length_change_is_ins_minus_del():
    strands = random_strands(200, seed=5)
    params = ChannelParams(sub=0.0, ins=0.03, dele=0.01, dropout=0, coverage=30,
                           dispersion=POISSON, seed=6)
    reads = simulate_reads(strands, params)
    change = np.mean([len(r[1]) - 200 for r in reads])
    assert change == pytest.approx(200 * (params.ins - params.dele), rel=0.05)


def test_dropout_share():
    strands = random_strands(5000, seed=7, middle=20, primers=False)
    params = ChannelParams(dropout=0.2, coverage=30, dispersion=POISSON, seed=8)
    seen = {source(r[0])[0] for r in simulate_reads(strands, params)}
    lost = 1 - len(seen) / len(strands)
    assert lost == pytest.approx(0.2, abs=0.02)  # sd is 0.006


def test_read_counts_follow_the_negative_binomial():
    strands = random_strands(20000, seed=9, middle=10, primers=False)
    params = ChannelParams(dropout=0, coverage=10, dispersion=4, seed=10)
    counts = np.bincount([source(r[0])[0] for r in simulate_reads(strands, params)],
                         minlength=len(strands))
    assert counts.mean() == pytest.approx(10, rel=0.03)
    assert counts.var() == pytest.approx(10 + 10 ** 2 / 4, rel=0.10)  # mean + mean^2 / r


def test_expected_erasure_rate_matches_simulation():
    strands = random_strands(20000, seed=11, middle=10, primers=False)
    params = ChannelParams(dropout=0.05, coverage=5, dispersion=2, seed=12)
    counts = np.bincount([source(r[0])[0] for r in simulate_reads(strands, params)],
                         minlength=len(strands))
    assert expected_erasure_rate(params) == pytest.approx(float((counts < 2).mean()), abs=0.01)
    assert expected_erasure_rate(ChannelParams(dropout=0, coverage=60, dispersion=POISSON)) < 1e-6
    assert expected_erasure_rate(ChannelParams(dropout=0.1, coverage=60)) == pytest.approx(
        0.1, abs=1e-3)


def test_about_half_reverse_complemented():
    strands = random_strands(1000, seed=13)
    reads = simulate_reads(strands, ChannelParams(seed=14))
    share = np.mean([source(r[0])[1] for r in reads])
    assert share == pytest.approx(0.5, abs=0.02)
    # the flag is real: reverse reads start with the reverse complement of the suffix primer
    starts = [r[1].startswith(reverse_complement(DEFAULT_SUFFIX)) for r in reads
              if source(r[0])[1]]
    assert np.mean(starts) > 0.5
    none = simulate_reads(strands[:50], ChannelParams(reverse_fraction=0.0, seed=1))
    assert not any(source(r[0])[1] for r in none)


def test_reads_are_shuffled():
    strands = random_strands(500, seed=15)
    order = [source(r[0])[0] for r in simulate_reads(strands, ChannelParams(seed=16))]
    assert abs(np.corrcoef(np.arange(len(order)), order)[0, 1]) < 0.1
    assert sum(a == b for a, b in zip(order, order[1:])) < 0.05 * len(order)


def test_deterministic_for_a_seed():
    strands = random_strands(300, seed=17)
    a = simulate_reads(strands, ChannelParams(seed=5))
    assert a == simulate_reads(strands, ChannelParams(seed=5))
    assert a != simulate_reads(strands, ChannelParams(seed=6))


def test_strands_of_different_lengths():
    strands = ["ACGTACGTAC", "GGA", "TTTACAGATTACA" * 3]
    reads = simulate_reads(strands, ChannelParams(sub=0, ins=0, dele=0, dropout=0,
                                                  reverse_fraction=0, seed=3))
    assert {r[1] for r in reads} == set(strands)


def test_empty_input():
    assert simulate_reads([], ChannelParams()) == []


@pytest.mark.parametrize("bad", [
    dict(sub=-0.1), dict(ins=1.0), dict(dele=1.5), dict(dropout=1.0), dict(coverage=0),
    dict(coverage=-3), dict(dispersion=0), dict(reverse_fraction=1.5),
    dict(sub=0.5, ins=0.3, dele=0.3),
])
def test_bad_params_raise(bad):
    params = ChannelParams(**bad)
    with pytest.raises(HelixError) as info:
        simulate_reads(["ACGT"], params)
    assert "\n" not in str(info.value)
    with pytest.raises(HelixError):
        expected_erasure_rate(params)


def test_non_acgt_strand_raises():
    with pytest.raises(HelixError):
        simulate_reads(["ACGN"], ChannelParams())
