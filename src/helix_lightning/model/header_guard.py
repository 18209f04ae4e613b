"""The header guard of a resilient container (version 7): two parity rows over its header.

Every frame needs the container header and stream table (`container`, version 6's fields);
beyond the outer code's repair (`dna.salvage`) the strands holding them may be lost. Version 7
appends a guard that rebuilds them: the header's n bytes as two rows A = bytes 0 .. b-1 and
B = bytes b .. 2b-1 (b = ceil(n / 2), B zero-padded), and the guard P = A xor B, then
Q = A xor 2B (GF(2^8), polynomial 0x11D, as RAID 6). Column by column, any two of A, B, P, Q
give the other two, so the header survives the loss of any two rows; a strand (one outer-code
symbol, 35 bytes on `standard`, no more than b) holds at most one byte of each column's row.

The guard's place follows from the number of streams, which a reader that lost the header
does not know: `recover` tries each count it is given and keeps the one whose rebuilt header is a
version 7 header of that many streams whose sizes add up to the container's length.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from ..dna.gf256 import div as _div
from ..dna.gf256 import mul as _mul


def row_length(header_bytes: int) -> int:
    """b: the length of each header row and guard row for a header of this many bytes."""
    return math.ceil(header_bytes / 2)


def guard(header: bytes) -> bytes:
    """The guard (P then Q, 2 x row_length bytes) of a container header."""
    b = row_length(len(header))
    rows = np.frombuffer(header.ljust(2 * b, b"\0"), np.uint8).astype(np.int64).reshape(2, b)
    p = rows[0] ^ rows[1]
    q = rows[0] ^ _mul(rows[1], 2)
    return bytes(np.concatenate([p, q]).astype(np.uint8))


def rebuild(rows: np.ndarray, known: np.ndarray) -> np.ndarray | None:
    """A and B (2, b) from rows A, B, P, Q (4, b) of which `known` (4, b) says which bytes
    arrived; None when some column kept fewer than two."""
    if (known.sum(0) < 2).any():
        return None
    a, b, p, q = (rows[i].astype(np.int64) for i in range(4))
    ka, kb, kp, kq = known
    b_from = np.where(ka & kp, a ^ p, np.where(ka & kq, _div(a ^ q, 2),
                      np.where(kp & kq, _div(p ^ q, 3), 0)))
    b_new = np.where(kb, b, b_from)
    a_new = np.where(ka, a, np.where(kp, p ^ b_new, q ^ _mul(b_new, 2)))
    return np.stack([a_new, b_new]).astype(np.uint8)


def recover(data: bytes, holes: Sequence[tuple[int, int]], sizes: Iterable[int],
            check: Callable[[bytes, int], bool]) -> bytes | None:
    """The header of a version 7 container `data` whose bytes in `holes` ((start, end)
    ranges) were lost, rebuilt from what is left of it and its guard: for each header size
    in `sizes` (one per possible number of streams), the first rebuild that `check(header,
    size)` accepts; None if none does."""
    mask = np.ones(len(data), dtype=bool)
    for a, b in holes:
        mask[a:b] = False
    arr = np.frombuffer(bytes(data), np.uint8)
    for n in sizes:
        b = row_length(n)
        if 4 * b > len(data):
            break
        rows = np.concatenate([arr[:2 * b], arr[len(data) - 2 * b:]]).reshape(4, b).copy()
        ok = np.concatenate([mask[:2 * b], mask[len(data) - 2 * b:]]).reshape(4, b).copy()
        if 2 * b > n:  # B's zero padding (a stream's first byte in the container)
            rows[1, -1], ok[1, -1] = 0, True
        got = rebuild(rows, ok)
        if got is not None and check(bytes(got.reshape(-1))[:n], n):
            return bytes(got.reshape(-1))[:n]
    return None
