"""The constraint graph of a constraint set: states, the transition table, primer states.

A state remembers exactly what the constraints need of the past:
- the GC bit of the last `L` bases (L = gc_window - 1 with a window, else h),
- the "sub" bit of the last `h` bases (h = max(max_run, longest motif - 1)), which with the GC
  bit names the base: A=(0,0), T=(0,1), C=(1,0), G=(1,1),
- with a whole-strand GC range and no window, the G+C count so far.
State index = ((count << L) | gc_bits) << h | sub_bits. `next_state[s, x]` is the state after
base x (codes A=0 C=1 G=2 T=3) or -1 when x would break a constraint. Every window and run
check is made on the transition that completes it, so a path through the graph is exactly a
valid sequence.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import HelixError
from .constraints import GC_OF_CODE, ConstraintSet, encode_bases

# (gc bit, sub bit) -> base code, and back
CODE_OF = np.array([[0, 3], [1, 2]], dtype=np.int64)  # [gc][sub]: A T / C G
SUB_OF_CODE = np.array([0, 0, 1, 1], dtype=np.int64)  # A->0, C->0, G->1, T->1
MAX_STATES = 1 << 23
GRAPH_VERSION = 1


@dataclass
class ConstraintGraph:
    cs: ConstraintSet
    h: int
    L: int
    count_dim: int  # 1 when no G+C count is tracked
    next_state: np.ndarray  # (n_states, 4) int32 over live states, -1 = forbidden
    compact_of: np.ndarray  # full state index -> live state index (-1: not live)

    @property
    def n_states(self) -> int:
        return self.next_state.shape[0]

    def state_after(self, codes: np.ndarray) -> int:
        """The state after a fixed prefix (e.g. a primer) of at least max(L, h) bases."""
        codes = np.asarray(codes, dtype=np.int64)
        if len(codes) < max(self.L, self.h):
            raise HelixError(
                f"primer of {len(codes)} nt is shorter than the {max(self.L, self.h)} nt "
                f"of history that {self.cs.name!r} needs")
        gc = GC_OF_CODE[codes].astype(np.int64)
        gc_bits = 0
        for b in gc[-self.L:]:
            gc_bits = (gc_bits << 1) | int(b)
        sub_bits = 0
        for c in codes[-self.h:]:
            sub_bits = (sub_bits << 1) | int(SUB_OF_CODE[c])
        count = int(gc.sum()) if self.count_dim > 1 else 0
        if count >= self.count_dim:
            raise HelixError("primer has more G+C than the strand allows")
        state = int(self.compact_of[((count << self.L) | gc_bits) << self.h | sub_bits])
        if state < 0:
            raise HelixError(f"the primer ends in a state that {self.cs.name!r} cannot continue")
        return state

    def walk(self, state: np.ndarray, codes: np.ndarray) -> np.ndarray:
        """Follow bases `codes` (n, k) from `state` (n,); -1 marks a forbidden path."""
        state = np.asarray(state, dtype=np.int64).copy()
        for j in range(codes.shape[1]):
            ok = state >= 0
            nxt = np.full_like(state, -1)
            nxt[ok] = self.next_state[state[ok], codes[ok, j]]
            state = nxt
        return state

    def terminal_mask(self, suffix: np.ndarray, strand_len: int) -> np.ndarray:
        """1 for each state from which `suffix` can follow (and the strand's G+C fits)."""
        ok = np.ones(self.n_states + 1, dtype=bool)
        ok[-1] = False  # the slot that index -1 (forbidden) reads
        if self.count_dim > 1:
            lo, hi = self.cs.gc_bounds(strand_len)
            count = self.full_ids >> (self.L + self.h)
            ok[:-1] = (count >= lo) & (count <= hi)
        for base in np.asarray(suffix, dtype=np.int64)[::-1]:  # backwards through the primer
            ok[:-1] = ok[self.columns[base]]
        return ok[:-1].astype(np.uint64)

    @property
    def columns(self) -> list[np.ndarray]:
        """next_state[:, x] for each base x as contiguous intp arrays: numpy gathers with
        these run several times faster than with strided int32 indices."""
        if not hasattr(self, "_columns"):
            self._columns = [np.ascontiguousarray(self.next_state[:, x], dtype=np.intp)
                             for x in range(4)]
        return self._columns

    @property
    def full_ids(self) -> np.ndarray:
        """live state index -> full state index."""
        if not hasattr(self, "_full_ids"):
            self._full_ids = np.flatnonzero(self.compact_of >= 0)
        return self._full_ids


def history_sizes(cs: ConstraintSet) -> tuple[int, int]:
    h = max(cs.max_run, max((len(m) - 1 for m in cs.motifs), default=0), 1)
    L = max(cs.gc_window - 1, h) if (cs.gc_window and cs.has_gc) else h
    return h, L


def _popcount(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.uint64)
    out = np.zeros(x.shape, dtype=np.int64)
    while np.any(x):
        out += (x & np.uint64(1)).astype(np.int64)
        x >>= np.uint64(1)
    return out


@lru_cache(maxsize=8)
def build_graph(cs: ConstraintSet, strand_len: int | None = None) -> ConstraintGraph:
    """The constraint graph; `strand_len` adds a G+C counter for whole-strand-only GC ranges.

    Large graphs (windowed GC) take seconds to build, so they are cached on disk.
    """
    from .capacity import cache_dir, load_cached, save_atomic

    h, L = history_sizes(cs)
    track_count = strand_len is not None and cs.has_gc and not cs.gc_window
    count_dim = strand_len + 1 if track_count else 1
    key = json.dumps({"v": GRAPH_VERSION, "max_run": cs.max_run, "w": cs.gc_window,
                      "lo": cs.gc_min, "hi": cs.gc_max, "m": list(cs.motifs), "c": count_dim},
                     sort_keys=True)
    path = cache_dir() / f"graph-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz"
    def read(p: Path) -> ConstraintGraph:
        with np.load(p) as data:
            return ConstraintGraph(cs, h, L, count_dim, data["next"], data["compact"])

    cached = load_cached(path, read)
    if cached is not None:
        return cached
    graph = _build_graph(cs, h, L, count_dim, strand_len)
    if graph.n_states > 100_000:
        save_atomic(path, lambda f: np.savez(f, next=graph.next_state, compact=graph.compact_of))
    return graph


def _build_graph(cs: ConstraintSet, h: int, L: int, count_dim: int,
                 strand_len: int | None) -> ConstraintGraph:
    n_hist = 1 << (L + h)
    n_states = n_hist * count_dim
    if n_states > MAX_STATES:
        raise HelixError(
            f"constraint set {cs.name!r} needs {n_states:,} FSM states (limit {MAX_STATES:,}): "
            "use a shorter gc_window or shorter motifs")
    idx = np.arange(n_states, dtype=np.int64)
    sub_bits = idx & ((1 << h) - 1)
    gc_bits = (idx >> h) & ((1 << L) - 1)
    count = idx >> (L + h)
    lag_code = [CODE_OF[(gc_bits >> j) & 1, (sub_bits >> j) & 1] for j in range(h)]
    if cs.gc_window and cs.has_gc:
        w = cs.gc_window
        window_gc = _popcount(gc_bits & ((1 << (w - 1)) - 1))
        wlo, whi = cs.gc_bounds(w)
    nxt = np.empty((n_states, 4), dtype=np.int32)
    if count_dim > 1:
        _, strand_hi = cs.gc_bounds(strand_len)
    for x in range(4):
        gx, sx = int(GC_OF_CODE[x]), int(SUB_OF_CODE[x])
        ok = np.ones(n_states, dtype=bool)
        run = np.ones(n_states, dtype=bool)
        for j in range(cs.max_run):
            run &= lag_code[j] == x
        ok &= ~run
        if cs.gc_window and cs.has_gc:
            c = window_gc + gx
            ok &= (c >= wlo) & (c <= whi)
        for m in cs.motifs:
            mc = encode_bases(m).astype(np.int64)
            hit = np.full(n_states, mc[-1] == x)
            for j in range(1, len(mc)):
                hit &= lag_code[j - 1] == mc[-1 - j]
            ok &= ~hit
        new_count = count + gx if count_dim > 1 else count
        if count_dim > 1:
            ok &= new_count <= strand_hi
        new = (((new_count << L) | (((gc_bits << 1) | gx) & ((1 << L) - 1))) << h) | (
            ((sub_bits << 1) | sx) & ((1 << h) - 1))
        nxt[:, x] = np.where(ok, new, -1)
    # keep the live states: ends of valid paths long enough to fill the whole history
    live = np.ones(n_states, dtype=bool)
    for _ in range(L + h + 2):
        new_live = np.zeros_like(live)
        src = nxt[live]
        new_live[src[src >= 0]] = True
        live = new_live
    compact_of = np.full(n_states + 1, -1, dtype=np.int64)
    ids = np.flatnonzero(live)
    compact_of[ids] = np.arange(len(ids))
    compact_next = compact_of[nxt[ids]].astype(np.int32)  # -1 stays -1 (last slot)
    return ConstraintGraph(cs, h, L, count_dim, compact_next, compact_of[:-1].astype(np.int32))
