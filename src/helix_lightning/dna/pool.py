"""Which archives a pool of strands holds, and each one's header: where decoding starts.

A pool may hold several archives. Since header version 3 each archive has a 32-bit ID: every
header strand carries it, and it keys every data strand's check and whitening (`strands.py`),
so a data strand passes the check of its own archive only. `find_archives` reads the strands
under each plausible constraint set (tightest first, section 1 of docs/FORMAT.md), groups the
valid header strands by ID (archives of header versions 1 and 2 have none: at most one such
archive per pool can be read), and goes on with the strands no archive found so far explains
until they are too few to hold another archive. `list_archives` is what `helix dna ls`
prints; `choose_archive` gives decoding the pool's one archive, the one asked for, or refuses
a mixed pool in one line naming the IDs found.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from ..errors import HelixError
from .capacity import constraint_capacity
from .constraints import (CONSTRAINT_CODES, CONSTRAINT_SETS, CUSTOM_CODE, ConstraintSet,
                          coded_names, format_code, get_constraints, registered_names,
                          valid_strands)
from .header import BASE as _HEADER
from .header import Header, constraint_fingerprint
from .primers import DEFAULT_PREFIX, DEFAULT_SUFFIX
from .strands import MIN_CHECK_BITS, StrandLayout

HEADER_COPIES = 8  # copies of each header part an encoder writes
NO_ID = "none"     # how an archive without an ID (header versions 1 and 2) is named


def format_id(archive_id: int | None) -> str:
    """An archive ID as `helix dna ls` prints it: 8 hex digits ("none" without an ID)."""
    return NO_ID if archive_id is None else f"{archive_id:08x}"


def parse_id(text: str | int | None) -> int | None:
    """An archive ID from its printed form (8 hex digits, or "none"); HelixError otherwise."""
    if text is None or isinstance(text, int):
        return text
    if text.strip().lower() == NO_ID:
        return None
    try:
        value = int(text.strip().lower().removeprefix("0x"), 16)
    except ValueError:
        value = -1
    if not 0 <= value < 1 << 32:
        raise HelixError(f"archive ID must be 8 hex digits (as `helix dna ls` prints), got "
                         f"{text!r}")
    return value


# ---------------------------------------------------------------- which sets to try
def header_sets(cs: ConstraintSet) -> list[ConstraintSet]:
    """Registered sets with a code whose strands all satisfy the custom set `cs`, in code
    order: the encoder writes a custom archive's header strands under the first that fits, so
    the archive decodes without being told its set."""
    return [r for r in (CONSTRAINT_SETS[n]() for n in coded_names())
            if r.implies(cs) and constraint_fingerprint(r) != constraint_fingerprint(cs)]


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


def _header_candidates(strands: Sequence[str], hint: ConstraintSet | None
                       ) -> Iterator[tuple[ConstraintSet, bool, ConstraintSet | None]]:
    """Constraint sets that may hold header strands, most likely first, each with whether to
    read only the strands that satisfy it and the hint its archives are checked against.

    With a hint: the hint, then (for a custom set) the registered sets its header may be
    written under, then (to find the other archives of a mixed pool, unhinted) the other
    registered sets. Without: the registered sets most of the first 300 strands satisfy
    (tightest first), then the others (reading only strands that satisfy them)."""
    if hint is not None:
        yield hint, False, hint
        if format_code(hint) is None:
            for r in header_sets(hint):
                yield r, True, hint
        for name in decode_order():
            if constraint_fingerprint(CONSTRAINT_SETS[name]()) != constraint_fingerprint(hint):
                yield CONSTRAINT_SETS[name](), True, None
        return
    sample = list(strands[:300])
    likely = [n for n in registered_names()
              if valid_strands(sample, CONSTRAINT_SETS[n]()).sum() >= 0.5 * len(sample)]
    for name in decode_order(likely):
        yield CONSTRAINT_SETS[name](), False, None
    for name in decode_order([n for n in registered_names() if n not in likely]):
        yield CONSTRAINT_SETS[name](), True, None


# ---------------------------------------------------------------- one archive's header
@dataclass
class FoundHeader:
    """An archive's header, and the pool's strands read under the archive's constraint set
    (`cs`; the header strands may be written under another set, `header_cs`): `rows` are the
    positions (in the pool) of the strands read, `bits`/`ok` their decoded bits and whether
    they decoded, `data` the (indices, payloads, valid) their data fields give."""

    cs: ConstraintSet
    layout: StrandLayout
    header: Header
    parts_found: int
    bits: np.ndarray
    ok: np.ndarray
    header_cs: ConstraintSet | None = None
    rows: np.ndarray | None = None
    data: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    header_strands: int = 0

    @property
    def archive_id(self) -> int | None:
        return self.header.archive_id


@dataclass
class PoolArchive:
    """An archive a pool's header strands name: its header if it could be read, else why not
    (`error`, raised when the archive is decoded)."""

    archive_id: int | None
    header_cs: ConstraintSet
    strand_len: int
    header_strands: int
    found: FoundHeader | None = None
    error: HelixError | None = None
    header_rows: list[int] = field(default_factory=list)  # its header strands in the pool


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
    """The archive's constraint set: the set its header strands decoded under (a registered
    set) or the header's definition (a custom set); checked against the hint and the header."""
    if header.defines_set:
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


