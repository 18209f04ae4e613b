"""Any bytes <-> an archive of constraint-safe strands, and back from clean or noisy strands.

encode_archive: bytes -> RaptorQ symbols (outer code) -> data strands + header strands.
decode_archive: candidate strands (from FASTA, or consensus of reads) -> FSM -> checks ->
header -> RaptorQ -> bytes, verified against the file hash in the header.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from ..errors import HelixError
from .constraints import CONSTRAINT_SETS, ConstraintSet, check_strands, get_constraints
from .outer import (
    Segmentation,
    decode_segment,
    encode_segment,
    failure_probability,
    inconsistent_symbols,
    repair_symbols,
    segment_bytes,
    verified_chunk,
)
from .primers import DEFAULT_PREFIX, DEFAULT_SUFFIX
from .strands import DEFAULT_STRAND_LEN, StrandLayout

FORMAT_VERSION = 1
MAGIC = b"HX"
DEFAULT_ERASURE_RATE = 0.07  # strand-erasure rate of the default channel (see benchmarks/)
HEADER_COPIES = 8
NAMED_CODES = ["rl3", "fountain", "standard", "strict", "relaxed", "rl2"]
_HEADER = struct.Struct(">2sBBHBBHBBQIIII8s")

Progress = Callable[[str, int, int], None]


def constraint_fingerprint(cs: ConstraintSet) -> int:
    spec = json.dumps({k: v for k, v in cs.to_dict().items() if k != "name"}, sort_keys=True)
    return int.from_bytes(hashlib.blake2b(spec.encode(), digest_size=4).digest(), "big")


@dataclass
class Header:
    """What decoding needs, written in HEADER_COPIES protected copies of each part."""

    version: int
    constraints_code: int  # index in NAMED_CODES, 255 = user-defined
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

    def pack(self) -> bytes:
        return _HEADER.pack(MAGIC, self.version, self.constraints_code, self.strand_len,
                            self.prefix_len, self.suffix_len, self.bits_per_strand,
                            self.index_bits, self.symbol_size, self.file_size,
                            self.segment_symbols, self.repair_full, self.repair_last,
                            self.constraints_fp, self.file_hash)

    @classmethod
    def unpack(cls, raw: bytes) -> "Header":
        if len(raw) < _HEADER.size:
            raise HelixError("archive header is truncated")
        f = _HEADER.unpack(raw[:_HEADER.size])
        if f[0] != MAGIC:
            raise HelixError("not a HELIX archive header")
        if f[1] != FORMAT_VERSION:
            raise HelixError(f"archive format version {f[1]} is not supported "
                             f"(this build reads version {FORMAT_VERSION})")
        return cls(*f[1:])

    def segmentation(self) -> Segmentation:
        return Segmentation(self.file_size, self.symbol_size, self.segment_symbols)

    def repair(self, s: int) -> int:
        return self.repair_last if s == self.segmentation().count - 1 else self.repair_full


def _file_hash(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=8).digest()


@dataclass
class Archive:
    strands: list[str]
    header: Header
    cs: ConstraintSet
    stats: dict = field(default_factory=dict)

    def fasta_records(self) -> list[tuple[str, str]]:
        tag = f"helix:v{FORMAT_VERSION}:{self.cs.name}"
        return [(f"{tag}:{i:07d}", s) for i, s in enumerate(self.strands)]


def encode_archive(data: bytes, constraints: str | ConstraintSet = "standard", *,
                   redundancy: float | None = None, erasure_rate: float = DEFAULT_ERASURE_RATE,
                   strand_len: int = DEFAULT_STRAND_LEN, prefix: str = DEFAULT_PREFIX,
                   suffix: str = DEFAULT_SUFFIX, progress: Progress | None = None) -> Archive:
    """Encode bytes into strands; `redundancy` (parity / data strands) overrides the rule."""
    cs = get_constraints(constraints)
    if redundancy is not None and not 0 <= redundancy <= 10:
        raise HelixError(f"redundancy must be in [0, 10], got {redundancy}")
    layout = StrandLayout(cs, strand_len, prefix, suffix)
    # index width: enough for all data strands (a fixed point: the width sets the symbol size)
    index_bits = 8
    while True:
        T = layout.symbol_size(index_bits)
        seg = Segmentation(len(data), T)
        repairs = [_repair(seg.symbols(s), redundancy, erasure_rate) for s in range(seg.count)]
        total = sum(seg.symbols(s) + repairs[s] for s in range(seg.count))
        if total <= 1 << index_bits:
            break
        index_bits += 1
    header = Header(FORMAT_VERSION, NAMED_CODES.index(cs.name) if cs.name in NAMED_CODES
                    and get_constraints(cs.name) == cs else 255,
                    strand_len, len(prefix), len(suffix), layout.bits, index_bits, T, len(data),
                    seg.max_symbols, repairs[0], repairs[-1], constraint_fingerprint(cs),
                    _file_hash(data))
    strands = layout.header_strands(header.pack(), HEADER_COPIES)
    base = 0
    for s in range(seg.count):
        lo, hi = seg.chunk_range(s)
        symbols = encode_segment(segment_bytes(data[lo:hi]), T, repairs[s])
        payload = np.frombuffer(b"".join(symbols), dtype=np.uint8).reshape(len(symbols), T)
        for start in range(0, len(symbols), 4096):
            idx = np.arange(base + start, base + min(len(symbols), start + 4096), dtype=np.int64)
            strands += layout.data_strands(idx, payload[start:start + 4096], index_bits)
            if progress:
                progress("encode", base + start + len(idx), total)
        base += len(symbols)
    nt = len(strands) * layout.coded_nt
    source_symbols = sum(seg.symbols(s) for s in range(seg.count))
    stats = {
        "constraints": cs.name,
        "bytes": len(data),
        "strands": len(strands),
        "header_strands": len(strands) - total,
        "data_strands": source_symbols,
        "parity_strands": sum(repairs),
        "redundancy": sum(repairs) / source_symbols,
        "nt": nt,
        "nt_with_primers": len(strands) * strand_len,
        "bits_per_strand": layout.bits,
        "index_bits": index_bits,
        "symbol_bytes": T,
        "coding_density": layout.bits / layout.coded_nt,
        "net_density": 8 * len(data) / nt if nt else 0.0,
        "net_density_with_primers": 8 * len(data) / (len(strands) * strand_len),
        "erasure_rate_assumed": erasure_rate if redundancy is None else None,
        "failure_probability": max(failure_probability(seg.symbols(s), repairs[s], erasure_rate)
                                   for s in range(seg.count)),
    }
    return Archive(strands, header, cs, stats)


def _repair(k: int, redundancy: float | None, erasure_rate: float) -> int:
    if redundancy is not None:
        return math.ceil(redundancy * k)
    return repair_symbols(k, erasure_rate)


@dataclass
class DecodeReport:
    constraints: str
    candidates: int
    valid_data_strands: int
    header_parts: int
    segments: list[dict]
    ok: bool


# named sets from the tightest to the loosest (by capacity; a whole-strand GC range makes
# `fountain` tighter than `rl3`): the first one that decodes a header is the archive's
TIGHTEST_FIRST = ["strict", "rl2", "standard", "fountain", "rl3", "relaxed"]


def _guess_constraints(strands: Sequence[str], hint: str | None) -> list[ConstraintSet]:
    """Constraint sets to try: the hint, else the named sets most strands satisfy, tightest first."""
    if hint:
        return [get_constraints(hint)]
    sample = list(strands[:300])
    cands = []
    for name in TIGHTEST_FIRST:
        cs = CONSTRAINT_SETS[name]()
        ok = sum(check_strands([s], cs).total == 0 for s in sample)
        if ok >= 0.5 * len(sample):
            cands.append(cs)
    return cands


@dataclass
class FoundHeader:
    """An archive's header and its strands decoded to bits under the right constraint set."""

    cs: ConstraintSet
    layout: StrandLayout
    header: Header
    parts_found: int
    bits: np.ndarray
    ok: np.ndarray


