"""`helix dna simulate` of any size: strands streamed in, reads written out window by window.

The in-memory simulator (`channel.simulate_reads`) shuffles every read of the pool at once, so
it holds them all. Here the strands are read in windows of `window_strands(params)` strands
(about WINDOW_READS reads each); each window is simulated on its own (its own random stream,
seeded by the seed and the window's number) and its reads, shuffled within the window, are
written before the next window is read. Reads of strands in different windows are not mixed:
the shuffle is global only within a window. An input that fits in one window is simulated by
`simulate_reads` itself, so its reads are those of the in-memory simulator, byte for byte.

Read names keep the in-memory form `r{read}:s{strand}:{+|-}`, numbered across the whole input.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import TextIO

import numpy as np

from .channel import ChannelParams, simulate_reads
from .fasta import iter_sequences

WINDOW_READS = 200_000  # expected reads per window (about 100 MB of reads held at once)
WRITE_READS = 10_000    # reads formatted and written at a time

Read = tuple[str, str, str]


def window_strands(params: ChannelParams) -> int:
    """Strands per window: about WINDOW_READS expected reads (20,000 strands at coverage 10)."""
    return max(1, int(WINDOW_READS / max(params.coverage, 1.0)))


def simulate_windows(strands: Iterable[str], params: ChannelParams,
                     window: int | None = None) -> Iterator[list[Read]]:
    """The reads of `strands`, one list per window of `window` strands (default
    `window_strands(params)`); a single window gives exactly `simulate_reads(strands, params)`."""
    params.validate()
    size = window or window_strands(params)
    it = iter(strands)
    first = list(islice(it, size))
    following = list(islice(it, size))
    if not following:
        yield simulate_reads(first, params)
        return
    read_no, strand_no, number = 0, 0, 0
    chunk = first
    while chunk:
        rng_seed = [params.seed, number]  # an independent stream per window
        reads = simulate_reads(chunk, _seeded(params, rng_seed))
        yield [(_renamed(name, read_no, strand_no), seq, qual)
               for name, seq, qual in reads]
        read_no += len(reads)
        strand_no += len(chunk)
        number += 1
        chunk, following = following, list(islice(it, size)) if following else []


def _seeded(params: ChannelParams, seed: list[int]) -> ChannelParams:
    """`params` with a seed sequence (numpy's default_rng takes one) for one window."""
    from dataclasses import replace

    return replace(params, seed=np.random.SeedSequence(seed).generate_state(1)[0].item())


def _renamed(name: str, read_offset: int, strand_offset: int) -> str:
    """A window's read name `r{i}:s{j}:{sign}` numbered across the whole input."""
    read, strand, sign = name.split(":")
    return f"r{int(read[1:]) + read_offset}:s{int(strand[1:]) + strand_offset}:{sign}"


@dataclass
class Simulated:
    """What `simulate_file` wrote."""

    reads: int = 0
    strands: int = 0


def simulate_file(path: str | Path, out: TextIO, params: ChannelParams,
                  window: int | None = None) -> Simulated:
    """Simulate sequencing of the strands of the FASTA at `path`, writing FASTQ to `out`
    window by window (module docstring)."""
    done = Simulated()

    def counted() -> Iterator[str]:  # HelixError for unreadable, empty or non-ACGT input
        for _, seq, _ in iter_sequences(path):
            done.strands += 1
            yield seq

    for reads in simulate_windows(counted(), params, window):
        for start in range(0, len(reads), WRITE_READS):
            out.write("".join(f"@{name}\n{seq}\n+\n{qual}\n"
                              for name, seq, qual in reads[start:start + WRITE_READS]))
        done.reads += len(reads)
    return done
