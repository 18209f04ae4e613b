"""The `helix` command: parse (`cli_args.py`), call one library function, print.

`helix --help` lists the commands (dna capacity/encode/decode/check/simulate/bench/plan, train,
encode, decode, report, sweep, bench rd, demo); README.md shows them at work. Errors a user
can cause (`HelixError`, and the operating system's refusals) print one line and exit 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Sequence

from .cli_args import add_constraint_args, build_parser  # noqa: F401 (the parser lives there)
from .cli_stream import stream_handler
from .errors import HelixError


# ---------------------------------------------------------------- shared helpers
def _console(stderr: bool = True):
    from rich.console import Console

    return Console(stderr=stderr)


@contextmanager
def progress_bar(enabled: bool = True, label: str = "helix") -> Iterator:
    """A rich progress bar on a terminal, else plain "label: stage done/total, N s" lines at
    least every 10 s (`progress.progress_lines`, for logs); yields a callback (stage, done,
    total), or None when not enabled."""
    if not enabled:
        yield None
        return
    if not sys.stderr.isatty():
        from .progress import progress_lines

        with progress_lines(label) as lines:
            yield lines
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=_console(), transient=True) as bar:
        tasks: dict[str, int] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield update


def constraints_from_args(args: argparse.Namespace):
    """The named/YAML set with any flag overrides applied (None if nothing was asked)."""
    from .dna.inspect import OVERRIDABLE, constraints_with_overrides

    overrides = {k: getattr(args, "motif" if k == "motifs" else k, None) for k in OVERRIDABLE}
    return constraints_with_overrides(args.constraints, overrides)


def read_input_bytes(path: str) -> bytes:
    p = Path(path)
    if not p.exists():
        raise HelixError(f"input file not found: {p}")
    if p.is_dir():
        raise HelixError(f"input is a directory, not a file: {p}")
    return p.read_bytes()


def _print_table(title: str, rows: dict, args: argparse.Namespace | None = None) -> None:
    """A two-column rich table on stdout (or JSON with --json)."""
    if args is not None and getattr(args, "json", False):
        print(json.dumps(rows, indent=2, default=str))
        return
    from rich.table import Table

    table = Table(title=title, show_header=False)
    for k, v in rows.items():
        table.add_row(k, f"{v:.4f}" if isinstance(v, float) else str(v))
    _console(stderr=False).print(table)


# ---------------------------------------------------------------- dna commands
def cmd_capacity(args: argparse.Namespace) -> int:
    from .dna.inspect import capacity_report

    cs = constraints_from_args(args)
    result = capacity_report(cs, args.length)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{cs.describe()}")
    print(f"capacity        {result['capacity']:.4f} bits/nt (constraint graph, Perron root)")
    if args.length is not None:
        print(f"strand capacity {result['strand_capacity']:.4f} bits/nt (log2 of the exact "
              f"count of valid {args.length}-nt strands between the default primers = "
              f"{result['log2_count']:.2f} bits, / {args.length})")
    return 0


def cmd_encode(args: argparse.Namespace) -> int:
    from .dna.archive import encode_archive
    from .dna.bootstrap import encoded_pool
    from .dna.fasta import write_fasta
    from .dna.plan_command import encode_options

    _check_output(args.output, args.input)
    data = read_input_bytes(args.input)
    cs = constraints_from_args(args)
    options = encode_options(args, len(data), cs)  # a channel given: the plan's redundancy
    vendor_report = None
    with progress_bar(not args.quiet, "dna encode") as update:
        if args.vendor:
            from .dna.vendors import encode_for_vendor

            archive, vendor_report = encode_for_vendor(data, args.vendor, cs, progress=update,
                                                       **options)
        else:
            archive = encode_archive(data, cs, progress=update, **options)
    records, stats = encoded_pool(archive, args.self_describing)  # + bootstrap strands
    write_fasta(args.output, records, inputs=[args.input])
    _print_table("archive", stats, args)
    return _vendor_verdict(vendor_report)


def _check_output(output: str, *inputs: str | None) -> None:
    """Refuse an output that is an input or cannot be written, before any work (`-` is
    standard output)."""
    from .files import check_output

    if output != "-":
        check_output(output, [i for i in inputs if i is not None])


def _vendor_verdict(report) -> int:
    """Print a vendor report's failing rules on stderr; 1 if any failed, else 0."""
    if report is None:
        return 0
    for line in report.failure_lines():
        print(line, file=sys.stderr)
    return 0 if report.passed else 1


def _load_reads(path: str, show_progress: bool, quiet: bool, label: str = "dna decode"):
    """Candidate strands of a FASTA/FASTQ input (`dna.reads.load_strands`); a summary line
    for reads, or for strands where some were junk."""
    from .dna.reads import load_strands

    with progress_bar(show_progress, label) as update:
        loaded = load_strands(path, progress=update)
    if not quiet and (loaded.from_reads or loaded.ignored):
        print(loaded.summary(), file=sys.stderr)
    return loaded


