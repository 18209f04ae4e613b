"""A vendor's local rules as a constraint set the FSM coder enforces by construction.

Runs, G+C windows and short motifs are local: the coder's constraint graph can forbid them
(dna/graph.py). The graph holds one G+C window of at most ~20 nt (its state keeps the window's
G+C bits), so a vendor window of another length (Twist's 50 nt, say) is enforced *through* the
coder's window: if every g-nt window has lo..hi G+C, every w-nt window (w = q*g + r) has at
least q*lo + max(0, lo - (g - r)) and at most q*hi + min(r, hi), and the whole strand (a
multiple of g) lo/g..hi/g of its length. The set starts from a base set (`standard`: max_run 3,
G+C 40-60% in every 20-nt window) and is only ever tightened: the tighter of the base and the
vendor wins. Repeats and motifs too long for the graph are checked after encoding.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ..errors import HelixError
from .constraints import CONSTRAINT_CODES, CONSTRAINT_SETS, ConstraintSet, get_constraints
from .graph import MAX_STATES, history_sizes
from .strands import DEFAULT_STRAND_LEN

if TYPE_CHECKING:
    from pathlib import Path

    from .archive import Archive
    from .vendor_check import VendorReport
    from .vendors import VendorRules

DEFAULT_WINDOW = 20  # the coder's window when the base set has none


def implied_window_counts(cs: ConstraintSet, w: int, strand_len: int) -> tuple[int, int]:
    """G+C count bounds every w-nt window of a strand valid under `cs` obeys (sufficient, not
    exact); (0, w) when `cs` says nothing about windows of that length."""
    if not cs.has_gc:
        return 0, w
    if cs.gc_window is None:  # whole-strand range only
        return cs.gc_bounds(strand_len) if w == strand_len else (0, w)
    g = cs.gc_window
    lo, hi = cs.gc_bounds(g)
    if w == strand_len and strand_len % g == 0:
        return lo * (w // g), hi * (w // g)
    q, r = divmod(w, g)
    piece_lo, piece_hi = (max(0, lo - (g - r)), min(r, hi)) if r else (0, 0)
    return q * lo + piece_lo, q * hi + piece_hi


def _gc_rules_hold(cs: ConstraintSet, v: "VendorRules", strand_len: int) -> dict[str, bool]:
    """Which of the vendor's G+C rules every strand valid under `cs` satisfies."""
    out = {}
    if v.gc_min is not None:
        lo, hi = implied_window_counts(cs, strand_len, strand_len)
        out["gc"] = lo >= v.gc_min * strand_len - 1e-9 and hi <= v.gc_max * strand_len + 1e-9
    for rule in v.gc_windows:
        if rule.window > strand_len:
            out[f"gc_window_{rule.window}"] = True  # no such window in the strand
            continue
        lo, hi = implied_window_counts(cs, rule.window, strand_len)
        out[f"gc_window_{rule.window}"] = (lo >= rule.gc_min * rule.window - 1e-9
                                          and hi <= rule.gc_max * rule.window + 1e-9)
    if v.spread_window is not None:
        w = v.spread_window
        lo, hi = implied_window_counts(cs, w, strand_len) if w <= strand_len else (0, 0)
        out["gc_window_spread"] = hi - lo <= v.spread_max * w + 1e-9
    return out


def _with_gc(cs: ConstraintSet, g: int, lo: int, hi: int) -> ConstraintSet:
    return ConstraintSet(cs.name, cs.max_run, g, lo / g, hi / g, cs.motifs)


def _tighten_gc(cs: ConstraintSet, v: "VendorRules", strand_len: int) -> ConstraintSet:
    """`cs`, or `cs` with a G+C window range inside its own that implies every G+C rule of the
    vendor (the one nearest to 50% G+C, then the widest); unchanged when no range does (the
    rules then stay checked only)."""
    if all(_gc_rules_hold(cs, v, strand_len).values()):
        return cs
    g = cs.gc_window if (cs.gc_window and cs.has_gc) else DEFAULT_WINDOW
    if strand_len % g:
        return cs
    base_lo, base_hi = cs.gc_bounds(g) if cs.gc_window else (0, g)
    best = None
    for lo in range(base_lo, base_hi + 1):
        for hi in range(lo, base_hi + 1):
            cand = _with_gc(cs, g, lo, hi)
            if cs.has_gc and not cs.gc_window:  # keep the base's whole-strand range too
                s_lo, s_hi = cs.gc_bounds(strand_len)
                if lo * strand_len // g < s_lo or hi * strand_len // g > s_hi:
                    continue
            if all(_gc_rules_hold(cand, v, strand_len).values()):
                score = (-abs(lo + hi - g), hi - lo)  # centred on 50% first, then widest
                if best is None or score > best[0]:
                    best = (score, cand)
    return best[1] if best else cs


def _fits_graph(cs: ConstraintSet) -> bool:
    h, L = history_sizes(cs)
    return 1 << (L + h) <= MAX_STATES


