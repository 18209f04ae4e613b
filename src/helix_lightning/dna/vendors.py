"""Synthesis providers' published sequence rules, kept as YAML files with their source and date.

A vendor file (`dna/vendor_rules/NAME.yaml`, or any YAML file given by path) names the
provider, where its rules are published and when, and the rules: strand length bounds, an
overall G+C range, G+C ranges over sliding windows, a largest G+C spread between windows, the
longest homopolymer, the shortest exact repeat that is refused within a strand, and forbidden
motifs. `check_vendor` (dna/vendor_check.py) checks a pool against them; `vendor_constraints`
(dna/vendor_coding.py) turns the local ones into a constraint set the FSM coder enforces by
construction. docs/VENDORS.md lists the shipped files and which rule is enforced how.

`python -m helix_lightning.dna.vendors check POOL.fasta --vendor NAME` prints the report.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from ..errors import HelixError

VENDOR_DIR = Path(__file__).resolve().parent / "vendor_rules"
TOP_KEYS = {"name", "provider", "product", "source", "date", "note", "rules"}
REQUIRED_KEYS = {"name", "provider", "source", "date", "rules"}
RULE_KEYS = {"strand_length", "gc", "gc_windows", "gc_window_spread", "max_homopolymer",
             "repeat_length", "motifs"}


@dataclass(frozen=True)
class GcWindowRule:
    """Every window of `window` consecutive bases has a G+C fraction in [gc_min, gc_max]."""

    window: int
    gc_min: float
    gc_max: float


@dataclass(frozen=True)
class VendorRules:
    """One provider's synthesis rules (None or empty: the provider states no such rule)."""

    name: str
    provider: str
    source: str
    date: str
    product: str = ""
    note: str = ""
    min_length: int | None = None
    max_length: int | None = None
    gc_min: float | None = None  # whole strand
    gc_max: float | None = None
    gc_windows: tuple[GcWindowRule, ...] = ()
    spread_window: int | None = None  # largest G+C difference between any two windows
    spread_max: float | None = None
    max_homopolymer: int | None = None
    repeat_length: int | None = None  # refuse an exact repeat of this many nt or more
    motifs: tuple[str, ...] = ()
    path: str = field(default="", compare=False)

    def describe(self) -> str:
        return f"{self.name}: {self.provider}" + (f", {self.product}" if self.product else "")


# ---------------------------------------------------------------- parsing and validation

