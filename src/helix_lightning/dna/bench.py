"""Benchmark of DNA codes: densities, share of capacity, constraint violations, speed, round trip.

Terms (as everywhere in this project):
- coding density = payload + index + check bits a code writes into a strand / its non-primer nt;
- net density = source bits / all non-primer nt written (index, checks, redundancy, padding in);
- share of capacity = coding density / capacity of the code's natural constraint set
  (net_share: the same for net density);
- violations = runs over max_run + GC windows out of range + whole strands out of GC range,
  counted on the strands as written, primers included.

Decoding is timed on the strands in a shuffled order (codes must not rely on strand order).
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence, Union

import pandas as pd

from ..errors import HelixError
from .capacity import constraint_capacity
from .codes import DNA_CODES, get_code
from .constraints import check_strands, get_constraints
from .density import net_density
from .primers import DEFAULT_PREFIX, DEFAULT_SUFFIX

DEFAULT_SETS = ("rl3", "fountain", "standard", "strict", "relaxed")


@dataclass
class Arm:
    """One benchmarked coder given as functions (e.g. our FSM coder next to the classic codes).

    `coding_density` is a number or a function returning one; `natural_constraints` names the
    constraint set the coder targets (None: no capacity share); `primer_nt` is the primer
    length per strand that `nt` leaves out.
    """

    encode: Callable[[bytes], list[str]]
    decode: Callable[[list[str]], bytes]
    coding_density: Union[float, Callable[[], float]]
    natural_constraints: str | None = None
    primer_nt: int = len(DEFAULT_PREFIX) + len(DEFAULT_SUFFIX)

    @classmethod
    def of(cls, spec: "Arm | tuple") -> "Arm":
        """An Arm from an Arm or a tuple (encode, decode, coding_density[, natural_constraints])."""
        if isinstance(spec, Arm):
            return spec
        if not isinstance(spec, tuple) or len(spec) not in (3, 4):
            raise HelixError("an extra arm is an Arm or (encode, decode, density[, constraints])")
        return cls(*spec)

    @classmethod
    def from_code(cls, name: str) -> "Arm":
        code = get_code(name)
        return cls(code.encode, code.decode, code.coding_density, code.natural_constraints,
                   code.primer_nt())


def bench_arm(name: str, arm: Arm, data: bytes, constraint_sets: Sequence[str],
              shuffle_seed: int = 0) -> dict:
    """One benchmark row for one coder."""
    t0 = time.perf_counter()
    strands = arm.encode(data)
    t_enc = time.perf_counter() - t0
    shuffled = list(strands)
    random.Random(shuffle_seed).shuffle(shuffled)
    t0 = time.perf_counter()
    try:
        ok = arm.decode(shuffled) == data
    except HelixError:
        ok = False
    t_dec = time.perf_counter() - t0
    nt = sum(map(len, strands)) - arm.primer_nt * len(strands)
    density = arm.coding_density() if callable(arm.coding_density) else float(arm.coding_density)
    cap = constraint_capacity(arm.natural_constraints) if arm.natural_constraints else math.nan
    row = {
        "code": name,
        "natural_constraints": arm.natural_constraints or "",
        "strands": len(strands),
        "nt": nt,
        "coding_density": density,
        "net_density": net_density(8 * len(data), nt, empty=math.nan),
        "capacity": cap,
        "capacity_share": density / cap,
        "net_share": net_density(8 * len(data), nt, empty=math.nan) / cap,
    }
    for cs in constraint_sets:
        row[f"violations_{cs}"] = check_strands(strands, get_constraints(cs)).total
    row["encode_nt_per_s"] = nt / t_enc if t_enc > 0 else math.inf
    row["decode_nt_per_s"] = nt / t_dec if ok and t_dec > 0 else math.nan
    row["roundtrip_ok"] = ok
    return row


def bench_codes(data: bytes, codes: Sequence[str] | None = None,
                constraint_sets: Sequence[str] = DEFAULT_SETS,
                extra_arms: dict[str, Arm | tuple] | None = None) -> pd.DataFrame:
    """One row per code (every registered one by default) plus one per extra arm.

    `extra_arms` maps a row name to an `Arm` or to a tuple (encode, decode, coding_density)
    with an optional 4th item, the natural constraint set's name.
    """
    names = list(DNA_CODES) if codes is None else list(codes)
    arms = {n: Arm.from_code(n) for n in names}
    for n, spec in (extra_arms or {}).items():
        arms[n] = Arm.of(spec)
    rows = [bench_arm(n, arm, data, constraint_sets) for n, arm in arms.items()]
    return pd.DataFrame(rows)


def fsm_arm(name: str) -> Arm:
    """HELIX's own coder (`encode_archive` at the default redundancy, sized for a 7% erasure
    rate) on constraint set `name` as a bench arm; its tables are built here, outside the
    timed encode. Its coding density is the last archive's."""
    from .archive import decode_archive, encode_archive
    from .strands import StrandLayout

    StrandLayout(get_constraints(name))
    holder: dict[str, float] = {}

    def enc(data: bytes) -> list[str]:
        archive = encode_archive(data, name)
        holder["density"] = archive.stats.coding_density
        return archive.strands

    def dec(strands: list[str]) -> bytes:
        return decode_archive(strands, constraints=name)[0]

    return Arm(enc, dec, lambda: holder.get("density", float("nan")), name)


