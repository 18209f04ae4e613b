"""What is left of an archive whose outer code could not recover every segment.

RaptorQ is systematic: source symbol i of a segment is bytes i*T .. (i+1)*T of the segment
(its chunk of the file, then the chunk's hash). A segment that does not decode still holds
every source symbol that arrived, so its bytes are known except where source symbols were
lost. `decode_found(..., partial=True)` (archive.py) returns such a file as `PartialBytes`:
the bytes with zeros in the holes, the holes themselves, and the failure a complete decode
would have raised. A reader that can use part of a file (the resilient video layout,
docs/FORMAT.md) decodes what it can; any other reader raises `failure`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..errors import HelixError
from .outer import SEGMENT_HASH

Holes = tuple[tuple[int, int], ...]


class PartialBytes(bytes):
    """A decoded file with holes: `missing`, (start, end) byte ranges the outer code could
    not recover (zeros there), and `failure`, the error a complete decode raised."""

    missing: Holes
    failure: HelixError

    def __new__(cls, data: bytes, missing: Sequence[tuple[int, int]],
                failure: HelixError) -> "PartialBytes":
        out = super().__new__(cls, data)
        out.missing = tuple((int(a), int(b)) for a, b in missing)
        out.failure = failure
        return out

    def known(self, start: int, end: int) -> bool:
        """Whether bytes start .. end (exclusive) were all recovered."""
        return not any(a < end and start < b for a, b in self.missing)


def missing_ranges(data: bytes) -> Holes:
    """The holes of `data` (none for plain bytes)."""
    return getattr(data, "missing", ())


def salvaged_chunk(best: Mapping[int, np.ndarray], base: int, k: int, length: int,
                   symbol_size: int) -> tuple[bytes, list[tuple[int, int]]]:
    """The chunk of a segment that did not decode (`length` bytes with its hash, source
    symbols at strand indices base .. base + k - 1 in `best`): the received source symbols'
    bytes, zeros elsewhere, and the chunk's missing (start, end) ranges."""
    chunk = length - SEGMENT_HASH  # the hash is not part of the file
    out = bytearray(chunk)
    holes: list[tuple[int, int]] = []
    for i in range(k):
        lo, hi = i * symbol_size, min(chunk, (i + 1) * symbol_size)
        if lo >= hi:
            break
        if base + i in best:
            out[lo:hi] = best[base + i].tobytes()[:hi - lo]
        elif holes and holes[-1][1] == lo:
            holes[-1] = (holes[-1][0], hi)
        else:
            holes.append((lo, hi))
    return bytes(out), holes
