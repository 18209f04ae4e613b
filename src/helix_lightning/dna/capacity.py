"""Shannon capacity of a constraint set and exact strand counts, from the constraint graph.

capacity = log2 of the largest eigenvalue of the graph's transfer matrix, by power iteration
over the graph's live states. The eigenvector is also
what the FSM coder uses (max-entropic weights), so it is computed once per constraint set,
deterministically (a fixed number of float64 iterations), and cached on disk.
strand capacity = log2(number of valid strands between fixed primers) / non-primer length.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import math
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TypeVar

import numpy as np

from .constraints import ConstraintSet, get_constraints
from .graph import ConstraintGraph, build_graph

T = TypeVar("T")
POWER_ITERATIONS = 200  # part of the format: the coder's weights come from exactly this many
STATIONARY_VERSION = 1


def cache_dir() -> Path:
    root = os.environ.get("HELIX_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "helix_lightning")
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def save_atomic(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Write a cache file through a temporary file of its own (unique per process) and rename
    it into place, so concurrent processes building the same entry never clash."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def load_cached(path: Path, read: Callable[[Path], T]) -> T | None:
    """`read(path)` of a cache file, or None when it is missing or unreadable (truncated by a
    killed run, another version's, garbage): the broken file is removed, so the caller
    rebuilds the entry and writes it again. A cache never makes a command fail."""
    if not path.exists():
        return None
    try:
        return read(path)
    except Exception:  # noqa: BLE001 - BadZipFile, EOFError, zlib.error, ValueError, KeyError...
        with contextlib.suppress(OSError):
            path.unlink()
        return None


def pull(graph: ConstraintGraph, values: np.ndarray) -> np.ndarray:
    """sum over bases x of values[next_state[s, x]] (forbidden transitions contribute 0),
    added in the order x = 0, 1, 2, 3 (the format fixes it: float sums depend on order)."""
    ext = np.concatenate([values, np.zeros(1, dtype=values.dtype)])
    cols = graph.columns
    total = ext[cols[0]]  # index -1 picks the trailing zero
    for x in range(1, 4):
        total += ext[cols[x]]
    return total


@dataclass
class Stationary:
    """Perron eigenvector (max 1, zero off the live set) and the eigenvalue's bounds."""

    v: np.ndarray
    lam: float
    lam_lo: float
    lam_hi: float

    @property
    def capacity(self) -> float:
        return math.log2(self.lam) if self.lam > 0 else 0.0


def graph_key(graph: ConstraintGraph) -> str:
    cs = graph.cs
    spec = {"v": STATIONARY_VERSION, "it": POWER_ITERATIONS, "max_run": cs.max_run,
            "w": cs.gc_window, "lo": cs.gc_min, "hi": cs.gc_max, "m": list(cs.motifs),
            "count_dim": graph.count_dim, "compact": 1}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def stationary(graph: ConstraintGraph, use_cache: bool = True) -> Stationary:
    """The max-entropic eigenvector of `graph` (no G+C counter), cached on disk."""
    if graph.count_dim != 1:
        raise ValueError("stationary weights need a graph without a G+C counter")
    path = cache_dir() / f"stationary-{graph_key(graph)}.npz"
    def read(p: Path) -> Stationary:
        with np.load(p) as data:
            return Stationary(data["v"], float(data["lam"]), float(data["lo"]), float(data["hi"]))

    cached = load_cached(path, read) if use_cache else None
    if cached is not None:
        return cached
    v = np.ones(graph.n_states, dtype=np.float64)
    lam = lo = hi = 0.0
    for _ in range(POWER_ITERATIONS):
        w = pull(graph, v)
        m = w.max()
        if m == 0:
            v = w
            break
        sel = v > 1e-12
        ratio = w[sel] / v[sel]
        lo, hi, lam = float(ratio.min()), float(ratio.max()), float(m / v.max())
        v = w / m
    result = Stationary(v, lam, lo, hi)
    if use_cache:
        save_atomic(path, lambda f: np.savez(f, v=v, lam=lam, lo=lo, hi=hi))
    return result


def capacity(graph: ConstraintGraph) -> float:
    return stationary(graph).capacity


def log2_count(graph: ConstraintGraph, start: int, terminal: np.ndarray, length: int) -> float:
    """log2 of the number of valid length-`length` paths from `start` into `terminal` states."""
    n = terminal.astype(np.float64)
    log_scale = 0.0
    for _ in range(length):
        n = pull(graph, n)
        m = n.max()
        if m == 0:
            return float("-inf")
        n /= m
        log_scale += math.log2(m)
    return log_scale + math.log2(n[start]) if n[start] > 0 else float("-inf")


PRUNE_ROUNDS = 3
PRUNE_ITERATIONS = 100
PRUNE_FRACTION = 0.25


def bulk_vector(graph: ConstraintGraph, completions: np.ndarray, terminal_key: str) -> np.ndarray:
    """Eigenvector of the graph restricted to states that reach the suffix primer well.

    A state whose number of completions into the suffix primer (`completions`, at the end of
    the terminal tables) is below PRUNE_FRACTION x the median, relative to its eigenvector
    weight, is removed from the stationary region and the eigenvector recomputed (a fixed
    number of rounds and iterations: deterministic). The stationary weights then fit under
    the terminal tables with little loss. Cached on disk.
    """
    key = hashlib.sha256((graph_key(graph) + terminal_key).encode()).hexdigest()[:16]
    path = cache_dir() / f"bulk-{key}.npy"
    cached = load_cached(path, np.load)
    if cached is not None:
        return cached
    v = stationary(graph).v.copy()
    alive = v > 0
    comp = completions.astype(np.float64)
    for _ in range(PRUNE_ROUNDS):
        ratio = np.zeros_like(v)
        ratio[alive] = comp[alive] / v[alive]
        cut = PRUNE_FRACTION * float(np.median(ratio[alive]))
        alive &= ratio >= cut
        v[~alive] = 0.0
        for _ in range(PRUNE_ITERATIONS):
            w = pull(graph, v)
            w[~alive] = 0.0
            v = w / w.max()
        alive &= v > 0
    save_atomic(path, lambda f: np.save(f, v))
    return v


@functools.lru_cache(maxsize=None)
def _capacity_of(cs: ConstraintSet) -> float:
    return float(stationary(build_graph(cs)).capacity)


def constraint_capacity(constraints: str | ConstraintSet) -> float:
    """Shannon capacity (bits/nt) of a constraint set given by name, YAML file or definition:
    log2 of the Perron root of its constraint graph. The one definition every caller uses
    (cached in memory per definition, and on disk by `stationary`)."""
    return _capacity_of(get_constraints(constraints))
