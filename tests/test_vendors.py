"""Synthesis-vendor rules: the shipped YAML files, the checker on hand-made strands, the local
rules as a constraint set (enforced by construction, round trip through the archive), and the
`python -m helix_lightning.dna.vendors` entry."""

import random

import pytest
import yaml

from helix_lightning.dna.archive import decode_archive, encode_archive
from helix_lightning.dna.constraints import check_strands, get_constraints
from helix_lightning.dna.fasta import write_fasta
from helix_lightning.dna.vendor_coding import implied_window_counts, rule_coverage
from helix_lightning.dna.vendors import (
    VENDOR_DIR,
    check_vendor,
    encode_for_vendor,
    get_vendor,
    main,
    vendor_constraints,
    vendor_from_dict,
    vendor_names,
)
from helix_lightning.errors import HelixError

#: a strand that passes every rule below: 50 random orders of ACGT (200 nt, 2 G/C in every 4,
#: runs <= 2, no repeat of 20 nt: checked in `_clean_ok`)
CLEAN = "".join("".join(random.Random(i).sample("ACGT", 4)) for i in range(50))


def _vendor(**rules) -> dict:
    return {"name": "lab", "provider": "A Lab", "source": "our bench notes", "date": "2026-11-01",
            "rules": rules}


RULES = dict(strand_length={"min": 100, "max": 250}, gc={"min": 0.30, "max": 0.70},
             gc_windows=[{"window": 20, "min": 0.25, "max": 0.75}],
             gc_window_spread={"window": 50, "max": 0.40}, max_homopolymer=5, repeat_length=20,
             motifs=["GAATTC"])


def _clean_ok() -> None:
    assert len(CLEAN) == 200
    assert len({CLEAN[i:i + 20] for i in range(181)}) == 181
    report = check_vendor([CLEAN], vendor_from_dict(_vendor(**RULES)))
    assert report.passed, report.lines()


# ---------------------------------------------------------------- the YAML files

@pytest.mark.parametrize("name", vendor_names())
def test_shipped_vendor_loads_with_source_and_date(name):
    v = get_vendor(name)
    raw = yaml.safe_load((VENDOR_DIR / f"{name}.yaml").read_text())
    assert v.name == name == raw["name"]
    assert v.source and v.date and v.provider
    assert "check the provider's current page" in v.note
    assert v.min_length <= 200 <= v.max_length  # the default strand length can be ordered
    assert v.gc_min is not None and v.repeat_length == 20 and v.max_homopolymer >= 3


def test_docs_table_lists_every_shipped_vendor():
    doc = (VENDOR_DIR.parents[3] / "docs" / "VENDORS.md").read_text()
    rows = {line.split("|")[1].strip(): line for line in doc.splitlines()
            if line.startswith("| ") and line.count("|") == 11}
    for name in vendor_names():
        v = get_vendor(name)
        row = rows[name]
        assert f"| {v.date} |" in row and f"| {v.min_length}-{v.max_length} |" in row
        assert f"| {v.gc_min:.0%}-{v.gc_max:.0%}".replace("%-", "-") in row
        assert f"| {v.max_homopolymer}" in row and f"| {v.repeat_length} nt" in row


def test_shipped_vendors_are_the_documented_ones():
    assert {"twist", "idt", "genscript"} <= set(vendor_names())
    twist = get_vendor("twist")
    assert (twist.gc_min, twist.gc_max, twist.spread_window, twist.spread_max) == (
        0.25, 0.65, 50, 0.52)


@pytest.mark.parametrize("data, message", [
    ({"name": "x", "provider": "p", "source": "s", "rules": {"max_homopolymer": 4}},
     r"missing keys \['date'\]"),
    (_vendor(max_homopolymers=4), r"unknown keys \['max_homopolymers'\]"),
    (_vendor(gc={"min": 25, "max": 65}), r"fraction in \[0, 1\]"),
    (_vendor(gc={"min": 0.7, "max": 0.3}), "min 0.7 is above max 0.3"),
    (_vendor(gc={"min": 0.3}), r"missing keys \['max'\]"),
    (_vendor(gc_windows=[{"window": 0, "min": 0.1, "max": 0.9}]), "whole number >= 1"),
    (_vendor(motifs=["GAXTC"]), "not an ACGT string"),
    (_vendor(repeat_length=2), "repeat_length must be >= 4"),
    (_vendor(), "no rules given"),
    ({**_vendor(max_homopolymer=4), "extra": 1}, r"unknown keys \['extra'\]"),
    ({**_vendor(max_homopolymer=4), "name": "Bad Name"}, "lowercase"),
    ([1, 2], "must be a mapping"),
])
def test_invalid_vendor_is_one_line_error(data, message):
    with pytest.raises(HelixError, match=message) as exc:
        vendor_from_dict(data)
    assert "\n" not in str(exc.value)


