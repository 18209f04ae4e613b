"""Reads routed to buckets on disk by their clustering key, so each bucket can be clustered
and voted on its own (`stream_reads`): bounded memory, every core.

Every read is cut to its payload as `reads.cut_payloads` cuts it, under the payload length
and primer mode measured on the first SAMPLE_READS reads (for an input of at most that many
reads, those of the whole input: the in-memory decoder's). A payload goes to the bucket its
last `route_bases(count)` bases name: the trailing bases of the last k-mer key the clustering
uses (`consensus.KEY_OFFSETS[0]` mirrored from the end, anchored to the suffix primer), split
into `count` equal ranges. They spell the strand's check bits, so buckets are even (the
leading bases spell the index's high bits, which a few values share: 27 buckets of 10 MB of
reads routed by them held 1.6 kB to 45 MB each). Reads of one strand agree on those bases
unless an error falls among them (a substitution there, or an indel there or just after), so
at the reference channel
(2% errors per base) about 1 - 0.98^r of the reads (r bases: 6% at r = 3, up to 64 buckets;
8% at r = 4, up to 256; 10% at r = 5, up to 1,024) land in another bucket than their strand,
alone: the coverage they would have given is lost.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import HelixError
from .consensus import _codes
from .reads import fitting_payloads, fitting_reads, locate, payload_length, primer_mode

SAMPLE_READS = 65_536          # reads that fix the payload length and primer mode
CHUNK_READS = 16_384           # reads per routing task
BUCKET_BYTES = 48 * 2**20      # input bytes per bucket by default (about 110,000 reads)
MAX_BUCKETS = 1_024            # open bucket files at once
COMPRESSED_RATIO = 4           # assumed expansion of a compressed input


def route_bases(count: int) -> int:
    """Leading payload bases that pick one of `count` buckets: at least one code per bucket,
    no more bases (each is one more place for an error; buckets differ by at most a code)."""
    return max(1, math.ceil(math.log(max(count, 1), 4) - 1e-9))


def bucket_count(path: str | Path, asked: int | None) -> int:
    """Buckets for the reads at `path`: `asked` if given, else one per BUCKET_BYTES of
    input (a compressed file counted COMPRESSED_RATIO times its size), rounded up to a power
    of two (each bucket then gets as many routing codes); 1 means in memory."""
    if asked is not None:
        if not 1 <= asked <= MAX_BUCKETS:
            raise HelixError(f"--buckets must be between 1 and {MAX_BUCKETS}, got {asked}")
        return asked
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(6)
    if head.startswith((b"\x1f\x8b", b"BZh", b"\xfd7zXZ")):
        size *= COMPRESSED_RATIO
    need = max(1, math.ceil(size / BUCKET_BYTES))
    return min(MAX_BUCKETS, 1 << (need - 1).bit_length())


@dataclass(frozen=True)
class CutRule:
    """How every read is cut: primers, payload length and primer mode (`reads.primer_mode`)."""

    prefix: str
    suffix: str
    mid_len: int
    primed: bool
    both_ways: bool


def cut_rule(sample: list[str], prefix: str, suffix: str) -> CutRule:
    """The rule `reads.cut_payloads` would apply to `sample` (HelixError as it raises)."""
    located = [locate(read, prefix, suffix) for read in sample]
    mid_len = payload_length(located)
    return CutRule(prefix, suffix, mid_len, *primer_mode(fitting_reads(located, mid_len)))


def route_chunk(rule: CutRule, count: int, reads: list[str]
                ) -> tuple[list[str], np.ndarray, int]:
    """(payloads, their buckets, reads ignored) of a chunk of reads (a worker's task)."""
    located = [locate(read, rule.prefix, rule.suffix) for read in reads]
    payloads = fitting_payloads(fitting_reads(located, rule.mid_len), rule.primed,
                                rule.both_ways)
    middles = [m for pair in payloads for m in pair]
    return middles, route(middles, count), len(reads) - len(payloads)


def route(middles: list[str], count: int) -> np.ndarray:
    """The bucket of each payload: its last `route_bases(count)` bases as a number, scaled
    to [0, count)."""
    if count == 1 or not middles:
        return np.zeros(len(middles), dtype=np.int64)
    r = route_bases(count)
    codes = np.minimum(_codes("".join(m[-r:].rjust(r, "A") for m in middles)), 3)
    value = codes.reshape(len(middles), r).astype(np.int64) @ (4 ** np.arange(r - 1, -1, -1))
    return value * count >> (2 * r)


@dataclass
class ReadBuckets:
    """Payloads spilled to `count` files in `folder`, one a line, in input order."""

    folder: Path
    count: int
    sizes: np.ndarray = field(init=False)
    _files: dict = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.sizes = np.zeros(self.count, dtype=np.int64)

    def _path(self, b: int) -> Path:
        return self.folder / f"bucket-{b:05d}.txt"

    def append(self, middles: list[str], buckets: np.ndarray) -> None:
        order = np.argsort(buckets, kind="stable")
        cuts = np.flatnonzero(np.diff(buckets[order])) + 1
        for part in np.split(order, cuts) if len(order) else []:
            b = int(buckets[part[0]])
            f = self._files.get(b) or self._files.setdefault(b, open(self._path(b), "w"))
            f.write("".join(middles[i] + "\n" for i in part.tolist()))
            self.sizes[b] += len(part)

    def close(self) -> None:
        for f in self._files.values():
            f.close()
        self._files.clear()

    def middles(self, b: int) -> list[str]:
        """The payloads of bucket b, in input order."""
        if not self.sizes[b]:
            return []
        return self._path(b).read_text().split()

    def remove(self, b: int) -> None:
        if self.sizes[b]:
            self._path(b).unlink(missing_ok=True)