def cmd_decode(args: argparse.Namespace) -> int:
    from .dna.archive import DecodeFailure
    from .dna.bootstrap import sector_hint
    from .dna.fasta import atomic_output
    from .dna.read_decode import decode_loaded

    to_folder = args.all or Path(args.output).is_dir()  # every archive of the pool
    if not to_folder:
        _check_output(args.output, args.input)
    loaded = _load_reads(args.input, not args.quiet, args.quiet)
    cs = (constraints_from_args(args) or sector_hint(loaded.sectors, args.archive)
          or loaded.constraint_hint)
    if to_folder:
        from .dna.pool import decode_pool
        with progress_bar(not args.quiet, "dna decode") as update:
            lines = decode_pool(loaded.strands, args.output, loaded.support,
                                variants=loaded.variants, constraints=cs, progress=update)
        if not args.quiet:
            print("\n".join(lines), file=sys.stderr)
        return 0
    try:
        with progress_bar(not args.quiet, "dna decode") as update:
            data, report, _ = decode_loaded(loaded, cs, progress=update,
                                            archive_id=args.archive)
    except DecodeFailure as exc:
        for s in (s for s in exc.report.segments if not s["decoded"]):
            print(f"segment {s['segment']}: received {s['received']} of {s['source'] + s['parity']}"
                  f" strands, {s['lost']} lost, {s['source']} needed", file=sys.stderr)
        raise
    with atomic_output(args.output, "wb", allow_stdout=True, inputs=[args.input]) as out:
        out.write(data)
    if not args.quiet:
        print(f"decoded {len(data)} bytes ({report.constraints}; {report.valid_data_strands} "
              f"valid strands of {report.candidates} candidates) -> {args.output}",
              file=sys.stderr)
    return 0


def cmd_ls(args: argparse.Namespace) -> int:
    from .dna.pool import format_archives, list_archives

    loaded = _load_reads(args.input, not args.quiet, args.quiet or args.json, "dna ls")
    infos = list_archives(loaded.strands, constraints_from_args(args) or loaded.constraint_hint)
    print(format_archives(infos, as_json=args.json))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from .dna.fasta import read_sequences
    from .dna.inspect import check_archive
    from .dna.reads import constraint_hint

    records = read_sequences(args.input)
    cs = constraints_from_args(args) or constraint_hint(records[0][0])
    vendor_report = None
    if args.vendor:
        from .dna.vendor_check import check_pool_for_vendor

        summary, vendor_report = check_pool_for_vendor(records, cs, args.vendor)
    else:
        summary = check_archive([s for _, s in records], cs)
    print(json.dumps(summary, indent=2))
    verdict = _vendor_verdict(vendor_report)
    return 0 if summary.get("violations", 0) == 0 and verdict == 0 else 1


def cmd_simulate(args: argparse.Namespace) -> int:
    from .cli_stream import simulate_command

    return simulate_command(args)  # streamed window by window (dna.stream_simulate)


def cmd_bench(args: argparse.Namespace) -> int:
    from .dna.bench import bench_random, print_bench, write_csv

    df = bench_random(args.size, args.seed, codes=args.codes, fsm_sets=args.fsm)
    print_bench(df)
    if args.csv:
        write_csv(df, args.csv)
    return 0


# ---------------------------------------------------------------- video commands
def _parse_size(text: str | None) -> tuple[int, int] | None:
    """"WxH" -> (width, height); HelixError if malformed."""
    if text is None:
        return None
    w, sep, h = text.lower().partition("x")
    try:
        size = (int(w), int(h))
    except ValueError:
        size = None
    if not sep or size is None or min(size) < 1:
        raise HelixError(f"--size must be WIDTHxHEIGHT with positive integers, e.g. 64x48; "
                         f"got {text!r}")
    return size


def cmd_train(args: argparse.Namespace) -> int:
    from .model.config import apply_overrides
    from .model.train import load_config, train

    cfg = apply_overrides(load_config(args.config), args.overrides)
    if args.out:
        out = Path(args.out)
        if out.parent and not out.parent.exists():
            raise HelixError(f"output directory does not exist: {out.parent}")
        cfg["checkpoint"] = str(out)
    result = train(cfg)
    _print_table(f"train {cfg['name']}", result, args)
    return 0


def _video_progress(args: argparse.Namespace) -> bool:
    """Progress (a bar on a terminal, else lines) for the video commands: not with -q/--json."""
    return not getattr(args, "quiet", False) and not getattr(args, "json", False)


def cmd_video_encode(args: argparse.Namespace) -> int:
    from .model.video_files import encode_video_file

    size = _parse_size(args.size)
    with progress_bar(_video_progress(args), "encode") as update:
        # --scale and --drop override --rate (compress resolves them); stages fit the drop
        stats = encode_video_file(
            args.input, args.output, checkpoint=args.checkpoint, constraints=args.constraints,
            coder=args.coder, frames=args.frames, size=size, rate=args.rate, scale=args.scale,
            drop=args.drop, stages=args.stages, redundancy=args.redundancy, progress=update,
            nt_budget=args.nt_budget, with_model=args.with_model, resilient=args.resilient,
            log=None if args.quiet else lambda line: print(line, file=sys.stderr))
    if args.json:
        print(json.dumps({k: v for k, v in stats.to_dict().items() if k != "archive"},
                         indent=2, default=str))
    else:
        _print_table("video -> DNA", _video_rows(stats))
    return 0


