"""The default primers satisfy every named set on their own, the tightest combination included."""

import pytest

from helix_lightning.dna.constraints import CONSTRAINT_SETS, ConstraintSet, check_strands
from helix_lightning.dna.primers import DEFAULT_PREFIX, DEFAULT_SUFFIX, reverse_complement

TIGHTEST = ConstraintSet("rl2-strict", max_run=2, gc_window=20, gc_min=0.45, gc_max=0.55)


@pytest.mark.parametrize("primer", [DEFAULT_PREFIX, DEFAULT_SUFFIX])
def test_primer_satisfies_every_set(primer):
    for name, make in CONSTRAINT_SETS.items():
        assert check_strands([primer], make()).total == 0, name
    assert check_strands([primer], TIGHTEST).total == 0


def test_primers_are_distinct_from_each_other_and_their_complements():
    def dist(a, b):
        return sum(x != y for x, y in zip(a, b))

    for a, b in [(DEFAULT_PREFIX, DEFAULT_SUFFIX),
                 (DEFAULT_PREFIX, reverse_complement(DEFAULT_SUFFIX)),
                 (DEFAULT_PREFIX, reverse_complement(DEFAULT_PREFIX)),
                 (DEFAULT_SUFFIX, reverse_complement(DEFAULT_SUFFIX))]:
        assert dist(a, b) >= 10
