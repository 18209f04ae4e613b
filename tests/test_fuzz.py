"""Property-based fuzzing of hostile inputs: mutated archives (FASTA strands and files), video
containers and archive headers (bit flips, truncations, fields overwritten with extreme
values). Whatever the mutation, decoding returns or raises HelixError: no other exception,
no hang (a per-case deadline), no large allocation (peak memory growth per case).

About 200 derandomized cases run in the fast suite; `-m slow` runs thousands.
"""

from __future__ import annotations

import struct

import pytest
from forgery import (CONTAINER_FIELDS, CONTAINER_MAX, FIXTURES, HEADER_MAX, forge_archive,
                     forge_container, measure, strands_of, video_container)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helix_lightning.dna.archive import decode_archive, find_header
from helix_lightning.dna.fasta import read_sequences
from helix_lightning.dna.header import Header
from helix_lightning.errors import HelixError
from helix_lightning.model import container
from helix_lightning.model.checkpoint import DEFAULT_CHECKPOINT, load_codec

DEADLINE = 10.0  # seconds per case (a forged header fails in microseconds; a decode ~0.1 s)
MEGABYTES = 300
#: Mutated pools (strands, not headers) may send the decoder through every registered set and
#: its candidate retries before it gives up: the bound there is "no hang" (measured worst:
#: 16.5 s and 329 MB over thousands of cases), not the forged-header bound above.
POOL_DEADLINE = 60.0
POOL_MEGABYTES = 1000


def fast(n: int):
    return settings(max_examples=n, derandomize=True, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))


def slow(n: int):
    return settings(max_examples=n, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))


def check(call, deadline: float = DEADLINE, megabytes: float = MEGABYTES) -> None:
    """`call` returns or raises HelixError, within `deadline` seconds and `megabytes`."""
    error, seconds, grown = measure(call)
    if error is not None and not isinstance(error, HelixError):
        raise error
    assert error is None or "\n" not in str(error)
    assert seconds < deadline, f"took {seconds:.1f} s"
    assert grown < megabytes, f"peak memory grew {grown:.0f} MB"


def check_pool(call) -> None:
    """`check` with the bound of a mutated pool (POOL_DEADLINE, POOL_MEGABYTES)."""
    check(call, POOL_DEADLINE, POOL_MEGABYTES)


