"""Check-aided list decoding: read clusters whose vote gave no valid strand, decoded again with
the strand check as the judge.

A cluster's plain vote (`consensus`) fails when its reads disagree where there are too few of
them to outvote an error (two reads: a tie at every difference) or when the vote against a
noisy reference read goes wrong. Here every slot of the vote (a base, or the gap before one)
keeps its runner-up with a cost, the votes it is behind the winner (0 for a tie). Spellings of
the strand's length are tried in order of total cost, cheapest first (the single, then double
edits most reads back), against up to three references (the first read, the first vote's
winner, the second read), until one passes `verify`: the strand check, the index range and the
constraint set's code (a spelling off the FSM code's image fails). Clusters of one read are not
list-decoded: with no second read nothing says where its errors are, and trying every edit
would let the short check pass wrong spellings.

How many spellings a cluster may try is capped (`MAX_TRIES` per reference, new spellings
only; `PAIR_TRIES` for a two-read cluster), and that cap sets how many wrong strands get
through: a wrong spelling passes a c-bit check with probability about 2^-c (the FSM code
rejects some more: 30% of the one-substitution and 50% of the deletion-plus-insertion
neighbours of valid strands, 1,000 of each measured), so a cluster that tries t spellings lets
one through with probability about t * 2^-c. A two-read cluster is list-decoded only if every
spelling of the right length fits in the list (when it does not, the strand is rarely in it,
and the tries only spend the false-pass budget). The check is not widened (no format change):
what gets through is fed to the outer code as a weak strand whose risk is the spellings its
cluster tried, after every strand fewer tries or more reads vouch for
(`archive.decode_found`), and when a segment's hash fails the decoder leaves out the sets of
weak strands holding the most risk (`ejection.exclusion_sets`). With that, 256 spellings per
reference and 2,048 for a pair are used (1 MB at coverage 5: docs/RESULTS.md); with random
retries 256 had failed 2 of 5 seeds at coverage 5 (about two wrong strands per 1 MB archive).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import edlib
import numpy as np

from .consensus import _GAP, _LETTERS, Candidate, _codes, _parse_cigars, _tally

Verify = Callable[[list[str]], np.ndarray]

MAX_TRIES = 256      # new spellings one cluster may try per reference (false-pass budget)
PAIR_TRIES = 2048    # the same for a two-read cluster (only when all its spellings fit)
MAX_FLIPS = 20       # cheapest runner-ups a spelling may draw on
MAX_EXAMINED = 4096  # subsets looked at per reference (most have the wrong length), at least
#                      4 per spelling allowed
MAX_READS = 10       # reads of a cluster voted on
BATCH = 20_000       # spellings verified at once


@dataclass
class VoteSlots:
    """One vote laid out in slots (gap 0, base 0, gap 1, ..., gap L): the winning symbol per
    slot and the runner-ups as (cost, slot, symbol, length change), cheapest first."""

    choice: np.ndarray
    flips: list[tuple[int, int, int, int]]

    def spell(self, flips: Sequence[int] = ()) -> str:
        seg = self.choice.copy()
        for f in flips:
            seg[self.flips[f][1]] = self.flips[f][2]
        return _LETTERS[seg[seg != _GAP]].tobytes().decode("ascii")


def vote_slots(reads: Sequence[str], ref: str) -> VoteSlots:
    """Vote `reads` against `ref` (as `consensus.vote` does) and keep every slot's runner-up."""
    cigars = [edlib.align(read, ref, task="path")["cigar"] for read in reads]
    op_len, op_kind, op_aln = _parse_cigars(cigars)
    n = len(reads)
    counts, inserts = _tally(op_len, op_kind, op_aln, np.zeros(n, dtype=np.int64),
                             np.array([len(ref)]), _codes("".join(reads)))
    L = len(ref)
    choice = np.full(2 * L + 1, _GAP, dtype=np.uint8)
    flips: list[tuple[int, int, int, int]] = []
    order = np.argsort(-counts, axis=1, kind="stable")
    top, second = order[:, 0], order[:, 1]
    choice[1::2] = top
    c_top = counts[np.arange(L), top]
    c_second = counts[np.arange(L), second]
    for r in np.flatnonzero(c_second > 0).tolist():
        win, alt = int(top[r]), int(second[r])
        change = (alt != _GAP) - (win != _GAP)
        flips.append((int(c_top[r] - c_second[r]), 2 * r + 1, alt, change))
    ins_total = inserts.sum(axis=1)
    best_ins = inserts.argmax(axis=1)
    for q in np.flatnonzero(ins_total > 0).tolist():
        with_base = int(inserts[q, best_ins[q]])
        without = n - int(ins_total[q])
        if 2 * int(ins_total[q]) > n:   # the insertion won (as in consensus._decide)
            choice[2 * q] = best_ins[q]
            flips.append((with_base - without, 2 * q, _GAP, -1))
        else:
            flips.append((without - with_base, 2 * q, int(best_ins[q]), 1))
    flips.sort()
    return VoteSlots(choice, flips)


