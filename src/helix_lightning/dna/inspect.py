"""Looking at constraint sets and archives without decoding them: what `helix dna capacity`
and `helix dna check` print, as functions a Python user can call.

- `constraints_with_overrides(name, overrides)`: a named (or YAML) set with some fields changed
  (the CLI's `--max-run`, `--gc-window`, ... flags); encode and decode build it the same way.
- `capacity_report(cs, length)`: the set's capacity with its bounds and, for a strand length,
  log2 of the exact count of valid strands between the default primers.
- `check_archive(strands, constraints)`: violations of the strands, and the densities the
  archive header implies (docs/DESIGN.md, "Definitions"); per archive in a mixed pool.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import HelixError
from .capacity import constraint_capacity, log2_count, stationary
from .constraints import (DEFAULT_CONSTRAINTS, ConstraintSet, check_strands,
                          constraints_from_dict, encode_bases, get_constraints)
from .density import coding_density, net_density
from .graph import build_graph
from .pool import format_id
from .primers import DEFAULT_PREFIX, DEFAULT_SUFFIX

OVERRIDABLE = ("max_run", "gc_window", "gc_min", "gc_max", "motifs")


def constraints_with_overrides(name: str | None, overrides: Mapping[str, Any]
                               ) -> ConstraintSet | None:
    """The set `name` (default `DEFAULT_CONSTRAINTS` when only overrides are given) with the
    given fields replaced, named "custom"; None when neither is given. Unset (None) overrides
    are ignored."""
    changed = {k: v for k, v in overrides.items() if v is not None and v != []}
    unknown = sorted(set(changed) - set(OVERRIDABLE))
    if unknown:
        raise HelixError(f"cannot override constraint field(s) {', '.join(unknown)}")
    if name is None and not changed:
        return None
    base = get_constraints(name or DEFAULT_CONSTRAINTS)  # the same base at encode and decode
    if not changed:
        return base
    spec = base.to_dict()
    spec.update(changed)
    spec["name"] = "custom"
    return constraints_from_dict(spec)


def _log2(x: float) -> float:
    return math.log2(x) if x > 0 else 0.0


def capacity_report(cs: ConstraintSet, length: int | None = None) -> dict[str, Any]:
    """Capacity (bits/nt, rounded to 6 places) of `cs` and its eigenvalue bounds; with
    `length`, the exact count of valid `length`-nt strands between the default primers
    (`log2_count`, `strand_capacity` = it / length). Also the seconds it took."""
    t0 = time.time()
    st = stationary(build_graph(cs))
    result: dict[str, Any] = {
        "constraints": cs.name, "definition": cs.describe(),
        "capacity": round(constraint_capacity(cs), 6),
        "capacity_bounds": [round(_log2(st.lam_lo), 6), round(_log2(st.lam_hi), 6)]}
    if length is not None:
        if length < 1:
            raise HelixError("--length must be positive")
        total = length + len(DEFAULT_PREFIX) + len(DEFAULT_SUFFIX)
        g = build_graph(cs, total if (cs.has_gc and not cs.gc_window) else None)
        start = g.state_after(encode_bases(DEFAULT_PREFIX))
        term = g.terminal_mask(encode_bases(DEFAULT_SUFFIX), total)
        count = log2_count(g, start, term, length)
        result.update({"length": length, "log2_count": round(count, 4),
                       "strand_capacity": round(count / length, 6),
                       "primers": [DEFAULT_PREFIX, DEFAULT_SUFFIX]})
    result["seconds"] = round(time.time() - t0, 2)
    return result


def check_archive(strands: Sequence[str], constraints: str | ConstraintSet | None = None
                  ) -> dict[str, Any]:
    """Violations of `strands` under their archive's constraint set (found from the header
    strands, or `constraints` when no header is found) and, with a header, the archive's nt,
    coding and net density (rounded to 4 places). `violations` == 0 means the strands are
    valid. A pool of several archives gets one such summary per archive, over that archive's
    own strands (`archives`), and the total of their violations."""
    from .pool import find_archives

    seqs = list(strands)
    try:
        found = [a for a in find_archives(seqs, constraints) if a.found is not None]
    except HelixError:
        found = []
    if not found and constraints is None:
        raise HelixError("no archive header found and no --constraints given")
    if len(found) < 2:
        return _summary(seqs, found[0].found.cs if found else get_constraints(constraints),
                        found[0].found.header if found else None)
    archives = []
    for a in found:
        own = sorted(set(a.header_rows) | set(a.found.rows[a.found.data[2]].tolist()))
        archives.append({"archive_id": format_id(a.archive_id),
                         **_summary([seqs[i] for i in own], a.found.cs, a.found.header)})
    return {"strands": len(seqs), "nt_with_primers": sum(map(len, seqs)),
            "archives": archives, "unassigned_strands": len(seqs) - sum(
                x["strands"] for x in archives),
            "violations": sum(x["violations"] for x in archives)}


def _summary(seqs: list[str], cs: ConstraintSet, header: Any) -> dict[str, Any]:
    """`check_archive`'s summary of one archive's strands under its set (densities only
    with its header)."""
    summary: dict[str, Any] = {"strands": len(seqs), "nt_with_primers": sum(map(len, seqs))}
    rep = check_strands(seqs, cs)
    summary.update({
        "constraints": cs.name, "max_run": rep.max_run, "run_violations": rep.run_violations,
        "gc_window_violations": rep.window_violations,
        "strand_gc_violations": rep.strand_gc_violations,
        "motif_violations": rep.motif_violations, "violations": rep.total,
        "gc_range": [round(rep.gc_min_seen, 4), round(rep.gc_max_seen, 4)],
    })
    if header is not None:
        h = header
        coded = h.strand_len - h.prefix_len - h.suffix_len
        nt = len(seqs) * coded
        source_bits = 8 * h.file_size
        summary.update({
            "nt": nt, "file_bytes": h.file_size, "bits_per_strand": h.bits_per_strand,
            "coding_density": round(coding_density(h.bits_per_strand, coded), 4),
            "net_density": round(net_density(source_bits, nt, empty=0.0), 4),
            "net_density_with_primers": round(net_density(source_bits,
                                                          summary["nt_with_primers"]), 4),
        })
    return summary
