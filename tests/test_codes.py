"""Classic DNA codes (church, goldman, fountain, yinyang) and the code benchmark."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helix_lightning.dna.bench import Arm, bench_codes, print_bench, write_csv
from helix_lightning.dna.codes import DNA_CODES, DnaCode, get_code, register_code
from helix_lightning.dna.constraints import ConstraintSet, check_strands, get_constraints
from helix_lightning.dna.primers import DEFAULT_PREFIX, DEFAULT_SUFFIX
from helix_lightning.errors import HelixError

ALL = sorted(DNA_CODES)
DATA = random.Random(7).randbytes(3000)


def bodies(code: DnaCode, strands: list[str]) -> list[str]:
    return [s[len(code.prefix):len(s) - len(code.suffix)] for s in strands]


@pytest.fixture(scope="module")
def encoded() -> dict[str, list[str]]:
    return {name: get_code(name).encode(DATA) for name in ALL}


def test_registry() -> None:
    assert {"church", "goldman", "fountain", "yinyang"} <= set(DNA_CODES)
    with pytest.raises(HelixError):
        get_code("nope")


@pytest.mark.parametrize("name", ALL)
def test_round_trip_any_order(name: str, encoded: dict[str, list[str]]) -> None:
    code = get_code(name)
    strands = list(encoded[name])
    random.Random(1).shuffle(strands)
    assert code.decode(strands) == DATA
    assert all(s.startswith(DEFAULT_PREFIX) and s.endswith(DEFAULT_SUFFIX) for s in strands)
    assert {len(b) for b in bodies(code, strands)} == {code.body_len}


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("data", [b"", b"\x00", b"\xff", bytes(600)])
def test_round_trip_edge_cases(name: str, data: bytes) -> None:
    code = get_code(name)
    assert code.decode(code.encode(data)) == data


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=300), name=st.sampled_from(ALL))
def test_round_trip_property(data: bytes, name: str) -> None:
    code = get_code(name)
    assert code.decode(code.encode(data)) == data


@pytest.mark.parametrize("name", ALL)
def test_natural_constraints_hold(name: str, encoded: dict[str, list[str]]) -> None:
    code = get_code(name)
    assert check_strands(encoded[name], get_constraints(code.natural_constraints)).total == 0


def test_church_one_bit_per_nt_and_runs(encoded: dict[str, list[str]]) -> None:
    code = get_code("church")
    assert code.coding_density() == 1.0
    assert code.payload_bits_per_strand() == code.body_len == 115
    report = check_strands(encoded["church"], get_constraints("rl3"))
    assert report.total == 0 and report.max_run <= 3
    # 0 -> A|C, 1 -> G|T: the address of the first block is all zeros
    first = [b for b in bodies(code, encoded["church"]) if set(b[:19]) <= {"A", "C"}]
    assert len(first) == 1


def test_goldman_has_no_homopolymers(encoded: dict[str, list[str]]) -> None:
    code = get_code("goldman")
    report = check_strands(bodies(code, encoded["goldman"]), ConstraintSet("hp1", max_run=1))
    assert report.total == 0 and report.max_run == 1
    assert code.body_len == 117


def test_goldman_survives_a_lost_fragment(encoded: dict[str, list[str]]) -> None:
    strands = list(encoded["goldman"])
    del strands[len(strands) // 2]  # each base is covered by 4 fragments
    assert get_code("goldman").decode(strands) == DATA


def test_goldman_overlap_parameter() -> None:
    code = get_code("goldman", overlap=50)
    assert code.decode(code.encode(DATA)) == DATA


def test_fountain_strands_pass_the_screen(encoded: dict[str, list[str]]) -> None:
    strands = encoded["fountain"]
    report = check_strands(strands, get_constraints("fountain"))  # whole strand, primers in
    assert report.total == 0 and report.max_run <= 3
    assert 0.45 <= report.gc_min_seen and report.gc_max_seen <= 0.55
    code = get_code("fountain")
    assert code.body_len == 152 and code.coding_density() == 2.0
    k = (len(DATA) + 1 + 31) // 32
    assert len(strands) - 1 >= k * 1.07  # the header strand plus >= 7% redundancy


def test_fountain_corrects_a_byte_error(encoded: dict[str, list[str]]) -> None:
    pytest.importorskip("reedsolo")
    strands = list(encoded["fountain"])
    p = len(DEFAULT_PREFIX)
    s = strands[3]
    flipped = {"A": "C", "C": "G", "G": "T", "T": "A"}[s[p + 50]]
    strands[3] = s[:p + 50] + flipped + s[p + 51:]  # one base = inside one RS byte
    assert get_code("fountain").decode(strands) == DATA


def test_missing_strands_raise(encoded: dict[str, list[str]]) -> None:
    for name in ("church", "yinyang"):
        strands = list(encoded[name])
        del strands[0]
        with pytest.raises(HelixError):
            get_code(name).decode(strands)
    with pytest.raises(HelixError):
        get_code("fountain").decode(encoded["fountain"][: len(encoded["fountain"]) // 2])
    with pytest.raises(HelixError):
        get_code("church").decode([])
    with pytest.raises(HelixError):
        get_code("church").decode(["ACGT" * 10])


def test_register_code_decorator() -> None:
    @register_code("_identity_test")
    class Identity(DnaCode):
        body_len = 8

        def encode(self, data: bytes) -> list[str]:
            return []

        def decode(self, strands: list[str]) -> bytes:
            return b""

        def payload_bits_per_strand(self) -> float:
            return 16.0

    try:
        assert DNA_CODES["_identity_test"] is Identity and get_code("_identity_test").name
        assert Identity().coding_density() == 2.0
    finally:
        del DNA_CODES["_identity_test"]


def test_bench_codes(tmp_path) -> None:
    data = random.Random(0).randbytes(20_000)
    church = get_code("church")
    df = bench_codes(data, extra_arms={
        "church_again": (church.encode, church.decode, church.coding_density, "rl3"),
        "goldman_arm": Arm.from_code("goldman"),
    })
    sets = ["rl3", "fountain", "standard", "strict", "relaxed"]
    expected = ["code", "natural_constraints", "strands", "nt", "coding_density", "net_density",
                "capacity", "capacity_share", *[f"violations_{s}" for s in sets],
                "encode_nt_per_s", "decode_nt_per_s", "roundtrip_ok"]
    assert set(expected) <= set(df.columns)
    assert list(df["code"]) == list(DNA_CODES) + ["church_again", "goldman_arm"]
    assert df["roundtrip_ok"].all()
    for row in df.itertuples():
        assert getattr(row, f"violations_{row.natural_constraints}") == 0
        assert row.net_density < row.coding_density + 1e-9
    church_row = df.set_index("code").loc["church"]
    assert church_row["nt"] == church_row["strands"] * 115
    assert np.isclose(church_row["capacity_share"], 1.0 / church_row["capacity"])
    print_bench(df)
    out = write_csv(df, tmp_path / "sub" / "bench.csv")
    assert out.read_text().startswith("code,")


def test_bench_marks_a_failed_round_trip() -> None:
    df = bench_codes(b"abc", codes=[], constraint_sets=["rl3"],
                     extra_arms={"broken": Arm(lambda d: ["ACGT"], lambda s: b"", 2.0,
                                               primer_nt=0)})
    row = df.iloc[0]
    assert not row["roundtrip_ok"] and np.isnan(row["capacity"])


# ---------------------------------------------------------------- cross-checks with Chamaeleo

def test_rules_match_chamaeleo() -> None:
    """Goldman's rotating code, Rule 495 of Yin-Yang and the robust soliton, vs Chamaeleo."""
    inherent = pytest.importorskip("Chamaeleo.methods.inherent")
    flowed = pytest.importorskip("Chamaeleo.methods.flowed")
    from helix_lightning.dna.codes import BASE_OF, _rotate, robust_soliton_cdf

    for prev, table in inherent.rotate_codes.items():
        for trit, base in enumerate(table):
            got = _rotate(np.array([trit]), "ACGT".index(prev))[0]
            assert "ACGT"[got] == base
    yyc = flowed.YinYangCode()
    for prev in "ACGT":
        for yang in (0, 1):
            for yin in (0, 1):
                want = yyc._bits_to_nucleotide(yang, yin, prev)
                assert "ACGT"[BASE_OF["ACGT".index(prev), yang, yin]] == want
    for k in (50, 1000, 6251):
        value = 0.025 * np.log(k / 0.001) * np.sqrt(k)
        cdf, _ = flowed.DNAFountain.PRNG.gen_rsd_cdf(k, value, 0.001)
        assert np.allclose(robust_soliton_cdf(k), cdf)


def test_print_bench_narrow_console_transposes() -> None:
    from rich.console import Console

    df = bench_codes(b"hello", codes=["church"], constraint_sets=["rl3"])
    console = Console(width=60, record=True)
    print_bench(df, console=console)
    text = console.export_text()
    assert "metric" in text and "viol rl3" in text
