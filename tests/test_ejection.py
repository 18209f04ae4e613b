"""Leaving wrong strands out of a segment's decode: the exclusion sets and the decoder using
them (wrong strands that passed their check by chance, among many weak true ones)."""

from __future__ import annotations

import itertools
import random

import numpy as np

from helix_lightning.dna.archive import MAX_ATTEMPTS, decode_archive, encode_archive
from helix_lightning.dna.ejection import exclusion_sets

from forgery import forge_strand


def test_sets_fit_the_spare_and_start_with_the_riskiest():
    risk = [float(r) for r in random.Random(1).choices(range(1, 300), k=500)]
    sets = list(itertools.islice(exclusion_sets(risk, 40), 200))
    assert sets and all(len(s) <= 40 for s in sets)
    assert len(set(sets)) == len(sets)  # no set twice
    riskiest = sorted(range(500), key=lambda i: -risk[i])[:40]
    assert sets[0] == frozenset(riskiest)


def test_three_wrong_strands_in_the_riskiest_blocks_are_left_out_together():
    risk = [float(r) for r in random.Random(2).choices(range(1, 300), k=600)]
    ranked = sorted(range(600), key=lambda i: -risk[i])
    bad = {ranked[5], ranked[70], ranked[150]}  # in the first, fourth and eighth blocks of 20
    sets = list(itertools.islice(exclusion_sets(risk, 60), MAX_ATTEMPTS))
    assert any(bad <= s for s in sets)


def test_no_sets_without_spare_or_weak_strands():
    assert list(exclusion_sets([3.0, 2.0], 0)) == []
    assert list(exclusion_sets([], 10)) == []




def test_decoder_leaves_out_three_wrong_strands_among_weak_ones(rng_bytes):
    data = rng_bytes(30_000, seed=5)
    archive = encode_archive(data, "rl3", redundancy=0.3)
    n_header, k = archive.stats.header_strands, archive.stats.data_strands
    data_strands = archive.strands[n_header:]
    order = list(range(len(data_strands)))
    random.Random(6).shuffle(order)
    strong, weak, lost = order[:k - 40], order[k - 40:k + 60], order[k + 60:]
    forged = [forge_strand(archive, i, seed=s) for s, i in enumerate(lost[:3])]
    rng = random.Random(7)
    weak_tries = [rng.randint(2, 1000) for _ in weak]
    strands = (archive.strands[:n_header] + [data_strands[i] for i in strong]
               + [data_strands[i] for i in weak] + forged)
    support = [10] * (n_header + len(strong)) + [2] * (len(weak) + 3)
    # the wrong ones took many tries, but not the most: over 60 true weak strands (more than
    # the spare) took more, so the first decode uses a wrong one
    variants = [1] * (n_header + len(strong)) + weak_tries + [150, 200, 250]
    assert sum(t > 250 for t in weak_tries) > 61
    out, report = decode_archive(strands, support, variants=variants, constraints="rl3")
    assert out == data
    assert report.segments[0]["attempts"] >= 2
    assert report.segments[0]["corrupt_found"] == 3


def test_outer_code_names_the_wrong_symbols_a_failed_decode_took():
    from helix_lightning.dna.outer import decode_segment_used, encode_segment
    from helix_lightning.dna.wrong_symbols import wrong_symbols

    T, k, repair = 16, 300, 60
    data = np.random.default_rng(1).bytes(k * T)
    sent = encode_segment(data, T, repair)
    received = {e: s for e, s in enumerate(sent) if e % 9 != 4}  # some lost
    bad = [10, 150, 302]
    for e, at in zip(bad, (2, 9, 14)):  # each wrong at its own bytes
        sym = bytearray(received[e])
        sym[at] ^= 0x5A
        sym[at + 1] ^= 0x11
        received[e] = bytes(sym)
    order = sorted(received)
    got, used = decode_segment_used(received, len(data), T, order)
    assert got is not None and got != data and used < len(order)
    suspects = [e for e in order[:used] if e % 5 == 0 or e in bad]  # the weak ones
    named = wrong_symbols(received, order, used, got, len(data), T, repair, suspects)
    assert sorted(named) == bad
    again = {e: s for e, s in received.items() if e not in named}
    assert decode_segment_used(again, len(data), T, sorted(again))[0] == data
    # with almost every symbol taken, nothing is named (a residual that short proves nothing)
    few = order[:used] + order[used:used + 3]
    assert wrong_symbols({e: received[e] for e in few}, few, used, got, len(data), T, repair,
                         suspects) == []
