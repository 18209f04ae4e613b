"""Any bytes <-> an archive of constraint-safe strands, and back from clean or noisy strands.

encode_archive: bytes -> RaptorQ symbols (outer code) -> data strands + header strands, all
carrying the archive's ID (header version 3).
decode_archive: candidate strands (from FASTA, or consensus of reads) -> FSM -> checks ->
header (of the pool's one archive, or the one asked for: `pool.py`) -> RaptorQ -> bytes,
verified against the file hash in the header.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, fields
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import HelixError
from .constraints import CONSTRAINT_CODES, CUSTOM_CODE, ConstraintSet, format_code, get_constraints
from .density import coding_density, net_density
from .ejection import exclusion_sets
from .wrong_symbols import wrong_symbols
from .header import (  # noqa: F401 (the header's names stay importable from here)
    CUSTOM_VERSION,
    ID_VERSION,
    MAGIC,
    NAMED_VERSION,
    READABLE_VERSIONS,
    Header,
    constraint_fingerprint,
)
from .outer import (
    DEFAULT_FAILURE_TARGET,
    SEGMENT_SYMBOLS,
    Segmentation,
    decode_segment,
    decode_segment_used,
    encode_segment,
    failure_probability,
    inconsistent_symbols,
    repair_symbols,
    SEGMENT_HASH,
    segment_bytes,
    verified_chunk,
)
from .primers import DEFAULT_PREFIX, DEFAULT_SUFFIX
from .pool import (  # noqa: F401 (finding headers lived here: the names stay importable)
    _ANY,
    HEADER_COPIES,
    FoundHeader,
    MixedPool,
    choose_archive,
    decode_order,
    find_archives,
    header_sets,
    parse_id,
)
from .records import fasta_records
from .salvage import PartialBytes, salvaged_chunk
from .strands import DEFAULT_STRAND_LEN, StrandLayout

FORMAT_VERSION = ID_VERSION  # written for every archive since archive IDs
DEFAULT_ERASURE_RATE = 0.07  # strand-erasure rate of the default channel (see benchmarks/)
ID_DOMAIN = b"helix-archive-id"

Progress = Callable[[str, int, int], None]


def _file_hash(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=8).digest()


def derived_id(header: Header, prefix: str, suffix: str) -> int:
    """The default archive ID: BLAKE2b-32 of a domain tag, the primers and every other header
    field (file hash, size, constraint set, geometry, redundancy). Encoding the same file the
    same way gives the same ID (the same archive); any change that alters the strands gives
    another."""
    fields_ = Header(**{**header.__dict__, "version": NAMED_VERSION, "definition": None,
                        "archive_id": None}).pack()
    tag = ID_DOMAIN + prefix.encode() + b"|" + suffix.encode() + b"|" + fields_
    if header.definition is not None:
        tag += constraint_fingerprint(header.definition).to_bytes(4, "big")
    return int.from_bytes(hashlib.blake2b(tag, digest_size=4).digest(), "big")


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
                   suffix: str = DEFAULT_SUFFIX, progress: Progress | None = None,
                   archive_id: int | str | None = None,
                   failure_target: float = DEFAULT_FAILURE_TARGET,
                   segment_symbols: int | None = None) -> Archive:
    """Encode bytes into strands; `redundancy` (parity / data strands) overrides the rule
    (`outer.repair_symbols` at `erasure_rate` and `failure_target` per segment).
    `segment_symbols`: source symbols per outer-code segment (default SEGMENT_SYMBOLS;
    smaller segments fail alone, `salvage.py`).
    `archive_id` (32 bits, or 8 hex digits) names the archive in a pool of several; by default
    it is derived from the file and the settings (`derived_id`)."""
    cs = get_constraints(constraints)
    geo, header = geometry_and_header(len(data), _file_hash(data), cs, redundancy=redundancy,
                                      erasure_rate=erasure_rate, strand_len=strand_len,
                                      prefix=prefix, suffix=suffix, archive_id=archive_id,
                                      failure_target=failure_target,
                                      segment_symbols=segment_symbols)
    layout = geo.layout
    strands = _header_strands(header, layout)
    base = 0
    for s in range(geo.segmentation.count):
        lo, hi = geo.segmentation.chunk_range(s)
        strands += segment_strands(data[lo:hi], geo, header.archive_id, s, base, progress)
        base += geo.segmentation.symbols(s) + geo.repairs[s]
    stats = archive_stats(geo, len(strands) - geo.total_symbols, redundancy, erasure_rate)
    return Archive(strands, header, cs, stats)


def geometry_and_header(size: int, file_hash: bytes, cs: ConstraintSet, *,
                        redundancy: float | None = None,
                        erasure_rate: float = DEFAULT_ERASURE_RATE,
                        strand_len: int = DEFAULT_STRAND_LEN, prefix: str = DEFAULT_PREFIX,
                        suffix: str = DEFAULT_SUFFIX, archive_id: int | str | None = None,
                        failure_target: float = DEFAULT_FAILURE_TARGET,
                        segment_symbols: int | None = None) -> tuple[Geometry, Header]:
    """The layout of a `size`-byte file (of this 8-byte BLAKE2b `file_hash`) and its header,
    ID included: what `encode_archive` and the streaming encoder both write from
    (`segment_symbols` as in `archive_geometry`)."""
    if redundancy is not None and not 0 <= redundancy <= 10:
        raise HelixError(f"redundancy must be in [0, 10], got {redundancy}")
    if not 0 < failure_target < 1:
        raise HelixError(f"failure target must be in (0, 1), got {failure_target}")
    layout = StrandLayout(cs, strand_len, prefix, suffix)
    geo = archive_geometry(size, layout, redundancy, erasure_rate, failure_target,
                           segment_symbols)
    header = geo.header(file_hash)
    header.archive_id = (derived_id(header, prefix, suffix) if archive_id is None
                         else parse_id(archive_id))
    return geo, header


def header_strands(header: Header, layout: StrandLayout) -> list[str]:
    """The archive's header strands (`HEADER_COPIES` of each part), as the encoder writes
    them first."""
    return _header_strands(header, layout)


def segment_strands(chunk: bytes, geo: Geometry, archive_id: int | None, s: int, base: int,
                    progress: Progress | None = None) -> list[str]:
    """The data strands of segment `s` (file bytes `chunk`, its first index `base`): RaptorQ
    symbols, source then repair, each one strand, in index order (4,096 at a time)."""
    T, layout = geo.symbol_size, geo.layout
    symbols = encode_segment(segment_bytes(chunk), T, geo.repairs[s])
    payload = np.frombuffer(b"".join(symbols), dtype=np.uint8).reshape(len(symbols), T)
    strands: list[str] = []
    for start in range(0, len(symbols), 4096):
        idx = np.arange(base + start, base + min(len(symbols), start + 4096), dtype=np.int64)
        strands += layout.data_strands(idx, payload[start:start + 4096], geo.index_bits,
                                       archive_id)
        if progress:
            progress("encode", base + start + len(idx), geo.total_symbols)
    return strands


def archive_stats(geo: Geometry, header_strands: int, redundancy: float | None,
                  erasure_rate: float) -> ArchiveStats:
    """What an archive of this geometry with `header_strands` header strands holds and costs
    (`redundancy` as given, None where the rule at `erasure_rate` chose it)."""
    seg, repairs, layout = geo.segmentation, geo.repairs, geo.layout
    n_strands = header_strands + geo.total_symbols
    nt = n_strands * layout.coded_nt
    nt_primers = n_strands * layout.strand_len
    source_symbols = sum(seg.symbols(s) for s in range(seg.count))
    return ArchiveStats(
        constraints=layout.cs.name, bytes=geo.size, strands=n_strands,
        header_strands=header_strands, data_strands=source_symbols,
        parity_strands=sum(repairs), redundancy=sum(repairs) / source_symbols,
        nt=nt, nt_with_primers=nt_primers, bits_per_strand=layout.bits,
        index_bits=geo.index_bits, symbol_bytes=geo.symbol_size,
        coding_density=coding_density(layout.bits, layout.coded_nt),
        net_density=net_density(8 * geo.size, nt, empty=0.0),
        net_density_with_primers=net_density(8 * geo.size, nt_primers),
        erasure_rate_assumed=erasure_rate if redundancy is None else None,
        failure_probability=max(failure_probability(seg.symbols(s), repairs[s], erasure_rate)
                                for s in range(seg.count)),
    )


@dataclass
class Geometry:
    """How an archive of `size` bytes lays out: index width, symbol size, segments and the
    repair symbols of each (what `encode_archive` writes and `plan.plan_archive` predicts)."""

    size: int
    layout: StrandLayout
    index_bits: int
    symbol_size: int
    segmentation: Segmentation
    repairs: list[int]

    @property
    def total_symbols(self) -> int:
        """Data strands: source and repair symbols of every segment."""
        seg = self.segmentation
        return sum(seg.symbols(s) + self.repairs[s] for s in range(seg.count))

    def header(self, file_hash: bytes) -> Header:
        """The archive's header (without its ID) for a file of this hash."""
        cs, layout, seg = self.layout.cs, self.layout, self.segmentation
        code = format_code(cs)
        return Header(FORMAT_VERSION, CUSTOM_CODE if code is None else code,
                      layout.strand_len, len(layout.prefix), len(layout.suffix), layout.bits,
                      self.index_bits, self.symbol_size, self.size, seg.max_symbols,
                      self.repairs[0], self.repairs[-1], constraint_fingerprint(cs), file_hash,
                      definition=None if code is not None else cs)

    def header_strands(self) -> int:
        """How many header strands the archive gets."""
        header = self.header(bytes(8))
        header.archive_id = 0
        return len(_header_strands(header, self.layout))


