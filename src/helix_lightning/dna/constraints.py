"""Constraint sets for synthesis (homopolymer runs, GC content, forbidden motifs) and a checker.

A constraint set is checked on whole strands, primers and junctions included. The registry below
is the only list of named sets and their archive format codes; user-defined sets come from YAML
files or CLI flags.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from ..errors import HelixError

BASES = "ACGT"
BASE_CODE = {b: i for i, b in enumerate(BASES)}
# C and G are the GC bases; codes A=0, C=1, G=2, T=3.
GC_OF_CODE = np.array([0, 1, 1, 0], dtype=np.uint8)
_LUT = np.full(256, 255, dtype=np.uint8)
for _b, _i in BASE_CODE.items():
    _LUT[ord(_b)] = _i


@dataclass(frozen=True)
class ConstraintSet:
    """Synthesis constraints: longest homopolymer, GC range per window and per strand, motifs.

    `gc_window=None` means the GC range applies to each whole strand only. With a window the
    range applies to every window of that length *and* to the whole strand.
    """

    name: str
    max_run: int = 3
    gc_window: int | None = None
    gc_min: float = 0.0
    gc_max: float = 1.0
    motifs: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.max_run < 1:
            raise HelixError(f"constraint set {self.name!r}: max_run must be >= 1")
        if not 0.0 <= self.gc_min <= self.gc_max <= 1.0:
            raise HelixError(f"constraint set {self.name!r}: need 0 <= gc_min <= gc_max <= 1")
        if self.gc_window is not None and self.gc_window < 2:
            raise HelixError(f"constraint set {self.name!r}: gc_window must be >= 2")
        for m in self.motifs:
            if not m or set(m) - set(BASES):
                raise HelixError(f"constraint set {self.name!r}: motif {m!r} is not ACGT")

    @property
    def has_gc(self) -> bool:
        return self.gc_min > 0.0 or self.gc_max < 1.0

    def gc_bounds(self, length: int) -> tuple[int, int]:
        """Allowed G+C count range for a stretch of `length` bases."""
        lo = math.ceil(self.gc_min * length - 1e-9) if self.has_gc else 0
        hi = math.floor(self.gc_max * length + 1e-9) if self.has_gc else length
        return lo, hi

    def to_dict(self) -> dict:
        d = asdict(self)
        d["motifs"] = list(self.motifs)
        return d

    def implies(self, other: "ConstraintSet") -> bool:
        """True when every strand valid under this set is valid under `other` too (a sufficient
        test: equal GC windows, nested ranges, shorter runs, motifs covered)."""
        if self.max_run > other.max_run:
            return False
        if not all(any(m in o for m in self.motifs) for o in other.motifs):
            return False
        if not other.has_gc:
            return True
        if not self.has_gc or (other.gc_window is not None and self.gc_window != other.gc_window):
            return False
        return other.gc_min <= self.gc_min and self.gc_max <= other.gc_max

    def describe(self) -> str:
        parts = [f"max_run {self.max_run}"]
        if self.has_gc:
            where = f"every {self.gc_window}-nt window" if self.gc_window else "each whole strand"
            parts.append(f"GC {self.gc_min:.2f}-{self.gc_max:.2f} over {where}")
        if self.motifs:
            parts.append("no " + ",".join(self.motifs))
        return f"{self.name}: " + ", ".join(parts)


# ---------------------------------------------------------------- the registry
# The only list of constraint sets. A set registered with a format code is written into archive
# headers by that code (docs/FORMAT.md, section 1); a code, once released, never changes or
# moves to another set. A set registered without a code works everywhere by name, but its
# archives are written like a YAML- or flag-defined set: code 255 and its full definition in
# the header (format version 2).

CUSTOM_CODE = 255
DEFAULT_CONSTRAINTS = "standard"
CONSTRAINT_SETS: dict[str, Callable[[], ConstraintSet]] = {}
CONSTRAINT_CODES: dict[str, int] = {}


def register_constraints(name: str, code: int | None = None) -> Callable:
    """Decorator: put a constraint-set factory into the registry under `name`, with the
    archive format code `code` (0..254, unique; None: archives of it are written as custom)."""
    if code is not None:
        if not 0 <= code < CUSTOM_CODE:
            raise HelixError(f"constraint set {name!r}: format code must be 0..254, got {code}")
        owner = next((n for n, c in CONSTRAINT_CODES.items() if c == code), None)
        if owner not in (None, name):
            raise HelixError(f"format code {code} already belongs to constraint set {owner!r}")
    if name in CONSTRAINT_SETS and CONSTRAINT_CODES.get(name) != code:
        raise HelixError(f"constraint set {name!r} is registered already with code "
                         f"{CONSTRAINT_CODES.get(name)}; a set's code never changes")

    def wrap(factory: Callable[[], ConstraintSet]) -> Callable[[], ConstraintSet]:
        CONSTRAINT_SETS[name] = factory
        if code is not None:
            CONSTRAINT_CODES[name] = code
        return factory

    return wrap


def unregister_constraints(name: str) -> None:
    """Take a set out of the registry (tests and plugins that registered one for a while)."""
    CONSTRAINT_SETS.pop(name, None)
    CONSTRAINT_CODES.pop(name, None)


def coded_names() -> list[str]:
    """Registered sets that have a format code, in code order."""
    return sorted(CONSTRAINT_CODES, key=CONSTRAINT_CODES.__getitem__)


def registered_names() -> list[str]:
    """Every registered set: the coded ones in code order, then the others by registration."""
    coded = coded_names()
    return coded + [n for n in CONSTRAINT_SETS if n not in CONSTRAINT_CODES]


def format_code(cs: ConstraintSet) -> int | None:
    """The format code archives of `cs` carry: its registered code when `cs` is exactly the
    registered set of that name, else None (a custom set, code 255 + definition)."""
    code = CONSTRAINT_CODES.get(cs.name)
    if code is None or CONSTRAINT_SETS[cs.name]() != cs:
        return None
    return code


def constraints_for_code(code: int) -> ConstraintSet:
    """The registered set with format code `code`."""
    for name, c in CONSTRAINT_CODES.items():
        if c == code:
            return CONSTRAINT_SETS[name]()
    raise HelixError(f"archive uses constraint-set code {code}, which this build does not know "
                     f"(known: {', '.join(f'{n}={CONSTRAINT_CODES[n]}' for n in coded_names())})")


@register_constraints("rl3", code=0)
def _rl3() -> ConstraintSet:
    return ConstraintSet("rl3", max_run=3)


@register_constraints("fountain", code=1)
def _fountain() -> ConstraintSet:
    return ConstraintSet("fountain", max_run=3, gc_min=0.45, gc_max=0.55)


@register_constraints("standard", code=2)
def _standard() -> ConstraintSet:
    return ConstraintSet("standard", max_run=3, gc_window=20, gc_min=0.40, gc_max=0.60)


@register_constraints("strict", code=3)
def _strict() -> ConstraintSet:
    return ConstraintSet("strict", max_run=3, gc_window=20, gc_min=0.45, gc_max=0.55)


@register_constraints("relaxed", code=4)
def _relaxed() -> ConstraintSet:
    return ConstraintSet("relaxed", max_run=4, gc_min=0.40, gc_max=0.60)


@register_constraints("rl2", code=5)
def _rl2() -> ConstraintSet:
    """max_run 2 with `standard`'s windows (the fsm_ablation's tightest run limit)."""
    return ConstraintSet("rl2", max_run=2, gc_window=20, gc_min=0.40, gc_max=0.60)


def get_constraints(name_or_path: str | ConstraintSet) -> ConstraintSet:
    """A named set from the registry, or a user-defined one from a YAML file."""
    if isinstance(name_or_path, ConstraintSet):
        return name_or_path
    if name_or_path in CONSTRAINT_SETS:
        return CONSTRAINT_SETS[name_or_path]()
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise HelixError(f"constraint file not found: {path}")
        return constraints_from_yaml(path)
    known = ", ".join(registered_names())
    raise HelixError(f"unknown constraint set {name_or_path!r} (known: {known}, or a .yaml file)")


def constraints_from_yaml(path: Path) -> ConstraintSet:
    import yaml

    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise HelixError(f"{path}: not valid YAML ({exc.__class__.__name__})") from None
    return constraints_from_dict(data, default_name=path.stem)


def constraints_from_dict(data: dict, default_name: str = "custom") -> ConstraintSet:
    allowed = {"name", "max_run", "gc_window", "gc_min", "gc_max", "motifs"}
    unknown = set(data) - allowed
    if unknown:
        raise HelixError(f"unknown constraint keys: {sorted(unknown)} (allowed: {sorted(allowed)})")
    try:
        return ConstraintSet(
            name=str(data.get("name", default_name)),
            max_run=int(data.get("max_run", 3)),
            gc_window=None if data.get("gc_window") in (None, 0) else int(data["gc_window"]),
            gc_min=float(data.get("gc_min", 0.0)),
            gc_max=float(data.get("gc_max", 1.0)),
            motifs=tuple(str(m).upper() for m in data.get("motifs", []) or []),
        )
    except (TypeError, ValueError) as exc:
        raise HelixError(f"bad constraint value: {exc}") from None


# ---------------------------------------------------------------- checking

def encode_bases(seq: str) -> np.ndarray:
    """ACGT string -> uint8 codes; raises HelixError on any other character."""
    arr = _LUT[np.frombuffer(seq.encode("ascii", "replace"), dtype=np.uint8)]
    if arr.size and arr.max() == 255:
        bad = sorted(set(seq) - set(BASES))
        raise HelixError(f"non-ACGT characters in sequence: {''.join(bad)[:10]!r}")
    return arr


def decode_bases(codes: np.ndarray) -> str:
    return np.frombuffer(np.frombuffer(b"ACGT", dtype=np.uint8)[codes], dtype="S1").tobytes().decode()


def codes_to_strings(codes: np.ndarray) -> list[str]:
    """(n, L) uint8 codes -> list of n strings, fast."""
    letters = np.frombuffer(b"ACGT", dtype=np.uint8)[codes]
    width = codes.shape[1]
    raw = letters.tobytes()
    return [raw[i * width:(i + 1) * width].decode() for i in range(codes.shape[0])]


def strings_to_codes(seqs: Iterable[str]) -> np.ndarray:
    """Equal-length ACGT strings -> (n, L) uint8 codes."""
    seqs = list(seqs)
    if not seqs:
        return np.zeros((0, 0), dtype=np.uint8)
    width = len(seqs[0])
    if any(len(s) != width for s in seqs):
        raise HelixError("strands have different lengths")
    return encode_bases("".join(seqs)).reshape(len(seqs), width)


@dataclass
class ViolationReport:
    run_violations: int
    window_violations: int
    strand_gc_violations: int
    motif_violations: int
    max_run: int
    gc_min_seen: float
    gc_max_seen: float

    @property
    def total(self) -> int:
        return (self.run_violations + self.window_violations + self.strand_gc_violations
                + self.motif_violations)


def run_lengths_over(codes: np.ndarray, max_run: int) -> tuple[int, int]:
    """(number of homopolymer runs longer than max_run, longest run) over (n, L) codes."""
    if codes.size == 0:
        return 0, 0
    same = codes[:, 1:] == codes[:, :-1]
    n, length = codes.shape
    # run length ending at each position
    run = np.ones((n, length), dtype=np.int32)
    for j in range(1, length):
        run[:, j] = np.where(same[:, j - 1], run[:, j - 1] + 1, 1)
    longest = int(run.max())
    # a run "ends" where the next base differs or at the strand end
    ends = np.ones((n, length), dtype=bool)
    ends[:, :-1] = ~same
    return int(((run > max_run) & ends).sum()), longest


def valid_rows(codes: np.ndarray, cs: ConstraintSet) -> np.ndarray:
    """(n,) bool: which of the equal-length strands in (n, L) codes satisfy `cs` (the per-strand
    form of `check_codes`: a row is True exactly when it alone would have no violation)."""
    codes = np.atleast_2d(codes)
    n, length = codes.shape
    ok = np.ones(n, dtype=bool)
    if n == 0 or length == 0:
        return ok
    same = codes[:, 1:] == codes[:, :-1]
    run = np.ones(n, dtype=np.int32)
    longest = run.copy()
    for j in range(1, length):
        run = np.where(same[:, j - 1], run + 1, 1)
        np.maximum(longest, run, out=longest)
    ok &= longest <= cs.max_run
    if cs.has_gc:
        gc = GC_OF_CODE[codes].astype(np.int32)
        total = gc.sum(axis=1)
        lo, hi = cs.gc_bounds(length)
        ok &= (total >= lo) & (total <= hi)
        w = cs.gc_window
        if w is not None and length >= w:
            csum = np.concatenate([np.zeros((n, 1), np.int32), np.cumsum(gc, axis=1)], axis=1)
            win = csum[:, w:] - csum[:, :-w]
            wlo, whi = cs.gc_bounds(w)
            ok &= ((win >= wlo) & (win <= whi)).all(axis=1)
    if cs.motifs:
        for i, s in enumerate(codes_to_strings(codes)):
            if ok[i] and any(m in s for m in cs.motifs):
                ok[i] = False
    return ok


def valid_strands(seqs: Iterable[str], cs: ConstraintSet) -> np.ndarray:
    """(n,) bool: which strands (any lengths) satisfy `cs`."""
    seqs = list(seqs)
    ok = np.zeros(len(seqs), dtype=bool)
    by_len: dict[int, list[int]] = {}
    for i, s in enumerate(seqs):
        by_len.setdefault(len(s), []).append(i)
    for rows in by_len.values():
        ok[rows] = valid_rows(strings_to_codes(seqs[i] for i in rows), cs)
    return ok


def check_codes(codes: np.ndarray, cs: ConstraintSet) -> ViolationReport:
    """Count every violation of `cs` on equal-length strands given as (n, L) base codes."""
    codes = np.atleast_2d(codes)
    n, length = codes.shape
    runs, longest = run_lengths_over(codes, cs.max_run)
    gc = GC_OF_CODE[codes].astype(np.int32)
    win_bad = strand_bad = 0
    gmin, gmax = 1.0, 0.0
    if n and length:
        total = gc.sum(axis=1)
        frac = total / length
        gmin, gmax = float(frac.min()), float(frac.max())
        if cs.has_gc:
            lo, hi = cs.gc_bounds(length)
            strand_bad = int(((total < lo) | (total > hi)).sum())
            w = cs.gc_window
            if w is not None and length >= w:
                csum = np.concatenate([np.zeros((n, 1), np.int32), np.cumsum(gc, axis=1)], axis=1)
                win = csum[:, w:] - csum[:, :-w]
                wlo, whi = cs.gc_bounds(w)
                win_bad = int(((win < wlo) | (win > whi)).sum())
    motif_bad = 0
    if cs.motifs and n:
        for s in codes_to_strings(codes):
            for m in cs.motifs:
                start = s.find(m)
                while start != -1:
                    motif_bad += 1
                    start = s.find(m, start + 1)
    return ViolationReport(runs, win_bad, strand_bad, motif_bad, longest, gmin, gmax)


def check_strands(seqs: Iterable[str], cs: ConstraintSet) -> ViolationReport:
    """Check strands given as strings; strands of different lengths are checked in groups."""
    by_len: dict[int, list[str]] = {}
    for s in seqs:
        by_len.setdefault(len(s), []).append(s)
    reports = [check_codes(strings_to_codes(group), cs) for group in by_len.values()]
    if not reports:
        return ViolationReport(0, 0, 0, 0, 0, 0.0, 0.0)
    return ViolationReport(
        sum(r.run_violations for r in reports),
        sum(r.window_violations for r in reports),
        sum(r.strand_gc_violations for r in reports),
        sum(r.motif_violations for r in reports),
        max(r.max_run for r in reports),
        min(r.gc_min_seen for r in reports),
        max(r.gc_max_seen for r in reports),
    )
