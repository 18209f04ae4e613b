"""The FSM constrained coder: a fixed number of bits <-> a constrained stretch of bases.

Enumerative coding over the constraint graph with finite-precision weights (block floating
point): W(s, r) = M(s, r) * 2**E[r] approximates the number of valid completions of length r
from state s into the suffix primer. Every weight obeys W(s, r) <= sum_x W(next(s, x), r - 1)
exactly, so each message m < W(start, n) maps to one valid sequence and back, with no range-coder
termination overhead: the strand carries k = floor(log2 W(start, n)) bits, bit-granular.

- Near the end of the strand (r <= R0) the weights are exact-ish counts of completions into the
  suffix primer (terminal tables, recomputed from the graph).
- Further out (r > R0) they are the max-entropic eigenvector V(s) scaled by a per-position
  factor K[r] (V * K >> 32): the stationary regime, so long strands need no per-position tables.
- Small graphs (no G+C window) use terminal tables for every position (exact counts).

All strands are coded in lockstep with numpy: one step per base for all strands at once.
The message bits are consumed on a fixed schedule (E[r] - E[r-1] bits at step r), the same for
every strand. See docs/FORMAT.md for the normative description.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import HelixError
from .capacity import bulk_vector, cache_dir, graph_key, load_cached, save_atomic
from .constraints import ConstraintSet
from .graph import ConstraintGraph, build_graph

U32 = (1 << 32) - 1
TERMINAL_MIN, TERMINAL_MAX = 24, 64  # R0 range for graphs too large for full tables
FULL_TABLE_LIMIT = 64_000_000  # states x positions below which every position gets a table
GROWTH_SLACK = 1e-3  # states growing slower than the median by more than this leave the bulk


def _bitlen(x: int) -> int:
    return int(x).bit_length()


@dataclass
class FsmCoder:
    """bits <-> bases for one layout: fixed prefix, n coded bases, fixed suffix."""

    cs: ConstraintSet
    prefix: np.ndarray
    suffix: np.ndarray
    n: int
    graph: ConstraintGraph = field(init=False)
    start: int = field(init=False)
    k: int = field(init=False)  # bits per strand

    def __post_init__(self) -> None:
        self.prefix = np.asarray(self.prefix, dtype=np.int64)
        self.suffix = np.asarray(self.suffix, dtype=np.int64)
        total = len(self.prefix) + self.n + len(self.suffix)
        cs = self.cs
        if cs.gc_window and cs.has_gc and total % cs.gc_window:
            raise HelixError(
                f"strand length {total} must be a multiple of gc_window {cs.gc_window} "
                f"so that every window in range implies the whole-strand range")
        self.graph = build_graph(cs, total if (cs.has_gc and not cs.gc_window) else None)
        self.start = self.graph.state_after(self.prefix)
        terminal = self.graph.terminal_mask(self.suffix, total)
        full = self.graph.n_states * (self.n + 1) <= FULL_TABLE_LIMIT or self.graph.count_dim > 1
        self._build_terminal(terminal, self.n if full else None)
        if self.r0 < self.n:
            self._build_stationary()
        m0 = int(self.weights(np.array([self.start]), self.n)[0])
        if m0 == 0:
            raise HelixError(f"no valid strand of {self.n} nt fits between these primers "
                             f"under {cs.name!r}")
        self.k = self.E[self.n] + _bitlen(m0) - 1

    # ------------------------------------------------------------------ tables
    def _build_terminal(self, terminal: np.ndarray, r0: int | None) -> None:
        """Completion counts for the last r0 positions (block floating point, floors).

        With r0=None the window grows in steps of 8 from 24 until fewer than 1% of the live
        states cannot reach the suffix primer (at most 64, at most n).
        """
        nxt = self.graph.columns
        tables = [terminal.astype(np.uint32)]
        E = [0]
        limit = self.n if r0 is not None else min(self.n, TERMINAL_MAX)
        # two uint64 buffers with a trailing zero slot (index -1: forbidden -> 0)
        prev = np.zeros(self.graph.n_states + 1, dtype=np.uint64)
        cur = np.zeros_like(prev)
        prev[:-1] = terminal
        for r in range(1, limit + 1):
            s = cur[:-1]
            np.add(prev[nxt[0]], prev[nxt[1]], out=s)
            s += prev[nxt[2]]
            s += prev[nxt[3]]
            shift = max(0, _bitlen(int(s.max())) - 32)
            if shift:
                s >>= np.uint64(shift)
            tables.append(s.astype(np.uint32))
            E.append(E[-1] + shift)
            prev, cur = cur, prev
            if r0 is None and r >= TERMINAL_MIN and r % 8 == 0:
                if np.count_nonzero(tables[-1] == 0) < 0.01 * len(tables[-1]):
                    break
        self.r0 = len(tables) - 1
        self.tables = tables
        self.E = E

    def _build_stationary(self) -> None:
        """Integer eigenvector V, growth G and the junction with the terminal tables.

        Deterministic from the graph and the terminal tables, so cached on disk beside the
        eigenvector it starts from."""
        g = self.graph
        path = cache_dir() / f"weights-{graph_key(g)}-{self._terminal_key_hash()}.npz"
        def read(p: Path) -> tuple[np.ndarray, int, int, int]:
            with np.load(p) as data:
                return data["V"], int(data["G"]), int(data["K"]), int(data["d"])

        cached = load_cached(path, read)
        if cached is None:
            cached = self._compute_stationary()
            save_atomic(path, lambda f: np.savez(f, V=cached[0], G=cached[1], K=cached[2],
                                                 d=cached[3]))
        self._set_stationary(*cached)

    def _terminal_key_hash(self) -> str:
        return hashlib.sha256(self._terminal_key().encode()).hexdigest()[:16]

    def _set_stationary(self, V: np.ndarray, G: int, K: int, delta: int) -> None:
        self.V, self.G = V.astype(np.uint32), G
        Ks = [0] * (self.r0 + 1) + [K]
        E = self.E + [self.E[-1] + delta]
        for _ in range(self.r0 + 2, self.n + 1):
            p = (Ks[-1] * G) >> 28
            shift = _bitlen(p) - 32
            if shift < 0:  # G < 2^29: under 1 bit/nt of growth (docs/FORMAT.md §4, step 6)
                raise HelixError(f"constraint set {self.cs.name!r} grows too slowly for the "
                                 "stationary weights (under 1 bit/nt)")
            Ks.append(p >> shift)
            E.append(E[-1] + shift)
        self.K = Ks
        self.E = E

    def _compute_stationary(self) -> tuple[np.ndarray, int, int, int]:
        g = self.graph
        nxt = g.columns
        last = np.concatenate([self.tables[-1].astype(np.uint64), np.zeros(1, np.uint64)])
        S = last[nxt[0]] + last[nxt[1]] + last[nxt[2]] + last[nxt[3]]
        v = bulk_vector(g, S, self._terminal_key())
        V = np.floor(v * U32).astype(np.uint64)
        V[S == 0] = 0
        # drop states (tiny weight, quantisation noise) that cannot grow at the common rate
        for _ in range(256):
            ext = np.concatenate([V, np.zeros(1, np.uint64)])
            sv = ext[nxt[0]] + ext[nxt[1]] + ext[nxt[2]] + ext[nxt[3]]
            pos = V > 0
            ratio = (sv[pos].astype(np.float64) - 16) / V[pos].astype(np.float64)
            target = float(np.median(ratio)) * (1 - GROWTH_SLACK)
            bad = np.zeros_like(pos)
            bad[pos] = ratio < target
            if not bad.any():
                break
            V[bad] = 0
        pos = V > 0
        G = int((((sv[pos] - np.uint64(16)) << np.uint64(28)) // V[pos]).min())
        # junction: the largest K in [2^30, 2^32) with floor(V*K/2^32) <= S >> d everywhere
        # (K >= 2^30 keeps 16 above the rounding loss of four children: see G)
        Vp, Sp = V[pos], S[pos]
        best = None
        for d in range(0, 40):
            Q = Sp >> np.uint64(d)
            kk = int(np.floor((Q.astype(np.float64) / Vp.astype(np.float64)).min() * 2.0**32))
            if kk >= 1 << 32:
                continue
            while kk > 0 and np.any(((Vp * np.uint64(kk)) >> np.uint64(32)) > Q):
                kk -= max(1, kk >> 40)
            if kk >= 1 << 30:
                best = (kk, d)
                break
        if best is None:
            raise HelixError(f"cannot join stationary and terminal weights for {self.cs.name!r}")
        K, delta = best
        return V.astype(np.uint32), G, K, delta

    def _terminal_key(self) -> str:
        return ",".join(map(str, self.suffix.tolist())) + f"|r0={self.r0}"

    def weights(self, states: np.ndarray, r: int) -> np.ndarray:
        """M(s, r) as uint64 for an array of states (-1 -> 0)."""
        states = np.asarray(states)
        ok = states >= 0
        safe = np.where(ok, states, 0)
        if r <= self.r0:
            w = self.tables[r][safe].astype(np.uint64)
        else:
            w = (self.V[safe].astype(np.uint64) * np.uint64(self.K[r])) >> np.uint64(32)
        return np.where(ok, w, np.uint64(0))

    # ------------------------------------------------------------------ coding
    @property
    def density(self) -> float:
        """Coding density: bits per coded base."""
        return self.k / self.n

    def encode(self, bits: np.ndarray) -> np.ndarray:
        """(N, k) bits (0/1, first bit most significant) -> (N, n) base codes."""
        bits = np.asarray(bits, dtype=np.uint64)
        if bits.ndim != 2 or bits.shape[1] != self.k:
            raise ValueError(f"need (N, {self.k}) bits, got {bits.shape}")
        N = bits.shape[0]
        top = self.k - self.E[self.n]
        head = np.zeros(N, dtype=np.uint64)
        for j in range(top):
            head = (head << np.uint64(1)) | bits[:, j]
        pos = top
        state = np.full(N, self.start, dtype=np.int64)
        out = np.empty((N, self.n), dtype=np.uint8)
        nxt = self.graph.next_state
        rows = np.arange(N)
        for step in range(self.n):
            r = self.n - step
            d = self.E[r] - self.E[r - 1]
            for j in range(d):
                head = (head << np.uint64(1)) | bits[:, pos + j]
            pos += d
            cand = nxt[state]
            w = self.weights(cand, r - 1)
            cum = np.cumsum(w, axis=1)
            x = (head[:, None] >= cum).sum(axis=1)
            before = np.where(x > 0, cum[rows, np.maximum(x - 1, 0)], np.uint64(0))
            head = head - before
            state = cand[rows, x].astype(np.int64)
            out[:, step] = x
        assert np.all(head == 0), "FSM invariant broken"
        return out

    def decode(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, n) base codes -> ((N, k) bits, (N,) ok). ok is False off the code's image."""
        codes = np.asarray(codes, dtype=np.int64)
        N = codes.shape[0]
        nxt = self.graph.next_state
        rows = np.arange(N)
        state = np.full(N, self.start, dtype=np.int64)
        ok = np.ones(N, dtype=bool)
        offsets = np.empty((self.n, N), dtype=np.uint64)
        parent = np.empty((self.n, N), dtype=np.uint64)
        for step in range(self.n):
            r = self.n - step
            parent[step] = self.weights(state, r)
            cand = nxt[np.maximum(state, 0)]
            w = self.weights(cand, r - 1)
            cum = np.cumsum(w, axis=1)
            x = codes[:, step]
            offsets[step] = np.where(x > 0, cum[rows, np.maximum(x - 1, 0)], np.uint64(0))
            new = cand[rows, x].astype(np.int64)
            ok &= (state >= 0) & (new >= 0) & (w[rows, x] > 0)
            state = np.where(ok, new, -1)
        bits = np.zeros((N, self.k), dtype=np.uint8)
        head = np.zeros(N, dtype=np.uint64)
        pos = self.k
        for step in range(self.n - 1, -1, -1):
            r = self.n - step
            head = head + offsets[step]
            d = self.E[r] - self.E[r - 1]
            for j in range(d):
                bits[:, pos - 1 - j] = (head & np.uint64(1)).astype(np.uint8)
                head >>= np.uint64(1)
            pos -= d
            ok &= head < parent[step]
        for j in range(pos - 1, -1, -1):
            bits[:, j] = (head & np.uint64(1)).astype(np.uint8)
            head >>= np.uint64(1)
        ok &= head == 0
        return bits, ok


_CODERS: dict = {}


def get_coder(cs: ConstraintSet, prefix: np.ndarray, suffix: np.ndarray, n: int) -> FsmCoder:
    """A cached coder for this layout (tables take seconds to build for windowed sets)."""
    key = (cs, tuple(int(b) for b in prefix), tuple(int(b) for b in suffix), n)
    if key not in _CODERS:
        if len(_CODERS) >= 4:
            _CODERS.pop(next(iter(_CODERS)))
        _CODERS[key] = FsmCoder(cs, prefix, suffix, n)
    return _CODERS[key]
