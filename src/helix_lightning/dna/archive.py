"""Any bytes <-> an archive of constraint-safe strands, and back from clean or noisy strands.

encode_archive: bytes -> RaptorQ symbols (outer code) -> data strands + header strands.
decode_archive: candidate strands (from FASTA, or consensus of reads) -> FSM -> checks ->
header -> RaptorQ -> bytes, verified against the file hash in the header.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, fields
from typing import Callable, Iterator, Sequence

import numpy as np

from ..errors import HelixError
from .capacity import constraint_capacity
from .constraints import (
    CONSTRAINT_CODES,
    CONSTRAINT_SETS,
    CUSTOM_CODE,
    ConstraintSet,
    coded_names,
    format_code,
    get_constraints,
    registered_names,
    valid_strands,
)
from .density import coding_density, net_density
from .header import (  # the header's names stay importable from here
    BASE as _HEADER,
    CUSTOM_VERSION,
    MAGIC,
    NAMED_VERSION,
    READABLE_VERSIONS,
    Header,
    constraint_fingerprint,
)
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
from .records import fasta_records
from .strands import DEFAULT_STRAND_LEN, MIN_CHECK_BITS, StrandLayout

FORMAT_VERSION = NAMED_VERSION  # written for registered sets with a code (byte-identical to v1)
DEFAULT_ERASURE_RATE = 0.07  # strand-erasure rate of the default channel (see benchmarks/)
HEADER_COPIES = 8

Progress = Callable[[str, int, int], None]


def _file_hash(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=8).digest()


@dataclass
class ArchiveStats:
    """What `encode_archive` wrote, in the words of docs/DESIGN.md ("Definitions"). nt counts
    exclude primers; `redundancy` = parity / data strands; `erasure_rate_assumed` is None when
    the redundancy was given; `failure_probability` is the worst segment's."""

    constraints: str
    bytes: int
    strands: int
    header_strands: int
    data_strands: int
    parity_strands: int
    redundancy: float
    nt: int
    nt_with_primers: int
    bits_per_strand: int
    index_bits: int
    symbol_bytes: int
    coding_density: float
    net_density: float
    net_density_with_primers: float
    erasure_rate_assumed: float | None
    failure_probability: float

    def to_dict(self) -> dict:
        """The stats as `helix dna encode --json` prints them (these keys, in this order)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class Archive:
    strands: list[str]
    header: Header
    cs: ConstraintSet
    stats: ArchiveStats

    def fasta_records(self) -> list[tuple[str, str]]:
        """(record name, strand) pairs as `helix dna encode` writes them."""
        return fasta_records(self.strands, self.cs.name, self.header.version)


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
    code = format_code(cs)
    header = Header(FORMAT_VERSION if code is not None else CUSTOM_VERSION,
                    CUSTOM_CODE if code is None else code,
                    strand_len, len(prefix), len(suffix), layout.bits, index_bits, T, len(data),
                    seg.max_symbols, repairs[0], repairs[-1], constraint_fingerprint(cs),
                    _file_hash(data), definition=None if code is not None else cs)
    strands = _header_strands(header, layout)
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
    nt_primers = len(strands) * strand_len
    source_symbols = sum(seg.symbols(s) for s in range(seg.count))
    stats = ArchiveStats(
        constraints=cs.name, bytes=len(data), strands=len(strands),
        header_strands=len(strands) - total, data_strands=source_symbols,
        parity_strands=sum(repairs), redundancy=sum(repairs) / source_symbols,
        nt=nt, nt_with_primers=nt_primers, bits_per_strand=layout.bits,
        index_bits=index_bits, symbol_bytes=T,
        coding_density=coding_density(layout.bits, layout.coded_nt),
        net_density=net_density(8 * len(data), nt, empty=0.0),
        net_density_with_primers=net_density(8 * len(data), nt_primers),
        erasure_rate_assumed=erasure_rate if redundancy is None else None,
        failure_probability=max(failure_probability(seg.symbols(s), repairs[s], erasure_rate)
                                for s in range(seg.count)),
    )
    return Archive(strands, header, cs, stats)


def header_sets(cs: ConstraintSet) -> list[ConstraintSet]:
    """Registered sets with a code whose strands all satisfy the custom set `cs`, in code
    order: the encoder writes a custom archive's header strands under the first that fits, so
    the archive decodes without being told its set."""
    return [r for r in (CONSTRAINT_SETS[n]() for n in coded_names())
            if r.implies(cs) and constraint_fingerprint(r) != constraint_fingerprint(cs)]


def _header_strands(header: Header, layout: StrandLayout) -> list[str]:
    """The header strands: under the archive's own set (version 1), or for a custom set
    (version 2) under the first registered set of `header_sets` that fits this geometry."""
    if header.version == CUSTOM_VERSION:
        for r in header_sets(layout.cs):
            try:
                r_layout = StrandLayout(r, layout.strand_len, layout.prefix, layout.suffix)
                header.header_code = CONSTRAINT_CODES[r.name]
                return r_layout.header_strands(header.pack(), HEADER_COPIES)
            except HelixError:
                continue
        header.header_code = CUSTOM_CODE
    return layout.header_strands(header.pack(), HEADER_COPIES)


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


def decode_order(names: Sequence[str] | None = None) -> list[str]:
    """Registered sets (or `names`) from the tightest to the loosest: by capacity, then by GC
    range width (a whole-strand GC range makes `fountain` tighter than `rl3` at equal
    capacity), then by format code. A strand valid under a tight set is often valid under
    looser ones, so the tight sets are tried first."""
    names = registered_names() if names is None else list(names)

    def key(name: str) -> tuple:
        cs = CONSTRAINT_SETS[name]()
        return (round(constraint_capacity(cs), 9), cs.gc_max - cs.gc_min,
                CONSTRAINT_CODES.get(name, CUSTOM_CODE), name)

    return sorted(names, key=key)


Candidate = tuple[ConstraintSet, "np.ndarray | None"]  # a set, and the strands worth reading


def _header_candidates(strands: Sequence[str], hint: ConstraintSet | None) -> Iterator[Candidate]:
    """Constraint sets that may hold the header strands, most likely first.

    With a hint: the hint, then (for a custom set) the registered sets its header may be
    written under. Without: the registered sets most strands satisfy (tightest first), then the
    others that some strands satisfy, reading only those strands."""
    if hint is not None:
        yield hint, None
        if format_code(hint) is None:
            for r in header_sets(hint):
                yield r, valid_strands(strands, r)
        return
    sample = list(strands[:300])
    likely = [n for n in registered_names()
              if valid_strands(sample, CONSTRAINT_SETS[n]()).sum() >= 0.5 * len(sample)]
    for name in decode_order(likely):
        yield CONSTRAINT_SETS[name](), None
    masks = {n: valid_strands(strands, CONSTRAINT_SETS[n]())
             for n in registered_names() if n not in likely}
    masks = {n: m for n, m in masks.items() if m.any()}
    for name in decode_order(masks):
        yield CONSTRAINT_SETS[name](), masks[name]


@dataclass
class FoundHeader:
    """An archive's header and its strands decoded to bits under the archive's constraint set
    (`cs`; the header strands may be written under another set, `header_cs`)."""

    cs: ConstraintSet
    layout: StrandLayout
    header: Header
    parts_found: int
    bits: np.ndarray
    ok: np.ndarray
    header_cs: ConstraintSet | None = None


def _header_bytes(parts: dict[int, bytes], chunk: int) -> bytes:
    """Join header parts until the header's own length fields say it is complete."""
    need, raw = _HEADER.size, b""
    while len(raw) < need:
        nparts = math.ceil(need / chunk)
        missing = [p for p in range(nparts) if p not in parts]
        if missing:
            raise HelixError(f"header parts {missing} lost in every copy: cannot decode")
        raw = b"".join(parts[p] for p in range(nparts))
        need = Header.bytes_needed(raw)
    return raw