def test_vendor_by_path_and_unknown_name(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(_vendor(max_homopolymer=4)))
    assert get_vendor(str(path)).max_homopolymer == 4
    assert get_vendor(path).path == str(path)
    with pytest.raises(HelixError, match="unknown vendor 'nope'"):
        get_vendor("nope")
    with pytest.raises(HelixError, match="not found"):
        get_vendor(str(tmp_path / "missing.yaml"))
    (tmp_path / "broken.yaml").write_text("name: [unclosed\n")
    with pytest.raises(HelixError, match="not valid YAML"):
        get_vendor(str(tmp_path / "broken.yaml"))


# ---------------------------------------------------------------- the checker

def _failing(strand: str, rule: str):
    report = check_vendor([CLEAN, strand, CLEAN], vendor_from_dict(_vendor(**RULES)),
                          names=["a", "b", "c"])
    failed = {r.rule: r for r in report.failed}
    assert set(failed) == {rule}, report.lines()
    result = failed[rule]
    assert result.strands_failing == 1 and result.examples[0]["name"] == "b"
    assert not report.passed
    return result


def test_clean_strand_passes_every_rule():
    _clean_ok()
    report = check_vendor([CLEAN] * 3, vendor_from_dict(_vendor(**RULES)))
    assert [r.rule for r in report.rules] == ["strand_length", "gc", "gc_window_20",
                                              "gc_window_spread", "homopolymer", "repeat",
                                              "motifs"]
    assert report.passed and report.failure_lines() == []


def test_finds_each_kind_of_violation():
    assert "length 90" in _failing(CLEAN[:90], "strand_length").examples[0]["detail"]
    homo = CLEAN[:50] + "AAAAAAA" + CLEAN[57:]
    res = _failing(homo, "homopolymer")
    assert res.examples[0]["positions"] == [50] and res.examples[0]["detail"] == "A x 7"
    repeat = CLEAN[:30] + CLEAN[100:121] + CLEAN[51:100] + CLEAN[100:200]
    assert len(repeat) == 200
    res = _failing(repeat, "repeat")
    assert res.examples[0]["positions"] == [30, 100]
    motif = CLEAN[:80] + "GAATTC" + CLEAN[86:]
    res = _failing(motif, "motifs")
    assert res.examples[0]["positions"] == [80] and res.violations == 1


def test_gc_rules():
    at_rich = "".join(random.Random(5).choice("AT") if i % 3 else random.Random(i).choice("GC")
                      for i in range(200))
    only_gc = vendor_from_dict(_vendor(gc={"min": 0.40, "max": 0.60}))
    rep = check_vendor([CLEAN, at_rich], only_gc)
    assert [r.strands_failing for r in rep.rules] == [1]
    assert rep.rules[0].examples[0]["strand"] == 1
    # one 30-nt AT stretch: the 20-nt window rule and the 50-nt spread fail, not the whole strand
    patch = CLEAN[:100] + "ATTATAATTATAATTATAATTATAATTATA" + CLEAN[130:]
    loose = vendor_from_dict(_vendor(gc={"min": 0.3, "max": 0.7},
                                     gc_windows=[{"window": 20, "min": 0.25, "max": 0.75}],
                                     gc_window_spread={"window": 50, "max": 0.30}))
    rep = check_vendor([patch], loose)
    failed = {r.rule: r for r in rep.failed}
    assert set(failed) == {"gc_window_20", "gc_window_spread"}
    assert failed["gc_window_20"].examples[0]["positions"][0] > 80
    assert failed["gc_window_20"].violations > 1  # every window inside the stretch


def test_long_repeats_are_hashed_and_confirmed():
    v = vendor_from_dict(_vendor(repeat_length=40))
    doubled = CLEAN[:60] + CLEAN[:40] + CLEAN[100:]
    rep = check_vendor([CLEAN, doubled], v)
    assert rep.rules[0].strands_failing == 1 and rep.rules[0].examples[0]["positions"] == [0, 60]


def test_check_vendor_refuses_non_acgt():
    with pytest.raises(HelixError, match="non-ACGT"):
        check_vendor(["ACGTN" * 40], "twist")


# ---------------------------------------------------------------- by construction

def test_shipped_vendors_are_met_by_standard():
    for name in vendor_names():
        cs = vendor_constraints(name)
        assert cs == get_constraints("standard")  # standard's windows imply every local rule
        coverage = rule_coverage(name, cs)
        assert coverage["repeat"].startswith("checked")
        assert all(how.startswith("by construction") for rule, how in coverage.items()
                   if rule != "repeat"), coverage


def test_implied_window_bounds():
    std = get_constraints("standard")
    assert implied_window_counts(std, 50, 200) == (16, 34)  # 2 windows of 8..12 + 10 nt
    assert implied_window_counts(std, 200, 200) == (80, 120)
    assert implied_window_counts(std, 30, 200) == (8, 22)


def test_tighter_vendor_tightens_the_set():
    assert vendor_constraints(vendor_from_dict(_vendor(gc={"min": 0.45, "max": 0.55}))).name \
        == "strict"
    assert vendor_constraints(vendor_from_dict(_vendor(max_homopolymer=2))).name == "rl2"
    cs = vendor_constraints(vendor_from_dict(_vendor(max_homopolymer=2, motifs=["GAATC"])),
                            base="rl3")
    assert (cs.name, cs.max_run, cs.gc_window, cs.motifs) == ("rl3+lab", 2, None, ("GAATC",))
    # a base without windows gets the coder's 20-nt window when the vendor needs one
    cs = vendor_constraints(vendor_from_dict(_vendor(gc_window_spread={"window": 50,
                                                                        "max": 0.30})), "rl3")
    assert cs.gc_window == 20 and cs.gc_bounds(20) == (9, 11)


