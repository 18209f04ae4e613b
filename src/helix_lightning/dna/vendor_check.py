"""Check a pool of strands against a synthesis vendor's rules (dna/vendors.py).

Every rule is measured on all strands of a length at once with numpy (windows by cumulative
sums, runs column by column, repeats by sorting each strand's k-mer keys), so a pool of 30,000
strands of 200 nt takes about a second; only the first few failing strands are then explained
in plain Python (positions and what was found there).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from ..errors import HelixError
from .constraints import GC_OF_CODE, strings_to_codes

if TYPE_CHECKING:
    from pathlib import Path

    from .vendors import VendorRules

EXAMPLES = 5  # failing strands explained per rule
_HASH_MUL = np.uint64(0x9E3779B97F4A7C15)  # odd multiplier for k-mers longer than 32 nt


@dataclass
class RuleResult:
    """One rule over the pool: how many strands fail it, how often, what was seen, examples."""

    rule: str
    description: str
    strands_failing: int = 0
    violations: int = 0  # bad windows, runs, repeated k-mers, motif hits, or failing strands
    seen: str = ""
    examples: list[dict] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.strands_failing == 0

    def to_dict(self) -> dict:
        return {"rule": self.rule, "description": self.description, "passed": self.passed,
                "strands_failing": self.strands_failing, "violations": self.violations,
                "seen": self.seen, "examples": self.examples}


@dataclass
class VendorReport:
    """The pool checked against one vendor's rules."""

    vendor: str
    provider: str
    source: str
    date: str
    strands: int
    rules: list[RuleResult]

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.rules)

    @property
    def failed(self) -> list[RuleResult]:
        return [r for r in self.rules if not r.passed]

    def to_dict(self) -> dict:
        return {"vendor": self.vendor, "provider": self.provider, "source": self.source,
                "date": self.date, "strands": self.strands, "passed": self.passed,
                "rules": [r.to_dict() for r in self.rules]}

    def failure_lines(self) -> list[str]:
        """One line per failing rule, then one per example strand (for stderr)."""
        out = []
        for r in self.failed:
            out.append(f"{self.vendor}: {r.rule} ({r.description}) fails on {r.strands_failing}"
                       f" of {self.strands} strands ({r.violations} violations)")
            for e in r.examples:
                at = f" at {','.join(map(str, e['positions']))}" if e["positions"] else ""
                out.append(f"  strand {e['strand']} {e['name']}{at}: {e['detail']}")
        return out

    def lines(self) -> list[str]:
        """The whole report as text: a line per rule, then what fails."""
        head = [f"{self.vendor} ({self.provider}; rules as published {self.date}): "
                f"{self.strands} strands, " + ("all rules pass" if self.passed else
                                              f"{len(self.failed)} rule(s) fail")]
        for r in self.rules:
            mark = "ok  " if r.passed else "FAIL"
            seen = f"; {r.seen}" if r.seen else ""
            head.append(f"  {mark} {r.rule:18s} {r.description}"
                        f" [{r.strands_failing} strands failing{seen}]")
        return head + self.failure_lines()


# ---------------------------------------------------------------- the rules