def _archive_set(header: Header, found: ConstraintSet, hint: ConstraintSet | None
                 ) -> ConstraintSet:
    """The archive's constraint set: the set its header strands decoded under (version 1) or
    the header's definition (version 2); checked against the hint and the header."""
    if header.version == CUSTOM_VERSION:
        cs = header.definition
        if header.header_code == CUSTOM_CODE:
            found_ok = constraint_fingerprint(found) == header.constraints_fp
        else:
            found_ok = format_code(found) == header.header_code
        if not found_ok:
            raise HelixError(f"archive header says its strands use set code "
                             f"{header.header_code}, but they decode under {found.name!r}")
    else:
        cs = found
    if header.constraints_fp != constraint_fingerprint(hint or cs):
        raise HelixError(f"archive was written with a different constraint set than "
                         f"{(hint or cs).name!r}")
    return cs


def find_header(strands: Sequence[str], constraints: str | ConstraintSet | None = None,
                prefix: str = DEFAULT_PREFIX, suffix: str = DEFAULT_SUFFIX) -> FoundHeader:
    """Decode the strands under the given (or each plausible) constraint set until a complete
    header turns up; returns it with the strands read under the archive's set (the header's
    definition for a custom set), checked against the strands' geometry."""
    strands = list(strands)
    strand_len = int(np.bincount([len(s) for s in strands]).argmax())
    hint = None if constraints is None else get_constraints(constraints)
    tried = []
    for cs, mask in _header_candidates(strands, hint):
        tried.append(cs.name)
        try:
            layout = StrandLayout(cs, strand_len, prefix, suffix)
        except HelixError:
            continue
        chosen = strands if mask is None else [s for s, m in zip(strands, mask) if m]
        bits, ok = layout.read_bits(chosen)
        parts = layout.parse_header_bits(bits[ok])
        if 0 in parts:
            break
    else:
        advice = "" if hint else (" (an archive of a custom constraint set needs the same "
                                  "--constraints/flags as at encode)")
        raise HelixError("no valid header strand found (tried constraint sets: "
                         f"{', '.join(tried) or 'none'}); is this a HELIX archive?{advice}")
    header = Header.unpack(_header_bytes(parts, layout.header_chunk))
    data_cs = _archive_set(header, cs, hint)
    if constraint_fingerprint(data_cs) != constraint_fingerprint(cs):
        layout = StrandLayout(data_cs, strand_len, prefix, suffix)  # data strands' own set
    if layout.cs is not cs or mask is not None:
        bits, ok = layout.read_bits(strands)  # every strand, under the data strands' set
    header.check_geometry(layout.bits, strand_len, len(prefix), len(suffix), MIN_CHECK_BITS)
    return FoundHeader(data_cs, layout, header, len(parts), bits, ok, header_cs=cs)


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