def extreme(max_value: int | float) -> st.SearchStrategy:
    if isinstance(max_value, float):
        return st.sampled_from([0.0, -1.0, 0.5, 0.999999, 1.0, 1e308, float("inf"),
                                float("nan")])
    return st.one_of(st.sampled_from([0, 1, 2, 3, max_value, max_value - 1, max_value // 2]),
                     st.integers(0, max_value))


# ------------------------------------------------------------------ byte mutations

def flip_bits(data: bytes, positions: list[int]) -> bytes:
    out = bytearray(data)
    for p in positions:
        out[(p // 8) % len(out)] ^= 1 << (p % 8)
    return bytes(out)


@st.composite
def mutated_bytes(draw, data: bytes) -> bytes:
    """Bit flips, a truncation, or a run of bytes overwritten with 0x00 / 0xFF / random."""
    kind = draw(st.sampled_from(["flip", "truncate", "overwrite", "flip+truncate"]))
    if "flip" in kind:
        data = flip_bits(data, draw(st.lists(st.integers(0, 8 * len(data) - 1), min_size=1,
                                             max_size=8)))
    if "truncate" in kind:
        data = data[:draw(st.integers(0, len(data) - 1))]
    if kind == "overwrite":
        at = draw(st.integers(0, len(data) - 1))
        run = draw(st.sampled_from([b"\x00" * 8, b"\xff" * 8]) | st.binary(min_size=1,
                                                                            max_size=16))
        data = data[:at] + run + data[at + len(run):]
    return data


# ------------------------------------------------------------------ video containers

@pytest.fixture(scope="module")
def warm_tables() -> None:
    """Load every registered set's coder tables once: a decode that tries the other sets
    fills these caches the first time (a one-time cost, not an allocation a forged input
    drives), which the 300 MB bound of `check` is not about."""
    from helix_lightning.dna.archive import encode_archive
    from helix_lightning.dna.constraints import coded_names

    for name in coded_names():
        encode_archive(b"warm", name)


@pytest.fixture(scope="module")
def codec():
    if not DEFAULT_CHECKPOINT.is_file():
        pytest.skip("no default model")
    return load_codec()


@st.composite
def forged_containers(draw) -> bytes:
    data = video_container(draw(st.sampled_from(["video_mid", "video_low", "video_high"])))
    if draw(st.booleans()):
        names = draw(st.lists(st.sampled_from(sorted(CONTAINER_MAX)), min_size=1, max_size=3,
                              unique=True))
        try:
            return forge_container(data, **{n: draw(extreme(CONTAINER_MAX[n])) for n in names})
        except struct.error:  # a negative float for a float field is fine; others not
            return data
    return draw(mutated_bytes(data))


def _decode_container(codec, data: bytes) -> None:
    codec.decode_bytes(data)


@fast(70)
@given(data=forged_containers())
def test_fuzz_video_containers(codec, data):
    check(lambda: _decode_container(codec, data))


def test_v1_container_fixture_mutations_parse_or_refuse():
    data = (FIXTURES / "container_v1.hxvc").read_bytes()

    @fast(30)
    @given(mutated=mutated_bytes(data))
    def run(mutated):
        check(lambda: container.from_bytes(mutated))

    run()


@slow(2000)
@given(data=forged_containers())
@pytest.mark.slow
def test_fuzz_video_containers_long(codec, data):
    check(lambda: _decode_container(codec, data))


# ------------------------------------------------------------------ archive headers

HEADER_FIELDS = sorted(HEADER_MAX)


@pytest.fixture(scope="module")
def standard_strands() -> list[str]:
    strands = strands_of("bytes_standard.fasta")
    decode_archive(strands)  # warm the coder once
    return strands


@st.composite
def header_fields(draw) -> dict:
    names = draw(st.lists(st.sampled_from(HEADER_FIELDS), min_size=1, max_size=3, unique=True))
    return {n: draw(extreme(HEADER_MAX[n])) for n in names}


@fast(40)
@given(fields=header_fields())
def test_fuzz_archive_headers(standard_strands, fields):
    strands = forge_archive(standard_strands, **fields)
    check(lambda: decode_archive(strands))


@fast(40)
@given(mutated=st.data())
def test_fuzz_header_bytes(standard_strands, mutated):
    """Raw header bytes, mutated, then read and checked as a decoder does."""
    found = find_header(standard_strands)
    raw = mutated.draw(mutated_bytes(found.header.pack()))

    def read() -> None:
        header = Header.unpack(raw)
        header.check_geometry(found.layout.bits, 200, 20, 20, 16)
        seg = header.segmentation()
        for s in range(min(seg.count, 3)):
            seg.symbols(s), header.repair(s)

    check(read)


@slow(2000)
@given(fields=header_fields())
@pytest.mark.slow
def test_fuzz_archive_headers_long(standard_strands, fields):
    strands = forge_archive(standard_strands, **fields)
    check(lambda: decode_archive(strands))


# ------------------------------------------------------------------ archives (FASTA strands)

BASES = "ACGT"


@st.composite
def mutated_strands(draw, strands: list[str]) -> list[str]:
    """Substituted bases, truncated / lengthened / dropped / duplicated strands, junk."""
    out = list(strands)
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["sub", "truncate", "extend", "drop", "dup", "junk",
                                     "shuffle-head"]))
        i = draw(st.integers(0, len(out) - 1))
        s = out[i]
        if kind == "sub" and s:
            j = draw(st.integers(0, len(s) - 1))
            out[i] = s[:j] + draw(st.sampled_from(BASES)) + s[j + 1:]
        elif kind == "truncate" and s:
            out[i] = s[:draw(st.integers(0, len(s) - 1))]
        elif kind == "extend":
            out[i] = s + draw(st.text(BASES, min_size=1, max_size=5))
        elif kind == "drop" and len(out) > 1:
            del out[i]
        elif kind == "dup":
            out.append(s)
        elif kind == "junk":
            out.append(draw(st.text(BASES, min_size=0, max_size=300)))
        elif kind == "shuffle-head":
            out = out[i:] + out[:i]
    return out


@fast(40)
@given(data=st.data())
def test_fuzz_archive_strands(standard_strands, data):
    strands = data.draw(mutated_strands(standard_strands))

    def decode() -> None:
        if strands:
            decode_archive(strands)

    check(decode)


@fast(10)
@given(data=st.data())
def test_fuzz_video_strands(codec, data):
    name = data.draw(st.sampled_from(["video_mid.fasta", "video_low.fasta",
                                      "video_mid_direct.fasta"]))
    strands = data.draw(mutated_strands(strands_of(name)))
    check(lambda: codec.decode_video(strands))


@fast(20)
@given(data=st.data())
def test_fuzz_fasta_file(tmp_path_factory, data):
    raw = (FIXTURES / "bytes_standard.fasta").read_bytes()
    path = tmp_path_factory.mktemp("fuzz") / "mutated.fasta"
    path.write_bytes(data.draw(mutated_bytes(raw)))

    def decode() -> None:
        strands = [s for _, s in read_sequences(path)]
        decode_archive(strands)

    check(decode)


@slow(3000)
@given(data=st.data())
@pytest.mark.slow
def test_fuzz_archive_strands_long(standard_strands, warm_tables, data):
    strands = data.draw(mutated_strands(standard_strands))
    check_pool(lambda: decode_archive(strands) if strands else None)


@slow(500)
@given(data=st.data())
@pytest.mark.slow
def test_fuzz_video_strands_long(codec, warm_tables, data):
    name = data.draw(st.sampled_from(["video_mid.fasta", "video_low.fasta",
                                      "video_high.fasta", "video_mid_direct.fasta"]))
    strands = data.draw(mutated_strands(strands_of(name)))
    check_pool(lambda: codec.decode_video(strands))


@slow(1000)
@given(data=st.data())
@pytest.mark.slow
def test_fuzz_fasta_file_long(tmp_path_factory, data):
    raw = (FIXTURES / data.draw(st.sampled_from(["bytes_standard.fasta", "bytes_fountain.fasta",
                                                 "bytes_custom_v2.fasta"]))).read_bytes()
    path = tmp_path_factory.mktemp("fuzz") / "mutated.fasta"
    path.write_bytes(data.draw(mutated_bytes(raw)))
    check_pool(lambda: decode_archive([s for _, s in read_sequences(path)]))

