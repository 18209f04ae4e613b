"""FASTA/FASTQ reading and writing (via dnaio), with errors a user can read.

Writes go to a temporary file that is renamed into place at the end, so a failed run never
leaves a partial output file that looks whole.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

from ..errors import HelixError

VALID = set("ACGT")


def read_sequences(path: str | Path, *, allow_n: bool = False) -> list[tuple[str, str]]:
    """(name, sequence) records of a FASTA or FASTQ file, sequences upper-cased and checked."""
    import dnaio

    path = Path(path)
    if not path.exists():
        raise HelixError(f"input file not found: {path}")
    if path.stat().st_size == 0:
        raise HelixError(f"{path}: empty file")
    records: list[tuple[str, str]] = []
    try:
        with dnaio.open(str(path), mode="r") as reader:
            for rec in reader:
                seq = rec.sequence.upper()
                if not seq:
                    raise HelixError(f"{path}: record {rec.name!r} has an empty sequence")
                bad = set(seq) - VALID
                if bad and not (allow_n and bad <= {"N"}):
                    raise HelixError(
                        f"{path}: record {rec.name!r} has non-ACGT characters "
                        f"{''.join(sorted(bad))[:8]!r}")
                records.append((rec.name, seq))
    except HelixError:
        raise
    except Exception as exc:  # dnaio raises its own FormatError and others on bad files
        raise HelixError(f"{path}: not a readable FASTA/FASTQ file ({exc})") from None
    if not records:
        raise HelixError(f"{path}: no sequences found")
    return records


@contextlib.contextmanager
def atomic_output(path: str | Path, mode: str = "w") -> Iterator:
    """Open a temporary file beside `path`; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    if path.parent and not path.parent.exists():
        raise HelixError(f"output directory does not exist: {path.parent}")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_fasta(path: str | Path, records: Iterable[tuple[str, str]], width: int = 0) -> None:
    """Write (name, sequence) records; one line per sequence unless `width` is given."""
    with atomic_output(path) as out:
        for name, seq in records:
            out.write(f">{name}\n")
            if width:
                for i in range(0, len(seq), width):
                    out.write(seq[i:i + width] + "\n")
            else:
                out.write(seq + "\n")


def write_fastq(path: str | Path, records: Iterable[tuple[str, str, str]]) -> None:
    """Write (name, sequence, qualities) records."""
    with atomic_output(path) as out:
        for name, seq, qual in records:
            out.write(f"@{name}\n{seq}\n+\n{qual}\n")
