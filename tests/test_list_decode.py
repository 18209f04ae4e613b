"""Check-aided list decoding, payload length from votes, and small clusters joined (issue 14,
points 1 and 2): strands the plain vote loses come back, and only under the archive's check."""

import random

import numpy as np
import pytest

from helix_lightning.dna.archive import encode_archive
from helix_lightning.dna.channel import ChannelParams, reads_per_strand, simulate_reads
from helix_lightning.dna.consensus import cluster_and_vote, cluster_middles, voted_length
from helix_lightning.dna.constraints import get_constraints
from helix_lightning.dna.erasure_model import model_strands
from helix_lightning.dna.list_decode import ranked_spellings, rescue, vote_slots
from helix_lightning.dna.primers import DEFAULT_PREFIX as P, DEFAULT_SUFFIX as S
from helix_lightning.dna.read_decode import decode_loaded
from helix_lightning.dna.reads import cut_payloads, recover_reads, revoted
from helix_lightning.dna.regroup import join_small_clusters
from helix_lightning.dna.strands import StrandLayout
from helix_lightning.dna.verifier import data_verifier

CS = get_constraints("standard")
LAYOUT = StrandLayout(CS, 200)
INDEX_BITS = 16


@pytest.fixture(scope="module")
def strands():
    return model_strands(CS, 200, 40)


def verifier(n):
    return data_verifier(LAYOUT, INDEX_BITS, LAYOUT.symbol_size(INDEX_BITS), None, n)


def substitute(seq, positions):
    out = list(seq)
    for p in positions:
        out[p] = {"A": "C", "C": "G", "G": "T", "T": "A"}[out[p]]
    return "".join(out)


def middle(strand):
    return strand[len(P):len(strand) - len(S)]


def test_a_pair_of_reads_with_six_differences_is_list_decoded(strands):
    """Two reads, three substitutions each: six ties are too many for the plain vote to spell
    out (it returns the two reads), list decoding finds the strand the check accepts."""
    truth = middle(strands[3])
    reads = [substitute(truth, (10, 50, 90)), substitute(truth, (30, 70, 120))]
    voted = cluster_and_vote(reads, P, S, len(truth))
    assert P + truth + S not in [c.seq for c in voted.candidates]
    found = rescue(voted.candidates, voted.clusters, len(truth), P, S, verifier(40))
    assert [c.seq for c in found] == [strands[3]]
    assert found[0].support == 2 and found[0].variants >= 2   # fed to the outer code as weak
    # the same spellings, judged by a check nothing passes: nothing is added
    assert rescue(voted.candidates, voted.clusters, len(truth), P, S,
                  lambda s: np.zeros(len(s), dtype=bool)) == []


def test_index_out_of_range_fails_the_check(strands):
    verify = verifier(3)  # strands 0-2 written: index 3 and above cannot be this archive's
    assert verify(strands[:5]).tolist() == [True, True, True, False, False]


def test_spellings_come_cheapest_first_and_have_the_length(strands):
    truth = middle(strands[5])
    reads = [truth, truth, substitute(truth, (40,)), truth[:80] + truth[81:]]
    slots = vote_slots(reads, reads[2])
    spelled = ranked_spellings(slots, len(truth), limit=10)
    assert spelled[0] == truth                           # the winner first
    assert all(len(s) == len(truth) for s in spelled)
    assert len(set(spelled)) == len(spelled)
    costs = [f[0] for f in slots.flips]
    assert costs == sorted(costs)


def test_payload_length_from_votes_survives_deletion_heavy_reads(strands):
    """6% errors, sub:del:ins = 13:31:6, 15 reads a strand (the long-read profile): reads run
    ~3 nt short, the votes give 160."""
    params = ChannelParams(sub=0.06 * 13 / 50, ins=0.06 * 6 / 50, dele=0.06 * 31 / 50)
    reads = reads_per_strand(strands, np.full(len(strands), 15), params, 3)
    payloads, guess, _ = cut_payloads(reads)
    assert guess < 160                                  # the most common read length is short
    mids = [p[0] for p in payloads]
    clusters = [[mids[j] for j in c] for c in cluster_middles(mids)]
    assert voted_length(clusters, guess) == 160
    loaded = recover_reads(reads)
    assert loaded.strand_len == 200
    assert len(set(loaded.strands) & set(strands)) >= 30


def test_a_read_whose_keys_all_carry_errors_joins_its_cluster(strands):
    truth = middle(strands[7])
    odd = truth[:1] + truth[2:]                        # a deletion shifts every head key
    odd = substitute(odd, [len(odd) - k for k in (5, 17, 29, 41, 53)])  # every tail key hit
    mids = [truth, truth, truth, odd, middle(strands[8])]
    first = cluster_middles(mids)
    assert [3] in first                                 # alone after the anchored keys
    joined = join_small_clusters(mids, first)
    assert sorted(len(c) for c in joined) == [1, 4]     # joined its strand, not the other one
    assert any(set(c) == {0, 1, 2, 3} for c in joined)


def test_low_coverage_reads_decode_with_list_decoding():
    """Coverage 4: decode_loaded list-decodes under the archive's own check and the file comes
    back bit-exact."""
    data = random.Random(5).randbytes(6000)
    archive = encode_archive(data, "standard", redundancy=0.4)
    params = ChannelParams(coverage=4.0, seed=2)
    reads = [r for _, r, _ in simulate_reads(archive.strands, params)]
    loaded = recover_reads(reads)
    out, report, more = decode_loaded(loaded, "standard")
    assert out == data and report.ok
    assert more.rescued > 0 and len(more.strands) == len(loaded.strands) + more.rescued
    assert "by list decoding" in more.summary()


def test_a_strand_length_a_base_off_is_found_again():
    """Candidates voted a base short (as deletion-heavy reads can make them) hold no header;
    decode_loaded votes the clusters again at the lengths next to it and decodes."""
    data = random.Random(6).randbytes(3000)
    archive = encode_archive(data, "standard")
    reads = [r for _, r, _ in simulate_reads(archive.strands, ChannelParams(coverage=8, seed=3))]
    short = revoted(recover_reads(reads), 199)
    assert {len(s) for s in short.strands} == {199}
    out, report, more = decode_loaded(short, "standard")
    assert out == data and more.strand_len == 200


def test_a_wrong_strand_that_passes_its_check_is_fed_last():
    """A list-decoded strand that took many tries is the least trusted: with every strand weak
    (2 reads each), a wrong one that passes its check (index 0, payload flipped) goes to the
    outer code last, so the segment decodes at the first attempt without it."""
    from helix_lightning.dna.archive import decode_archive

    data = random.Random(8).randbytes(4000)
    archive = encode_archive(data, "standard", redundancy=0.3)
    h, first = archive.header, archive.stats.header_strands
    wrong = StrandLayout(archive.cs).data_strands(
        np.array([0]), np.full((1, h.symbol_size), 0x5A, dtype=np.uint8), h.index_bits,
        h.archive_id)[0]
    strands = archive.strands[:first] + [wrong] + archive.strands[first + 1:]
    support = [4] * first + [2] * (len(strands) - first)
    variants = [1] * first + [200] + [1] * (len(strands) - first - 1)
    out, report = decode_archive(strands, support, variants=variants, constraints="standard")
    assert out == data and report.segments[0]["attempts"] == 1
