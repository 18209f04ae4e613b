"""Does a candidate strand read as one of this archive's data strands? The judge of list
decoding (`list_decode.rescue`), built from the archive's geometry.

A candidate passes when it has the strand length, lies on the FSM code's image (so obeys the
constraint set), its check bits match its index and payload (keyed by the archive ID), and its
index names a strand the archive wrote.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import numpy as np

from .strands import StrandLayout

if TYPE_CHECKING:
    from .pool import FoundHeader

Verify = Callable[[list[str]], np.ndarray]


def data_verifier(layout: StrandLayout, index_bits: int, symbol_size: int,
                  archive_id: int | None, strands_written: int) -> Verify:
    """verify(strands) -> (n,) bool: which are valid data strands of this geometry."""

    def verify(strands: list[str]) -> np.ndarray:
        if not strands:
            return np.zeros(0, dtype=bool)
        bits, ok = layout.read_bits(strands)
        idx, _, valid = layout.parse_data_bits(bits, index_bits, symbol_size, archive_id)
        return ok & valid & (idx < strands_written)

    return verify


def archive_verifier(found: "FoundHeader") -> Verify:
    """The verifier of the archive a `pool.FoundHeader` describes."""
    header = found.header
    return data_verifier(found.layout, header.index_bits, header.symbol_size,
                         found.archive_id, header.strands_written())
