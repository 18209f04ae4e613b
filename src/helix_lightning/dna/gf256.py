"""Arithmetic in RFC 6330's GF(256) (polynomial x^8 + x^4 + x^3 + x^2 + 1, 0x11D, also RAID 6's):
the field RaptorQ's symbols are linear over (`wrong_symbols`) and the resilient container's
header guard computes its parity rows in (`model.header_guard`)."""

from __future__ import annotations

import numpy as np

POLY = 0x11D


def _tables() -> tuple[np.ndarray, np.ndarray]:
    """exp (doubled, 510 entries) and log (log[0] unused, 0) tables of the generator 2."""
    exp, log = np.zeros(510, np.int64), np.zeros(256, np.int64)
    x = 1
    for i in range(255):
        exp[i], log[x] = x, i
        x = (x << 1) ^ (POLY if x & 0x80 else 0)
    exp[255:] = exp[:255]
    return exp, log


EXP, LOG = _tables()


def mul(a: np.ndarray, c: int) -> np.ndarray:
    """a * c elementwise (c a nonzero constant)."""
    a = np.asarray(a, np.int64)
    return np.where(a == 0, 0, EXP[(LOG[a] + int(LOG[c])) % 255])


def div(a: np.ndarray, c: int) -> np.ndarray:
    """a / c elementwise (c a nonzero constant)."""
    return mul(a, int(EXP[(255 - LOG[c]) % 255]))