def find_header(strands: Sequence[str], constraints: str | ConstraintSet | None = None,
                prefix: str = DEFAULT_PREFIX, suffix: str = DEFAULT_SUFFIX) -> FoundHeader:
    """Decode the strands under the given (or each plausible) constraint set until a complete
    header turns up; checks the header against the set and the strands' geometry."""
    strands = list(strands)
    strand_len = int(np.bincount([len(s) for s in strands]).argmax())
    if isinstance(constraints, ConstraintSet):
        candidates = [constraints]
    else:
        candidates = _guess_constraints(strands, constraints)
    tried = []
    for cs in candidates:
        tried.append(cs.name)
        try:
            layout = StrandLayout(cs, strand_len, prefix, suffix)
        except HelixError:
            continue
        bits, ok = layout.read_bits(strands)
        parts = layout.parse_header_bits(bits[ok])
        if 0 in parts:
            break
    else:
        raise HelixError("no valid header strand found (tried constraint sets: "
                         f"{', '.join(tried) or 'none'}); is this a HELIX archive?")
    nparts = math.ceil(_HEADER.size / layout.header_chunk)
    missing = [p for p in range(nparts) if p not in parts]
    if missing:
        raise HelixError(f"header parts {missing} lost in every copy: cannot decode")
    header = Header.unpack(b"".join(parts[p] for p in range(nparts)))
    if header.constraints_fp != constraint_fingerprint(cs):
        raise HelixError(f"archive was written with a different constraint set than {cs.name!r}")
    if header.strand_len != strand_len or header.bits_per_strand != layout.bits:
        raise HelixError("archive geometry does not match its strands")
    return FoundHeader(cs, layout, header, len(parts), bits, ok)


CONFIDENT_SUPPORT = 4  # reads behind a consensus before it is trusted first
MAX_ATTEMPTS = 24      # decodes per segment while hunting a corrupted symbol


