"""The default primer pair, and where a primer (or what is left of it) sits in a read.

The pair was chosen by a seeded search (20 nt each, exactly 10 G+C, longest run 2, every base
at least 4 times, far from each other and from their reverse complements) and is checked
against every named constraint set, `strict` windows and max_run 2 included, in the tests.

Reads as labs have them carry the primers whole, in part (a read that starts inside the primer,
a trimmer that left a few bases), behind a few bases of adapter read-through, or not at all
(primer-trimmed). `find_head` and `find_tail` locate the payload boundary at either end.
"""

from __future__ import annotations

import edlib

DEFAULT_PREFIX = "TAAGCCACGCTTGTGATGAC"
DEFAULT_SUFFIX = "ATGCGACGTCGCATTGAGAT"

END_SLACK = 24   # bases beyond a primer searched at a read end (read-through adapters, indels)
MIN_REMNANT = 6  # shortest primer remnant recognised at a read end (1 in 4096 by chance)

_COMPLEMENT = str.maketrans("ACGT", "TGCA")


def reverse_complement(seq: str) -> str:
    return seq.translate(_COMPLEMENT)[::-1]


def max_primer_edits(primer: str) -> int:
    """Edits allowed in a whole primer match: a fifth of its length, at least 2 (4 for 20 nt:
    1 in 10,000 payloads has such a match near its end by chance, 5 would give 1 in 500)."""
    return max(2, len(primer) // 5)


def find_head(read: str, primer: str) -> tuple[int, bool] | None:
    """Where the payload starts after `primer` at the read's start: (position, whole primer).

    The whole primer is searched (edlib infix alignment) within END_SLACK bases of the start;
    else a remnant of its 3' end that starts the read (one substitution allowed from 10 nt).
    """
    window = read[:len(primer) + END_SLACK]
    at = window.find(primer)
    if at >= 0:
        return at + len(primer), True
    res = edlib.align(primer, window, mode="HW", task="locations", k=max_primer_edits(primer))
    if res["editDistance"] >= 0:
        return res["locations"][0][1] + 1, True
    for size in range(min(len(primer) - 1, len(read)), MIN_REMNANT - 1, -1):
        if _near(read[:size], primer[-size:]):
            return size, False
    return None


def find_tail(read: str, primer: str) -> tuple[int, bool] | None:
    """Where the payload ends before `primer` at the read's end: (position, whole primer).

    The mirror of `find_head`: the whole primer near the end, else a remnant of its 5' start
    that ends the read.
    """
    found = find_head(reverse_complement(read), reverse_complement(primer))
    return None if found is None else (len(read) - found[0], found[1])


def _near(a: str, b: str) -> bool:
    """Equal strings, or (10 nt and more) strings one substitution apart."""
    if a == b:
        return True
    return len(a) >= 10 and sum(x != y for x, y in zip(a, b)) <= 1