def archive_geometry(size: int, layout: StrandLayout, redundancy: float | None = None,
                     erasure_rate: float = DEFAULT_ERASURE_RATE,
                     failure_target: float = DEFAULT_FAILURE_TARGET,
                     segment_symbols: int | None = None) -> Geometry:
    """The index width (enough for all data strands: a fixed point, as the width sets the
    symbol size), symbol size, segments (of `segment_symbols` source symbols at most, default
    SEGMENT_SYMBOLS) and repair symbols of a `size`-byte archive."""
    most = SEGMENT_SYMBOLS if segment_symbols is None else int(segment_symbols)
    if not 1 <= most <= SEGMENT_SYMBOLS:
        raise HelixError(f"segments must hold 1 to {SEGMENT_SYMBOLS} symbols, got {most}")
    index_bits = 8
    while True:
        T = layout.symbol_size(index_bits)
        seg = Segmentation(size, T, max(most, -(-(SEGMENT_HASH + 1) // T)))
        repairs = [_repair(seg.symbols(s), redundancy, erasure_rate, failure_target)
                   for s in range(seg.count)]
        geo = Geometry(size, layout, index_bits, T, seg, repairs)
        if geo.total_symbols <= 1 << index_bits:
            return geo
        index_bits += 1


def _header_strands(header: Header, layout: StrandLayout) -> list[str]:
    """The header strands: under the archive's own set (a registered set), or for a custom
    set under the first registered set of `header_sets` that fits this geometry."""
    if header.defines_set:
        for r in header_sets(layout.cs):
            try:
                r_layout = StrandLayout(r, layout.strand_len, layout.prefix, layout.suffix)
                header.header_code = CONSTRAINT_CODES[r.name]
                return r_layout.header_strands(header.pack(), HEADER_COPIES, header.archive_id)
            except HelixError:
                continue
        header.header_code = CUSTOM_CODE
    return layout.header_strands(header.pack(), HEADER_COPIES, header.archive_id)


def _repair(k: int, redundancy: float | None, erasure_rate: float, failure_target: float) -> int:
    if redundancy is not None:
        return math.ceil(redundancy * k)
    return repair_symbols(k, erasure_rate, failure_target)


@dataclass
class DecodeReport:
    constraints: str
    candidates: int
    valid_data_strands: int
    header_parts: int
    segments: list[dict]
    ok: bool


def find_header(strands: Sequence[str], constraints: str | ConstraintSet | None = None,
                prefix: str = DEFAULT_PREFIX, suffix: str = DEFAULT_SUFFIX, *,
                archive_id: int | str | None = None) -> FoundHeader:
    """The header of the pool's archive (under the given or each plausible constraint set),
    with the strands read under the archive's set, checked against the strands' geometry.
    A pool of several archives needs `archive_id` (an ID, or "none" for the one archive
    without an ID): `pool.MixedPool` otherwise, naming the IDs found."""
    want: Any = _ANY if archive_id is None else parse_id(archive_id)
    return choose_archive(find_archives(strands, constraints, prefix, suffix, want=want), want)


CONFIDENT_SUPPORT = 4  # reads behind a consensus before it is trusted first
MAX_ATTEMPTS = 48      # decodes per segment while hunting a corrupted symbol
LOCATE_ROUNDS = 4      # of them followed by locating wrong symbols (`wrong_symbols`)


def decode_archive(strands: Sequence[str], support: Sequence[int] | None = None, *,
                   variants: Sequence[int] | None = None,
                   constraints: str | ConstraintSet | None = None, prefix: str = DEFAULT_PREFIX,
                   suffix: str = DEFAULT_SUFFIX, progress: Progress | None = None,
                   archive_id: int | str | None = None, partial: bool = False
                   ) -> tuple[bytes, DecodeReport]:
    """Decode candidate strands back to the file (of the archive `archive_id` in a pool of
    several: `find_header`). `partial`: segments that do not decode give what arrived of them
    instead of an error (`salvage.PartialBytes`, see `decode_found`).

    `support` (reads behind each candidate, default: trusted) and `variants` (candidates its
    read cluster gave, default 1) rank candidates: per index the valid one with the most support
    wins, and weakly supported or ambiguous strands are fed to the outer decoder last. A strand
    that passes its check by chance but is wrong spoils its segment's hash; the segment is then
    decoded again without the wrong strands the outer code's redundancy names
    (`wrong_symbols`), else without the sets of weak strands likeliest to hold them
    (`ejection.exclusion_sets`), at most MAX_ATTEMPTS decodes, and the file hash has the last
    word.
    """
    strands = list(strands)
    if not strands:
        raise HelixError("no strands to decode")
    found = find_header(strands, constraints, prefix, suffix, archive_id=archive_id)
    return decode_found(found, len(strands), support, variants, progress, partial)


def choose_candidates(idx: np.ndarray, payload: np.ndarray, support: np.ndarray,
                      variants: np.ndarray, valid: np.ndarray | None = None
                      ) -> tuple[dict[int, np.ndarray], set[int], dict[int, tuple[int, int]]]:
    """One payload per strand index from candidate rows (only the `valid` ones when given):
    (best: the candidate with the most read support, weak: indices whose best is weakly
    supported, from a cluster that tried variants, or contradicted by another valid
    candidate, trust: per index (variants, -support), lower trusted first)."""
    best: dict[int, np.ndarray] = {}
    weak: set[int] = set()
    trust: dict[int, tuple[int, int]] = {}
    for i in np.lexsort((-support, idx)).tolist():
        if valid is not None and not valid[i]:
            continue
        j = int(idx[i])
        if j not in best:
            best[j] = payload[i]
            trust[j] = (int(variants[i]), -int(support[i]))
            if support[i] < CONFIDENT_SUPPORT or variants[i] > 1:
                weak.add(j)
        elif not np.array_equal(best[j], payload[i]):
            weak.add(j)  # two valid candidates disagree
    return best, weak, trust


def decode_found(found: FoundHeader, candidates: int, support: Sequence[int] | None = None,
                 variants: Sequence[int] | None = None, progress: Progress | None = None,
                 partial: bool = False) -> tuple[bytes, DecodeReport]:
    """Decode the archive whose header `found` holds (`find_header`, or one of a pool's
    `pool.find_archives`) from the `candidates` strands it was found among, with their
    `support` and `variants` (see `decode_archive`). `partial`: a segment that does not
    decode gives its received source symbols (`salvage.salvaged_chunk`) and the file comes
    back as `salvage.PartialBytes` (its holes, and the DecodeFailure a complete decode
    raises) instead of raising it."""
    if support is None:
        support = np.full(candidates, CONFIDENT_SUPPORT, dtype=np.int64)
    support = np.asarray(support)
    variants = np.ones(candidates, np.int64) if variants is None else np.asarray(variants)
    cs, header = found.cs, found.header
    idx, payload, valid = found.data  # of the strands read under the archive's set
    best, weak, trust = choose_candidates(idx, payload, support[found.rows],
                                          variants[found.rows], valid)
    seg = header.segmentation()
    out = bytearray()
    base = 0
    seg_reports = []
    holes: list[tuple[int, int]] = []
    failure: DecodeFailure | None = None
    for s in range(seg.count):
        k, r = seg.symbols(s), header.repair(s)
        got, info = _decode_one_segment(best, weak, base, k, r, seg.length(s),
                                        header.symbol_size, s, trust)
        seg_reports.append({"segment": s, "source": k, "parity": r, **info,
                            "decoded": got is not None})
        if progress:
            progress("decode", s + 1, seg.count)
        if got is None:
            lost = [i for i in range(base, base + k + r) if i not in best]
            report = DecodeReport(cs.name, candidates, len(best), found.parts_found, seg_reports, False)
            reason = (f"{info['received']} of {k + r} strands recovered, {k} needed "
                      f"(lost {len(lost)} strands, e.g. indices {lost[:5]})"
                      if info["received"] < k + 2 else
                      f"no consistent decode after {info['attempts']} attempts")
            failure = failure or DecodeFailure(f"segment {s}: {reason}; nothing written", report)
            if not partial:
                raise failure
            got, lost = salvaged_chunk(best, base, k, seg.length(s), header.symbol_size)
            lost = lost or [(0, len(got))]  # all arrived, none consistent: trust none
            holes += [(len(out) + a, len(out) + b) for a, b in lost]
        out += got
        base += k + r
    data = bytes(out)
    if failure is not None:
        return PartialBytes(data, holes, failure), failure.report
    if _file_hash(data) != header.file_hash:
        report = DecodeReport(cs.name, candidates, len(best), found.parts_found, seg_reports, False)
        raise DecodeFailure("decoded bytes do not match the archive's file hash; nothing written",
                            report)
    return data, DecodeReport(cs.name, candidates, len(best), found.parts_found, seg_reports, True)


class DecodeFailure(HelixError):
    """Too much was lost: carries the per-segment report of what was lost and where."""

    def __init__(self, message: str, report: DecodeReport):
        super().__init__(message)
        self.report = report


def _decode_one_segment(best: dict[int, np.ndarray], weak: set[int], base: int, k: int, r: int,
                        length: int, T: int, seg_no: int,
                        trust: dict[int, tuple[int, int]] | None = None
                        ) -> tuple[bytes | None, dict]:
    """Decode one RaptorQ segment, retrying without some weak strands until its hash matches.
    Weak strands are fed most trusted first (`trust`: fewer candidates or spellings tried in
    their cluster, then more reads: a list-decoded one that took many tries, the likeliest to
    be wrong, comes last), so the outer code is often done before it reaches the doubtful
    ones. A decode whose hash fails names the wrong strands it took where the symbols it did
    not need can (`wrong_symbols`, in the first LOCATE_ROUNDS attempts), and the next decode
    leaves them out; otherwise retries leave out sets of weak strands holding the most risk
    (their tries) first (`ejection.exclusion_sets`), at most MAX_ATTEMPTS decodes in all."""
    trust = trust or {}
    weak_esi = [i - base for i in sorted((i for i in weak if base <= i < base + k + r),
                                         key=lambda i: (trust.get(i, (0, 0)), i))]
    symbols = {i - base: best[i].tobytes() for i in range(base, base + k + r) if i in best}
    info = {"received": len(symbols), "lost": k + r - len(symbols), "weak": len(weak_esi),
            "attempts": 0, "corrupt_found": 0}
    if len(symbols) < k:
        return None, info
    weak_set = set(weak_esi)
    strong = [e for e in sorted(symbols) if e not in weak_set]
    risk = [float(max(1, trust.get(e + base, (1, 0))[0])) for e in weak_esi]
    sets = exclusion_sets(risk, len(symbols) - (k + 2))
    named: set[int] = set()     # located as wrong by the outer code's redundancy
    excluded: set[int] = set()
    for attempt in range(MAX_ATTEMPTS):
        info["attempts"] = attempt + 1
        use = {e: v for e, v in symbols.items() if e not in excluded}
        order = [e for e in strong if e in use] + [e for e in weak_esi if e in use]
        got, used = decode_segment_used(use, length, T, order)
        chunk = verified_chunk(got) if got is not None else None
        if chunk is not None:
            info["corrupt_found"] = len(inconsistent_symbols(got, symbols, T, r))
            return chunk, info
        if got is not None and attempt < LOCATE_ROUNDS:
            found = set(wrong_symbols(use, order, used, got, length, T, r, weak_esi[::-1]))
            if found - named:
                named |= found
                excluded = set(named)
                continue
        leave_out = next(sets, None)
        if leave_out is None:
            break
        excluded = named | {weak_esi[p] for p in leave_out}
    return None, info