@dataclass
class _Pass:
    """The strands of one scan pass, read under one set at one strand length."""

    strands: list[str]
    rows: np.ndarray
    layout: StrandLayout
    bits: np.ndarray
    ok: np.ndarray
    hint: ConstraintSet | None


def _read_archive(key: int | None, parts: dict[int, bytes], scan: _Pass, unread: np.ndarray
                  ) -> FoundHeader:
    """The archive `key` whose header parts `parts` turned up in `scan`: its header, checked,
    and its data strands read under its own set (among the pool's `unread` rows)."""
    layout, cs = scan.layout, scan.layout.cs
    header = Header.unpack(_header_bytes(parts, layout.header_chunk_of(key)))
    if header.archive_id != key:
        raise HelixError("archive header's ID does not match its header strands")
    data_cs = _archive_set(header, cs, scan.hint)
    rows, bits, ok = scan.rows, scan.bits, scan.ok
    if constraint_fingerprint(data_cs) != constraint_fingerprint(cs):
        layout = StrandLayout(data_cs, layout.strand_len, layout.prefix, layout.suffix)
        rows = np.flatnonzero(unread)
        bits, ok = layout.read_bits([scan.strands[i] for i in rows])
    header.check_geometry(layout.bits, layout.strand_len, len(layout.prefix),
                          len(layout.suffix), MIN_CHECK_BITS)
    idx, payload, valid = layout.parse_data_bits(bits, header.index_bits, header.symbol_size,
                                                 key)
    return FoundHeader(data_cs, layout, header, len(parts), bits, ok, header_cs=cs, rows=rows,
                       data=(idx, payload, valid & ok))


def _strand_lengths(lengths: np.ndarray) -> list[int]:
    """Strand lengths to scan: the most common, then any other that enough strands share to
    hold an archive's header."""
    counts = Counter(lengths.tolist()).most_common()
    return [n for i, (n, c) in enumerate(counts) if i == 0 or c >= HEADER_COPIES]