class _Rule:
    """A rule measured on (n, L) base codes of equal-length strands."""

    key = ""
    description = ""

    def measure(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
        """(bad strands (n,), violations per strand (n,), (lowest, highest) value seen)."""
        raise NotImplementedError

    def explain(self, seq: str) -> tuple[list[int], str]:
        """Positions (0-based) and a short text of what fails in one strand."""
        raise NotImplementedError

    def seen(self, lo: float, hi: float) -> str:
        return ""


def _window_counts(codes: np.ndarray, w: int) -> np.ndarray:
    gc = GC_OF_CODE[codes].astype(np.int32)
    csum = np.concatenate([np.zeros((len(codes), 1), np.int32), np.cumsum(gc, axis=1)], axis=1)
    return csum[:, w:] - csum[:, :-w]


def _gc_of(seq: str) -> int:
    return seq.count("G") + seq.count("C")


def _fails_range(frac: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return (frac < lo - 1e-9) | (frac > hi + 1e-9)


class _Length(_Rule):
    key = "strand_length"

    def __init__(self, lo: int | None, hi: int | None) -> None:
        self.lo, self.hi = lo or 0, hi or 1 << 62
        self.description = f"length {lo or 1}-{hi} nt" if hi else f"length >= {lo} nt"

    def measure(self, codes):
        n, length = codes.shape
        bad = np.full(n, not self.lo <= length <= self.hi)
        return bad, bad.astype(np.int64), (length, length)

    def explain(self, seq):
        return [], f"length {len(seq)} nt"

    def seen(self, lo, hi):
        return f"lengths {int(lo)}-{int(hi)}"


class _StrandGc(_Rule):
    key = "gc"

    def __init__(self, lo: float, hi: float) -> None:
        self.lo, self.hi = lo, hi
        self.description = f"GC {lo:.0%}-{hi:.0%} over each strand"

    def measure(self, codes):
        frac = GC_OF_CODE[codes].sum(axis=1) / max(codes.shape[1], 1)
        bad = _fails_range(frac, self.lo, self.hi)
        return bad, bad.astype(np.int64), (float(frac.min()), float(frac.max()))

    def explain(self, seq):
        return [], f"GC {_gc_of(seq) / len(seq):.3f}"

    def seen(self, lo, hi):
        return f"GC seen {lo:.3f}-{hi:.3f}"


class _WindowGc(_Rule):
    def __init__(self, w: int, lo: float, hi: float) -> None:
        self.w, self.lo, self.hi = w, lo, hi
        self.key = f"gc_window_{w}"
        self.description = f"GC {lo:.0%}-{hi:.0%} in every {w}-nt window"

    def measure(self, codes):
        n, length = codes.shape
        if length < self.w:
            return np.zeros(n, bool), np.zeros(n, np.int64), (1.0, 0.0)
        frac = _window_counts(codes, self.w) / self.w
        bad_windows = _fails_range(frac, self.lo, self.hi).sum(axis=1)
        return bad_windows > 0, bad_windows, (float(frac.min()), float(frac.max()))

    def explain(self, seq):
        for i in range(len(seq) - self.w + 1):
            frac = _gc_of(seq[i:i + self.w]) / self.w
            if frac < self.lo - 1e-9 or frac > self.hi + 1e-9:
                return [i], f"window GC {frac:.2f}"
        return [], ""

    def seen(self, lo, hi):
        return f"window GC seen {lo:.2f}-{hi:.2f}" if lo <= hi else ""


class _Spread(_Rule):
    key = "gc_window_spread"

    def __init__(self, w: int, most: float) -> None:
        self.w, self.most = w, most
        self.description = f"at most {most:.0%} GC difference between {w}-nt windows"

    def measure(self, codes):
        n, length = codes.shape
        if length < self.w:
            return np.zeros(n, bool), np.zeros(n, np.int64), (0.0, -1.0)
        win = _window_counts(codes, self.w)
        spread = (win.max(axis=1) - win.min(axis=1)) / self.w
        bad = spread > self.most + 1e-9
        return bad, bad.astype(np.int64), (0.0, float(spread.max()))

    def explain(self, seq):
        counts = [_gc_of(seq[i:i + self.w]) for i in range(len(seq) - self.w + 1)]
        lo, hi = int(np.argmin(counts)), int(np.argmax(counts))
        return [lo, hi], (f"window GC {counts[lo] / self.w:.2f} at {lo} vs "
                          f"{counts[hi] / self.w:.2f} at {hi}")

    def seen(self, lo, hi):
        return f"largest spread {hi:.2f}" if hi >= 0 else ""


class _Homopolymer(_Rule):
    key = "homopolymer"

    def __init__(self, longest: int) -> None:
        self.longest = longest
        self.description = f"no homopolymer longer than {longest} nt"

    def measure(self, codes):
        n, length = codes.shape
        same = codes[:, 1:] == codes[:, :-1]
        run = np.ones(n, np.int32)
        longest = run.copy()
        over = np.zeros(n, np.int64)
        for j in range(1, length):
            over += ~same[:, j - 1] & (run > self.longest)
            run = np.where(same[:, j - 1], run + 1, 1)
            np.maximum(longest, run, out=longest)
        over += run > self.longest
        top = float(longest.max()) if n else 0.0
        return longest > self.longest, over, (0.0, top)

    def explain(self, seq):
        i = 0
        while i < len(seq):
            j = i
            while j < len(seq) and seq[j] == seq[i]:
                j += 1
            if j - i > self.longest:
                return [i], f"{seq[i]} x {j - i}"
            i = j
        return [], ""

    def seen(self, lo, hi):
        return f"longest run {int(hi)}"


def _kmer_keys(codes: np.ndarray, k: int) -> np.ndarray:
    """(n, L-k+1) uint64 keys of every k-mer: exact for k <= 32, a hash beyond."""
    m = codes.shape[1] - k + 1
    keys = np.zeros((codes.shape[0], m), np.uint64)
    for j in range(k):
        part = codes[:, j:j + m].astype(np.uint64)
        keys = (keys << np.uint64(2)) | part if k <= 32 else keys * _HASH_MUL + part + np.uint64(1)
    return keys


def _first_repeat(seq: str, k: int) -> tuple[int, int] | None:
    seen: dict[str, int] = {}
    for i in range(len(seq) - k + 1):
        kmer = seq[i:i + k]
        if kmer in seen:
            return seen[kmer], i
        seen[kmer] = i
    return None


class _Repeat(_Rule):
    key = "repeat"

    def __init__(self, k: int) -> None:
        self.k = k
        self.description = f"no exact repeat of {k} nt or more within a strand"

    def measure(self, codes):
        n, length = codes.shape
        if length < self.k + 1:
            return np.zeros(n, bool), np.zeros(n, np.int64), (0.0, 0.0)
        keys = np.sort(_kmer_keys(codes, self.k), axis=1)
        dup = (keys[:, 1:] == keys[:, :-1]).sum(axis=1).astype(np.int64)
        bad = dup > 0
        if self.k > 32:  # hashed keys: confirm each flagged strand exactly
            for i in np.flatnonzero(bad):
                seq = "".join("ACGT"[c] for c in codes[i])
                if _first_repeat(seq, self.k) is None:
                    bad[i], dup[i] = False, 0
        return bad, dup, (0.0, 0.0)

    def explain(self, seq):
        found = _first_repeat(seq, self.k)
        if found is None:
            return [], ""
        a, b = found
        return [a, b], f"{seq[a:a + self.k]} at {a} and {b}"


class _Motifs(_Rule):
    key = "motifs"

    def __init__(self, motifs: tuple[str, ...]) -> None:
        self.motifs = motifs
        self.description = "none of " + ", ".join(motifs)

    def measure(self, codes):
        from .constraints import codes_to_strings

        hits = np.zeros(len(codes), np.int64)
        for i, s in enumerate(codes_to_strings(codes)):
            for m in self.motifs:
                at = s.find(m)
                while at != -1:
                    hits[i] += 1
                    at = s.find(m, at + 1)
        return hits > 0, hits, (0.0, 0.0)

    def explain(self, seq):
        hits = sorted((seq.find(m), m) for m in self.motifs if m in seq)
        return ([hits[0][0]], hits[0][1]) if hits else ([], "")


def vendor_rules_list(v: "VendorRules") -> list[_Rule]:
    """The checkable rules of a vendor, in report order."""
    rules: list[_Rule] = []
    if v.min_length is not None or v.max_length is not None:
        rules.append(_Length(v.min_length, v.max_length))
    if v.gc_min is not None:
        rules.append(_StrandGc(v.gc_min, v.gc_max))
    rules += [_WindowGc(w.window, w.gc_min, w.gc_max) for w in v.gc_windows]
    if v.spread_window is not None:
        rules.append(_Spread(v.spread_window, v.spread_max))
    if v.max_homopolymer is not None:
        rules.append(_Homopolymer(v.max_homopolymer))
    if v.repeat_length is not None:
        rules.append(_Repeat(v.repeat_length))
    if v.motifs:
        rules.append(_Motifs(v.motifs))
    return rules


# ---------------------------------------------------------------- the check

def check_vendor(strands: Sequence[str], vendor: "str | Path | VendorRules",
                 names: Sequence[str] | None = None) -> VendorReport:
    """Check ACGT strands (any lengths) against a vendor's rules (a name, a YAML path or
    `VendorRules`); `names` (e.g. FASTA record names) label the example strands."""
    from .vendors import get_vendor

    v = get_vendor(vendor)
    strands = [s.upper() for s in strands]
    rules = vendor_rules_list(v)
    bad = np.zeros((len(rules), len(strands)), bool)
    count = np.zeros((len(rules), len(strands)), np.int64)
    stats = [(float("inf"), float("-inf"))] * len(rules)
    by_len: dict[int, list[int]] = {}
    for i, s in enumerate(strands):
        by_len.setdefault(len(s), []).append(i)
    for rows in by_len.values():
        codes = strings_to_codes(strands[i] for i in rows)
        for r, rule in enumerate(rules):
            b, c, (lo, hi) = rule.measure(codes)
            bad[r, rows], count[r, rows] = b, c
            stats[r] = (min(stats[r][0], lo), max(stats[r][1], hi))
    results = []
    for r, rule in enumerate(rules):
        failing = np.flatnonzero(bad[r])
        examples = []
        for i in failing[:EXAMPLES].tolist():
            positions, detail = rule.explain(strands[i])
            examples.append({"strand": i, "name": names[i] if names else str(i),
                             "positions": positions, "detail": detail})
        seen = rule.seen(*stats[r]) if strands else ""
        results.append(RuleResult(rule.key, rule.description, len(failing),
                                  int(count[r].sum()), seen, examples))
    return VendorReport(v.name, v.provider, v.source, v.date, len(strands), results)


def check_pool_for_vendor(records: Sequence[tuple[str, str]], constraints: Any,
                          vendor: Any) -> tuple[dict[str, Any], "VendorReport"]:
    """`helix dna check --vendor`: the pool's constraint summary (`dna.inspect.check_archive`;
    only the strand counts when no archive header is found, so any pool can be checked) with
    the vendor's report under the key `vendor`, and the report itself."""
    from .inspect import check_archive
    from .vendors import get_vendor

    rules = get_vendor(vendor)  # an unknown vendor fails before any work
    seqs = [s for _, s in records]
    try:
        summary = check_archive(seqs, constraints)
    except HelixError:
        summary = {"strands": len(seqs), "nt_with_primers": sum(map(len, seqs))}
    report = check_vendor(seqs, rules, names=[n for n, _ in records])
    summary["vendor"] = report.to_dict()
    return summary, report
