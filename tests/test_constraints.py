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
