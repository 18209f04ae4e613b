"""Strand layout: [prefix primer | FSM(index | payload | check) | suffix primer].

One FSM pass writes everything between the primers, so the whole strand (junctions included)
obeys the constraint set. Each strand carries exactly `coder.k` bits:
- data strand:   index (index_bits) | payload (8 * symbol_size, whitened) | check (the rest)
- header strand: part/copy (8 bits) | [archive ID (32 bits)] | header bytes | check (32 bits)
The check is a truncated BLAKE2b over a domain tag and the other fields, so a header strand is
never mistaken for a data strand. An archive with an ID (header version 3) writes it in every
header strand and keys its data strands' check and whitening with it: its data strands carry
the ID at no cost in bits, and fail the check of any other archive in the same pool.
docs/FORMAT.md is the normative description.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from ..errors import HelixError
from .constraints import ConstraintSet, codes_to_strings, encode_bases, strings_to_codes
from .fsm_coder import FsmCoder, get_coder
from .primers import DEFAULT_PREFIX, DEFAULT_SUFFIX

DEFAULT_STRAND_LEN = 200
MAX_STRAND_LEN = 1000  # synthesis tops out near 300 nt; checked before a coder is built
MAX_SYMBOL_SIZE = 64  # bytes: RaptorQ (with_defaults) rounds larger symbols down to 8-byte multiples
MIN_CHECK_BITS = 16
HEADER_TAG_BITS = 8
HEADER_CHECK_BITS = 32
DATA_DOMAIN = b"helix-data-v1"
HEADER_DOMAIN = b"helix-header-v1"
ID_BITS = 32  # archive ID, in header strands of header version 3
DATA_DOMAIN_ID = b"helix-data-v3"
HEADER_DOMAIN_ID = b"helix-header-v3"


def id_bytes(archive_id: int | None) -> bytes:
    """The key bytes an archive ID adds to checks and whitening (none without an ID)."""
    return b"" if archive_id is None else int(archive_id).to_bytes(4, "big")


def bits_from_bytes(data: bytes, nbits: int) -> np.ndarray:
    """First `nbits` bits of `data`, most significant first, as a uint8 0/1 array."""
    arr = np.unpackbits(np.frombuffer(data, dtype=np.uint8))
    if len(arr) < nbits:
        arr = np.concatenate([arr, np.zeros(nbits - len(arr), np.uint8)])
    return arr[:nbits]


def int_to_bits(values: np.ndarray, width: int) -> np.ndarray:
    """(N,) unsigned ints -> (N, width) bits, most significant first."""
    values = np.asarray(values, dtype=np.uint64)
    shifts = np.arange(width - 1, -1, -1, dtype=np.uint64)
    return ((values[:, None] >> shifts) & np.uint64(1)).astype(np.uint8)


def bits_to_int(bits: np.ndarray) -> np.ndarray:
    """(N, width) bits (width <= 64) -> (N,) uint64."""
    out = np.zeros(bits.shape[0], dtype=np.uint64)
    for j in range(bits.shape[1]):
        out = (out << np.uint64(1)) | bits[:, j].astype(np.uint64)
    return out


def check_bits(domain: bytes, fields: bytes, width: int) -> np.ndarray:
    digest = hashlib.blake2b(domain + fields, digest_size=8).digest()
    return bits_from_bytes(digest, width)


def whitening_rows(indices: np.ndarray, nbytes: int, archive_id: int | None = None
                   ) -> np.ndarray:
    """(N, nbytes) key streams XORed onto data payloads: SHAKE-128 of a tag, the archive ID
    (if any) and the strand index, so runs of equal bytes in a file still give random-looking
    strands, and two archives of one pool never write the same strand."""
    tag = b"helix-whiten" + id_bytes(archive_id)
    stream = b"".join(hashlib.shake_128(tag + int(i).to_bytes(8, "big")).digest(nbytes)
                      for i in np.asarray(indices).tolist())
    return np.frombuffer(stream, dtype=np.uint8).reshape(len(indices), nbytes)


def check_rows(domain: bytes, indices: np.ndarray, white: np.ndarray, width: int,
               archive_id: int | None = None) -> np.ndarray:
    """(N, width) check bits of data strands: BLAKE2b-64 over domain, archive ID (if any),
    index and payload."""
    tag = domain + id_bytes(archive_id)
    digests = b"".join(
        hashlib.blake2b(tag + int(i).to_bytes(8, "big") + row.tobytes(), digest_size=8).digest()
        for i, row in zip(np.asarray(indices).tolist(), white))
    bits = np.unpackbits(np.frombuffer(digests, dtype=np.uint8).reshape(len(white), 8), axis=1)
    return bits[:, :width]


@dataclass
class StrandLayout:
    """Geometry of one archive's strands and the FSM coder that writes them."""

    cs: ConstraintSet
    strand_len: int = DEFAULT_STRAND_LEN
    prefix: str = DEFAULT_PREFIX
    suffix: str = DEFAULT_SUFFIX
    coder: FsmCoder = field(init=False)

    def __post_init__(self) -> None:
        n = self.strand_len - len(self.prefix) - len(self.suffix)
        if self.strand_len > MAX_STRAND_LEN:
            raise HelixError(f"strand length {self.strand_len} is over the {MAX_STRAND_LEN} nt "
                             "this build writes (synthesis tops out near 300 nt)")
        if n < 16:
            raise HelixError(f"strand length {self.strand_len} leaves {n} nt between the primers")
        self.coder = get_coder(self.cs, encode_bases(self.prefix), encode_bases(self.suffix), n)

    @property
    def coded_nt(self) -> int:
        return self.coder.n

    @property
    def bits(self) -> int:
        return self.coder.k

    def symbol_size(self, index_bits: int) -> int:
        """Payload bytes per data strand for a given index width."""
        size = (self.bits - index_bits - MIN_CHECK_BITS) // 8
        if size < 1:
            raise HelixError(f"{self.bits} bits per strand leave no room for a payload")
        if size > MAX_SYMBOL_SIZE:
            longest = self.strand_len - self.coded_nt + self.coded_nt * (
                8 * MAX_SYMBOL_SIZE + index_bits + MIN_CHECK_BITS) // self.bits
            raise HelixError(f"strand length {self.strand_len} gives {size}-byte symbols; the "
                             f"outer code takes at most {MAX_SYMBOL_SIZE} bytes: use a strand "
                             f"length of about {longest} nt or less")
        return size

    @property
    def header_chunk(self) -> int:
        """Header bytes per header strand of an archive without an ID."""
        return self.header_chunk_of(None)

    def header_chunk_of(self, archive_id: int | None) -> int:
        """Header bytes per header strand (fewer with an archive ID beside the tag)."""
        id_bits = 0 if archive_id is None else ID_BITS
        return (self.bits - HEADER_TAG_BITS - id_bits - HEADER_CHECK_BITS) // 8

    # ------------------------------------------------------------- writing
    def wrap(self, codes: np.ndarray) -> list[str]:
        """Coded middles (N, n) -> full strands with primers."""
        return [self.prefix + s + self.suffix for s in codes_to_strings(codes)]

    def data_strands(self, indices: np.ndarray, payloads: np.ndarray, index_bits: int,
                     archive_id: int | None = None) -> list[str]:
        """(N,) indices and (N, T) payload bytes -> strands (keyed by the archive's ID)."""
        T = payloads.shape[1]
        k = self.bits
        nchk = k - index_bits - 8 * T
        white = payloads ^ whitening_rows(indices, T, archive_id)
        rows = np.empty((len(indices), k), dtype=np.uint8)
        rows[:, :index_bits] = int_to_bits(indices, index_bits)
        rows[:, index_bits:index_bits + 8 * T] = np.unpackbits(white, axis=1)
        rows[:, k - nchk:] = check_rows(_data_domain(archive_id), indices, white, nchk, archive_id)
        return self.wrap(self.coder.encode(rows))

    def header_strands(self, header: bytes, copies: int, archive_id: int | None = None
                       ) -> list[str]:
        """`copies` strands of each part of the header bytes; with an archive ID, each strand
        carries it after its tag and its check covers it."""
        chunk = self.header_chunk_of(archive_id)
        if chunk < 1:
            raise HelixError("header too large for this strand layout")
        parts = [header[i:i + chunk] for i in range(0, len(header), chunk)]
        if len(parts) > 16 or copies > 16:
            raise HelixError("header too large for this strand layout")
        key = id_bytes(archive_id)
        prefix = np.unpackbits(np.frombuffer(key, dtype=np.uint8))
        k = self.bits
        rows = []
        for p, part in enumerate(parts):
            body = part.ljust(chunk, b"\0")
            for c in range(copies):
                tag = (p << 4) | c
                bits = np.concatenate([
                    int_to_bits(np.array([tag]), HEADER_TAG_BITS)[0], prefix,
                    np.unpackbits(np.frombuffer(body, dtype=np.uint8)),
                ])
                pad = k - HEADER_CHECK_BITS - len(bits)
                bits = np.concatenate([bits, np.zeros(pad, np.uint8)])
                chk = check_bits(_header_domain(archive_id), key + bytes([p]) + body,
                                 HEADER_CHECK_BITS)
                rows.append(np.concatenate([bits, chk]))
        return self.wrap(self.coder.encode(np.array(rows, dtype=np.uint8)))

    # ------------------------------------------------------------- reading
    def middles(self, strands: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Full strands -> (codes of the coded middles, mask of strands with the right shape)."""
        n = self.coded_nt
        lp = len(self.prefix)
        ok = np.array([len(s) == self.strand_len for s in strands], dtype=bool)
        mids = [s[lp:lp + n] if good else "A" * n for s, good in zip(strands, ok)]
        return strings_to_codes(mids) if mids else np.zeros((0, n), np.uint8), ok

    def read_bits(self, strands: list[str]) -> tuple[np.ndarray, np.ndarray]:
        codes, shape_ok = self.middles(strands)
        if len(codes) == 0:
            return np.zeros((0, self.bits), np.uint8), shape_ok
        bits, ok = self.coder.decode(codes)
        return bits, ok & shape_ok

    def parse_header_bits(self, bits: np.ndarray) -> dict[int, bytes]:
        """Valid header parts of an archive without an ID among decoded strands:
        part number -> bytes (the first found of each)."""
        parts: dict[int, bytes] = {}
        for piece in self.header_pieces(bits):
            if piece is not None and piece[0] is None:
                parts.setdefault(piece[1], piece[2])
        return parts

    def header_pieces(self, bits: np.ndarray) -> list[tuple[int | None, int, bytes] | None]:
        """Per decoded strand: (archive ID or None, part number, bytes) if it is a valid header
        strand (of an archive without an ID, or with one), else None."""
        out: list[tuple[int | None, int, bytes] | None] = [None] * len(bits)
        if len(bits) == 0:
            return out
        parts = (bits_to_int(bits[:, :HEADER_TAG_BITS]) >> np.uint64(4)).tolist()
        checks = np.packbits(bits[:, -HEADER_CHECK_BITS:], axis=1)
        for keyed in (False, True):
            start = HEADER_TAG_BITS + (ID_BITS if keyed else 0)
            chunk = self.header_chunk_of(0 if keyed else None)
            if chunk < 1:
                continue
            keys = np.packbits(bits[:, HEADER_TAG_BITS:start], axis=1)
            bodies = np.packbits(bits[:, start:start + 8 * chunk], axis=1)
            padded = ~bits[:, start + 8 * chunk:self.bits - HEADER_CHECK_BITS].any(axis=1)
            domain = HEADER_DOMAIN_ID if keyed else HEADER_DOMAIN
            for i in np.flatnonzero(padded).tolist():
                if out[i] is not None:
                    continue
                key, part, body = keys[i].tobytes(), int(parts[i]), bodies[i].tobytes()
                digest = hashlib.blake2b(domain + key + bytes([part]) + body, digest_size=8)
                if digest.digest()[:HEADER_CHECK_BITS // 8] == checks[i].tobytes():
                    out[i] = (int.from_bytes(key, "big") if keyed else None, part, body)
        return out

    def parse_data_bits(self, bits: np.ndarray, index_bits: int, T: int,
                        archive_id: int | None = None
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(indices, payload bytes (N, T), valid mask) from decoded data strands of the
        archive with this ID (None: an archive without one)."""
        k = self.bits
        nchk = k - index_bits - 8 * T
        idx = bits_to_int(bits[:, :index_bits]).astype(np.int64)
        white = np.packbits(bits[:, index_bits:index_bits + 8 * T], axis=1)
        valid = np.all(check_rows(_data_domain(archive_id), idx, white, nchk, archive_id)
                       == bits[:, k - nchk:], axis=1)
        payload = white ^ whitening_rows(idx, T, archive_id)
        return idx, payload, valid


def _data_domain(archive_id: int | None) -> bytes:
    return DATA_DOMAIN if archive_id is None else DATA_DOMAIN_ID


def _header_domain(archive_id: int | None) -> bytes:
    return HEADER_DOMAIN if archive_id is None else HEADER_DOMAIN_ID
