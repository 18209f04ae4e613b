"""The library functions behind `helix dna capacity`, `helix dna check`, the constraint flags,
the FASTA record names and `helix dna bench`, called from Python."""

import pytest

from helix_lightning.dna.archive import encode_archive
from helix_lightning.dna.bench import bench_random, fsm_arm
from helix_lightning.dna.constraints import get_constraints
from helix_lightning.dna.inspect import capacity_report, check_archive, constraints_with_overrides
from helix_lightning.dna.records import fasta_records, parse_record_name, record_name
from helix_lightning.errors import HelixError


def test_constraints_with_overrides():
    assert constraints_with_overrides(None, {"max_run": None}) is None
    assert constraints_with_overrides("rl3", {}) == get_constraints("rl3")
    cs = constraints_with_overrides(None, {"max_run": 4, "motifs": ["GAATTC"]})
    base = get_constraints("standard")  # the default base, at encode and at decode
    assert cs.name == "custom" and cs.max_run == 4 and cs.motifs == ("GAATTC",)
    assert (cs.gc_window, cs.gc_min, cs.gc_max) == (base.gc_window, base.gc_min, base.gc_max)
    with pytest.raises(HelixError, match="cannot override"):
        constraints_with_overrides("rl3", {"name": "x"})


def test_capacity_report():
    r = capacity_report(get_constraints("standard"), 140)
    assert round(r["capacity"], 4) == 1.9145
    lo, hi = r["capacity_bounds"]
    assert lo <= r["capacity"] <= hi
    assert r["length"] == 140 and r["strand_capacity"] == pytest.approx(r["log2_count"] / 140,
                                                                         abs=1e-6)
    assert "length" not in capacity_report(get_constraints("rl3"))
    with pytest.raises(HelixError, match="positive"):
        capacity_report(get_constraints("rl3"), 0)


def test_check_archive(rng_bytes):
    data = rng_bytes(3000, seed=2)
    archive = encode_archive(data, "strict")
    s = check_archive(archive.strands)
    assert s["constraints"] == "strict" and s["violations"] == 0
    assert s["file_bytes"] == len(data) and s["nt"] == archive.stats.nt
    assert s["coding_density"] == round(archive.stats.coding_density, 4)
    assert s["net_density"] == round(archive.stats.net_density, 4)
    assert s["net_density_with_primers"] == round(archive.stats.net_density_with_primers, 4)
    bad = ["A" * 200, "C" * 200]  # no header: needs a set, and violates it
    with pytest.raises(HelixError, match="no archive header"):
        check_archive(bad)
    s = check_archive(bad, "rl3")
    assert s["violations"] > 0 and "nt" not in s


def test_record_names():
    assert record_name("standard", 5) == "helix:v1:standard:0000005"
    assert record_name("rl3", 12, coder="direct") == "helix-direct:v1:rl3:0000012"
    recs = fasta_records(["AC", "GT"], "custom", version=2)
    assert recs == [("helix:v2:custom:0000000", "AC"), ("helix:v2:custom:0000001", "GT")]
    assert parse_record_name("helix-direct:v1:rl3:0000012") == ("direct", 1, "rl3", 12)
    assert parse_record_name("read_17") is None and parse_record_name("helix:x1:a:1") is None
    archive = encode_archive(b"x" * 100, "rl3")
    assert archive.fasta_records()[0] == (record_name("rl3", 0, 3), archive.strands[0])


def test_bench_random_has_fsm_arms():
    df = bench_random(2000, seed=1, codes=["church"], fsm_sets=["rl3"])
    assert list(df["code"]) == ["church", "helix-fsm-rl3"]
    row = df.set_index("code").loc["helix-fsm-rl3"]
    assert bool(row["roundtrip_ok"]) and row["violations_rl3"] == 0
    assert 0 < row["net_density"] < row["coding_density"] <= 2
    arm = fsm_arm("rl3")
    assert arm.natural_constraints == "rl3" and arm.decode(arm.encode(b"abc" * 50)) == b"abc" * 50
