"""Decode candidates read back from a FASTA/FASTQ input, list decoding included: the header
is found first, then the read clusters that gave no valid strand are list-decoded under the
archive's own check (`list_decode.rescue`), then the archive is decoded.

Strands as written (no read clusters) decode exactly as `archive.decode_archive` does. When
no header turns up among reads' candidates, the clusters are voted again at the strand
lengths next to the voted one (deletion-heavy reads can make the vote a base short).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from ..errors import HelixError
from .archive import DecodeReport, Progress, decode_found, find_header
from .constraints import ConstraintSet
from .pool import FoundHeader, MixedPool
from .primers import DEFAULT_PREFIX, DEFAULT_SUFFIX
from .reads import LENGTH_TRIES, LoadedStrands, revoted, with_rescued
from .verifier import archive_verifier


def decode_loaded(loaded: LoadedStrands, constraints: str | ConstraintSet | None = None, *,
                  prefix: str = DEFAULT_PREFIX, suffix: str = DEFAULT_SUFFIX,
                  progress: Progress | None = None, archive_id: int | str | None = None
                  ) -> tuple[bytes, DecodeReport, LoadedStrands]:
    """The file of the archive (`archive_id` in a pool of several), its decode report, and
    the candidates it was decoded from (`loaded` plus what list decoding added)."""
    try:
        found = find_header(loaded.strands, constraints, prefix, suffix, archive_id=archive_id)
    except MixedPool:
        raise
    except HelixError:  # no header: the voted strand length may be a base off
        loaded, found = _other_length(loaded, constraints, prefix, suffix, archive_id)
    more = with_rescued(loaded, archive_verifier(found), prefix, suffix)
    if more.rescued > loaded.rescued:
        found = extended(found, more.strands[len(loaded.strands):], len(loaded.strands))
    data, report = decode_found(found, len(more.strands), more.support, more.variants, progress)
    return data, report, more


def _other_length(loaded: LoadedStrands, constraints: str | ConstraintSet | None,
                  prefix: str, suffix: str, archive_id: int | str | None
                  ) -> tuple[LoadedStrands, FoundHeader]:
    """The read clusters voted at the lengths next to the voted one, until a header is found
    (HelixError of the voted length if none is)."""
    first: HelixError | None = None
    for step in (0,) + LENGTH_TRIES[1:]:
        again = revoted(loaded, loaded.strand_len + step, prefix, suffix) if step else loaded
        if not again.strands:
            continue
        try:
            return again, find_header(again.strands, constraints, prefix, suffix,
                                      archive_id=archive_id)
        except MixedPool:
            raise
        except HelixError as exc:
            first = first or exc
    raise first or HelixError("no header found")


def extended(found: FoundHeader, strands: list[str], first_row: int) -> FoundHeader:
    """`found` with more strands (rows first_row, first_row + 1, ...) read under its layout."""
    bits, ok = found.layout.read_bits(strands)
    header = found.header
    idx, payload, valid = found.layout.parse_data_bits(bits, header.index_bits,
                                                       header.symbol_size, found.archive_id)
    old: Any = found.data
    rows = np.arange(first_row, first_row + len(strands))
    return replace(found, bits=np.concatenate([found.bits, bits]),
                   ok=np.concatenate([found.ok, ok]),
                   rows=np.concatenate([found.rows, rows]),
                   data=(np.concatenate([old[0], idx]), np.concatenate([old[1], payload]),
                         np.concatenate([old[2], valid & ok])))
