"""Classic DNA storage codes, re-implemented as baselines for our constrained FSM coder.

A registry in the style of CompressAI's: `DNA_CODES[name]` is a code class, `@register_code`
adds one, `get_code(name, **kw)` builds one. Every code turns bytes into strands
`DEFAULT_PREFIX + body + DEFAULT_SUFFIX` (bodies of a fixed, code-specific length) and back
from clean strands in any order; `payload_bits_per_strand()` is the payload + index + check
bits one body carries, so coding density = that / body_len.

- `church`   Church, Gao & Kosuri 2012 (Science 337:1628): 1 bit/nt, 19-bit address.
- `goldman`  Goldman et al. 2013 (Nature 494:77): base-3 rotating code, 4-fold overlap.
- `fountain` Erlich & Zielinski 2017 (Science 355:950): LT droplets screened for runs and GC.
- `yinyang`  Ping et al. 2022 (Nat. Comput. Sci. 2:234): two bits per base via the yin and yang
             rules, segment pairs screened for runs and GC.

Our own implementations of the papers' core ideas, kept small; they are not bit-compatible with
the authors' software.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from bisect import bisect_left
from typing import Callable, Iterator

import numpy as np

from ..errors import HelixError
from .constraints import GC_OF_CODE, ConstraintSet, encode_bases, strings_to_codes
from .primers import DEFAULT_PREFIX, DEFAULT_SUFFIX

A, C, G, T = 0, 1, 2, 3
_LETTERS = np.frombuffer(b"ACGT", dtype=np.uint8)
_U64 = (1 << 64) - 1

DNA_CODES: dict[str, type["DnaCode"]] = {}


def register_code(name: str) -> Callable[[type["DnaCode"]], type["DnaCode"]]:
    """Class decorator: put a DNA code into `DNA_CODES` under `name`."""

    def wrap(cls: type[DnaCode]) -> type[DnaCode]:
        cls.name = name
        DNA_CODES[name] = cls
        return cls

    return wrap


def get_code(name: str, **kwargs) -> "DnaCode":
    """An instance of the registered code `name` (kwargs go to its constructor)."""
    if name not in DNA_CODES:
        raise HelixError(f"unknown DNA code {name!r} (known: {', '.join(sorted(DNA_CODES))})")
    return DNA_CODES[name](**kwargs)


# ---------------------------------------------------------------- shared helpers

def _pad(data: bytes, block_bytes: int) -> bytes:
    """ISO/IEC 7816-4 padding (0x80 then zeros) to a multiple of block_bytes: no length field."""
    padded = data + b"\x80"
    return padded + bytes(-len(padded) % block_bytes)


def _unpad(data: bytes) -> bytes:
    end = len(data.rstrip(b"\x00"))
    if end == 0 or data[end - 1] != 0x80:
        raise HelixError("decoded data has no end marker (wrong or incomplete strands)")
    return data[:end - 1]


def _bytes_to_codes(rows: np.ndarray) -> np.ndarray:
    """(n, k) uint8 -> (n, 4k) base codes, 2 bits per base, most significant first."""
    bits = np.unpackbits(rows, axis=1)
    return (bits[:, 0::2] << 1) | bits[:, 1::2]


def _codes_to_bytes(codes: np.ndarray) -> np.ndarray:
    bits = np.empty((codes.shape[0], codes.shape[1] * 2), dtype=np.uint8)
    bits[:, 0::2], bits[:, 1::2] = codes >> 1, codes & 1
    return np.packbits(bits, axis=1)


def _uint_bits(values: np.ndarray, width: int) -> np.ndarray:
    """(n,) ints -> (n, width) bits, most significant first."""
    shifts = np.arange(width - 1, -1, -1, dtype=np.int64)
    return ((np.asarray(values, dtype=np.int64)[:, None] >> shifts) & 1).astype(np.uint8)


def _reassemble(rows: np.ndarray, index: np.ndarray, index_bits: int, code: str,
                what: str) -> bytes:
    """Bit rows (index field first) put back in index order, index fields dropped, unpadded;
    a HelixError names how many rows are missing."""
    n = int(index.max()) + 1
    order = np.full(n, -1)
    order[index] = np.arange(len(index))
    if (order < 0).any():
        raise HelixError(f"{code}: {int((order < 0).sum())} of {n} {what} missing")
    return _unpad(np.packbits(rows[order, index_bits:].reshape(-1)).tobytes())


def _bits_uint(bits: np.ndarray) -> np.ndarray:
    weights = 1 << np.arange(bits.shape[1] - 1, -1, -1, dtype=np.int64)
    return bits.astype(np.int64) @ weights


def _run_at_end(codes: np.ndarray) -> int:
    """Length of the homopolymer run that ends `codes`."""
    n = 1
    while n < len(codes) and codes[-n - 1] == codes[-1]:
        n += 1
    return n


def passes_screen(strands: np.ndarray, max_run: int, gc_lo: int, gc_hi: int) -> np.ndarray:
    """Per strand of (n, L) codes: no run over max_run and G+C count within [gc_lo, gc_hi]."""
    same = strands[:, 1:] == strands[:, :-1]
    run = same  # after step k: run[:, j] = bases j .. j+k+1 all equal
    for k in range(1, max_run):
        run = run[:, :-1] & same[:, k:]
    gc = GC_OF_CODE[strands].sum(axis=1, dtype=np.int64)
    return ~run.any(axis=1) & (gc >= gc_lo) & (gc <= gc_hi)


def _mix32(x: int) -> int:
    """MurmurHash3's fmix32: a bijection on 32-bit ints (distinct counters, distinct seeds)."""
    x &= 0xFFFFFFFF
    x = ((x ^ (x >> 16)) * 0x85EBCA6B) & 0xFFFFFFFF
    x = ((x ^ (x >> 13)) * 0xC2B2AE35) & 0xFFFFFFFF
    return x ^ (x >> 16)


