"""Archives: bytes -> strands -> bytes, with lost strands, the header, and the redundancy rule."""

import random

import numpy as np
import pytest

from helix_lightning.dna.archive import DecodeFailure, decode_archive, encode_archive
from helix_lightning.dna.constraints import ConstraintSet, check_strands, get_constraints
from helix_lightning.dna.outer import failure_probability, repair_symbols
from helix_lightning.errors import HelixError

from forgery import forge_strand


@pytest.mark.parametrize("name", ["fountain", "standard"])
def test_roundtrip_with_erasures(name, rng_bytes):
    data = rng_bytes(40_000, seed=1)
    archive = encode_archive(data, name)
    assert check_strands(archive.strands, get_constraints(name)).total == 0
    strands = list(archive.strands)
    random.Random(2).shuffle(strands)
    kept = strands[: int(len(strands) * 0.93)]  # 7% of strands lost
    out, report = decode_archive(kept)
    assert out == data and report.ok and report.constraints == name


def test_empty_and_tiny_files(rng_bytes):
    for data in (b"", b"x", rng_bytes(100)):
        archive = encode_archive(data, "rl3")
        assert decode_archive(archive.strands)[0] == data


def test_net_density_is_physical(rng_bytes):
    archive = encode_archive(rng_bytes(20_000), "fountain", redundancy=0.0)
    s = archive.stats
    assert 0 < s.net_density < s.coding_density <= 2.0
    assert s.net_density_with_primers < s.net_density


