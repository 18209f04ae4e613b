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

import hashlib
import math
from dataclasses import dataclass

from scipy.stats import binom

from ..errors import HelixError

SEGMENT_SYMBOLS = 50_000
MAX_SOURCE_BLOCK = 56_403  # RFC 6330's largest source block (K'max)
#: Most repair symbols an encoder writes for k source symbols: redundancy <= 10 gives 10k, the
#: rule at an erasure rate just under 0.9 gives 133 for k = 1 and 10.2k for k = 1000.
MAX_REPAIR_RATIO, MAX_REPAIR_EXTRA = 11, 256
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


def max_repair(k: int) -> int:
    """The most repair symbols a segment of k source symbols can carry (a reader's bound)."""
    return MAX_REPAIR_RATIO * k + MAX_REPAIR_EXTRA


def failure_probability(k: int, r: int, erasure_rate: float) -> float:
    """P(fewer than k + OVERHEAD of the k + r symbols arrive)."""
    return float(binom.cdf(k + OVERHEAD - 1, k + r, 1 - erasure_rate))


SEGMENT_HASH = 8  # bytes of BLAKE2b appended to every segment's data, checked after decoding


@dataclass(frozen=True)
class Segmentation:
    """How a file of `size` bytes splits into RaptorQ segments of `symbol_size`-byte symbols.

    Segment s carries chunk s of the file followed by its 8-byte BLAKE2b, so each decoded
    segment is verified on its own.
    """

    size: int
    symbol_size: int
    max_symbols: int = SEGMENT_SYMBOLS

    @property
    def count(self) -> int:
        capacity = self.max_symbols * self.symbol_size - SEGMENT_HASH
        return max(1, math.ceil(self.size / capacity))

    def chunk_range(self, s: int) -> tuple[int, int]:
        """Bytes of the file in segment s (all chunks equal but the last)."""
        per = math.ceil(self.size / self.count)
        return min(self.size, s * per), min(self.size, (s + 1) * per)

    def length(self, s: int) -> int:
        """Bytes RaptorQ codes for segment s: the chunk and its hash."""
        lo, hi = self.chunk_range(s)
        return hi - lo + SEGMENT_HASH

    def symbols(self, s: int) -> int:
        """Source symbols of segment s."""
        return math.ceil(self.length(s) / self.symbol_size)


def segment_bytes(chunk: bytes) -> bytes:
    return chunk + hashlib.blake2b(chunk, digest_size=SEGMENT_HASH).digest()


def verified_chunk(segment: bytes) -> bytes | None:
    """The chunk of a decoded segment if its hash matches, else None."""
    chunk, tag = segment[:-SEGMENT_HASH], segment[-SEGMENT_HASH:]
    return chunk if hashlib.blake2b(chunk, digest_size=SEGMENT_HASH).digest() == tag else None


def encode_segment(data: bytes, symbol_size: int, repair: int) -> list[bytes]:
    """RaptorQ symbols (source then repair, in ESI order) of one segment."""
    import raptorq

    enc = raptorq.Encoder.with_defaults(data, symbol_size)
    packets = enc.get_encoded_packets(repair)
    out = []
    for esi, p in enumerate(packets):
        if p[0] != 0 or int.from_bytes(p[1:4], "big") != esi:
            raise RuntimeError("RaptorQ split a segment into several source blocks")
        out.append(bytes(p[4:]))
    return out


def decode_segment(symbols: dict[int, bytes], length: int, symbol_size: int,
                   order: list[int] | None = None) -> bytes | None:
    """The segment's bytes from {esi: symbol} (fed in `order`), or None if too few arrived."""
    return decode_segment_used(symbols, length, symbol_size, order)[0]


def decode_segment_used(symbols: dict[int, bytes], length: int, symbol_size: int,
                        order: list[int] | None = None) -> tuple[bytes | None, int]:
    """`decode_segment`, and how many symbols of `order` it took (the decoder stops as soon
    as it can decode: the rest were not used)."""
    import raptorq

    dec = raptorq.Decoder.with_defaults(length, symbol_size)
    fed = 0
    for esi in (order if order is not None else sorted(symbols)):
        fed += 1
        out = dec.decode(bytes([0]) + esi.to_bytes(3, "big") + symbols[esi])
        if out is not None:
            return bytes(out[:length]), fed
    return None, fed


def inconsistent_symbols(data: bytes, symbols: dict[int, bytes], symbol_size: int,
                         repair: int) -> list[int]:
    """ESIs whose received symbol differs from the re-encoding of `data`.

    A correct decode disagrees only with the (rare) corrupted symbols that passed their strand
    check; a decode that used a corrupted symbol disagrees with most of them.
    """
    expected = encode_segment(data, symbol_size, repair)
    return [esi for esi, sym in symbols.items()
            if esi >= len(expected) or expected[esi] != sym]