@dataclass
class _Scan:
    """What a scan has found so far: archives by ID, and which strands they explain."""

    strands: list[str]
    hint: ConstraintSet | None
    archives: dict = field(default_factory=dict)
    explained: np.ndarray = None  # type: ignore[assignment]
    tried: list[str] = field(default_factory=list)

    def settled(self, want: Any) -> bool:
        if want is not _ANY and want in self.archives:
            return True
        return bool(self.archives) and (~self.explained).sum() < HEADER_COPIES

    def read(self, cs: ConstraintSet, only_valid: bool, hint: ConstraintSet | None,
             strand_len: int, at_len: np.ndarray, prefix: str, suffix: str) -> None:
        """Read the unexplained strands of this length under `cs`; note every archive whose
        header strands turn up (checked against `hint`). Past a given hint (`self.hint`),
        only once an archive was found: to find the others of a mixed pool."""
        if hint is None and self.hint is not None and not self.archives:
            return
        unread = at_len & ~self.explained
        rows = np.flatnonzero(unread)
        if only_valid and len(rows):
            rows = rows[valid_strands([self.strands[i] for i in rows], cs)]
        if not len(rows) or (only_valid and len(rows) < HEADER_COPIES and self.archives):
            return
        self.tried.append(cs.name)
        try:
            layout = StrandLayout(cs, strand_len, prefix, suffix)
        except HelixError:
            return
        bits, ok = layout.read_bits([self.strands[i] for i in rows])
        scan = _Pass(self.strands, rows, layout, bits, ok, hint)
        groups: dict[int | None, dict[int, set[bytes]]] = {}
        where: dict[int | None, list[int]] = {}
        for r, piece in zip(rows[ok].tolist(), layout.header_pieces(bits[ok])):
            if piece is None:
                continue
            key, part, body = piece
            groups.setdefault(key, {}).setdefault(part, set()).add(body)
            where.setdefault(key, []).append(r)
        for key, parts in groups.items():
            if key in self.archives:
                continue
            self._note(key, parts, where[key], scan, unread, cs, strand_len)

    def _note(self, key: int | None, parts: dict[int, set[bytes]], rows: list[int],
              scan: _Pass, unread: np.ndarray, cs: ConstraintSet, strand_len: int) -> None:
        entry = PoolArchive(key, cs, strand_len, len(rows), header_rows=rows)
        self.archives[key] = entry
        self.explained[rows] = True
        try:
            if any(len(bodies) > 1 for bodies in parts.values()):
                raise HelixError(
                    "this pool holds several archives written without an archive ID (header "
                    "versions 1 and 2), which cannot be told apart" if key is None else
                    f"two archives of this pool share the ID {format_id(key)}")
            found = _read_archive(key, {p: next(iter(b)) for p, b in parts.items()}, scan,
                                  unread)
        except HelixError as exc:
            entry.error = exc
            return
        found.header_strands = len(rows)
        entry.found = found
        self.explained[found.rows[found.data[2]]] = True


_ANY = object()


def find_archives(strands: Sequence[str], constraints: str | ConstraintSet | None = None,
                  prefix: str = DEFAULT_PREFIX, suffix: str = DEFAULT_SUFFIX, *,
                  want: Any = _ANY) -> list[PoolArchive]:
    """Every archive whose header strands are in the pool (until `want`, an archive ID or None
    for an archive without one, is found). HelixError if there is none."""
    strands = list(strands)
    lengths = np.array([len(s) for s in strands])
    hint = None if constraints is None else get_constraints(constraints)
    scan = _Scan(strands, hint, explained=np.zeros(len(strands), dtype=bool))
    for strand_len in _strand_lengths(lengths) if len(strands) else []:
        at_len = lengths == strand_len
        for cs, only_valid, pass_hint in _header_candidates(strands, hint):
            if scan.settled(want):
                break
            scan.read(cs, only_valid, pass_hint, strand_len, at_len, prefix, suffix)
    if not scan.archives:
        advice = "" if hint else (" (an archive of a custom constraint set needs the same "
                                  "--constraints/flags as at encode)")
        tried = ", ".join(dict.fromkeys(scan.tried)) or "none"
        raise HelixError(f"no valid header strand found (tried constraint sets: {tried}); "
                         f"is this a HELIX archive?{advice}")
    return list(scan.archives.values())


def choose_archive(archives: Sequence[PoolArchive], archive_id: Any = _ANY) -> FoundHeader:
    """The archive to decode: the one named by `archive_id`, or the pool's only one. A mixed
    pool without an ID asked for is refused, naming the IDs found."""
    names = ", ".join(format_id(a.archive_id) for a in archives)
    if archive_id is _ANY:
        if len(archives) > 1:
            raise MixedPool(f"this pool holds {len(archives)} archives ({names}): decode one "
                            "with --archive ID or every one with --all (list them with "
                            "`helix dna ls`)")
        chosen = archives[0]
    else:
        match = [a for a in archives if a.archive_id == archive_id]
        if not match:
            raise HelixError(f"archive {format_id(archive_id)} is not in this pool (found: "
                             f"{names})")
        chosen = match[0]
    if chosen.found is None:
        raise chosen.error or HelixError("archive header not found")
    return chosen.found