def _video_rows(s) -> dict:
    """The summary table of `helix encode` (a VideoStats, labelled for people). The direct
    mapping's violations are the reference arm's (its token body), written only with
    --coder direct."""
    arm = "reference arm, token body" if s.coder == "direct" else "reference arm, not written"
    return {
        "coder": s.coder, "constraints": s.constraints, "model": s.model_hash,
        "frames": s.frames, "size": f"{s.width}x{s.height}",
        "rate point": f"{s.rate} (scale {s.scale:g}, drop {s.drop:g}, {s.stages} stages)",
        "coded at": f"{s.coded_width}x{s.coded_height}",
        "strands": s.strands, "nt": s.nt,
        "nt/px": float(s.nt_per_px), "bits/px": float(s.bits_per_px),
        "payload bits": f"{s.actual_bits} (model estimate {s.estimated_bits:.0f})",
        "net density": float(s.net_density),
        "violations": s.violations,
        "direct violations": f"{s.direct_violations} ({arm})",
        **({"model archive": s.model.line()} if s.model else {}),
    }


def cmd_video_decode(args: argparse.Namespace) -> int:
    from .model.video_files import compare_to_reference, open_decoder
    from .model.with_model import decode_pool_video  # no --checkpoint: the pool's model

    codec = open_decoder(args.output, args.checkpoint, args.reference, inputs=[args.input],
                         load_default=False)
    bars = _video_progress(args)
    loaded = _load_reads(args.input, bars, args.quiet, "decode")
    with progress_bar(bars, "decode") as update:
        frames = decode_pool_video(codec, loaded.strands, args.output,
                                   support=loaded.support, variants=loaded.variants,
                                   constraints=args.constraints or loaded.constraint_hint,
                                   fps=args.fps, progress=update, archive_id=args.archive,
                                   inputs=[args.input, args.reference])
    t, h, w = frames.shape[:3]
    if not args.quiet:
        print(f"decoded {t} frames of {w}x{h} -> {args.output}", file=sys.stderr)
    if args.reference is not None:
        _print_table("decoded vs reference", compare_to_reference(frames, args.reference), args)
    return 0


# ---------------------------------------------------------------- experiments
def cmd_report(args: argparse.Namespace) -> int:
    from .report import UnknownStudyError, make_reports

    try:
        make_reports(args.names, storage=args.storage, out=Path(args.out),
                     sweeps=Path(args.sweeps),
                     log=None if args.quiet else (lambda m: print(m, file=sys.stderr)))
    except UnknownStudyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from .sweep.config import UnknownStudyError
    from .sweep.runner import main_from_args

    try:
        return main_from_args(args)
    except UnknownStudyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: run the same command again to resume", file=sys.stderr)
        return 130


def _names(text: str | None) -> list[str] | None:
    """A comma list flag: None when not given, [] for "none"."""
    if text is None:
        return None
    return [] if text.strip() == "none" else [t.strip() for t in text.split(",") if t.strip()]


def cmd_bench_rd(args: argparse.Namespace) -> int:
    from .baselines.rd import RDOptions, canonical_command, print_summary, rich_progress, run_rd

    opts = RDOptions(clips=args.clips, frames=args.frames, size=_parse_size(args.size),
                     out=args.out, checkpoints=args.checkpoint,
                     default_model=not args.no_default_model, rates=_names(args.rates),
                     baselines=_names(args.baselines), ladder=args.ladder,
                     constraints=args.constraints, dna_codes=args.dna_codes,
                     price_per_nt=args.price_per_nt, bd_method=args.bd_fit)
    opts.command = canonical_command(opts)
    with rich_progress(not args.quiet) as update:
        result = run_rd(opts, progress=update)
    print_summary(result, f"fsm:{opts.constraints}", _console(stderr=False))
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    from .dna.plan_command import run_plan

    return run_plan(args, constraints_from_args(args))


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_from_args

    return run_from_args(args)


# ---------------------------------------------------------------- entry point
HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "dna capacity": cmd_capacity, "dna encode": stream_handler("encode", cmd_encode),
    "dna decode": stream_handler("decode", cmd_decode),
    "dna check": cmd_check, "dna ls": cmd_ls, "dna simulate": cmd_simulate,
    "dna bench": cmd_bench, "dna plan": cmd_plan, "train": cmd_train, "encode": cmd_video_encode,
    "decode": cmd_video_decode, "report": cmd_report, "sweep": cmd_sweep,
    "bench rd": cmd_bench_rd, "demo": cmd_demo,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(HANDLERS[args.handler](args) or 0)
    except HelixError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `helix dna check ... | head`: the reader left, nothing to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as exc:  # what the file layer did not name: one line all the same
        print(f"error: {exc.strerror or exc}"
              + (f": {exc.filename}" if exc.filename else ""), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