def _fraction(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise HelixError(f"{where} must be a number, got {value!r}")
    if not 0.0 <= value <= 1.0:
        raise HelixError(f"{where} must be a fraction in [0, 1] (write 0.25 for 25%), "
                         f"got {value!r}")
    return float(value)


def _positive_int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise HelixError(f"{where} must be a whole number >= 1, got {value!r}")
    return value


def _mapping(value: Any, where: str, allowed: set[str], required: set[str]) -> dict:
    if not isinstance(value, dict):
        raise HelixError(f"{where} must be a mapping with keys {sorted(allowed)}")
    unknown = set(map(str, value)) - allowed
    if unknown:
        raise HelixError(f"{where}: unknown keys {sorted(unknown)} (allowed: {sorted(allowed)})")
    missing = required - set(value)
    if missing:
        raise HelixError(f"{where}: missing keys {sorted(missing)}")
    return value


def _range(value: Any, where: str) -> tuple[float, float]:
    d = _mapping(value, where, {"min", "max"}, {"min", "max"})
    lo, hi = _fraction(d["min"], f"{where}.min"), _fraction(d["max"], f"{where}.max")
    if lo > hi:
        raise HelixError(f"{where}: min {lo} is above max {hi}")
    return lo, hi


def _text(value: Any, where: str) -> str:
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    if not isinstance(value, (str, int)) or not str(value).strip():
        raise HelixError(f"{where} must be non-empty text, got {value!r}")
    return " ".join(str(value).split())


def _parse_rules(rules: Any, where: str) -> dict:
    d = _mapping(rules, where, RULE_KEYS, set())
    if not d:
        raise HelixError(f"{where}: no rules given")
    out: dict = {}
    if "strand_length" in d:
        sl = _mapping(d["strand_length"], f"{where}.strand_length", {"min", "max"}, set())
        out["min_length"] = _positive_int(sl["min"], f"{where}.strand_length.min") \
            if "min" in sl else None
        out["max_length"] = _positive_int(sl["max"], f"{where}.strand_length.max") \
            if "max" in sl else None
        if None not in (out["min_length"], out["max_length"]) and \
                out["min_length"] > out["max_length"]:
            raise HelixError(f"{where}.strand_length: min is above max")
    if "gc" in d:
        out["gc_min"], out["gc_max"] = _range(d["gc"], f"{where}.gc")
    if "gc_windows" in d:
        if not isinstance(d["gc_windows"], list):
            raise HelixError(f"{where}.gc_windows must be a list of {{window, min, max}}")
        windows = []
        for i, w in enumerate(d["gc_windows"]):
            at = f"{where}.gc_windows[{i}]"
            _mapping(w, at, {"window", "min", "max"}, {"window", "min", "max"})
            lo, hi = _range({"min": w["min"], "max": w["max"]}, at)
            windows.append(GcWindowRule(_positive_int(w["window"], f"{at}.window"), lo, hi))
        out["gc_windows"] = tuple(windows)
    if "gc_window_spread" in d:
        at = f"{where}.gc_window_spread"
        sp = _mapping(d["gc_window_spread"], at, {"window", "max"}, {"window", "max"})
        out["spread_window"] = _positive_int(sp["window"], f"{at}.window")
        out["spread_max"] = _fraction(sp["max"], f"{at}.max")
    if "max_homopolymer" in d:
        out["max_homopolymer"] = _positive_int(d["max_homopolymer"], f"{where}.max_homopolymer")
    if "repeat_length" in d:
        out["repeat_length"] = _positive_int(d["repeat_length"], f"{where}.repeat_length")
        if out["repeat_length"] < 4:
            raise HelixError(f"{where}.repeat_length must be >= 4 (shorter repeats are in "
                             "every strand)")
    if "motifs" in d:
        motifs = d["motifs"] or []
        if not isinstance(motifs, list):
            raise HelixError(f"{where}.motifs must be a list of ACGT strings")
        clean = tuple(str(m).upper() for m in motifs)
        for m in clean:
            if not m or set(m) - set("ACGT"):
                raise HelixError(f"{where}.motifs: {m!r} is not an ACGT string")
        out["motifs"] = clean
    return out


def vendor_from_dict(data: Any, where: str = "vendor rules") -> VendorRules:
    """A validated `VendorRules` from a parsed YAML mapping; any defect is one HelixError line."""
    d = _mapping(data, where, TOP_KEYS, REQUIRED_KEYS)
    name = _text(d["name"], f"{where}: name")
    if set(name) - set("abcdefghijklmnopqrstuvwxyz0123456789-_"):
        raise HelixError(f"{where}: name {name!r} must be lowercase letters, digits, - or _")
    return VendorRules(
        name=name,
        provider=_text(d["provider"], f"{where}: provider"),
        source=_text(d["source"], f"{where}: source"),
        date=_text(d["date"], f"{where}: date"),
        product=_text(d["product"], f"{where}: product") if "product" in d else "",
        note=_text(d["note"], f"{where}: note") if "note" in d else "",
        **_parse_rules(d["rules"], f"{where}: rules"),
    )


def vendor_from_yaml(path: str | Path) -> VendorRules:
    import yaml

    path = Path(path)
    if not path.is_file():
        raise HelixError(f"vendor rules file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise HelixError(f"{path}: not valid YAML ({exc.__class__.__name__})") from None
    rules = vendor_from_dict(data, str(path))
    return VendorRules(**{**rules.__dict__, "path": str(path)})


# ---------------------------------------------------------------- the registry

def vendor_names() -> list[str]:
    """Names of the vendor rule files shipped with the package."""
    return sorted(p.stem for p in VENDOR_DIR.glob("*.yaml"))


def get_vendor(name_or_path: str | Path | VendorRules) -> VendorRules:
    """A shipped vendor by name, or a vendor rules YAML file by path."""
    if isinstance(name_or_path, VendorRules):
        return name_or_path
    text = str(name_or_path)
    if text in vendor_names():
        return vendor_from_yaml(VENDOR_DIR / f"{text}.yaml")
    if Path(text).suffix in (".yaml", ".yml"):
        return vendor_from_yaml(text)
    raise HelixError(f"unknown vendor {text!r} (known: {', '.join(vendor_names())}, "
                     "or a .yaml file)")


# the checker and the coder live in their own modules; they are importable from here too
_LAZY = {"check_vendor": "vendor_check", "VendorReport": "vendor_check",
         "RuleResult": "vendor_check", "vendor_constraints": "vendor_coding",
         "rule_coverage": "vendor_coding", "encode_for_vendor": "vendor_coding",
         "check_strand_length": "vendor_coding"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__package__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ---------------------------------------------------------------- python -m ... vendors

def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m helix_lightning.dna.vendors",
        description="Synthesis providers' rules: list them, show one, check a pool against one.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("list", help="the shipped vendors, their sources and dates")
    s = sub.add_parser("show", help="one vendor's rules and how an encode enforces each")
    s.add_argument("vendor", metavar="NAME|FILE.yaml")
    s.add_argument("--strand-length", type=int, default=200, help="nt per strand incl. primers")
    c = sub.add_parser("check", help="check a FASTA/FASTQ pool; exit status 1 if a rule fails",
                       description="Check every strand of a pool against a vendor's rules and "
                       "print what fails. Exit 0: all rules pass; 1: a rule fails; 2: bad input.")
    c.add_argument("input", help="FASTA or FASTQ of strands")
    c.add_argument("--vendor", required=True, metavar="NAME|FILE.yaml",
                   help="a shipped vendor (see `list`) or a vendor rules YAML file")
    c.add_argument("--json", action="store_true", help="print the report as JSON")
    return p


def _run(args: argparse.Namespace) -> int:
    if args.command == "list":
        for name in vendor_names():
            v = get_vendor(name)
            print(f"{name:10s} {v.provider}, {v.product} (as published {v.date})")
        return 0
    vendor = get_vendor(args.vendor)
    if args.command == "show":
        from .vendor_coding import rule_coverage, vendor_constraints

        cs = vendor_constraints(vendor, strand_len=args.strand_length)
        print(vendor.describe())
        print(f"source: {vendor.source} (as published {vendor.date})")
        print(f"constraint set for encoding: {cs.describe()}")
        for rule, how in rule_coverage(vendor, cs, args.strand_length).items():
            print(f"  {rule:18s} {how}")
        return 0
    from .fasta import read_sequences
    from .vendor_check import check_vendor

    records = read_sequences(args.input)
    report = check_vendor([s for _, s in records], vendor, names=[n for n, _ in records])
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print("\n".join(report.lines()))
    return 0 if report.passed else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except HelixError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # run the imported module's main, so its classes are the library's
    from helix_lightning.dna.vendors import main as _main

    sys.exit(_main())