def _add_motifs(cs: ConstraintSet, motifs: tuple[str, ...]) -> ConstraintSet:
    """`cs` with each vendor motif it does not exclude already, as long as the graph fits."""
    kept = list(cs.motifs)
    for m in sorted(motifs, key=len):
        if any(c * (cs.max_run + 1) in m for c in "ACGT") or any(k in m for k in kept):
            continue  # already impossible
        cand = ConstraintSet(cs.name, cs.max_run, cs.gc_window, cs.gc_min, cs.gc_max,
                             tuple(kept + [m]))
        if _fits_graph(cand):
            kept.append(m)
    return ConstraintSet(cs.name, cs.max_run, cs.gc_window, cs.gc_min, cs.gc_max, tuple(kept))


def _registered_twin(cs: ConstraintSet) -> ConstraintSet | None:
    """The registered set (with a format code) that has exactly this definition, if any."""
    spec = {k: v for k, v in cs.to_dict().items() if k != "name"}
    for name in CONSTRAINT_CODES:
        reg = CONSTRAINT_SETS[name]()
        if {k: v for k, v in reg.to_dict().items() if k != "name"} == spec:
            return reg
    return None


def vendor_constraints(vendor: "str | Path | VendorRules", base: str | ConstraintSet = "standard",
                       strand_len: int = DEFAULT_STRAND_LEN) -> ConstraintSet:
    """The constraint set that writes strands satisfying the vendor's local rules by
    construction: `base` tightened where the vendor is stricter (runs, G+C windows, the G+C
    spread, the whole-strand G+C range, motifs that fit the graph). A registered set when the
    result is one (e.g. `standard` for Twist), else a custom set named base+vendor."""
    from .vendors import get_vendor

    v = get_vendor(vendor)
    cs = get_constraints(base)
    if v.max_homopolymer is not None and v.max_homopolymer < cs.max_run:
        cs = ConstraintSet(cs.name, v.max_homopolymer, cs.gc_window, cs.gc_min, cs.gc_max,
                           cs.motifs)
    cs = _add_motifs(_tighten_gc(cs, v, strand_len), v.motifs)
    if cs == get_constraints(base):
        return cs
    twin = _registered_twin(cs)
    if twin is not None:
        return twin
    return ConstraintSet(f"{get_constraints(base).name}+{v.name}", cs.max_run, cs.gc_window,
                         cs.gc_min, cs.gc_max, cs.motifs)


def rule_coverage(vendor: "str | Path | VendorRules", cs: ConstraintSet,
                  strand_len: int = DEFAULT_STRAND_LEN) -> dict[str, str]:
    """For each vendor rule: how strands encoded under `cs` at `strand_len` meet it
    ("by construction ..." or "checked after encoding ...")."""
    from .vendors import get_vendor

    v = get_vendor(vendor)
    out: dict[str, str] = {}
    if v.min_length is not None or v.max_length is not None:
        ok = (v.min_length or 0) <= strand_len <= (v.max_length or math.inf)
        out["strand_length"] = (f"by construction ({strand_len} nt)" if ok else
                                f"FAILS: {strand_len} nt is outside the vendor's bounds")
    for key, holds in _gc_rules_hold(cs, v, strand_len).items():
        out[key] = ("by construction (implied by the coder's G+C window)" if holds else
                    "checked after encoding (not implied by the coder's set)")
    if v.max_homopolymer is not None:
        out["homopolymer"] = ("by construction (coder max_run "
                              f"{cs.max_run})" if cs.max_run <= v.max_homopolymer else
                              "checked after encoding")
    if v.repeat_length is not None:
        out["repeat"] = "checked after encoding (not a local rule)"
    if v.motifs:
        missing = [m for m in v.motifs if not any(k in m for k in cs.motifs)
                   and not any(c * (cs.max_run + 1) in m for c in "ACGT")]
        out["motifs"] = ("by construction" if not missing else
                         f"checked after encoding for {', '.join(missing)} (too long for the "
                         "coder's graph)")
    return out


def check_strand_length(vendor: "str | Path | VendorRules", strand_len: int) -> None:
    """Refuse, before any work, a strand length the vendor does not synthesise."""
    from .vendors import get_vendor

    v = get_vendor(vendor)
    if v.min_length is not None and strand_len < v.min_length or \
            v.max_length is not None and strand_len > v.max_length:
        raise HelixError(f"strand length {strand_len} nt is outside {v.name}'s "
                         f"{v.min_length or 1}-{v.max_length or 'any'} nt")


def encode_for_vendor(data: bytes, vendor: "str | Path | VendorRules",
                      constraints: str | ConstraintSet = "standard", *,
                      strand_len: int = DEFAULT_STRAND_LEN, **encode_kw
                      ) -> tuple["Archive", "VendorReport"]:
    """Encode under `vendor_constraints(vendor, constraints)` and check the strands against
    every vendor rule (the non-local ones are only checked). `encode_kw` go to
    `encode_archive` (redundancy, erasure_rate, prefix, suffix, progress)."""
    from .archive import encode_archive
    from .vendor_check import check_vendor
    from .vendors import get_vendor

    v = get_vendor(vendor)
    check_strand_length(v, strand_len)
    cs = vendor_constraints(v, constraints, strand_len)
    archive = encode_archive(data, cs, strand_len=strand_len, **encode_kw)
    records = archive.fasta_records()
    report = check_vendor([s for _, s in records], v, names=[n for n, _ in records])
    return archive, report
