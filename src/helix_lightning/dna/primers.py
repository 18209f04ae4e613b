"""The default primer pair.

Chosen by a seeded search (20 nt each, exactly 10 G+C, longest run 2, every base at least 4
times, far from each other and from their reverse complements) and checked against every
named constraint set, `strict` windows and max_run 2 included, in the tests.
"""

DEFAULT_PREFIX = "TAAGCCACGCTTGTGATGAC"
DEFAULT_SUFFIX = "ATGCGACGTCGCATTGAGAT"

_COMPLEMENT = str.maketrans("ACGT", "TGCA")


def reverse_complement(seq: str) -> str:
    return seq.translate(_COMPLEMENT)[::-1]
