"""The direct mapping: base-4 digits <-> strands, one base per digit (digit d -> "ACGT"[d]).

The reference arm of the video codec (`--coder direct`): no entropy coding, no constrained
coding, no outer code. The digit stream is cut into DIRECT_BODY-nt bodies (the last padded
with the cycle ACGT...), each prefixed by a DIRECT_INDEX-nt base-4 index (most significant
digit first) and wrapped in primers. Bytes travel as 4 digits each, most significant first.
Violations of a constraint set are whatever the digits make; callers count and report them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..errors import HelixError
from .constraints import BASES
from .primers import DEFAULT_PREFIX, DEFAULT_SUFFIX

DIRECT_BODY = 160  # digits (nt) per direct strand body
DIRECT_INDEX = 12  # base-4 index digits per direct strand (4**12 strands)


def bytes_to_digits(data: bytes) -> np.ndarray:
    """Bytes -> base-4 digits (uint8), 4 per byte, most significant first."""
    b = np.frombuffer(data, dtype=np.uint8)
    return np.stack([(b >> s) & 3 for s in (6, 4, 2, 0)], axis=1).reshape(-1)


def digits_to_bytes(digits: np.ndarray) -> bytes:
    """Inverse of `bytes_to_digits` (the digit count must be a multiple of 4)."""
    d = np.asarray(digits, dtype=np.uint8).reshape(-1, 4)
    return ((d[:, 0] << 6) | (d[:, 1] << 4) | (d[:, 2] << 2) | d[:, 3]).astype(np.uint8).tobytes()


def digits_to_bases(digits: np.ndarray) -> str:
    """Digits 0..3 -> the bases "ACGT"."""
    return np.frombuffer(BASES.encode(), dtype=np.uint8)[digits].tobytes().decode()


def direct_strands(digits: np.ndarray, body: int = DIRECT_BODY,
                   prefix: str = DEFAULT_PREFIX, suffix: str = DEFAULT_SUFFIX) -> list[str]:
    """Digits -> strands prefix | index (DIRECT_INDEX nt, base 4) | body | suffix.

    The last body is padded to full length with the cycle 0,1,2,3 (ACGT...)."""
    d = np.asarray(digits, dtype=np.uint8).reshape(-1)
    n = max(1, math.ceil(d.size / body))
    if n > 4**DIRECT_INDEX:
        raise HelixError(f"{n} direct strands exceed the {DIRECT_INDEX}-nt index")
    pad = n * body - d.size
    d = np.concatenate([d, (np.arange(pad) % 4).astype(np.uint8)]).reshape(n, body)
    idx = np.arange(n, dtype=np.int64)[:, None] >> (2 * np.arange(DIRECT_INDEX - 1, -1, -1))
    idx = (idx & 3).astype(np.uint8)
    return [prefix + digits_to_bases(np.concatenate([i, b])) + suffix for i, b in zip(idx, d)]


def read_direct_strands(strands: Sequence[str], prefix: str = DEFAULT_PREFIX,
                        suffix: str = DEFAULT_SUFFIX) -> np.ndarray:
    """Inverse of `direct_strands` (padding kept): strands in any order -> digits (uint8)."""
    lut = {b: i for i, b in enumerate(BASES)}
    bodies: dict[int, np.ndarray] = {}
    for s in strands:
        if not (s.startswith(prefix) and s.endswith(suffix)):
            continue
        mid = s[len(prefix):len(s) - len(suffix)]
        if len(mid) <= DIRECT_INDEX or any(c not in lut for c in mid):
            continue
        d = np.array([lut[c] for c in mid], dtype=np.uint8)
        i = int(sum(int(x) << (2 * (DIRECT_INDEX - 1 - j)) for j, x in enumerate(d[:DIRECT_INDEX])))
        bodies.setdefault(i, d[DIRECT_INDEX:])
    if not bodies:
        raise HelixError("no direct strands (primers + index) found")
    missing = [i for i in range(max(bodies) + 1) if i not in bodies]
    if missing:
        raise HelixError(f"direct strands missing: indices {missing[:5]} "
                         f"({len(missing)} lost; the direct coder has no outer code)")
    return np.concatenate([bodies[i] for i in range(len(bodies))])
