"""The archive header: what decoding needs, and its bytes in each format version.

Version 1 (archives of a registered set with a format code): 44 bytes of fixed fields.
Version 2 (archives of any other set: YAML, CLI flags, a set registered without a code): the
same 44 bytes (constraint code 255), then which registered set the header strands are written
under (255: the archive's own set) and the set's full definition, so that the archive carries
everything needed to decode it.
Version 3 (every archive written since archive IDs): version 1's 44 bytes, the archive's
32-bit ID, then (constraint code 255 only) version 2's extension. The ID also sits in every
header strand and keys every data strand's check and whitening (`strands.py`), so archives
sharing a pool are told apart. docs/FORMAT.md, section 7, is the normative description.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass

from ..errors import HelixError
from .constraints import CUSTOM_CODE, ConstraintSet
from .outer import MAX_SOURCE_BLOCK, SEGMENT_HASH, Segmentation, max_repair

MAGIC = b"HX"
NAMED_VERSION = 1   # a registered set with a format code
CUSTOM_VERSION = 2  # any other set: version 1's fields + header set code + definition
ID_VERSION = 3      # any set: version 1's fields + archive ID (+ version 2's extension)
READABLE_VERSIONS = (1, 2, 3)
BASE = struct.Struct(">2sBBHBBHBBQIIII8s")
ARCHIVE_ID = struct.Struct(">I")
EXTENSION = struct.Struct(">BH")  # header strands' set code, definition length
_DEF_FIXED = struct.Struct(">BHdd")  # max_run, gc_window (0 = whole strand), gc_min, gc_max


def constraint_fingerprint(cs: ConstraintSet) -> int:
    """4-byte BLAKE2b of the set's definition (name excluded), in every header."""
    spec = json.dumps({k: v for k, v in cs.to_dict().items() if k != "name"}, sort_keys=True)
    return int.from_bytes(hashlib.blake2b(spec.encode(), digest_size=4).digest(), "big")


def _short_bytes(text: str, what: str) -> bytes:
    raw = text.encode("utf-8")
    if len(raw) > 255:
        raise HelixError(f"constraint set {what} is too long for an archive header (255 bytes)")
    return bytes([len(raw)]) + raw


def pack_definition(cs: ConstraintSet) -> bytes:
    """A constraint set as header bytes: name, max_run, window, GC range, motifs."""
    if cs.max_run > 255 or (cs.gc_window or 0) > 0xFFFF or len(cs.motifs) > 255:
        raise HelixError(f"constraint set {cs.name!r} does not fit an archive header")
    out = _short_bytes(cs.name, "name")
    out += _DEF_FIXED.pack(cs.max_run, cs.gc_window or 0, cs.gc_min, cs.gc_max)
    out += bytes([len(cs.motifs)]) + b"".join(_short_bytes(m, "motif") for m in cs.motifs)
    return out


def unpack_definition(raw: bytes) -> ConstraintSet:
    """Inverse of `pack_definition`; malformed bytes raise HelixError."""
    try:
        pos = 1 + raw[0]
        name = raw[1:pos].decode("utf-8")
        max_run, window, gc_min, gc_max = _DEF_FIXED.unpack_from(raw, pos)
        pos += _DEF_FIXED.size
        motifs = []
        for _ in range(raw[pos]):
            size = raw[pos + 1]
            motifs.append(raw[pos + 2:pos + 2 + size].decode("ascii"))
            pos += 1 + size
    except (IndexError, struct.error, UnicodeDecodeError):
        raise HelixError("archive header's constraint-set definition is malformed") from None
    return ConstraintSet(name, max_run, window or None, gc_min, gc_max, tuple(motifs))


def _check_version(version: int) -> None:
    if version not in READABLE_VERSIONS:
        readable = ", ".join(map(str, READABLE_VERSIONS))
        raise HelixError(f"archive format version {version} is not supported "
                         f"(this build reads versions {readable})")


