"""`helix dna encode`, `decode` and `simulate` on the streaming paths (`stream_encode`,
`stream_decode`, `stream_reads`, `stream_simulate`: bounded memory, every core or a Dask
cluster), with the in-memory commands of `cli.py` where they do not apply: a vendor encode,
reads that fit in one bucket (`read_buckets.bucket_count`) or anything else
`stream_decode.NotStreamable` names, `--all` or a folder as output.

Both paths write the same bytes and print the same lines. Standard input to decode is copied
to a temporary file first (it is read more than once), so a pipe is decoded in bounded
memory too.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Callable

Handler = Callable[[argparse.Namespace], int]


def stream_handler(command: str, in_memory: Handler) -> Handler:
    """The handler of `helix dna <command>` (encode or decode): streaming, else `in_memory`."""
    run = {"encode": encode_command, "decode": decode_command}[command]
    return lambda args: run(args, in_memory)


def encode_command(args: argparse.Namespace, in_memory: Handler) -> int:
    """Encode the file segment by segment into the FASTA, then print the archive's table."""
    from .cli import _check_output, _print_table, constraints_from_args, progress_bar
    from .errors import HelixError
    from .dna.bootstrap import encoded_pool
    from .dna.fasta import atomic_output
    from .dna.plan_command import encode_options
    from .dna.stream_encode import encode_file

    if args.vendor:
        return in_memory(args)
    _check_output(args.output, args.input)
    path = Path(args.input)
    if not path.exists():
        raise HelixError(f"input file not found: {path}")
    if path.is_dir():
        raise HelixError(f"input is a directory, not a file: {path}")
    cs = constraints_from_args(args)
    options = encode_options(args, path.stat().st_size, cs)
    with progress_bar(not args.quiet, "dna encode") as update, \
            atomic_output(args.output, "wb", inputs=[args.input]) as out:
        archive = encode_file(path, out, cs if cs is not None else "standard",
                              workers=args.workers, progress=update, **options)
        records, stats = encoded_pool(archive, args.self_describing)  # + bootstrap strands
        out.write("".join(f">{name}\n{seq}\n" for name, seq in records).encode("ascii"))
    _print_table("archive", stats, args)
    return 0


def decode_command(args: argparse.Namespace, in_memory: Handler) -> int:
    """Decode a FASTA of strands in bounded memory; other inputs the in-memory way."""
    if args.all or Path(args.output).is_dir():
        return in_memory(args)
    if args.input != "-":
        return _decode_path(args, in_memory)
    with tempfile.TemporaryDirectory(prefix="helix-stdin-") as tmp:
        copy = Path(tmp) / "input"
        with open(copy, "wb") as f:
            shutil.copyfileobj(sys.stdin.buffer, f, 1 << 22)
        return _decode_path(argparse.Namespace(**{**vars(args), "input": str(copy)}),
                            in_memory)


def _decode_path(args: argparse.Namespace, in_memory: Handler) -> int:
    from functools import partial

    from .cli import _check_output
    from .dna.read_buckets import bucket_count
    from .dna.stream_decode import NotStreamable, ReadsInput

    _check_output(args.output, args.input)
    try:
        try:
            return _decode_streamed(args, _strands_decoder)
        except ReadsInput:
            buckets = bucket_count(args.input, args.buckets)
            if buckets == 1:
                raise
            return _decode_streamed(args, partial(_reads_decoder, buckets=buckets))
    except NotStreamable as exc:
        if args.dask and not args.quiet:
            print(f"note: decoded in memory, not on Dask ({exc})", file=sys.stderr)
        return in_memory(args)


def _strands_decoder(args: argparse.Namespace, out, update) -> tuple[str | None, object]:
    """A FASTA of strands, streamed (`stream_decode`): (summary line or None, report)."""
    from .cli import constraints_from_args
    from .dna.stream_decode import decode_file

    done = decode_file(args.input, out, constraints_from_args(args), workers=args.workers,
                       dask=args.dask, progress=update, archive_id=args.archive)
    return (done.summary() if done.ignored else None), done


def _reads_decoder(args: argparse.Namespace, out, update, buckets: int
                   ) -> tuple[str | None, object]:
    """Reads, clustered in `buckets` buckets on disk (`stream_reads`): (summary, report)."""
    from .cli import constraints_from_args
    from .dna.stream_reads import decode_reads_file

    done = decode_reads_file(args.input, out, buckets,
                             constraints_from_args(args), workers=args.workers,
                             dask=args.dask, progress=update, archive_id=args.archive)
    return done.summary(), done.decoded


def _decode_streamed(args: argparse.Namespace, decoder: Callable) -> int:
    """Decode with `decoder` into -o (nothing written on failure), then print what it did."""
    from .cli import progress_bar
    from .dna.archive import DecodeFailure
    from .dna.fasta import atomic_output

    try:
        with progress_bar(not args.quiet, "dna decode") as update, \
                atomic_output(args.output, "wb", allow_stdout=True, inputs=[args.input]) as out:
            summary, done = decoder(args, out, update)
    except DecodeFailure as exc:
        for s in (s for s in exc.report.segments if not s["decoded"]):
            print(f"segment {s['segment']}: received {s['received']} of "
                  f"{s['source'] + s['parity']} strands, {s['lost']} lost, {s['source']} needed",
                  file=sys.stderr)
        raise
    if not args.quiet:
        if summary:
            print(summary, file=sys.stderr)
        report = done.report
        print(f"decoded {done.size} bytes ({report.constraints}; {report.valid_data_strands} "
              f"valid strands of {report.candidates} candidates) -> {args.output}",
              file=sys.stderr)
    return 0


def simulate_command(args: argparse.Namespace) -> int:
    """Simulate reads of a FASTA of any size, written window by window (`dna.stream_simulate`):
    memory holds one window of reads, not the whole pool."""
    from .cli import _check_output, progress_bar
    from .dna.fasta import atomic_output
    from .dna.plan_command import channel_from_args
    from .dna.stream_simulate import simulate_file

    _check_output(args.output, args.input)
    params = channel_from_args(args)[1]  # --channel (default reference), flags override
    with progress_bar(not args.quiet, "dna simulate"), \
            atomic_output(args.output, "w", allow_stdout=True, inputs=[args.input]) as out:
        done = simulate_file(args.input, out, params)
    if not args.quiet:
        print(f"{done.reads} reads from {done.strands} strands -> {args.output}",
              file=sys.stderr)
    return 0
