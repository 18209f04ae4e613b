"""Temporary files that hold a decode's intermediate rows on disk instead of in memory.

`BitsSpill`: every candidate strand's decoded bits (packed), whether the FSM decode
succeeded and its weights (read support, cluster variants), in input order, read back in
chunks. `SegmentSpill`: the valid data rows (index, payload, weights) of each RaptorQ segment
in its own file, in input order within the segment, so a shuffled input groups by segment
without holding it all.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np


class SpillDir:
    """A temporary folder, removed on exit (errors included)."""

    def __init__(self, parent: str | None = None):
        self.path = Path(tempfile.mkdtemp(prefix="helix-spill-", dir=parent))

    def __enter__(self) -> "SpillDir":
        return self

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


class BitsSpill:
    """Packed FSM bits (n, width), ok flags and weights (support, variants) of every
    candidate, appended chunk by chunk."""

    def __init__(self, folder: Path, width: int):
        self.folder = folder
        self.width = width
        self.rows = 0
        self._bits = open(folder / "bits.bin", "w+b")
        self._ok = open(folder / "ok.bin", "w+b")
        self._weights = open(folder / "weights.bin", "w+b")

    def append(self, packed: np.ndarray, ok: np.ndarray, support: np.ndarray,
               variants: np.ndarray) -> None:
        self._bits.write(np.ascontiguousarray(packed, dtype=np.uint8).tobytes())
        self._ok.write(np.asarray(ok, dtype=np.uint8).tobytes())
        weights = np.stack([np.asarray(support), np.asarray(variants)], axis=1)
        self._weights.write(weights.astype("<i4").tobytes())
        self.rows += len(ok)

    def chunks(self, size: int
               ) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
        """(first row, packed bits, ok, support, variants) of `size` rows at a time, from
        the start."""
        for f in (self._bits, self._ok, self._weights):
            f.flush()
            f.seek(0)
        for first in range(0, self.rows, size):
            n = min(size, self.rows - first)
            packed = np.frombuffer(self._bits.read(n * self.width), np.uint8)
            ok = np.frombuffer(self._ok.read(n), np.uint8).astype(bool)
            weights = np.frombuffer(self._weights.read(8 * n), "<i4").reshape(n, 2)
            yield first, packed.reshape(n, self.width), ok, weights[:, 0], weights[:, 1]

    def close(self) -> None:
        for f in (self._bits, self._ok, self._weights):
            f.close()


class SegmentSpill:
    """Valid data rows (index, T-byte payload, support, variants) per segment, one file
    each."""

    def __init__(self, folder: Path, bases: np.ndarray, symbol_size: int):
        self.folder = folder
        self.bases = bases  # first index of each segment, and one past the last
        self.dtype = np.dtype([("idx", "<i8"), ("payload", "u1", (symbol_size,)),
                               ("support", "<i4"), ("variants", "<i4")])
        self.counts = np.zeros(len(bases) - 1, dtype=np.int64)
        self.outside = 0  # valid rows whose index lies past the last segment

    def _file(self, s: int) -> Path:
        return self.folder / f"segment-{s:06d}.bin"

    def append(self, idx: np.ndarray, payload: np.ndarray, support: np.ndarray,
               variants: np.ndarray) -> None:
        """Rows in input order; each goes to its segment's file, keeping that order."""
        seg = np.searchsorted(self.bases, idx, side="right") - 1
        inside = (seg >= 0) & (seg < len(self.counts))
        self.outside += int((~inside).sum())
        rows = np.empty(int(inside.sum()), self.dtype)
        rows["idx"], rows["payload"] = idx[inside], payload[inside]
        rows["support"], rows["variants"] = support[inside], variants[inside]
        seg = seg[inside]
        order = np.argsort(seg, kind="stable")
        rows, seg = rows[order], seg[order]
        cuts = np.flatnonzero(np.diff(seg)) + 1
        for part, s in zip(np.split(rows, cuts), seg[np.r_[0, cuts]] if len(seg) else []):
            with open(self._file(int(s)), "ab") as f:
                f.write(part.tobytes())
            self.counts[int(s)] += len(part)

    def rows(self, s: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(indices, payloads, support, variants) of segment s, in input order."""
        rows = (np.fromfile(self._file(s), self.dtype) if self.counts[s]
                else np.zeros(0, self.dtype))
        return (rows["idx"].copy(), rows["payload"].copy(),
                rows["support"].astype(np.int64), rows["variants"].astype(np.int64))