@dataclass
class Header:
    """What decoding needs, written in protected copies of each part on header strands."""

    version: int
    constraints_code: int  # registered set's format code, CUSTOM_CODE = defined in version 2
    strand_len: int
    prefix_len: int
    suffix_len: int
    bits_per_strand: int
    index_bits: int
    symbol_size: int
    file_size: int
    segment_symbols: int
    repair_full: int  # repair symbols of every segment but the last
    repair_last: int
    constraints_fp: int
    file_hash: bytes
    header_code: int = CUSTOM_CODE  # with a definition: set of the header strands (255: own)
    definition: ConstraintSet | None = None  # version 2, or 3 with code 255: the archive's set
    archive_id: int | None = None  # version 3: the ID in its strands (None before)

    @property
    def defines_set(self) -> bool:
        """Whether the header carries its constraint set's definition (a custom set)."""
        return self.version == CUSTOM_VERSION or (
            self.version == ID_VERSION and self.constraints_code == CUSTOM_CODE)

    def pack(self) -> bytes:
        base = BASE.pack(MAGIC, self.version, self.constraints_code, self.strand_len,
                         self.prefix_len, self.suffix_len, self.bits_per_strand, self.index_bits,
                         self.symbol_size, self.file_size, self.segment_symbols,
                         self.repair_full, self.repair_last, self.constraints_fp, self.file_hash)
        if self.version == ID_VERSION:
            if self.archive_id is None:
                raise HelixError("a version 3 header needs its archive ID")
            base += ARCHIVE_ID.pack(self.archive_id)
        if not self.defines_set:
            return base
        if self.definition is None:
            raise HelixError("a custom set's header needs its constraint-set definition")
        definition = pack_definition(self.definition)
        return base + EXTENSION.pack(self.header_code, len(definition)) + definition

    @staticmethod
    def bytes_needed(raw: bytes) -> int:
        """How many bytes the header starting with `raw` has (at least as many as known so far:
        call again with more bytes until it stops growing). Refuses unknown versions."""
        if len(raw) < BASE.size:
            return BASE.size
        if raw[:2] != MAGIC:
            raise HelixError("not a HELIX archive header")
        _check_version(raw[2])
        fixed = BASE.size + (ARCHIVE_ID.size if raw[2] == ID_VERSION else 0)
        if raw[2] == NAMED_VERSION or (raw[2] == ID_VERSION and raw[3] != CUSTOM_CODE):
            return fixed
        if len(raw) < fixed + EXTENSION.size:
            return fixed + EXTENSION.size
        return fixed + EXTENSION.size + EXTENSION.unpack_from(raw, fixed)[1]

    @classmethod
    def unpack(cls, raw: bytes) -> "Header":
        if len(raw) < BASE.size:
            raise HelixError("archive header is truncated")
        need = cls.bytes_needed(raw)
        if len(raw) < need:
            raise HelixError("archive header is truncated")
        f = BASE.unpack_from(raw)
        header = cls(*f[1:])
        fixed = BASE.size
        if header.version == ID_VERSION:
            header.archive_id = ARCHIVE_ID.unpack_from(raw, fixed)[0]
            fixed += ARCHIVE_ID.size
        if header.defines_set:
            header.header_code = raw[fixed]
            header.definition = unpack_definition(raw[fixed + EXTENSION.size:need])
            if constraint_fingerprint(header.definition) != header.constraints_fp:
                raise HelixError("archive header's constraint-set definition does not match "
                                 "its fingerprint")
        return header

    def check_geometry(self, bits: int, strand_len: int, prefix_len: int, suffix_len: int,
                       min_check_bits: int) -> None:
        """Refuse fields no encoder writes, before decoding allocates anything: the strand
        geometry must be the strands', the symbol size the one the index width leaves, the
        segments RaptorQ source blocks, the repair symbols within `outer.max_repair`, and all
        strands must fit the index (whose width is the smallest that holds them)."""
        if (self.strand_len, self.prefix_len, self.suffix_len) != (
                strand_len, prefix_len, suffix_len) or self.bits_per_strand != bits:
            raise HelixError("archive geometry does not match its strands")
        if not 8 <= self.index_bits <= min(48, bits - min_check_bits - 8) or (
                self.symbol_size != (bits - self.index_bits - min_check_bits) // 8):
            raise HelixError(f"archive header is corrupt: index of {self.index_bits} bits and "
                             f"{self.symbol_size}-byte symbols in {bits}-bit strands")
        if not 1 <= self.segment_symbols <= MAX_SOURCE_BLOCK or (
                self.segment_symbols * self.symbol_size <= SEGMENT_HASH):
            raise HelixError(f"archive header is corrupt: segments of {self.segment_symbols} "
                             "symbols")
        seg = self.segmentation()
        k_full, k_last = seg.symbols(0), seg.symbols(seg.count - 1)
        if self.repair_full > max_repair(k_full) or self.repair_last > max_repair(k_last):
            raise HelixError(f"archive header is corrupt: {self.repair_full} repair symbols "
                             f"for {k_full} source symbols (at most {max_repair(k_full)})")
        total = (seg.count - 1) * (k_full + self.repair_full) + k_last + self.repair_last
        if not total <= 1 << self.index_bits or (self.index_bits > 8
                                                 and total <= 1 << (self.index_bits - 1)):
            raise HelixError(f"archive header is corrupt: {total} strands do not match a "
                             f"{self.index_bits}-bit index")

    def segmentation(self) -> Segmentation:
        return Segmentation(self.file_size, self.symbol_size, self.segment_symbols)

    def repair(self, s: int) -> int:
        return self.repair_last if s == self.segmentation().count - 1 else self.repair_full

    def strands_written(self) -> int:
        """Data strands the archive wrote: every segment's source and repair symbols."""
        seg = self.segmentation()
        return sum(seg.symbols(s) + self.repair(s) for s in range(seg.count))