class MixedPool(HelixError):
    """A pool of several archives where decoding was not told which one to decode."""


# ---------------------------------------------------------------- listing
@dataclass
class ArchiveInfo:
    """One archive of a pool, as `helix dna ls` lists it."""

    archive_id: str
    file_size: int | None
    constraints: str | None
    version: int | None
    strand_len: int
    header_strands: int
    data_strands: int      # distinct data strands (indices) seen with a valid check
    data_written: int | None  # data strands the archive was written with (source + parity)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def list_archives(strands: Sequence[str], constraints: str | ConstraintSet | None = None,
                  prefix: str = DEFAULT_PREFIX, suffix: str = DEFAULT_SUFFIX
                  ) -> list[ArchiveInfo]:
    """Every archive found in a pool of strands (or consensus candidates of reads)."""
    out = []
    for a in find_archives(strands, constraints, prefix, suffix):
        f = a.found
        if f is None:
            out.append(ArchiveInfo(format_id(a.archive_id), None, None, None, a.strand_len,
                                   a.header_strands, 0, None, str(a.error)))
            continue
        h = f.header
        written = h.strands_written()
        idx, _, valid = f.data
        seen = len(np.unique(idx[valid & (idx < written)]))
        out.append(ArchiveInfo(format_id(a.archive_id), h.file_size, f.cs.name, h.version,
                               h.strand_len, f.header_strands, seen, written))
    return out


def format_archives(infos: Sequence[ArchiveInfo], as_json: bool = False) -> str:
    """What `helix dna ls` prints: a header row, then one aligned row per archive (or JSON:
    a list of `ArchiveInfo.to_dict`)."""
    if as_json:
        return json.dumps([i.to_dict() for i in infos], indent=2)
    rows = [("ID", "BYTES", "CONSTRAINTS", "VERSION", "NT", "HEADER", "DATA STRANDS")]
    for i in infos:
        data = f"{i.data_strands}/{i.data_written}" if i.data_written is not None else "-"
        rows.append((i.archive_id, "-" if i.file_size is None else str(i.file_size),
                     i.constraints or "-", "-" if i.version is None else str(i.version),
                     str(i.strand_len), str(i.header_strands),
                     data + (f"  ({i.error})" if i.error else "")))
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]) - 1)]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(r, widths)) + "  " + r[-1]
                     for r in rows)


# ---------------------------------------------------------------- decoding every archive
def decode_pool(strands: Sequence[str], directory: str | Path,
                support: Sequence[int] | None = None, *,
                variants: Sequence[int] | None = None,
                constraints: str | ConstraintSet | None = None, prefix: str = DEFAULT_PREFIX,
                suffix: str = DEFAULT_SUFFIX, progress: Any = None) -> list[str]:
    """Decode every archive of a pool into `directory` (which must exist), one file per
    archive named `ID.bin` ("none.bin" for an archive without an ID). Returns one line per
    file written; if any archive fails, the others are still written and a HelixError names
    the failures."""
    from .archive import decode_found
    from .fasta import atomic_output

    folder = Path(directory)
    if not folder.is_dir():
        raise HelixError(f"output directory does not exist: {folder}")
    strands = list(strands)
    written, failed = [], []
    for entry in find_archives(strands, constraints, prefix, suffix):
        name = format_id(entry.archive_id)
        try:
            found = choose_archive([entry], entry.archive_id)
            data, report = decode_found(found, len(strands), support, variants, progress)
        except HelixError as exc:
            failed.append(f"archive {name}: {exc}")
            continue
        path = folder / f"{name}.bin"
        with atomic_output(path, "wb") as out:
            out.write(data)
        written.append(f"archive {name}: {len(data)} bytes ({report.constraints}) -> {path}")
    if failed:
        done = f"; written: {len(written)} other archive(s)" if written else ""
        raise HelixError("; ".join(failed) + done)
    return written