def decode_archive(strands: Sequence[str], support: Sequence[int] | None = None, *,
                   variants: Sequence[int] | None = None,
                   constraints: str | ConstraintSet | None = None, prefix: str = DEFAULT_PREFIX,
                   suffix: str = DEFAULT_SUFFIX, progress: Progress | None = None
                   ) -> tuple[bytes, DecodeReport]:
    """Decode candidate strands back to the file.

    `support` (reads behind each candidate, default: trusted) and `variants` (candidates its
    read cluster gave, default 1) rank candidates: per index the valid one with the most support
    wins, and weakly supported or ambiguous strands are fed to the outer decoder last. A strand
    that passes its check by chance but is wrong spoils its segment's hash; the segment is then
    decoded again without a random share of the weak strands (at most MAX_ATTEMPTS times), and
    the file hash has the last word.
    """
    strands = list(strands)
    if not strands:
        raise HelixError("no strands to decode")
    if support is None:
        support = np.full(len(strands), CONFIDENT_SUPPORT, dtype=np.int64)
    support = np.asarray(support)
    variants = np.ones(len(strands), np.int64) if variants is None else np.asarray(variants)
    found = find_header(strands, constraints, prefix, suffix)
    cs, layout, header, bits, ok = found.cs, found.layout, found.header, found.bits, found.ok
    idx, payload, valid = layout.parse_data_bits(bits, header.index_bits, header.symbol_size)
    valid &= ok
    # one payload per index: the valid candidate with the most read support
    order = np.lexsort((-support, idx))
    best: dict[int, np.ndarray] = {}
    weak: set[int] = set()
    for i in order:
        if not valid[i]:
            continue
        j = int(idx[i])
        if j not in best:
            best[j] = payload[i]
            if support[i] < CONFIDENT_SUPPORT or variants[i] > 1:
                weak.add(j)
        elif not np.array_equal(best[j], payload[i]):
            weak.add(j)  # two valid candidates disagree
    seg = header.segmentation()
    out = bytearray()
    base = 0
    seg_reports = []
    for s in range(seg.count):
        k, r = seg.symbols(s), header.repair(s)
        got, info = _decode_one_segment(best, weak, base, k, r, seg.length(s), header.symbol_size, s)
        seg_reports.append({"segment": s, "source": k, "parity": r, **info,
                            "decoded": got is not None})
        if progress:
            progress("decode", s + 1, seg.count)
        if got is None:
            lost = [i for i in range(base, base + k + r) if i not in best]
            report = DecodeReport(cs.name, len(strands), len(best), found.parts_found, seg_reports, False)
            reason = (f"{info['received']} of {k + r} strands recovered, {k} needed "
                      f"(lost {len(lost)} strands, e.g. indices {lost[:5]})"
                      if info["received"] < k + 2 else
                      f"no consistent decode after {info['attempts']} attempts")
            raise DecodeFailure(f"segment {s}: {reason}; nothing written", report)
        out += got
        base += k + r
    data = bytes(out)
    if _file_hash(data) != header.file_hash:
        report = DecodeReport(cs.name, len(strands), len(best), found.parts_found, seg_reports, False)
        raise DecodeFailure("decoded bytes do not match the archive's file hash; nothing written",
                            report)
    return data, DecodeReport(cs.name, len(strands), len(best), found.parts_found, seg_reports, True)


class DecodeFailure(HelixError):
    """Too much was lost: carries the per-segment report of what was lost and where."""

    def __init__(self, message: str, report: DecodeReport):
        super().__init__(message)
        self.report = report


def _decode_one_segment(best: dict[int, np.ndarray], weak: set[int], base: int, k: int, r: int,
                        length: int, T: int, seg_no: int) -> tuple[bytes | None, dict]:
    """Decode one RaptorQ segment, retrying without some weak strands until its hash matches."""
    symbols = {i - base: best[i].tobytes() for i in range(base, base + k + r) if i in best}
    weak_esi = sorted(i - base for i in weak if base <= i < base + k + r)
    info = {"received": len(symbols), "lost": k + r - len(symbols), "weak": len(weak_esi),
            "attempts": 0, "corrupt_found": 0}
    if len(symbols) < k:
        return None, info
    strong = [e for e in sorted(symbols) if e not in set(weak_esi)]
    spare = len(symbols) - (k + 2)
    rng = np.random.default_rng(seg_no)
    excluded: set[int] = set()
    for attempt in range(MAX_ATTEMPTS):
        info["attempts"] = attempt + 1
        use = {e: v for e, v in symbols.items() if e not in excluded}
        order = [e for e in strong if e in use] + [e for e in weak_esi if e in use]
        got = decode_segment(use, length, T, order)
        chunk = verified_chunk(got) if got is not None else None
        if chunk is not None:
            info["corrupt_found"] = len(inconsistent_symbols(got, symbols, T, r))
            return chunk, info
        if spare <= 0 or not weak_esi:
            break
        excluded = set(rng.choice(weak_esi, size=min(spare, len(weak_esi)), replace=False).tolist())
    return None, info