def test_too_many_losses_fail_loudly(rng_bytes):
    data = rng_bytes(20_000)
    archive = encode_archive(data, "rl3", redundancy=0.05)
    with pytest.raises(DecodeFailure, match="needed") as err:
        decode_archive(archive.strands[: len(archive.strands) // 2])
    assert not err.value.report.ok
    assert any(not seg["decoded"] for seg in err.value.report.segments)


def test_foreign_and_garbage_strands_are_ignored(rng_bytes):
    data = rng_bytes(5_000)
    archive = encode_archive(data, "rl3")
    other = encode_archive(rng_bytes(5_000, seed=9), "rl3").strands[20:60]
    noise = ["".join(random.Random(i).choice("ACGT") for _ in range(200)) for i in range(30)]
    out, _ = decode_archive(archive.strands + other + noise, constraints="rl3")
    assert out == data


def test_no_header_is_a_user_error():
    noise = ["".join(random.Random(i).choice("ACGT") for _ in range(200)) for i in range(20)]
    with pytest.raises(HelixError, match="header"):
        decode_archive(noise, constraints="rl3")


def test_redundancy_rule():
    # the rule meets the failure target and small archives pay proportionally more
    for k, p in [(50, 0.05), (1000, 0.07), (28_000, 0.07)]:
        r = repair_symbols(k, p)
        assert failure_probability(k, r, p) <= 1e-4 < failure_probability(k, r - 1, p)
    assert repair_symbols(100, 0.07) / 100 > repair_symbols(10_000, 0.07) / 10_000


def test_explicit_redundancy(rng_bytes):
    archive = encode_archive(rng_bytes(10_000), "rl3", redundancy=0.5)
    assert archive.stats.parity_strands == int(np.ceil(0.5 * archive.stats.data_strands))


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=15, deadline=None)
@given(data=st.binary(min_size=0, max_size=600), name=st.sampled_from(["rl3", "fountain", "relaxed"]),
       drop_seed=st.integers(0, 1000))
def test_property_archive_roundtrip(data, name, drop_seed):
    archive = encode_archive(data, name, redundancy=0.5)
    strands = list(archive.strands)
    random.Random(drop_seed).shuffle(strands)
    # lose one data strand at random: the outer code (and the 8 header copies) cover it
    out, report = decode_archive(strands[1:], constraints=name)
    assert out == data and report.ok




def test_corrupt_strand_passing_its_check_is_hunted_down(rng_bytes):
    data = rng_bytes(30_000, seed=3)
    archive = encode_archive(data, "rl3", redundancy=0.2)
    n_header, k = archive.stats.header_strands, archive.stats.data_strands
    data_strands = archive.strands[n_header:]
    # K - 1 trusted true strands, 3 weak true ones and a weak forged one for index 0: the
    # decoder needs a weak strand, meets the forged one first and must find it out
    pick = random.Random(4).sample(range(1, len(data_strands)), k + 2)
    strong, weak = pick[: k - 1], pick[k - 1:]
    strands = (archive.strands[:n_header] + [data_strands[i] for i in strong]
               + [forge_strand(archive, 0, seed=9)] + [data_strands[i] for i in weak])
    support = [10] * (n_header + len(strong)) + [2] * (1 + len(weak))
    out, report = decode_archive(strands, support, constraints="rl3")
    assert out == data
    assert report.segments[0]["attempts"] >= 2  # the first decode was caught as inconsistent


def test_trusted_corrupt_strand_fails_loudly_never_silently(rng_bytes):
    data = rng_bytes(30_000, seed=3)
    archive = encode_archive(data, "rl3", redundancy=0.05)
    n_header = archive.stats.header_strands
    strands = [s for i, s in enumerate(archive.strands) if i != n_header + 7]
    with pytest.raises(DecodeFailure):
        decode_archive(strands + [forge_strand(archive, 7, seed=1)], constraints="rl3")


def test_detection_order_is_tightest_first():
    from helix_lightning.dna.archive import decode_order
    from helix_lightning.dna.capacity import constraint_capacity
    from helix_lightning.dna.constraints import registered_names

    order = decode_order()
    assert sorted(order) == sorted(registered_names())
    # today's order, derived from the registry (capacity, then GC range width)
    assert order == ["strict", "rl2", "standard", "fountain", "rl3", "relaxed"]
    caps = [constraint_capacity(n) for n in order]
    assert caps == sorted(caps)


def test_header_versions_pack_and_unpack():
    from helix_lightning.dna.header import Header, constraint_fingerprint

    custom = ConstraintSet("mine", max_run=4, gc_window=12, gc_min=0.3, gc_max=0.7,
                           motifs=("GAATTC", "AAGCTT"))
    fields = dict(strand_len=200, prefix_len=20, suffix_len=20, bits_per_strand=300,
                  index_bits=9, symbol_size=34, file_size=1234, segment_symbols=50,
                  repair_full=7, repair_last=3, file_hash=bytes(range(8)))
    v1 = Header(1, 2, **fields, constraints_fp=constraint_fingerprint(get_constraints("standard")))
    assert len(v1.pack()) == 44 and Header.unpack(v1.pack()) == v1
    v2 = Header(2, 255, **fields, constraints_fp=constraint_fingerprint(custom), header_code=2,
                definition=custom)
    raw = v2.pack()
    assert raw[:44] != v1.pack() and Header.bytes_needed(raw[:44]) == 47
    assert Header.bytes_needed(raw[:47]) == len(raw)
    back = Header.unpack(raw)
    assert back == v2 and back.definition == custom
    with pytest.raises(HelixError, match="truncated"):
        Header.unpack(raw[:-1])
    forged = raw[:-1] + b"G"  # definition no longer matches the fingerprint
    with pytest.raises(HelixError, match="fingerprint"):
        Header.unpack(forged)
    # version 3: version 1's fields, the archive ID, then (code 255) version 2's extension
    v3 = Header(3, 2, **fields, constraints_fp=v1.constraints_fp, archive_id=0xDEADBEEF)
    assert v3.pack()[44:] == bytes.fromhex("deadbeef") and Header.unpack(v3.pack()) == v3
    v3c = Header(3, 255, **fields, constraints_fp=constraint_fingerprint(custom), header_code=2,
                 definition=custom, archive_id=7)
    raw3 = v3c.pack()
    assert raw3[48:] == raw[44:] and Header.bytes_needed(raw3[:44]) == 51
    assert Header.bytes_needed(raw3[:51]) == len(raw3) and Header.unpack(raw3) == v3c
    future = raw[:2] + bytes([4]) + raw[3:]
    with pytest.raises(HelixError, match="version 4 is not supported"):
        Header.unpack(future)
