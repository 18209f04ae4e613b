"""Constraint sets, their registry and the violation checker."""

import pytest

from helix_lightning.dna.constraints import (
    CONSTRAINT_SETS,
    ConstraintSet,
    check_strands,
    constraints_from_dict,
    get_constraints,
)
from helix_lightning.errors import HelixError


def test_named_sets_match_design():
    assert set(CONSTRAINT_SETS) >= {"rl3", "fountain", "standard", "strict", "relaxed"}
    std = get_constraints("standard")
    assert (std.max_run, std.gc_window, std.gc_min, std.gc_max) == (3, 20, 0.40, 0.60)
    strict = get_constraints("strict")
    assert (strict.gc_window, strict.gc_min, strict.gc_max) == (20, 0.45, 0.55)
    fountain = get_constraints("fountain")
    assert fountain.gc_window is None and (fountain.gc_min, fountain.gc_max) == (0.45, 0.55)
    relaxed = get_constraints("relaxed")
    assert relaxed.max_run == 4 and relaxed.gc_window is None


def test_unknown_set_is_a_user_error():
    with pytest.raises(HelixError, match="unknown constraint set"):
        get_constraints("nope")


def test_yaml_set(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("max_run: 2\ngc_window: 10\ngc_min: 0.3\ngc_max: 0.7\nmotifs: [gaattc]\n")
    cs = get_constraints(str(path))
    assert cs.name == "mine" and cs.max_run == 2 and cs.motifs == ("GAATTC",)
    with pytest.raises(HelixError, match="unknown constraint keys"):
        constraints_from_dict({"max_runs": 3})


def test_checker_counts_runs_windows_and_motifs():
    cs = ConstraintSet("t", max_run=3, gc_window=4, gc_min=0.25, gc_max=0.75, motifs=("GAATTC",))
    assert check_strands(["ACGTACGT"], cs).total == 0
    rep = check_strands(["AAAAC"], cs)
    assert rep.run_violations == 1 and rep.max_run == 4
    rep = check_strands(["GCGCAT"], cs)  # windows GCGC (4/4: bad), CGCA (3/4), GCAT (2/4)
    assert rep.window_violations == 1
    rep = check_strands(["ACGAATTCGT"], cs)
    assert rep.motif_violations == 1


def test_whole_strand_gc():
    cs = get_constraints("fountain")
    assert check_strands(["GCGA" * 10], cs).strand_gc_violations == 1
    assert check_strands(["GCAT" * 10], cs).strand_gc_violations == 0


# ---------------------------------------------------------------- the registry and its codes

#: Archive format codes of the released sets: written into every archive header, never changed.
RELEASED_CODES = {"rl3": 0, "fountain": 1, "standard": 2, "strict": 3, "relaxed": 4, "rl2": 5}


def test_released_format_codes_are_pinned():
    from helix_lightning.dna.constraints import CONSTRAINT_CODES, coded_names, format_code

    assert {n: CONSTRAINT_CODES[n] for n in RELEASED_CODES} == RELEASED_CODES
    assert coded_names()[:6] == list(RELEASED_CODES)
    for name, code in RELEASED_CODES.items():
        assert format_code(get_constraints(name)) == code
    # a set with a registered name but another definition is custom: no code
    changed = ConstraintSet("standard", max_run=4, gc_window=20, gc_min=0.4, gc_max=0.6)
    assert format_code(changed) is None


def test_registration_codes_are_unique_and_fixed():
    from helix_lightning.dna.constraints import (
        CONSTRAINT_CODES,
        constraints_for_code,
        register_constraints,
        registered_names,
        unregister_constraints,
    )

    with pytest.raises(HelixError, match="already belongs to constraint set 'standard'"):
        register_constraints("other", code=2)
    with pytest.raises(HelixError, match="code never changes"):
        register_constraints("standard", code=9)
    with pytest.raises(HelixError, match="0..254"):
        register_constraints("other", code=255)
    try:
        register_constraints("toy_a", code=201)(lambda: ConstraintSet("toy_a", max_run=2))
        register_constraints("toy_b")(lambda: ConstraintSet("toy_b", max_run=5))
        assert constraints_for_code(201) == ConstraintSet("toy_a", max_run=2)
        assert registered_names()[-2:] == ["toy_a", "toy_b"]  # coded ones first, then the rest
        assert registered_names().index("toy_a") < registered_names().index("toy_b")
        assert "toy_b" not in CONSTRAINT_CODES and get_constraints("toy_b").max_run == 5
    finally:
        unregister_constraints("toy_a")
        unregister_constraints("toy_b")
    assert "toy_a" not in registered_names()
    with pytest.raises(HelixError, match="code 201, which this build does not know"):
        constraints_for_code(201)


def test_implies_is_sound_on_random_strands():
    import random

    from helix_lightning.dna.constraints import registered_names, valid_strands

    sets = [get_constraints(n) for n in registered_names()] + [
        ConstraintSet("a", max_run=3, gc_min=0.35, gc_max=0.6),
        ConstraintSet("b", max_run=4, gc_window=20, gc_min=0.4, gc_max=0.6, motifs=("GAATTC",)),
        ConstraintSet("c", max_run=2, motifs=("AATT",)),
        ConstraintSet("d", max_run=4, motifs=("GAATTCA",)),
    ]
    rng = random.Random(4)
    seqs = ["".join(rng.choice("ACGGCTAT") for _ in range(40)) for _ in range(4000)]
    masks = {cs.name: valid_strands(seqs, cs) for cs in sets}
    pairs = 0
    for a in sets:
        for b in sets:
            if a.implies(b):
                pairs += a is not b
                assert not (masks[a.name] & ~masks[b.name]).any(), (a.name, b.name)
    assert pairs >= 10
    std, strict = get_constraints("standard"), get_constraints("strict")
    assert strict.implies(std) and not std.implies(strict)
    assert get_constraints("fountain").implies(get_constraints("rl3"))
    # avoiding AATT avoids every motif that contains it, not the other way round
    assert sets[-2].implies(sets[-1]) and not sets[-1].implies(sets[-2])
    assert not ConstraintSet("e", max_run=2).implies(sets[-2])


def test_valid_strands_agrees_with_the_checker():
    import random

    from helix_lightning.dna.constraints import registered_names, valid_strands

    rng = random.Random(5)
    seqs = ["".join(rng.choice("ACGGCTAT") for _ in range(rng.choice([40, 60])))
            for _ in range(300)]
    for cs in [get_constraints(n) for n in registered_names()] + [
            ConstraintSet("m", max_run=4, motifs=("GAATTC", "ACG"))]:
        expected = [check_strands([s], cs).total == 0 for s in seqs]
        assert valid_strands(seqs, cs).tolist() == expected


def test_format_doc_table_is_the_registry():
    """docs/FORMAT.md's table of codes lists exactly the coded sets, with their definitions."""
    from pathlib import Path

    from helix_lightning.dna.constraints import CONSTRAINT_CODES, coded_names

    doc = (Path(__file__).resolve().parents[1] / "docs" / "FORMAT.md").read_text()
    rows = {}
    for line in doc.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 7 and cells[0].isdigit():
            code, name, max_run, window, lo, hi, motifs = cells
            assert motifs == ("-" if not get_constraints(name).motifs
                              else ", ".join(get_constraints(name).motifs))
            rows[name] = (int(code), int(max_run), None if window.startswith("-") else int(window),
                          float(lo), float(hi))
    assert list(rows) == coded_names()
    for name, row in rows.items():
        cs = get_constraints(name)
        assert row == (CONSTRAINT_CODES[name], cs.max_run, cs.gc_window, cs.gc_min, cs.gc_max)