def bench_random(size: int, seed: int = 0, codes: Sequence[str] | None = None,
                 fsm_sets: Sequence[str] = ("standard", "fountain")) -> pd.DataFrame:
    """`bench_codes` on `size` random bytes (seeded), with an FSM arm (`helix-fsm-<set>`)
    per constraint set of `fsm_sets`: what `helix dna bench` prints."""
    data = random.Random(seed).randbytes(size)
    arms = {f"helix-fsm-{n}": fsm_arm(n) for n in fsm_sets}
    return bench_codes(data, codes=codes, extra_arms=arms)


def _fmt(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:.3g}" if abs(value) >= 1e4 else f"{value:.3f}"
    return str(value)


_LABELS = {"natural_constraints": "constraints", "coding_density": "coding b/nt",
           "net_density": "net b/nt", "capacity_share": "share", "net_share": "net share",
           "encode_nt_per_s": "enc nt/s", "decode_nt_per_s": "dec nt/s", "roundtrip_ok": "ok"}


def _label(col: str) -> str:
    return _LABELS.get(col, col.replace("violations_", "viol "))


def print_bench(df: pd.DataFrame, title: str = "DNA codes", console=None,
                transpose: bool | None = None) -> None:
    """Render the benchmark frame as a rich table: one row per code, or, when the console is
    too narrow for that (or transpose=True), one row per metric and one column per code."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    cells = [[_fmt(v.item() if hasattr(v, "item") else v) for v in row]
             for row in df.itertuples(index=False)]
    labels = [_label(c) for c in df.columns]
    if transpose is None:
        widths = [max([len(lab)] + [len(r[i]) for r in cells]) + 3 for i, lab in enumerate(labels)]
        transpose = sum(widths) > console.width
    table = Table(title=title)
    if transpose:
        table.add_column("metric", no_wrap=True)
        for r in cells:
            table.add_column(r[0], justify="right")
        for i, lab in enumerate(labels[1:], start=1):
            table.add_row(lab, *(r[i] for r in cells))
    else:
        for col, lab in zip(df.columns, labels):
            table.add_column(lab, justify="left" if col in ("code", "natural_constraints")
                             else "right")
        for r in cells:
            table.add_row(*r)
    console.print(table)


def write_csv(df: pd.DataFrame, path: str | Path) -> Path:
    """Write the frame as CSV (parent folders created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False)
    return path
