"""Outer erasure code across strands: RaptorQ (RFC 6330) per segment, and the redundancy rule.

Each strand is one RaptorQ encoding symbol. A segment holds at most SEGMENT_SYMBOLS source
symbols (one RaptorQ source block); strands lost or failing their check are erasures. RaptorQ
decodes from any K + h received symbols with failure probability about 10^-(2(h+1)) (RFC 6330),
far below blocks of 255 strands in overhead.

Redundancy rule: the fewest repair symbols R such that
P(Binomial(K + R, 1 - p) < K + OVERHEAD) <= target / segments, with p the strand-erasure rate
of the channel. Small segments get proportionally more repair symbols, as they should.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy.stats import binom

from ..errors import HelixError

SEGMENT_SYMBOLS = 50_000
OVERHEAD = 2  # symbols beyond K that the rule asks to receive (RaptorQ failure ~1e-6 there)
DEFAULT_FAILURE_TARGET = 1e-4


def repair_symbols(k: int, erasure_rate: float, target: float = DEFAULT_FAILURE_TARGET) -> int:
    """Fewest repair symbols for k source symbols at strand-erasure rate `erasure_rate`."""
    if not 0.0 <= erasure_rate < 0.9:
        raise HelixError(f"erasure rate must be in [0, 0.9), got {erasure_rate}")
    if erasure_rate == 0:
        return OVERHEAD
    lo = OVERHEAD
    hi = max(lo, int(k * erasure_rate / (1 - erasure_rate) * 3) + 64)
    while binom.cdf(k + OVERHEAD - 1, k + hi, 1 - erasure_rate) > target:
        hi *= 2
    while lo < hi:  # smallest r meeting the target (the cdf falls as r grows)
        mid = (lo + hi) // 2
        if binom.cdf(k + OVERHEAD - 1, k + mid, 1 - erasure_rate) <= target:
            hi = mid
        else:
            lo = mid + 1
    return lo


def failure_probability(k: int, r: int, erasure_rate: float) -> float:
    """P(fewer than k + OVERHEAD of the k + r symbols arrive)."""
    return float(binom.cdf(k + OVERHEAD - 1, k + r, 1 - erasure_rate))


@dataclass(frozen=True)
class Segmentation:
    """How a file of `size` bytes splits into RaptorQ segments of `symbol_size`-byte symbols."""

    size: int
    symbol_size: int
    max_symbols: int = SEGMENT_SYMBOLS

    @property
    def total_symbols(self) -> int:
        return max(1, math.ceil(self.size / self.symbol_size))

    @property
    def count(self) -> int:
        return math.ceil(self.total_symbols / self.max_symbols)

    def symbols(self, s: int) -> int:
        """Source symbols of segment s (all segments equal but the last)."""
        per = math.ceil(self.total_symbols / self.count)
        return min(per, self.total_symbols - per * s)

    def byte_range(self, s: int) -> tuple[int, int]:
        per = math.ceil(self.total_symbols / self.count)
        start = s * per * self.symbol_size
        return start, min(self.size, start + self.symbols(s) * self.symbol_size)


def encode_segment(data: bytes, symbol_size: int, repair: int) -> list[bytes]:
    """RaptorQ symbols (source then repair, in ESI order) of one segment."""
    import raptorq

    if not data:
        data = b"\0"
    enc = raptorq.Encoder.with_defaults(data, symbol_size)
    packets = enc.get_encoded_packets(repair)
    out = []
    for esi, p in enumerate(packets):
        if p[0] != 0 or int.from_bytes(p[1:4], "big") != esi:
            raise RuntimeError("RaptorQ split a segment into several source blocks")
        out.append(bytes(p[4:]))
    return out


def decode_segment(symbols: dict[int, bytes], length: int, symbol_size: int) -> bytes | None:
    """The segment's bytes from {esi: symbol}, or None if too few symbols arrived."""
    import raptorq

    dec = raptorq.Decoder.with_defaults(max(1, length), symbol_size)
    for esi in sorted(symbols):
        out = dec.decode(bytes([0]) + esi.to_bytes(3, "big") + symbols[esi])
        if out is not None:
            return bytes(out[:length])
    return None
