"""FASTA record names of HELIX strands: `helix:v<version>:<set>:<serial>`.

Every strand file the package writes names its records this way, so a reader can tell the
constraint set (and the coder) from a record name alone: `helix:` for strands of the FSM
coder (`helix dna encode`, `helix encode --coder fsm`), `helix-direct:` for the direct
mapping of video tokens (`helix encode --coder direct`). `<version>` is the archive header's
format version for byte archives and 1 for video archives; `<serial>` counts from 0, 7 digits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

CODER_TAGS = {"fsm": "helix", "direct": "helix-direct"}
VIDEO_RECORD_VERSION = 1  # the version field of video archives' record names


class RecordName(NamedTuple):
    coder: str
    version: int
    constraints: str
    serial: int


def record_name(constraints: str, serial: int, version: int = 1, coder: str = "fsm") -> str:
    """The record name of strand number `serial` of an archive under set `constraints`."""
    return f"{CODER_TAGS[coder]}:v{version}:{constraints}:{serial:07d}"


def fasta_records(strands: Sequence[str], constraints: str, version: int = 1,
                  coder: str = "fsm") -> list[tuple[str, str]]:
    """(record name, strand) pairs for `write_fasta`, numbered in order."""
    return [(record_name(constraints, i, version, coder), s) for i, s in enumerate(strands)]


def parse_record_name(name: str) -> RecordName | None:
    """The parts of a HELIX record name; None for any other name."""
    parts = name.split(":")
    coder = {tag: c for c, tag in CODER_TAGS.items()}.get(parts[0])
    if (coder is None or len(parts) != 4 or not parts[1].startswith("v")
            or not parts[1][1:].isdigit() or not parts[3].isdigit()):
        return None
    return RecordName(coder, int(parts[1][1:]), parts[2], int(parts[3]))
