"""Forged inputs for the hostile-input tests: containers and archive headers with chosen
fields overwritten, built from the committed fixtures (no model needed to forge)."""

from __future__ import annotations

import dataclasses
import resource
import time
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from helix_lightning.dna.archive import HEADER_COPIES, decode_archive, find_header
from helix_lightning.dna.fasta import read_sequences
from helix_lightning.model import container

FIXTURES = Path(__file__).resolve().parent / "fixtures"

#: Container header fields (version 2) in struct order.
CONTAINER_FIELDS = ("magic", "version", "model_hash", "frames", "height", "width", "h", "w",
                    "hp", "wp", "channels", "levels", "stages", "drop", "group", "coder",
                    "precision", "n_streams", "coded_height", "coded_width")
#: Largest value of each numeric container field (its struct format).
CONTAINER_MAX = dict(zip(CONTAINER_FIELDS[3:], (2**32 - 1, *[2**16 - 1] * 6, 255, 255, 255,
                                               float("inf"), 2**32 - 1, 255, 255, 2**32 - 1,
                                               2**16 - 1, 2**16 - 1)))
#: Numeric archive header fields and their largest values.
HEADER_MAX = {"strand_len": 2**16 - 1, "prefix_len": 255, "suffix_len": 255,
              "bits_per_strand": 2**16 - 1, "index_bits": 255, "symbol_size": 255,
              "file_size": 2**64 - 1, "segment_symbols": 2**32 - 1, "repair_full": 2**32 - 1,
              "repair_last": 2**32 - 1}


def strands_of(name: str) -> list[str]:
    return [s for _, s in read_sequences(FIXTURES / name)]


@lru_cache(maxsize=None)
def video_container(name: str = "video_mid") -> bytes:
    """The container bytes inside a video fixture's archive."""
    data, _ = decode_archive(strands_of(f"{name}.fasta"))
    return data


def forge_container(data: bytes, **fields: Any) -> bytes:
    """`data` (a version 2 container) with header fields overwritten."""
    fmt = container.HEADERS[2]
    values = dict(zip(CONTAINER_FIELDS, fmt.unpack(data[:fmt.size])))
    values.update(fields)
    return fmt.pack(*values.values()) + data[fmt.size:]


def forge_archive(strands: list[str], **fields: Any) -> list[str]:
    """The archive's strands with its header strands rewritten with `fields` overwritten."""
    found = find_header(strands)
    old = set(found.layout.header_strands(found.header.pack(), HEADER_COPIES))
    forged = dataclasses.replace(found.header, **fields)
    head = found.layout.header_strands(forged.pack(), HEADER_COPIES)
    return head + [s for s in strands if s not in old]


def measure(call: Callable[[], Any]) -> tuple[BaseException | None, float, float]:
    """(exception raised or None, seconds, growth of the process's peak memory in MB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    error = None
    try:
        call()
    except Exception as exc:  # noqa: BLE001 - the caller judges it
        error = exc
    seconds = time.perf_counter() - start
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak) / 1024
    return error, seconds, grown


def forge_strand(archive: Any, index: int, seed: int) -> str:
    """A data strand for `index` with a wrong payload but a valid check (what a bad consensus
    that passes its check by chance looks like)."""
    import numpy as np

    from helix_lightning.dna.strands import StrandLayout

    h = archive.header
    layout = StrandLayout(archive.cs, h.strand_len)
    junk = np.random.default_rng(seed).integers(0, 256, (1, h.symbol_size), dtype=np.uint8)
    return layout.data_strands(np.array([index]), junk, h.index_bits, h.archive_id)[0]