def ranked_spellings(slots: VoteSlots, length: int, limit: int = MAX_TRIES,
                     max_cost: int | None = None, complete_only: bool = False) -> list[str]:
    """Up to `limit` distinct spellings of exactly `length` nt, cheapest first: the winner,
    then sets of runner-ups in order of their summed cost (each set once). `complete_only`:
    none at all unless every such spelling fits in `limit` (a list that cannot hold them all
    is unlikely to hold the strand, and would only spend the check's false-pass budget)."""
    flips = slots.flips[:MAX_FLIPS]
    if max_cost is not None:
        flips = [f for f in flips if f[0] <= max_cost]
    base = len(slots.spell())
    if complete_only and (len(slots.flips) > MAX_FLIPS or
                          _length_subsets([f[3] for f in flips], length - base) > limit):
        return []
    found: dict[str, None] = {}
    for subset in _subsets_by_cost([f[0] for f in flips], max(MAX_EXAMINED, 4 * limit)):
        if sum(flips[i][3] for i in subset) + base == length:
            found.setdefault(slots.spell(subset), None)
            if len(found) >= limit:
                break
    return list(found)


def _length_subsets(changes: list[int], need: int) -> int:
    """How many subsets of the flips change the length by exactly `need`."""
    ways = {0: 1}
    for c in changes:
        nxt = dict(ways)
        for total, n in ways.items():
            nxt[total + c] = nxt.get(total + c, 0) + n
        ways = nxt
    return ways.get(need, 0)


def _subsets_by_cost(costs: list[int], most: int = MAX_EXAMINED
                     ) -> Iterator[tuple[int, ...]]:
    """Subsets of range(len(costs)) (sorted costs) in non-decreasing summed cost, the empty
    one first, at most `most`."""
    yield ()
    if not costs:
        return
    heap = [(costs[0], (0,))]
    for _ in range(most):
        if not heap:
            return
        total, subset = heapq.heappop(heap)
        yield subset
        last = subset[-1]
        if last + 1 < len(costs):
            nxt = last + 1
            heapq.heappush(heap, (total + costs[nxt], subset + (nxt,)))
            heapq.heappush(heap, (total - costs[last] + costs[nxt], subset[:-1] + (nxt,)))


def rescue(candidates: Sequence[Candidate], clusters: Sequence[Sequence[str]], mid_len: int,
           prefix: str, suffix: str, verify: Verify, limit: int = MAX_TRIES,
           pair_limit: int = PAIR_TRIES) -> list[Candidate]:
    """New candidates for clusters of two or more reads none of whose candidates passes
    `verify` (full strands -> bool per strand): per such cluster the first spelling that
    passes (module docstring), marked weak (its variants count is the spellings tried)."""
    passed = _verify_all([c.seq for c in candidates], verify)
    settled = {c.cluster for c, ok in zip(candidates, passed) if ok}
    todo = {i: sorted(g, key=lambda m: abs(len(m) - mid_len))[:MAX_READS]
            for i, g in enumerate(clusters) if len(g) >= 2 and i not in settled}
    out: list[Candidate] = []
    primary: dict[int, str] = {}
    tried: dict[int, set[str]] = {i: set() for i in todo}
    for round_no in range(3):
        trials: list[tuple[int, str]] = []
        for i, reads in todo.items():
            ref = _reference(reads, round_no, primary.get(i))
            if ref is None:
                continue
            slots = vote_slots(reads, ref)
            if round_no == 0:
                primary[i] = slots.spell()
            max_cost = None if len(reads) <= 2 else max(1, len(reads) // 3)
            pair = len(reads) <= 2
            fresh = [s for s in ranked_spellings(slots, mid_len, pair_limit if pair else limit,
                                                 max_cost, complete_only=pair)
                     if s not in tried[i]]
            tried[i].update(fresh)
            trials += [(i, s) for s in fresh]
        ok = _verify_all([prefix + s + suffix for _, s in trials], verify)
        for (i, spelled), good in zip(trials, ok):
            if good and i in todo:
                out.append(Candidate(prefix + spelled + suffix, len(clusters[i]),
                                     max(2, len(tried[i])), i))
                del todo[i]
        if not todo:
            break
    return out


def _reference(reads: list[str], round_no: int, primary: str | None) -> str | None:
    """The reference of a round: the first read, the first round's winner, the second read."""
    if round_no == 0:
        return reads[0]
    if round_no == 1:
        return primary if primary and primary != reads[0] else None
    return reads[1]


def _verify_all(strands: list[str], verify: Verify) -> np.ndarray:
    """verify() over strands in batches of BATCH."""
    if not strands:
        return np.zeros(0, dtype=bool)
    return np.concatenate([np.asarray(verify(strands[i:i + BATCH]), dtype=bool)
                           for i in range(0, len(strands), BATCH)])