class _SplitMix64:
    """Tiny deterministic PRNG (SplitMix64): the droplet and filler recipes depend only on it."""

    def __init__(self, seed: int) -> None:
        self.state = seed & _U64

    def next(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & _U64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _U64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _U64
        return z ^ (z >> 31)

    def uniform(self) -> float:
        return (self.next() >> 11) * 2.0 ** -53

    def randbytes(self, n: int) -> bytes:
        return b"".join(self.next().to_bytes(8, "big") for _ in range((n + 7) // 8))[:n]


# ---------------------------------------------------------------- base class

class DnaCode(ABC):
    """A DNA code: bytes <-> strands of prefix + body (body_len nt) + suffix."""

    name: str = ""
    natural_constraints: str = "rl3"  # the constraint set the code is designed to satisfy
    body_len: int

    def __init__(self, prefix: str = DEFAULT_PREFIX, suffix: str = DEFAULT_SUFFIX) -> None:
        self.prefix, self.suffix = prefix, suffix
        self.prefix_codes, self.suffix_codes = encode_bases(prefix), encode_bases(suffix)

    @abstractmethod
    def encode(self, data: bytes) -> list[str]:
        """Strands that store `data`."""

    @abstractmethod
    def decode(self, strands: list[str]) -> bytes:
        """The data back from clean strands in any order; HelixError when it can't."""

    @abstractmethod
    def payload_bits_per_strand(self) -> float:
        """Payload + index + check bits written into one body."""

    def coding_density(self) -> float:
        return self.payload_bits_per_strand() / self.body_len

    def primer_nt(self) -> int:
        return len(self.prefix) + len(self.suffix)

    def _wrap(self, bodies: np.ndarray) -> list[str]:
        """(n, body_len) codes -> full strand strings."""
        raw = _LETTERS[bodies].tobytes()
        w = bodies.shape[1]
        return [self.prefix + raw[i * w:(i + 1) * w].decode() + self.suffix
                for i in range(bodies.shape[0])]

    def _full(self, bodies: np.ndarray) -> np.ndarray:
        """(n, body_len) codes -> (n, strand_len) codes with the primers."""
        n = bodies.shape[0]
        return np.hstack([np.broadcast_to(self.prefix_codes, (n, len(self.prefix))), bodies,
                          np.broadcast_to(self.suffix_codes, (n, len(self.suffix)))])

    def _bodies(self, strands: list[str]) -> np.ndarray:
        """Strands -> (n, body_len) codes, after checking length and primers."""
        if not strands:
            raise HelixError(f"{self.name}: no strands to decode")
        p, s, want = len(self.prefix), len(self.suffix), self.body_len
        bodies = []
        for seq in strands:
            if len(seq) != p + want + len(self.suffix) or not (
                    seq.startswith(self.prefix) and seq.endswith(self.suffix)):
                raise HelixError(f"{self.name}: strand is not prefix + {want} nt + suffix")
            bodies.append(seq[p:len(seq) - s])
        return strings_to_codes(bodies)


# ---------------------------------------------------------------- Church 2012

@register_code("church")
class ChurchCode(DnaCode):
    """Church, Gao & Kosuri 2012: one bit per base, 0 -> A or C, 1 -> G or T.

    Each body is a 19-bit block address then data bits (96 in the paper's 115-nt body, the
    default here). The paper picks between the two bases at random to avoid runs over 3 and
    balance GC; we pick deterministically: the base that pulls the body's GC towards 50%,
    unless it would make a run over `max_run` (primer junctions included), else the other.
    """

    natural_constraints = "rl3"

    def __init__(self, body_len: int = 115, address_bits: int = 19, max_run: int = 3,
                 prefix: str = DEFAULT_PREFIX, suffix: str = DEFAULT_SUFFIX) -> None:
        super().__init__(prefix, suffix)
        if body_len - address_bits < 8:
            raise HelixError("church: body too short for the address")
        self.body_len, self.address_bits, self.max_run = body_len, address_bits, max_run
        self.data_bits = body_len - address_bits

    def payload_bits_per_strand(self) -> float:
        return float(self.body_len)

    def encode(self, data: bytes) -> list[str]:
        bits = np.unpackbits(np.frombuffer(_pad(data, 1), dtype=np.uint8))
        n = -(-bits.size // self.data_bits)
        if n > 1 << self.address_bits:
            raise HelixError(f"church: {n} blocks do not fit a {self.address_bits}-bit address")
        blocks = np.zeros((n, self.data_bits), dtype=np.uint8)
        blocks.reshape(-1)[:bits.size] = bits
        body_bits = np.hstack([_uint_bits(np.arange(n), self.address_bits), blocks])
        return self._wrap(self._bases(body_bits))

    def _bases(self, bits: np.ndarray) -> np.ndarray:
        """Pick a base per bit for all bodies in lockstep (GC balance, then run limit)."""
        n, length = bits.shape
        out = np.empty((n, length), dtype=np.uint8)
        prev = np.full(n, self.prefix_codes[-1], dtype=np.uint8)
        run = np.full(n, _run_at_end(self.prefix_codes))
        gc = np.zeros(n, dtype=np.int64)
        tail, tail_run = self.suffix_codes[0], _run_at_end(self.suffix_codes[::-1])
        for j in range(length):
            at = np.where(bits[:, j] == 0, A, T).astype(np.uint8)
            cg = np.where(bits[:, j] == 0, C, G).astype(np.uint8)
            want_gc = (2 * gc < j) | ((2 * gc == j) & (GC_OF_CODE[prev] == 0))
            first, second = np.where(want_gc, cg, at), np.where(want_gc, at, cg)
            after = tail_run if j == length - 1 else 0  # the suffix joins the last base's run
            runs = [np.where(b == prev, run, 0) + 1 + after * (b == tail) for b in (first, second)]
            if ((runs[0] > self.max_run) & (runs[1] > self.max_run)).any():
                raise HelixError("church: primers leave no base within the run limit")
            x = np.where(runs[0] > self.max_run, second, first)
            run = np.where(x == prev, run + 1, 1)
            gc += GC_OF_CODE[x]
            prev = out[:, j] = x
        return out

    def decode(self, strands: list[str]) -> bytes:
        bits = (self._bodies(strands) >= G).astype(np.uint8)  # G, T -> 1
        address = _bits_uint(bits[:, :self.address_bits])
        return _reassemble(bits, address, self.address_bits, "church", "blocks")


# ---------------------------------------------------------------- Goldman 2013

_G5 = 236  # bytes below this get 5 trits, the other 20 get 6 (a complete-enough prefix code)


def _rotate(trits: np.ndarray, start: np.ndarray | int) -> np.ndarray:
    """Goldman's rotating code on rows of trits: base = previous + 1 + trit (mod 4)."""
    return ((np.asarray(start)[..., None] + np.cumsum(trits.astype(np.int64) + 1, axis=-1))
            % 4).astype(np.uint8)


def _unrotate(bases: np.ndarray, start: np.ndarray | int) -> np.ndarray:
    """Inverse of `_rotate`; a 3 marks a homopolymer (not a rotating-code sequence)."""
    prev = np.concatenate([np.broadcast_to(np.asarray(start, dtype=np.int64)[..., None],
                                           bases.shape[:-1] + (1,)),
                           bases[..., :-1].astype(np.int64)], axis=-1)
    return ((bases.astype(np.int64) - prev - 1) % 4).astype(np.uint8)


def _to_trits(values: np.ndarray, width: int) -> np.ndarray:
    powers = 3 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return ((np.asarray(values, dtype=np.int64)[:, None] // powers) % 3).astype(np.uint8)


def _from_trits(trits: np.ndarray) -> np.ndarray:
    return trits.astype(np.int64) @ (3 ** np.arange(trits.shape[-1] - 1, -1, -1, dtype=np.int64))


@register_code("goldman")
class GoldmanCode(DnaCode):
    """Goldman et al. 2013: trits, a rotating code (no homopolymers), 4-fold overlapping fragments.

    Bytes -> trits with a fixed prefix code of 5 or 6 trits per byte (the paper's Huffman code
    has the same lengths; ours gives 6 trits to bytes 236..255 instead of the rare ones of a
    text). S4 = trits + zero padding + the trit count in 20 trits, rotating-coded into S5 from
    an implicit A. Fragment i is S5[i*25 : i*25+100] (overlap 75), reverse-complemented when i
    is odd, followed by 15 index trits (2-trit file ID, 12-trit i, parity over the odd-numbered
    trits) rotating-coded on, framed by A|T in front and C|G behind (whichever differs from its
    neighbour): 117-nt bodies. Decoding votes per S5 position over every covering fragment.
    """

    natural_constraints = "rl3"
    INDEX_TRITS = 12

    def __init__(self, fragment_len: int = 100, overlap: int = 75, file_id: int = 0,
                 prefix: str = DEFAULT_PREFIX, suffix: str = DEFAULT_SUFFIX) -> None:
        super().__init__(prefix, suffix)
        if not 0 <= overlap < fragment_len or not 0 <= file_id < 9:
            raise HelixError("goldman: need 0 <= overlap < fragment_len and 0 <= file_id < 9")
        self.fragment_len, self.stride, self.file_id = fragment_len, fragment_len - overlap, file_id
        self.body_len = 1 + fragment_len + 15 + 1

    def payload_bits_per_strand(self) -> float:
        return (self.fragment_len + 15) * math.log2(3)

    # bytes <-> trits
    @staticmethod
    def _byte_trits(data: bytes) -> np.ndarray:
        b = np.frombuffer(data, dtype=np.uint8).astype(np.int64)
        six = b >= _G5
        digits = _to_trits(np.where(six, 3 * _G5 + (b - _G5), b), 6)
        keep = np.ones(digits.shape, dtype=bool)
        keep[:, 0] = six  # 5-trit codes have a leading zero in 6 digits
        return digits[keep]

    @staticmethod
    def _trit_bytes(trits: np.ndarray) -> bytes:
        t, out, p = trits.tolist(), bytearray(), 0
        while p + 5 <= len(t):
            v = (((t[p] * 3 + t[p + 1]) * 3 + t[p + 2]) * 3 + t[p + 3]) * 3 + t[p + 4]
            if v < _G5:
                out.append(v)
                p += 5
            elif p + 6 <= len(t) and 3 * v + t[p + 5] - 3 * _G5 < 256 - _G5:
                out.append(_G5 + 3 * v + t[p + 5] - 3 * _G5)
                p += 6
            else:
                break
        if p != len(t):
            raise HelixError("goldman: trit stream is not a whole number of byte codes")
        return bytes(out)

    def encode(self, data: bytes) -> list[str]:
        s1 = self._byte_trits(data)
        if s1.size >= 3 ** 20:
            raise HelixError("goldman: file too long for the 20-trit length field")
        total = max(s1.size + 20, self.fragment_len)
        total += -(total - self.fragment_len) % self.stride
        s4 = np.concatenate([s1, np.zeros(total - s1.size - 20, np.uint8),
                             _to_trits(np.array([s1.size]), 20)[0]])
        s5 = _rotate(s4, A)
        n = (total - self.fragment_len) // self.stride + 1
        if n > 3 ** self.INDEX_TRITS:
            raise HelixError(f"goldman: {n} fragments overflow the 12-trit index")
        starts = np.arange(n) * self.stride
        frags = s5[starts[:, None] + np.arange(self.fragment_len)]
        odd = np.arange(n) % 2 == 1
        frags[odd] = 3 - frags[odd, ::-1]  # reverse complement
        ix = np.hstack([np.broadcast_to(_to_trits(np.array([self.file_id]), 2), (n, 2)),
                        _to_trits(np.arange(n), self.INDEX_TRITS)])
        ix = np.hstack([ix, (ix[:, 0::2].sum(axis=1, keepdims=True) % 3).astype(np.uint8)])
        ix_bases = _rotate(ix, frags[:, -1])
        head = np.where(frags[:, 0] == A, T, A).astype(np.uint8)[:, None]
        tail = np.where(ix_bases[:, -1] == C, G, C).astype(np.uint8)[:, None]
        return self._wrap(np.hstack([head, frags, ix_bases, tail]))

    def decode(self, strands: list[str]) -> bytes:
        bodies = self._bodies(strands)
        frags, ix_bases = bodies[:, 1:1 + self.fragment_len], bodies[:, 1 + self.fragment_len:-1]
        ix = _unrotate(ix_bases, frags[:, -1])
        ok = (ix < 3).all(axis=1) & (ix[:, :-1][:, 0::2].sum(axis=1) % 3 == ix[:, -1])
        ok &= _from_trits(np.minimum(ix[:, :2], 2)) == self.file_id
        frags, index = frags[ok], _from_trits(np.minimum(ix[ok, 2:-1], 2))
        if index.size == 0:
            raise HelixError("goldman: no valid fragment")
        odd = index % 2 == 1
        frags[odd] = 3 - frags[odd, ::-1]
        total = int(index.max()) * self.stride + self.fragment_len
        votes = np.zeros((total, 4), dtype=np.int64)
        pos = index[:, None] * self.stride + np.arange(self.fragment_len)
        np.add.at(votes, (pos.reshape(-1), frags.reshape(-1).astype(np.int64)), 1)
        if (votes.sum(axis=1) == 0).any():
            raise HelixError("goldman: fragments missing, part of the file is not covered")
        s4 = _unrotate(votes.argmax(axis=1).astype(np.uint8), A)
        if (s4 == 3).any():
            raise HelixError("goldman: homopolymer in the reassembled sequence")
        n = int(_from_trits(s4[-20:]))
        if n > total - 20:
            raise HelixError("goldman: bad length field")
        return self._trit_bytes(s4[:n])


# ---------------------------------------------------------------- DNA Fountain 2017

def robust_soliton_cdf(k: int, c: float = 0.025, delta: float = 0.001) -> list[float]:
    """Cumulative robust soliton distribution over degrees 1..k (Luby 2002)."""
    rho = np.zeros(k + 1)
    rho[1] = 1.0 / k
    d = np.arange(2, k + 1)
    rho[2:] = 1.0 / (d * (d - 1))
    r = c * math.log(k / delta) * math.sqrt(k)
    spike = min(k, max(1, math.floor(k / r)))
    tau = np.zeros(k + 1)
    tau[1:spike] = r / (np.arange(1, spike) * k)
    tau[spike] += max(0.0, r * math.log(r / delta) / k)
    mu = (rho + tau)[1:]
    cdf = np.cumsum(mu / mu.sum())
    cdf[-1] = 1.0
    return cdf.tolist()


def _reedsolo():
    """The reedsolo module (Reed-Solomon over GF(256)), imported when a fountain code runs."""
    try:
        import reedsolo
    except ImportError:  # pragma: no cover - a declared dependency
        raise HelixError("the fountain code needs the 'reedsolo' package") from None
    return reedsolo


@register_code("fountain")
class FountainCode(DnaCode):
    """Erlich & Zielinski 2017, DNA Fountain: Luby-transform droplets screened before synthesis.

    The file is padded and cut into K segments of `payload_bytes`. Droplet = 4-byte seed +
    XOR of the segments that the seed picks (robust soliton degree, SplitMix64 PRNG) + Reed-
    Solomon bytes, written 2 bits per base. Seeds are tried in order and a droplet is kept
    only if its whole strand, primers included, has no run over `max_run` and GC in
    [gc_min, gc_max]. We emit (1 + redundancy) K droplets, and more if a peeling decoder on
    the emitted set would stall. Decoding: RS check/correct, then peeling (belief propagation
    on the erasure channel). Defaults are the paper's: 4 + 32 + 2 bytes = 152 nt.

    Departures from the paper: seeds are a 32-bit bijective mix of a counter (the paper steps
    an LFSR; both give random-looking seed fields that can pass the screen); the payload is
    XORed with a seed-keyed mask, else a low-entropy file (zeros, the padding) gives droplets
    that never pass; K, which the paper's decoder is told out of band, is stored in one header
    strand whose seed field is the reserved 0x1B1B1B1B (ACGT ACGT ...).
    """

    natural_constraints = "fountain"
    HEADER_SEED = 0x1B1B1B1B
    BATCH = 256

    def __init__(self, payload_bytes: int = 32, rs_bytes: int = 2, redundancy: float = 0.07,
                 c: float = 0.025, delta: float = 0.001, max_run: int = 3,
                 gc_min: float = 0.45, gc_max: float = 0.55,
                 prefix: str = DEFAULT_PREFIX, suffix: str = DEFAULT_SUFFIX) -> None:
        super().__init__(prefix, suffix)
        if payload_bytes < 8 or rs_bytes < 0 or redundancy < 0:
            raise HelixError("fountain: need payload_bytes >= 8, rs_bytes >= 0, redundancy >= 0")
        self.payload_bytes, self.rs_bytes, self.redundancy = payload_bytes, rs_bytes, redundancy
        self.c, self.delta, self.max_run = c, delta, max_run
        self.droplet_bytes = 4 + payload_bytes + rs_bytes
        self.body_len = 4 * self.droplet_bytes
        strand_len = self.body_len + self.primer_nt()
        self.gc_lo, self.gc_hi = ConstraintSet("screen", max_run, None, gc_min, gc_max) \
            .gc_bounds(strand_len)

    def payload_bits_per_strand(self) -> float:
        """Payload and RS bytes, plus what the seed field really tells: log2 of the number of
        seeds tried (any of them could have passed the screen), not its 32 written bits, which
        would put the density above the constraint set's capacity."""
        tried = getattr(self, "seeds_tried", None) or (1 << 32)
        return 8.0 * (self.payload_bytes + self.rs_bytes) + math.log2(max(2, tried))

    def _recipe(self, seed: int, k: int, cdf: list[float]) -> list[int]:
        """The segments droplet `seed` XORs together (the decoder recomputes them)."""
        rng = _SplitMix64(seed)
        degree = min(k, bisect_left(cdf, rng.uniform()) + 1)
        picked: dict[int, None] = {}
        while len(picked) < degree:
            picked.setdefault(rng.next() % k)
        return list(picked)

    def _whitener(self, seed: int) -> np.ndarray:
        """Seed-keyed mask XORed onto the payload, so zero runs in the file still screen."""
        return np.frombuffer(_SplitMix64(~seed).randbytes(self.payload_bytes), dtype=np.uint8)

    def _finish(self, rows: list[bytes]) -> np.ndarray:
        """Seed + payload rows -> RS-protected droplets as (n, body_len) base codes."""
        rs = _reedsolo().RSCodec(self.rs_bytes) if self.rs_bytes else None
        full = [bytes(rs.encode(r)) if rs else r for r in rows]
        return _bytes_to_codes(np.frombuffer(b"".join(full), dtype=np.uint8)
                               .reshape(len(rows), self.droplet_bytes))

    def _screen(self, bodies: np.ndarray) -> np.ndarray:
        return passes_screen(self._full(bodies), self.max_run, self.gc_lo, self.gc_hi)

    def _droplets(self, segments: np.ndarray,
                  cdf: list[float]) -> Iterator[tuple[list[int], np.ndarray]]:
        """Screened droplets in seed order: (segment indices, body codes)."""
        k, counter = len(segments), 0
        while True:
            if counter >= 1 << 32:
                raise HelixError("fountain: seed space exhausted by the screen")
            seeds = [s for s in map(_mix32, range(counter, counter + self.BATCH))
                     if s != self.HEADER_SEED]
            counter += self.BATCH
            self.seeds_tried = counter
            recipes = [self._recipe(s, k, cdf) for s in seeds]
            rows = [s.to_bytes(4, "big") + (np.bitwise_xor.reduce(segments[r], axis=0)
                                             ^ self._whitener(s)).tobytes()
                    for s, r in zip(seeds, recipes)]
            bodies = self._finish(rows)
            for i in np.flatnonzero(self._screen(bodies)):
                yield recipes[i], bodies[i]

    def _header(self, k: int) -> np.ndarray:
        """The header droplet: a 4-byte nonce, then K and filler masked by a stream from the
        nonce (so the strand looks random); nonces are tried until it passes the screen."""
        for attempt in range(1 << 16):
            nonce = _mix32(attempt)
            stream = _SplitMix64(nonce).randbytes(self.payload_bytes - 4)
            masked = (k ^ int.from_bytes(stream[:4], "big")).to_bytes(4, "big")
            row = self.HEADER_SEED.to_bytes(4, "big") + nonce.to_bytes(4, "big") + masked + \
                stream[4:self.payload_bytes - 4]
            body = self._finish([row])
            if self._screen(body)[0]:
                return body[0]
        raise HelixError("fountain: no header strand passes the screen")

    @staticmethod
    def _header_k(payload: bytes) -> int:
        stream = _SplitMix64(int.from_bytes(payload[:4], "big")).randbytes(4)
        return int.from_bytes(payload[4:8], "big") ^ int.from_bytes(stream, "big")

    def encode(self, data: bytes) -> list[str]:
        padded = np.frombuffer(_pad(data, self.payload_bytes), dtype=np.uint8)
        segments = padded.reshape(-1, self.payload_bytes)
        k = len(segments)
        cdf = robust_soliton_cdf(k, self.c, self.delta)
        source = self._droplets(segments, cdf)
        recipes: list[list[int]] = []
        bodies: list[np.ndarray] = []
        target = math.ceil(k * (1 + self.redundancy))
        while True:
            while len(recipes) < target:
                r, b = next(source)
                recipes.append(r)
                bodies.append(b)
            if _peel(recipes, k) is not None:
                break
            target += max(1, math.ceil(0.01 * k))
        return self._wrap(np.vstack([self._header(k)] + bodies))

    def decode(self, strands: list[str]) -> bytes:
        rows = _codes_to_bytes(self._bodies(strands))
        reedsolo = _reedsolo()
        rs = reedsolo.RSCodec(self.rs_bytes) if self.rs_bytes else None
        droplets, ks = [], set()
        for row in rows:
            raw = row.tobytes()
            if rs:
                try:
                    raw = bytes(rs.decode(raw)[0])
                except reedsolo.ReedSolomonError:  # too many errors: drop the droplet
                    continue
            seed = int.from_bytes(raw[:4], "big")
            if seed == self.HEADER_SEED:
                ks.add(self._header_k(raw[4:]))
            else:
                droplets.append((seed, np.frombuffer(raw[4:], dtype=np.uint8)
                                 ^ self._whitener(seed)))
        if len(ks) != 1 or 0 in ks:
            raise HelixError("fountain: header strand missing or inconsistent")
        k = ks.pop()
        cdf = robust_soliton_cdf(k, self.c, self.delta)
        recipes = [self._recipe(seed, k, cdf) for seed, _ in droplets]
        data = _peel(recipes, k, [p for _, p in droplets])
        if data is None:
            raise HelixError("fountain: peeling stalled, too few droplets")
        return _unpad(np.vstack(data).tobytes())


def _peel(recipes: list[list[int]], k: int,
          payloads: list[np.ndarray] | None = None) -> list | None:
    """Peeling decoder: resolve degree-1 droplets, XOR them out of the rest, until k are known.

    Returns the k segments (with payloads) or k True flags (without: a decodability check);
    None when peeling stalls.
    """
    pending = [set(r) for r in recipes]
    values = [p.copy() for p in payloads] if payloads is not None else None
    holders: list[list[int]] = [[] for _ in range(k)]
    for i, r in enumerate(pending):
        for s in r:
            holders[s].append(i)
    out: list = [None] * k
    known = 0
    queue = [i for i, r in enumerate(pending) if len(r) == 1]
    while queue:
        i = queue.pop()
        if len(pending[i]) != 1:  # already emptied by another droplet resolving its segment
            continue
        s = pending[i].pop()
        out[s] = values[i] if values is not None else True
        known += 1
        for j in holders[s]:
            if s in pending[j]:
                pending[j].discard(s)
                if values is not None:
                    values[j] ^= out[s]
                if len(pending[j]) == 1:
                    queue.append(j)
    return out if known == k else None


# ---------------------------------------------------------------- Yin-Yang 2022

# Rule 495, the paper's default (Chamaeleo's YYC defaults): yang splits A,G = 0 / C,T = 1;
# yin picks one base of the yang pair from the previous base: YIN[prev][base] = the yin bit.
YANG = np.array([0, 1, 0, 1], dtype=np.uint8)
YIN = np.array([[1, 1, 0, 0], [1, 0, 0, 1], [1, 1, 0, 0], [1, 1, 0, 0]], dtype=np.uint8)
# BASE_OF[prev, yang bit, yin bit] -> base
BASE_OF = np.zeros((4, 2, 2), dtype=np.uint8)
for _p in range(4):
    for _b in range(4):
        BASE_OF[_p, YANG[_b], YIN[_p, _b]] = _b


@register_code("yinyang")
class YinYangCode(DnaCode):
    """Ping et al. 2022, the Yin-Yang code: two binary segments -> one strand, 2 bits per base.

    At each position the yang segment's bit picks a pair of bases (rule 495: A/G vs C/T) and
    the yin segment's bit picks one of the two, by a table keyed on the previous base (the
    prefix's last base for position 0). Each segment is a 20-bit index + data bits (body_len
    bits). Segments are paired, and a pair is kept only if its whole strand, primers included,
    has no run over `max_run` and GC in [gc_min, gc_max]; failed segments are re-paired at
    random for `search_rounds` rounds (the paper searches partners one segment at a time), and
    the rest are paired with random filler segments (index >= 2**19). Defaults match the
    paper's screening (`relaxed`: run <= 4, GC 40-60%). Our addition: every segment is XORed
    with a fixed pseudo-random mask first, else the index fields' leading zeros (and the zero
    padding) make the same base over and over and no pair passes.
    """

    natural_constraints = "relaxed"
    INDEX_BITS = 20
    FILLER = 1 << 19  # index bit that marks a filler segment (its other bits are random)

    def __init__(self, body_len: int = 160, max_run: int = 4, gc_min: float = 0.40,
                 gc_max: float = 0.60, search_rounds: int = 100, seed: int = 0,
                 prefix: str = DEFAULT_PREFIX, suffix: str = DEFAULT_SUFFIX) -> None:
        super().__init__(prefix, suffix)
        if body_len <= self.INDEX_BITS + 8:
            raise HelixError("yinyang: body too short for the index")
        self.body_len, self.max_run, self.search_rounds, self.seed = \
            body_len, max_run, search_rounds, seed
        self.gc_lo, self.gc_hi = ConstraintSet("screen", max_run, None, gc_min, gc_max) \
            .gc_bounds(body_len + self.primer_nt())
        self.data_bits = body_len - self.INDEX_BITS
        mask = _SplitMix64(0x59494E59414E47).randbytes(-(-body_len // 8))
        self.mask = np.unpackbits(np.frombuffer(mask, dtype=np.uint8))[:body_len]

    def payload_bits_per_strand(self) -> float:
        """Two segments' data bits and the information of their indices (log2 of the number
        of segments), not the 2 bits/nt written: which segments share a strand is chosen by
        the screen, so the written index fields carry no more than that."""
        n = getattr(self, "n_segments", None) or (1 << (self.INDEX_BITS - 1))
        return 2.0 * (self.data_bits + math.log2(max(2, n)))

    def _combine(self, yang: np.ndarray, yin: np.ndarray) -> np.ndarray:
        """Rows of yang and yin bits -> rows of bases, in lockstep."""
        out = np.empty(yang.shape, dtype=np.uint8)
        prev = np.full(yang.shape[0], self.prefix_codes[-1], dtype=np.uint8)
        for j in range(yang.shape[1]):
            prev = out[:, j] = BASE_OF[prev, yang[:, j], yin[:, j]]
        return out

    def _try(self, yang: np.ndarray, yin: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        bodies = self._combine(yang, yin)
        return bodies, passes_screen(self._full(bodies), self.max_run, self.gc_lo, self.gc_hi)

    def encode(self, data: bytes) -> list[str]:
        bits = np.unpackbits(np.frombuffer(_pad(data, 1), dtype=np.uint8))
        n = -(-bits.size // self.data_bits)
        self.n_segments = n
        if n > self.FILLER:
            raise HelixError("yinyang: too many segments for the 19-bit data index")
        segs = np.zeros((n, self.data_bits), dtype=np.uint8)
        segs.reshape(-1)[:bits.size] = bits
        segs = np.hstack([_uint_bits(np.arange(n), self.INDEX_BITS), segs]) ^ self.mask
        rng = np.random.default_rng(self.seed)
        kept, left = [], np.arange(n)
        for _ in range(self.search_rounds):
            if len(left) < 2:
                break
            left = rng.permutation(left)
            pairs = left[:len(left) // 2 * 2].reshape(-1, 2)
            bodies, ok = self._try(segs[pairs[:, 0]], segs[pairs[:, 1]])
            kept.append(bodies[ok])
            left = np.concatenate([pairs[~ok].reshape(-1), left[len(pairs) * 2:]])
        for _ in range(10_000):
            if not len(left):
                break
            filler = rng.integers(0, 2, (len(left), self.body_len), dtype=np.uint8)
            filler[:, 0] = 1 ^ self.mask[0]  # masked, the index has its top bit set
            bodies, ok = self._try(segs[left], filler)
            kept.append(bodies[ok])
            left = left[~ok]
        if len(left):
            raise HelixError("yinyang: no filler segment makes a valid strand")
        return self._wrap(np.vstack(kept))

    def decode(self, strands: list[str]) -> bytes:
        bodies = self._bodies(strands).astype(np.int64)
        prev = np.hstack([np.full((len(bodies), 1), self.prefix_codes[-1]), bodies[:, :-1]])
        segs = np.vstack([YANG[bodies], YIN[prev, bodies]]) ^ self.mask
        index = _bits_uint(segs[:, :self.INDEX_BITS])
        segs, index = segs[index < self.FILLER], index[index < self.FILLER]
        if index.size == 0:
            raise HelixError("yinyang: no data segment")
        return _reassemble(segs, index, self.INDEX_BITS, "yinyang", "segments")
