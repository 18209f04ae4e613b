"""Every DNA code of the DNA layer as one interface: bytes -> strands -> bytes, with the counts.

Names (the `dna_code` column of the RD benchmark):
- `fsm:<set>` for each constraint set registered with a format code (`rl3`, `fountain`,
  `standard`, `strict`, `relaxed`, `rl2` today): HELIX's own path, `encode_archive` (strand layout
  with index and check, RaptorQ outer code at the default redundancy, header strands) and
  `decode_archive`. `fsm:standard` is what HELIX's video archives use.
- the classic codes of `dna.codes.DNA_CODES` (`church`, `goldman`, `fountain` = DNA
  Fountain, `yinyang`) as `helix dna bench` runs them: each with its own index, checks and
  redundancy (only DNA Fountain has an outer code of its own), the same primers.

`DnaResult` carries the counts docs/DESIGN.md defines: nt (primers excluded) and nt_with_primers,
coding density, net density (source bits / nt), and violations counted on the strands as
written against the code's own constraint set (`violations`) and against `standard`.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from ..dna.archive import decode_archive, encode_archive
from ..dna.codes import DNA_CODES, get_code
from ..dna.constraints import check_strands, coded_names, get_constraints
from ..dna.density import net_density
from ..errors import HelixError

#: the DNA code of the RD curves (HELIX's own)
DEFAULT_DNA_CODE = "fsm:standard"


def dna_code_names() -> list[str]:
    """Every DNA code: the FSM coder on each coded constraint set, then the classic codes."""
    return [f"fsm:{cs}" for cs in coded_names()] + list(DNA_CODES)


def check_dna_codes(names: list[str]) -> list[str]:
    known = dna_code_names()
    bad = [n for n in names if n not in known]
    if bad:
        raise HelixError(f"unknown DNA code {bad[0]!r} (known: {', '.join(known)})")
    return names


@dataclass
class DnaResult:
    dna_code: str
    constraints: str          # the set the code targets (violations are counted against it)
    strands: int
    nt: int                   # all nt written, primers excluded
    nt_with_primers: int
    source_bits: int
    coding_density: float
    net_density: float
    violations: int
    violations_standard: int
    redundancy: float         # outer-code parity / data strands (NaN where not defined)
    encode_s: float
    decode_s: float
    roundtrip_ok: bool


def run_dna(data: bytes, name: str, shuffle_seed: int = 0) -> tuple[DnaResult, bytes]:
    """Encode `data` with DNA code `name`, decode the strands (shuffled) back: (result, bytes
    decoded). Raises HelixError if the decoded bytes differ or a density is impossible."""
    check_dna_codes([name])
    t0 = time.perf_counter()
    if name.startswith("fsm:"):
        cs_name = name.split(":", 1)[1]
        arch = encode_archive(data, cs_name)
        strands = arch.strands
        t_enc = time.perf_counter() - t0
        nt, nt_p = arch.stats.nt, arch.stats.nt_with_primers
        coding, redundancy = float(arch.stats.coding_density), float(arch.stats.redundancy)

        def decode(s):
            return decode_archive(s, constraints=cs_name)[0]
    else:
        code = get_code(name)
        cs_name = code.natural_constraints
        strands = code.encode(data)
        t_enc = time.perf_counter() - t0
        nt_p = sum(map(len, strands))
        nt = nt_p - code.primer_nt() * len(strands)
        coding, redundancy = float(code.coding_density()), float("nan")
        decode = code.decode
    shuffled = list(strands)
    random.Random(shuffle_seed).shuffle(shuffled)
    t0 = time.perf_counter()
    back = decode(shuffled)
    t_dec = time.perf_counter() - t0
    ok = back == data
    if not ok:
        raise HelixError(f"{name}: the strands decode to different bytes")
    cs = get_constraints(cs_name)
    result = DnaResult(
        dna_code=name, constraints=cs_name, strands=len(strands), nt=nt, nt_with_primers=nt_p,
        source_bits=8 * len(data), coding_density=coding,
        net_density=net_density(8 * len(data), nt, empty=0.0),
        violations=check_strands(strands, cs).total,
        violations_standard=(check_strands(strands, get_constraints("standard")).total
                             if cs_name != "standard" else None),
        redundancy=redundancy, encode_s=t_enc, decode_s=t_dec, roundtrip_ok=ok)
    if result.violations_standard is None:
        result.violations_standard = result.violations
    check_densities(result.net_density, result.coding_density, name)
    return result, back


def check_densities(net: float, coding: float, what: str) -> None:
    """Physically possible densities: net <= coding <= 2 bits/nt (a bug otherwise)."""
    assert 0 <= net <= coding + 1e-12 <= 2 + 1e-12, \
        f"{what}: impossible densities (net {net:.4f}, coding {coding:.4f} bits/nt)"
