"""Which weak strands a segment's next decode leaves out, when its hash says a wrong strand got
in: sets of at most `spare` strands, likeliest to hold every wrong one first.

A wrong strand (one that passed its short check by chance: mostly list-decoded ones,
`list_decode`) spoils the decode that uses it; the decode succeeds once every wrong strand is
left out and at least k + 2 strands remain, so a set left out may hold at most `spare` =
received - (k + 2) strands. Each weak strand has a risk, the spellings or candidates its read
cluster tried (a spelling found after t tries is wrong with probability about t times the
check's false-pass rate). The weak strands, riskiest first, are cut into blocks of spare / 2
and of spare / 3 strands; a set is two blocks of the first size or three of the second, so
up to three wrong strands in different places can be left out together, and sets are tried in
order of the risk they hold (the chance that no wrong strand stays outside grows with it).
Sets inside one that already failed are skipped.
"""

from __future__ import annotations

import itertools
from typing import Iterator, Sequence

TOP_BLOCKS = 16  # blocks (the riskiest) that sets are made of, per block size


def exclusion_sets(risk: Sequence[float], spare: int) -> Iterator[frozenset[int]]:
    """Positions (into `risk`, one value per weak strand) to leave out, best set first; each
    set holds at most `spare` positions. Endless callers should stop after their budget."""
    n = len(risk)
    if spare <= 0 or n == 0:
        return
    order = sorted(range(n), key=lambda i: -risk[i])
    scored: list[tuple[float, frozenset[int]]] = []
    for parts in (2, 3):
        size = max(1, spare // parts)
        blocks = [order[a:a + size] for a in range(0, n, size)][:TOP_BLOCKS]
        mass = [sum(risk[i] for i in b) for b in blocks]
        for combo in itertools.combinations(range(len(blocks)), min(parts, len(blocks))):
            scored.append((sum(mass[c] for c in combo),
                           frozenset(i for c in combo for i in blocks[c])))
    scored.sort(key=lambda t: -t[0])
    tried: list[frozenset[int]] = []
    for _, chosen in scored:
        if any(chosen <= t for t in tried):
            continue
        tried.append(chosen)
        yield chosen