def test_motif_too_long_for_the_graph_stays_checked():
    v = vendor_from_dict(_vendor(motifs=["GGTCTC", "AAAA"]))
    cs = vendor_constraints(v)
    assert cs == get_constraints("standard")  # AAAA is excluded by max_run 3 already
    assert "GGTCTC" in rule_coverage(v, cs)["motifs"]


def test_encode_for_vendor_passes_every_rule(rng_bytes):
    data = rng_bytes(3000, seed=11)
    archive, report = encode_for_vendor(data, "twist")
    assert report.passed and report.strands == len(archive.strands)
    assert report.vendor == "twist" and not report.failed
    assert archive.strands == encode_archive(data, "standard").strands
    assert check_vendor(archive.strands, "idt").passed
    assert check_vendor(archive.strands, "genscript").passed
    with pytest.raises(HelixError, match="outside genscript's 20-200 nt"):
        encode_for_vendor(data, "genscript", strand_len=220)


def test_vendor_motif_set_round_trips(rng_bytes, tmp_path):
    path = tmp_path / "lab.yaml"
    path.write_text(yaml.safe_dump(_vendor(max_homopolymer=2, motifs=["GAATTC", "GATC"],
                                           repeat_length=20)))
    data = rng_bytes(2500, seed=12)
    archive, report = encode_for_vendor(data, str(path), "rl3")
    cs = archive.cs
    assert (cs.name, cs.max_run, cs.motifs) == ("rl3+lab", 2, ("GATC", "GAATTC"))
    assert report.passed and check_strands(archive.strands, cs).total == 0
    assert not any("GATC" in s or "GAATTC" in s for s in archive.strands)
    assert archive.header.defines_set  # a custom set: its definition travels in the header
    back, rep = decode_archive(archive.strands[::-1], constraints=vendor_constraints(path, "rl3"))
    assert back == data and rep.ok
    # the vendor's rules are in the header: decoding with the plain base set is refused
    with pytest.raises(HelixError):
        decode_archive(archive.strands, constraints="rl3")


# ---------------------------------------------------------------- python -m ... vendors

def test_module_entry(tmp_path, capsys, rng_bytes):
    _clean_ok()
    good, bad = tmp_path / "good.fasta", tmp_path / "bad.fasta"
    write_fasta(good, [("s0", CLEAN), ("s1", CLEAN[::-1])])
    write_fasta(bad, [("s0", CLEAN), ("s1", CLEAN[:50] + "A" * 12 + CLEAN[62:])])
    assert main(["check", str(good), "--vendor", "twist"]) == 0
    assert "all rules pass" in capsys.readouterr().out
    assert main(["check", str(bad), "--vendor", "twist"]) == 1
    out = capsys.readouterr().out
    assert "FAIL homopolymer" in out and "strand 1 s1 at 50: A x 12" in out
    assert main(["check", str(bad), "--vendor", "twist", "--json"]) == 1
    assert '"passed": false' in capsys.readouterr().out
    assert main(["check", str(good), "--vendor", "nope"]) == 2
    assert capsys.readouterr().err.startswith("error: unknown vendor")
    assert main(["list"]) == 0 and "twist" in capsys.readouterr().out
    assert main(["show", "idt"]) == 0
    assert "gc_window_50       by construction" in capsys.readouterr().out


def test_cli_encode_and_check_with_a_vendor(tmp_path, capsys):
    """`helix dna encode --vendor` writes strands that pass; `dna check --vendor` reports the
    vendor's rules in the JSON and exits 1 (failing rule on stderr) for a pool that breaks one."""
    import json as _json

    from helix_lightning.cli import main

    src = tmp_path / "a.bin"
    src.write_bytes(bytes(range(256)) * 8)
    fasta = tmp_path / "a.fasta"
    assert main(["dna", "encode", str(src), "-o", str(fasta), "-q", "--vendor", "twist"]) == 0
    capsys.readouterr()
    assert main(["dna", "check", str(fasta), "--vendor", "twist"]) == 0
    out = _json.loads(capsys.readouterr().out)
    assert out["violations"] == 0 and out["vendor"]
    bad = tmp_path / "bad.fasta"
    bad.write_text(">x\n" + "ACGT" * 10 + "A" * 12 + "ACGT" * 10 + "\n")
    assert main(["dna", "check", str(bad), "--vendor", "twist", "--constraints", "rl3"]) == 1
    captured = capsys.readouterr()
    assert "homopolymer" in captured.err and _json.loads(captured.out)["vendor"]
    assert main(["dna", "check", str(bad), "--vendor", "nosuchvendor"]) == 2
    assert capsys.readouterr().err.startswith("error: ")
