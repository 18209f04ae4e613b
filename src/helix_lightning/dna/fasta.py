"""FASTA/FASTQ reading and writing (via dnaio), with errors a user can read.

Inputs are recognised by content, not by name: plain, gzip, bzip2 or xz, FASTA or FASTQ, and
`-` reads standard input. Writes go to a temporary file that is renamed into place at the end,
so a failed run never leaves a partial output file that looks whole; `-` writes standard output
where the caller allows it.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import lzma
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator

from ..errors import HelixError
from ..files import atomic_write

VALID = set("ACGT")
STDIO = "-"
# leading bytes of each compressed format the standard library reads
_MAGIC = ((b"\x1f\x8b", gzip.open), (b"BZh", bz2.open), (b"\xfd7zXZ\x00", lzma.open))


@dataclass
class SequenceFile:
    """The records of one FASTA or FASTQ input, and which of the two it was."""

    records: list[tuple[str, str]]
    fastq: bool


@contextlib.contextmanager
def open_input(path: str | Path) -> Iterator[BinaryIO]:
    """A binary stream of the (decompressed) content of `path`, or of stdin for `-`."""
    if str(path) == STDIO:
        raw: BinaryIO = sys.stdin.buffer
    else:
        path = Path(path)
        if not path.exists():
            raise HelixError(f"input file not found: {path}")
        if path.is_dir():
            raise HelixError(f"input is a directory, not a file: {path}")
        raw = open(path, "rb")
    try:
        head = raw.peek(8)[:8] if hasattr(raw, "peek") else b""
        opener = next((op for magic, op in _MAGIC if head.startswith(magic)), None)
        yield opener(raw, "rb") if opener else raw
    finally:
        if raw is not sys.stdin.buffer:
            raw.close()


def iter_sequences(path: str | Path, *, allow_n: bool = False, required: bool = True
                   ) -> Iterator[tuple[str, str, bool]]:
    """(name, sequence, whether the input is FASTQ) per record of a FASTA or FASTQ input,
    streamed, sequences upper-cased and checked; HelixError for unreadable input. `required`:
    HelixError too for an empty input or one without records (else nothing is yielded)."""
    import dnaio

    seen = False
    with open_input(path) as stream:
        try:
            if required and not stream.peek(1):
                raise HelixError(f"{path}: empty file")
            with dnaio.open(stream, mode="r") as reader:
                fastq = isinstance(reader, dnaio.FastqReader)
                for rec in reader:
                    seen = True
                    yield rec.name, _checked(path, rec.name, rec.sequence, allow_n), fastq
        except HelixError:
            raise
        except Exception as exc:  # dnaio (FormatError), gzip, bz2 and lzma raise their own
            raise HelixError(f"{path}: not a readable FASTA/FASTQ file ({exc})") from None
    if required and not seen:
        raise HelixError(f"{path}: no sequences found")


def read_sequence_file(path: str | Path, *, allow_n: bool = False) -> SequenceFile:
    """(name, sequence) records of a FASTA or FASTQ input, sequences upper-cased and checked."""
    records: list[tuple[str, str]] = []
    fastq = False
    for name, seq, fastq in iter_sequences(path, allow_n=allow_n):
        records.append((name, seq))
    return SequenceFile(records, fastq)


def _checked(path: str | Path, name: str, seq: str, allow_n: bool) -> str:
    """The sequence upper-cased; HelixError if empty or not ACGT (N too where allowed)."""
    seq = seq.upper()
    if not seq:
        raise HelixError(f"{path}: record {name!r} has an empty sequence")
    bad = set(seq) - VALID
    if bad and not (allow_n and bad <= {"N"}):
        raise HelixError(f"{path}: record {name!r} has non-ACGT characters "
                         f"{''.join(sorted(bad))[:8]!r}")
    return seq


def read_sequences(path: str | Path, *, allow_n: bool = False) -> list[tuple[str, str]]:
    """(name, sequence) records of a FASTA or FASTQ input (see `read_sequence_file`)."""
    return read_sequence_file(path, allow_n=allow_n).records


@contextlib.contextmanager
def atomic_output(path: str | Path, mode: str = "w", *, allow_stdout: bool = False,
                  inputs: Iterable[str | Path] = ()) -> Iterator:
    """Open a temporary file beside `path`; rename it onto `path` only if the block succeeds
    (`files.atomic_write`: umask permissions, refused if it is one of `inputs`, removed on
    error and on SIGINT/SIGTERM, OSError as one line).

    With `allow_stdout`, `-` writes standard output instead (text or binary as `mode` says).
    """
    if allow_stdout and str(path) == STDIO:
        out = sys.stdout.buffer if "b" in mode else sys.stdout
        yield out
        out.flush()
        return
    with atomic_write(path, mode, inputs) as handle:
        yield handle


def write_fasta(path: str | Path, records: Iterable[tuple[str, str]], width: int = 0, *,
                inputs: Iterable[str | Path] = ()) -> None:
    """Write (name, sequence) records; one line per sequence unless `width` is given;
    refused if `path` is one of `inputs`."""
    with atomic_output(path, inputs=inputs) as out:
        for name, seq in records:
            out.write(f">{name}\n")
            if width:
                for i in range(0, len(seq), width):
                    out.write(seq[i:i + width] + "\n")
            else:
                out.write(seq + "\n")


def write_fastq(path: str | Path, records: Iterable[tuple[str, str, str]], *,
                inputs: Iterable[str | Path] = ()) -> None:
    """Write (name, sequence, qualities) records; `-` writes standard output; refused if
    `path` is one of `inputs`."""
    with atomic_output(path, allow_stdout=True, inputs=inputs) as out:
        for name, seq, qual in records:
            out.write(f"@{name}\n{seq}\n+\n{qual}\n")
