"""Find the wrong received symbols behind a RaptorQ decode that failed its hash, using the
code's own redundancy (the symbols the decoder did not need) as an error locator.

RaptorQ is linear over GF(256), byte position by byte position with the same coefficients.
A decode that took the symbols S (fed in order until it could decode) maps them linearly to
the segment; re-encoding it and comparing with the received symbols U it did not take gives
residuals R = M e_S, where e_S are the errors of the wrong symbols in S (XOR against the true
ones) and M = G_U G_S^-1 is fixed by which symbols were taken. At a byte position where one
wrong symbol b alone differs from the truth, R's column there is M's column b times a
constant. M's columns are found by the same decode: feed S as zeros with a single 1 byte in
symbol b at byte position t, decode, re-encode, read U at byte t; one decode gives
`symbol_size` columns at once. So the suspects (the weak symbols in S, riskiest first) are
probed `symbol_size` at a time, and every suspect whose column is proportional to a residual
column is named wrong (the probing stops once every residual column has its suspect). Two
wrong symbols differing at the same byte position mix there; any byte position where one
differs alone names it, and the caller decodes again without the named ones (and locates
again if the hash still fails).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .gf256 import LOG as _LOG
from .outer import decode_segment_used, encode_segment

MIN_UNUSED = 8    # unused symbols needed: with fewer, a column matches a residual by chance
MAX_PROBES = 400  # probe decodes per call, each testing symbol_size suspects (0.3 s at 1 MB)


def wrong_symbols(symbols: dict[int, bytes], order: Sequence[int], used: int, decoded: bytes,
                  length: int, symbol_size: int, repair: int, suspects: Sequence[int]
                  ) -> list[int]:
    """ESIs among `suspects` located as wrong (module docstring): `order[:used]` are the
    symbols the failed decode took, `decoded` what it gave."""
    taken = list(order[:used])
    in_s = set(taken)
    unused = [e for e in sorted(symbols) if e not in in_s]
    if len(unused) < MIN_UNUSED:
        return []
    expected = encode_segment(decoded, symbol_size, repair)
    if max(unused) >= len(expected):
        return []
    residual = _rows([symbols[e] for e in unused]) ^ _rows([expected[e] for e in unused])
    cols = np.flatnonzero(residual.any(axis=0))
    if cols.size == 0:
        return []
    targets = residual[:, cols]
    candidates = [e for e in suspects if e in in_s]
    zero = bytes(symbol_size)
    named: list[int] = []
    explained: set[int] = set()
    for start in range(0, min(len(candidates), MAX_PROBES * symbol_size), symbol_size):
        batch = candidates[start:start + symbol_size]
        probe = dict.fromkeys(taken, zero)
        for t, esi in enumerate(batch):
            probe[esi] = bytes(t) + b"\x01" + bytes(symbol_size - t - 1)
        got, _ = decode_segment_used(probe, length, symbol_size, taken)
        if got is None:
            continue
        enc = encode_segment(got, symbol_size, repair)
        columns = _rows([enc[e] for e in unused])[:, :len(batch)]
        for t, j in _proportional(columns, targets):
            named.append(batch[t])
            explained.add(j)
        if len(explained) == targets.shape[1]:  # every residual byte has its wrong symbol
            break
    return list(dict.fromkeys(named))


def _rows(blocks: list[bytes]) -> np.ndarray:
    return np.frombuffer(b"".join(blocks), dtype=np.uint8).reshape(len(blocks), -1)


def _proportional(columns: np.ndarray, targets: np.ndarray) -> list[tuple[int, int]]:
    """(column, target) pairs: `targets[:, target]` a nonzero GF(256) multiple of
    `columns[:, column]`."""
    found = []
    for t in range(columns.shape[1]):
        c = columns[:, t]
        nz = c != 0
        if not nz.any():
            continue
        for j in range(targets.shape[1]):
            r = targets[:, j]
            if not np.array_equal(nz, r != 0):
                continue
            ratio = (_LOG[r[nz]] - _LOG[c[nz]]) % 255
            if (ratio == ratio[0]).all():
                found.append((t, j))
    return found
