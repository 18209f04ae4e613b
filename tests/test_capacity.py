"""Capacity from the constraint graph against DESIGN.md's independently computed values."""

import math

import pytest

from helix_lightning.dna.capacity import log2_count, stationary
from helix_lightning.dna.constraints import ConstraintSet, encode_bases, get_constraints
from helix_lightning.dna.graph import build_graph
from helix_lightning.dna.primers import DEFAULT_PREFIX, DEFAULT_SUFFIX

REFERENCE = {"rl3": 1.9824, "standard": 1.9145, "strict": 1.7978, "rl2": 1.8662, "relaxed": 1.9957}


@pytest.mark.parametrize("name", ["rl3", "standard", "strict", "rl2", "relaxed"])
def test_capacity_matches_reference(name):
    cs = get_constraints(name)
    if name == "relaxed":  # max_run 4 alone: the whole-strand GC range does not bind a stream
        cs = ConstraintSet("rl4", max_run=4)
    assert stationary(build_graph(cs)).capacity == pytest.approx(REFERENCE[name], abs=5e-4)


def test_run_length_capacity_closed_form():
    # max_run 1 over 4 letters: every next base but the last one: log2(3)
    assert stationary(build_graph(ConstraintSet("r1", max_run=1))).capacity == pytest.approx(
        math.log2(3), abs=1e-9)


def test_exact_count_small_strand_by_brute_force():
    """log2_count equals a brute-force count over all 4^6 middles between the primers."""
    import itertools

    from helix_lightning.dna.constraints import check_strands

    cs = ConstraintSet("w6", max_run=2, gc_window=6, gc_min=0.34, gc_max=0.66)
    pre, suf = "ACGTCA", "TGCAGT"
    g = build_graph(cs)
    start = g.state_after(encode_bases(pre))
    term = g.terminal_mask(encode_bases(suf), 18)
    count = sum(check_strands([pre + "".join(m) + suf], cs).total == 0
                for m in itertools.product("ACGT", repeat=6))
    assert log2_count(g, start, term, 6) == pytest.approx(math.log2(count), abs=1e-9)


def test_fountain_strand_capacity_near_rl3():
    cs = get_constraints("fountain")
    total = 150 + 40
    g = build_graph(cs, total)
    start = g.state_after(encode_bases(DEFAULT_PREFIX))
    term = g.terminal_mask(encode_bases(DEFAULT_SUFFIX), total)
    per_nt = log2_count(g, start, term, 150) / 150
    assert 1.97 < per_nt < 1.9824 + 0.01


def _stationary_in_fresh_cache(name: str) -> float:
    """Worker: the stationary vector of `name`, built and cached by this process."""
    return stationary(build_graph(get_constraints(name))).capacity


def test_concurrent_processes_share_one_cache_entry(tmp_path, monkeypatch):
    """Several processes building the same cache entries at once (sweep workers, GPU runs
    side by side) each write a temporary file of their own: none fails, all agree."""
    import multiprocessing

    monkeypatch.setenv("HELIX_CACHE", str(tmp_path))
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        caps = pool.map(_stationary_in_fresh_cache, ["rl3"] * 8)
    assert len(set(caps)) == 1 and caps[0] == pytest.approx(stationary(
        build_graph(get_constraints("rl3"))).capacity)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names and not any(n.endswith(".tmp") for n in names)


def test_capacity_of_a_set_has_one_definition(tmp_path):
    """Every caller of "capacity of a named set" gets `constraint_capacity`'s number."""
    from helix_lightning.dna.bench import constraint_capacity as bench_capacity
    from helix_lightning.dna.capacity import constraint_capacity
    from helix_lightning.report.figures import capacity_of
    from helix_lightning.sweep.evaluate import capacity as sweep_capacity

    assert bench_capacity is constraint_capacity
    for name in ("rl3", "fountain", "relaxed"):
        cap = stationary(build_graph(get_constraints(name))).capacity
        assert constraint_capacity(name) == cap
        assert constraint_capacity(get_constraints(name)) == cap
        assert sweep_capacity(name) == cap and capacity_of(name) == cap
    yaml = tmp_path / "mine.yaml"
    yaml.write_text("max_run: 1\n")
    assert constraint_capacity(str(yaml)) == pytest.approx(math.log2(3), abs=1e-9)
    assert capacity_of("no-such-set") is None
