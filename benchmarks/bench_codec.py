"""HELIX video codec: speed, memory, model size and complexity, against x265 (issue 12).

Run: .venv/bin/python benchmarks/bench_codec.py [--frames 30] [--size WxH] [--repeat 1]
         [--checkpoint CKPT] [--rate NAME] [--x265-crf 35] [--train-steps 20] [--threads N]
e.g. the 1280x720 targets: benchmarks/bench_codec.py --size 1280x720 --frames 3 --train-steps 0

On the first `--frames` frames of the held-out carphone clip (`default_clips()["test"]`,
176x144), resized to `--size` first when given (as `helix encode --size` does: the same
parser and reader; even sides, as x265's 4:2:0 needs), with the codec of `--checkpoint`
(default: the committed default model) at rate point `--rate`, any point of that model's
ladder (`rates.ladder`; default: the model's default point, `rates.default_rate`, what
`helix encode` codes at without --rate: mid for the default model), under the model's own
constraint set, in one run:

Speed (wall clock, best of `--repeat` runs; one untimed encode+decode first, of 1 frame or 2
for an inter model, builds the caches a second run of a user would have: the float64 coding
copy of the token model, the FSM tables)
- HELIX encode frames/s: `codec.encode_video(frames, coder="fsm", rate=...)`, frames all the
  way to strands; decode frames/s: `codec.decode_video(strands)`. Each is split into the
  tokenizer, entropy coding, the DNA layer (`encode_archive` / `find_header` +
  `decode_archive`) and other (the rest: model hash, violation counts, container, coder
  set-up). Tokenizer: intra models `tokenize` / `reconstruct` (tokenizer + mixer + FSQ);
  inter models (a `conditional` tokenizer, `model/inter_coding.py`, whose compress and
  decompress never call those) their own pieces, each also reported alone: of the encode,
  frame resampling + encoder (`inter_coding.tokenise`), the reference's features (the
  tokenizer's `context`) and the decoder run in the loop (`inter_coding.rebuild`); of the
  decode, `inter_coding.reconstruct` (context + decoder per frame, then resampling).
  Entropy coding: of the encode, the range coder's own time (`TokenEntropyCoder.encode`
  minus the time it waits for each frame's tokens); of the decode, `decompress_tokens`.
  Where a helper thread ran the tokenizer beside the range coder (more than one torch
  thread), the parts overlap in time: they are labelled so and "other" is left out.
- x265 through PyAV (libx265, `--x265-preset` medium, yuv420p, CRF `--x265-crf`) on the same
  RGB frames: RGB->YUV conversion and encode, decode and YUV->RGB conversion; bits counted
  are the bitstream packets' bytes. Ratios HELIX/x265 of the frame rates.
- Rate and quality: HELIX PSNR (RGB, mean over frames), bits/px of the container, nt/px
  (primers excluded); x265 PSNR and bits/px.

Memory (child processes, sampled every 0.1 s on Linux: `peak_rss` is the largest sum over the
child's process tree of each process's own high-water resident set (VmHWM, which only grows, so
only growth in the last 0.1 s of a process is missed); `peak_tree_pss` the largest sum of PSS
over the tree, which counts a data-loader worker's shared pages once. Not ru_maxrss from wait4:
Linux carries the forking parent's high-water mark across exec, so a child of this benchmark,
which has torch and the model loaded, would report at least the benchmark's own size.
Elsewhere, without /proc, ru_maxrss is used.)
- encode: a fresh `python -c` that loads the codec, reads the frames (resized to `--size`)
  and runs encode_video at the same rate point.
- train: `python -m helix_lightning.model.train experiments/tiny.yaml` for `--train-steps`
  steps (0 skips it), no logger, checkpoint written to a temporary directory.

Size and complexity (of the loaded model; `_complexity.py`)
- parameters of the tokenizer, mixer, token model, and the total;
- kMAC per input pixel (torch.utils.flop_counter.FlopCounterMode, MAC = FLOP/2) at the rate
  point's coding scale and digits, run through the codec's own code. Intra models, on the
  first frame: the encode path (`tokenize`: tokenizer.encode + mixer), the decode path
  (`reconstruct`: mixer.inverse + tokenizer.decode), and the token model over one full
  coding pass (`compress` of the frame minus `tokenize`). Inter models, on 3 frames, per
  frame 1 (an inter frame): the encode path is its encoder, its decoder run in the loop and
  the context of its reference as often as the code computes it; the decode path its
  context + decoder; the token model the mean per frame; frame 0's (intra) encode and
  decode too. The transformer's fused eval fast path is switched off while counting (the
  counter cannot see inside it), and CPU attention, an op the counter does not know, is
  counted with torch's own SDPA formula;
- the checkpoint file's bytes, and the nt it takes stored in DNA: the file's bytes encoded
  with `encode_archive(data, "standard")` (default redundancy), nt counted primers excluded;
  the net density is bytes*8/nt.

Targets (issue 12, on 2 cores, at the model's default rate point; a run at another size or
rate point shows none): at 176x144 (no --size) >= 8 frames/s encode and >= 12 decode, encode
peak memory under 2 GiB; at 1280x720 >= 0.2 frames/s encode and >= 0.3 decode, encode peak
RSS under 4 GB (4e9 bytes); training peak under 4 GiB (MiB = 2**20 bytes). Output: a table,
and bench-out/codec.csv (one row per metric: group, metric, value, unit, target, ok).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, NamedTuple

sys.path.insert(0, os.path.dirname(__file__))
from _complexity import INTER_FRAMES, complexity  # noqa: E402
from _table import emit  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
TINY_CONFIG = REPO / "experiments" / "tiny.yaml"
GB_MIB = 1e9 / 2**20  # a decimal gigabyte in MiB


class Targets(NamedTuple):
    """Issue 12's speed targets at one frame size (2 cores, the default rate point)."""

    encode_fps: float
    decode_fps: float
    encode_mib: float  # peak RSS of the encode child


#: Targets per coded input size (width, height); other sizes get none.
TARGETS = {(176, 144): Targets(8.0, 12.0, 2048.0),
           (1280, 720): Targets(0.2, 0.3, 4 * GB_MIB)}
TARGET_TRAIN_MIB = 4096.0

# The encode-memory child: argv = checkpoint ("" = default), video, frames, threads, rate,
# size ("" = the clip's own, else "WxH"), constraints.
_ENCODE_CHILD = """
import json, sys
import torch
from helix_lightning.model.checkpoint import load_codec
from helix_lightning.model.video_files import read_input_video
ckpt, video, n, threads, rate, size, constraints = sys.argv[1:8]
n, threads = int(n), int(threads)
if threads:
    torch.set_num_threads(threads)
codec = load_codec(ckpt or None)
size = tuple(int(v) for v in size.split("x")) if size else None
frames = read_input_video(video, n, size)
strands, stats = codec.encode_video(frames, constraints, coder="fsm", rate=rate)
print(json.dumps({"strands": len(strands), "nt": stats.nt, "shape": list(frames.shape)}))
"""


# ---------------------------------------------------------------------- helpers

def _int_at_least(low: int):
    """An argparse type: an integer >= low, else a usage error naming the bound."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {value}")
        return value
    return parse


_positive_int, _non_negative_int = _int_at_least(1), _int_at_least(0)


def _crf(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 <= value <= 51:
        raise argparse.ArgumentTypeError(f"x265 CRF must be in [0, 51], got {value:g}")
    return value


def _size(text: str) -> tuple[int, int]:
    """"WxH" -> (width, height), parsed as `helix encode --size` parses it; both even, as
    x265's 4:2:0 needs."""
    from helix_lightning.cli import _parse_size
    from helix_lightning.errors import HelixError

    try:
        size = _parse_size(text)
    except HelixError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--size ")) from None
    if size[0] % 2 or size[1] % 2:
        raise argparse.ArgumentTypeError(f"x265 4:2:0 needs even sides, got {text!r}")
    return size


class _Timer:
    """Wall seconds accumulated per key by wrapped callables, and the keys that ran on
    another thread than the one that made the timer (a helper thread: the parts overlap)."""

    def __init__(self) -> None:
        self.s: dict[str, float] = {}
        self.elsewhere: set[str] = set()
        self._thread = threading.get_ident()

    def add(self, key: str, seconds: float) -> None:
        self.s[key] = self.s.get(key, 0.0) + seconds
        if threading.get_ident() != self._thread:
            self.elsewhere.add(key)

    def wrap(self, key: str, fn: Callable) -> Callable:
        def timed(*args, **kwargs):
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.add(key, time.perf_counter() - t)
        return timed

    def wrap_coder(self, key: str, encode: Callable) -> Callable:
        """`TokenEntropyCoder.encode` timed without the time it waits for its frames (the
        tokenizer's work when it runs them in turn, idle time when a helper thread does):
        the range coder's own seconds."""
        def timed(coder, frames, *args, **kwargs):
            waited = [0.0]

            def pulled():
                it = iter(frames)
                while True:
                    t = time.perf_counter()
                    try:
                        item = next(it)
                    except StopIteration:
                        return
                    finally:
                        waited[0] += time.perf_counter() - t
                    yield item

            t = time.perf_counter()
            try:
                return encode(coder, pulled(), *args, **kwargs)
            finally:
                self.add(key, time.perf_counter() - t - waited[0])
        return timed


@contextmanager
def _instrumented(codec, timer: _Timer) -> Iterator[None]:
    """Time the codec's stages without changing what runs: wrap its methods on the instance,
    the range coder's `encode` (`_Timer.wrap_coder`), the inter path's functions
    (`inter_coding`: frame resampling, encoder, the decoder run in the loop, the decode's
    reconstruction) and the tokenizer's `context`, and the DNA functions the frames <->
    strands pipeline calls."""
    from helix_lightning.model import inter_coding
    from helix_lightning.model import pipeline as codec_mod
    from helix_lightning.model.entropy import TokenEntropyCoder

    methods = ("tokenize", "compress", "decompress_tokens", "reconstruct")
    modules = {codec_mod: ("encode_archive", "decode_archive", "find_header"),
               inter_coding: ("frame_tensor", "tokenise", "rebuild", "reconstruct")}
    saved = {(mod, name): getattr(mod, name) for mod, names in modules.items()
             for name in names}
    for name in methods:
        setattr(codec, name, timer.wrap(name, getattr(codec, name)))
    for (mod, name), fn in saved.items():
        setattr(mod, name, timer.wrap(name if mod is codec_mod else f"inter.{name}", fn))
    context = getattr(codec.tokenizer, "context", None)
    if context is not None:
        codec.tokenizer.context = timer.wrap("inter.context", context)
    coder_encode = TokenEntropyCoder.encode
    TokenEntropyCoder.encode = timer.wrap_coder("range_coder", coder_encode)
    try:
        yield
    finally:
        TokenEntropyCoder.encode = coder_encode
        for name in methods:
            delattr(codec, name)
        for (mod, name), fn in saved.items():
            setattr(mod, name, fn)
        if context is not None:
            del codec.tokenizer.context


# ---------------------------------------------------------------------- HELIX speed

INTER_ENCODE_PARTS = {"encode_encoder_s": ("inter.frame_tensor", "inter.tokenise"),
                      "encode_context_s": ("inter.context",),
                      "encode_loop_decoder_s": ("inter.rebuild",)}
INTER_DECODE_PARTS = {"decode_context_s": ("inter.context",),
                      "decode_decoder_s": ("inter.rebuild",)}


def _split(e: _Timer, d: _Timer, enc_s: float, dec_s: float, inter: bool) -> dict[str, Any]:
    """Seconds per part of one encode (timer `e`) and decode (`d`): tokenizer, entropy
    coding (the range coder's own time; the decode's `decompress_tokens`), DNA layer, and
    other (the rest; None where a helper thread ran the tokenizer beside the range coder:
    the parts then overlap, "overlap_encode"/"overlap_decode" True). Inter codecs: the
    encode's tokenizer part is the closed loop's frame resampling + encoder, context and
    decoder (`inter_coding`), the decode's `inter_coding.reconstruct` (context + decoder per
    frame); those shares come as extra keys."""
    if inter:
        parts = {k: sum(e.s.get(key, 0.0) for key in keys)
                 for k, keys in INTER_ENCODE_PARTS.items()}
        parts.update({k: sum(d.s.get(key, 0.0) for key in keys)
                      for k, keys in INTER_DECODE_PARTS.items()})
        enc_keys = [key for keys in INTER_ENCODE_PARTS.values() for key in keys]
        dec_keys = ["inter.reconstruct"]
    else:
        parts, enc_keys, dec_keys = {}, ["tokenize"], ["reconstruct"]
    split: dict[str, Any] = {
        "encode_tokenizer_s": sum(e.s.get(key, 0.0) for key in enc_keys),
        "encode_entropy_s": e.s.get("range_coder", 0.0),
        "encode_dna_s": e.s.get("encode_archive", 0.0),
        "decode_tokenizer_s": sum(d.s.get(key, 0.0) for key in dec_keys),
        "decode_entropy_s": d.s.get("decompress_tokens", 0.0),
        "decode_dna_s": d.s.get("find_header", 0.0) + d.s.get("decode_archive", 0.0),
        "overlap_encode": bool(e.elsewhere.intersection(enc_keys)),
        "overlap_decode": bool(d.elsewhere.intersection(dec_keys)),
    }
    for way, total in (("encode", enc_s), ("decode", dec_s)):
        split[f"{way}_other_s"] = None if split[f"overlap_{way}"] else total - sum(
            split[f"{way}_{p}_s"] for p in ("tokenizer", "entropy", "dna"))
    return {**split, **parts}


def helix_run(codec, frames, rate: str, constraints: str = "standard") -> dict[str, Any]:
    """One timed encode_video + decode_video at a rate point, with the split (`_split`);
    the decoded frames too."""
    from helix_lightning.model.conditional import is_conditional

    enc, dec = _Timer(), _Timer()
    with _instrumented(codec, enc):
        t = time.perf_counter()
        strands, stats = codec.encode_video(frames, constraints, coder="fsm", rate=rate)
        enc_s = time.perf_counter() - t
    with _instrumented(codec, dec):
        t = time.perf_counter()
        out = codec.decode_video(strands)
        dec_s = time.perf_counter() - t
    return {"encode_s": enc_s, "decode_s": dec_s,
            "split": _split(enc, dec, enc_s, dec_s, is_conditional(codec)),
            "stats": stats, "strands": strands, "decoded": out}


# ---------------------------------------------------------------------- x265

def x265_run(frames, crf: float, preset: str, threads: int) -> dict[str, Any]:
    """Encode the RGB frames with libx265 (yuv420p) and decode them back, timing each way."""
    from fractions import Fraction

    import av
    import numpy as np

    from helix_lightning.errors import HelixError

    if "libx265" not in av.codecs_available:
        raise HelixError("this PyAV/FFmpeg build has no libx265 encoder")
    h, w = frames.shape[1:3]
    if h % 2 or w % 2:
        raise HelixError(f"x265 4:2:0 needs even sides, the frames are {w}x{h}")
    params = "log-level=error" + (f":pools={threads}" if threads else "")
    try:
        enc = av.CodecContext.create("libx265", "w")
        enc.width, enc.height, enc.pix_fmt = w, h, "yuv420p"
        enc.time_base = Fraction(1, 25)
        enc.framerate = Fraction(25, 1)
        enc.options = {"preset": preset, "crf": f"{crf:g}", "x265-params": params}
        packets = []
        t = time.perf_counter()
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            frame.pts = i
            packets += enc.encode(frame)
        packets += enc.encode(None)
        enc_s = time.perf_counter() - t
        nbytes = sum(p.size for p in packets)
        dec = av.CodecContext.create("hevc", "r")
        if threads:
            dec.thread_count = threads
        out = []
        t = time.perf_counter()
        for p in packets:
            out += [f.to_ndarray(format="rgb24") for f in dec.decode(p)]
        out += [f.to_ndarray(format="rgb24") for f in dec.decode(None)]
        dec_s = time.perf_counter() - t
    except av.FFmpegError as exc:
        raise HelixError(f"x265 via PyAV failed: {exc}") from None
    if len(out) != len(frames):
        raise HelixError(f"x265 decoded {len(out)} frames of {len(frames)}")
    return {"encode_s": enc_s, "decode_s": dec_s, "bytes": nbytes, "decoded": np.stack(out)}


# ---------------------------------------------------------------------- model size

def model_dna(path: Path) -> dict[str, float]:
    """The checkpoint file stored as an archive on `standard`: nt (primers excluded)."""
    from helix_lightning.dna.archive import encode_archive
    from helix_lightning.dna.constraints import get_constraints
    from helix_lightning.dna.density import net_density

    data = path.read_bytes()
    arch = encode_archive(data, get_constraints("standard"))
    nt = arch.stats.nt
    return {"bytes": len(data), "nt": nt, "nt_with_primers": arch.stats.nt_with_primers,
            "strands": len(arch.strands), "net_density": net_density(8 * len(data), nt)}


# ---------------------------------------------------------------------- memory

def _tree(pid: int) -> list[int]:
    """pid and all its descendants (Linux /proc children lists)."""
    pids, i = [pid], 0
    while i < len(pids):
        p = pids[i]
        i += 1
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    pids += [int(c) for c in fh.read().split()]
        except (OSError, ValueError):
            pass
    return pids


def _proc_kib(path: str, key: str) -> int:
    """The KiB value of line `key` in a /proc file; 0 when the process is gone."""
    try:
        with open(path) as fh:
            for line in fh:
                if line.startswith(key):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _hwm_kib(pid: int) -> int:
    """The process's own peak resident set (VmHWM), KiB."""
    return _proc_kib(f"/proc/{pid}/status", "VmHWM:")


def _pss_kib(pid: int) -> int:
    """The process's proportional set size now, KiB."""
    return _proc_kib(f"/proc/{pid}/smaps_rollup", "Pss:")


def run_child(cmd: list[str], cwd: Path | None = None) -> dict[str, Any]:
    """Run cmd; its sampled peak tree RSS (VmHWM) and PSS, wall, stdout (module docstring)."""
    from helix_lightning.errors import HelixError

    sample = sys.platform.startswith("linux") and os.path.exists("/proc/self/smaps_rollup")
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        # its own process group, so an interrupted benchmark takes the whole tree down with it
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=cwd, start_new_session=True)
        peak = [0]
        hwm: dict[int, int] = {}  # pid -> its last VmHWM seen (kept after it exits)
        peak_hwm = [0]
        stop = threading.Event()

        def sampler() -> None:
            while not stop.is_set():
                tree = _tree(proc.pid)
                peak[0] = max(peak[0], sum(_pss_kib(p) for p in tree))
                for p in tree:
                    hwm[p] = max(hwm.get(p, 0), _hwm_kib(p))
                peak_hwm[0] = max(peak_hwm[0], sum(hwm.get(p, 0) for p in tree))
                stop.wait(0.1)

        thread = threading.Thread(target=sampler, daemon=True)
        if sample:
            thread.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
                os.waitpid(proc.pid, 0)
            except OSError:
                pass
            raise
        finally:
            stop.set()
            if sample:
                thread.join()
        wall = time.perf_counter() - t
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if proc.returncode != 0:
        lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
        raise HelixError(f"child {' '.join(cmd[:4])} ... exited {proc.returncode}: "
                         f"{lines[-1] if lines else 'no message'}")
    # ru_maxrss: KiB on Linux, bytes on macOS
    rss = usage.ru_maxrss / (1024 * 1024) if sys.platform == "darwin" else usage.ru_maxrss / 1024
    if sample and peak_hwm[0]:
        rss = peak_hwm[0] / 1024
    return {"peak_rss_mib": rss, "peak_tree_pss_mib": peak[0] / 1024 if sample else None,
            "wall_s": wall, "stdout": stdout}


def encode_memory(checkpoint: str | None, video: Path, frames: int, threads: int,
                  rate: str, size: tuple[int, int] | None = None,
                  constraints: str = "standard") -> dict:
    """The encode child's peak memory (`run_child`): the same frames (resized to `size`),
    rate point and constraint set as the timed runs."""
    res = run_child([sys.executable, "-c", _ENCODE_CHILD, checkpoint or "", str(video),
                     str(frames), str(threads), rate, f"{size[0]}x{size[1]}" if size else "",
                     constraints])
    res["child"] = json.loads(res["stdout"].strip().splitlines()[-1])
    return res


def train_memory(config: Path, steps: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        sets = {"trainer.max_steps": steps, "logger": "false", "runs_dir": tmp,
                "checkpoint": str(Path(tmp, "bench_train.ckpt")), "trainer.progress_bar": "false"}
        cmd = [sys.executable, "-m", "helix_lightning.model.train", str(config)]
        for key, value in sets.items():
            cmd += ["--set", f"{key}={value}"]
        return run_child(cmd, cwd=Path(tmp))


def _progress(start: float, message: str) -> None:
    print(f"[{time.perf_counter() - start:6.1f} s] {message}", flush=True)


# ---------------------------------------------------------------------- main

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="Writes bench-out/<--csv> (default bench-out/codec.csv) in the current directory.")
    ap.add_argument("--frames", type=_positive_int, default=30,
                    help="first N frames of the carphone test clip (default 30)")
    ap.add_argument("--size", type=_size, default=None, metavar="WxH",
                    help="resize the frames to WxH first, as helix encode --size does (even "
                         "sides, for x265; default: the clip's 176x144)")
    ap.add_argument("--repeat", type=_positive_int, default=1,
                    help="timed runs; the best is reported (default 1)")
    ap.add_argument("--checkpoint", default=None,
                    help="codec checkpoint (default: the committed default model)")
    ap.add_argument("--rate", default=None, metavar="NAME",
                    help="rate point of the model's ladder (default: the model's default "
                         "point, what helix encode codes at without --rate; mid for the "
                         "default model)")
    ap.add_argument("--x265-crf", type=_crf, default=35.0, help="x265 CRF (default 35)")
    ap.add_argument("--x265-preset", default="medium", help="x265 preset (default medium)")
    ap.add_argument("--train-steps", type=_non_negative_int, default=20,
                    help="steps of the tiny training run measured for memory; 0 skips it "
                         "(default 20)")
    ap.add_argument("--train-config", type=Path, default=TINY_CONFIG,
                    help="training config of the memory run (default experiments/tiny.yaml)")
    ap.add_argument("--threads", type=_non_negative_int, default=0,
                    help="torch threads and x265 pools / decoder threads; 0 = the libraries' "
                         "defaults (default 0)")
    ap.add_argument("--no-warmup", action="store_true",
                    help="time the first run cold (no warm-up encode/decode of 1 frame, 2 for "
                         "an inter model)")
    ap.add_argument("--csv", default="codec.csv", help="CSV name under bench-out/")
    args = ap.parse_args(argv)
    if Path(args.csv).name != args.csv or not args.csv:
        ap.error(f"--csv takes a file name (written under bench-out/), got {args.csv!r}")
    return args


def _best(runs: list[dict]) -> dict:
    """Each way from its own fastest run, with that run's split."""
    best = dict(runs[0])
    enc_run = min(runs, key=lambda r: r["encode_s"])
    dec_run = min(runs, key=lambda r: r["decode_s"])
    best["encode_s"], best["decode_s"] = enc_run["encode_s"], dec_run["decode_s"]
    best["split"] = {k: (enc_run if "encode" in k else dec_run)["split"][k]
                     for k in runs[0]["split"]}
    return best


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Everything the table reports (module docstring), as one dict."""
    from helix_lightning.errors import HelixError
    from helix_lightning.model.checkpoint import resolve_checkpoint

    start = time.perf_counter()
    # the cheap checks first, before torch is imported
    ckpt = resolve_checkpoint(args.checkpoint)
    args.train_config = args.train_config.resolve()
    if args.train_steps and not args.train_config.is_file():
        raise HelixError(f"training config not found: {args.train_config}")

    import torch

    from helix_lightning.model.checkpoint import load_codec
    from helix_lightning.model.conditional import is_conditional
    from helix_lightning.model.rates import default_rate, rate_point
    from helix_lightning.model.video_files import read_input_video
    from helix_lightning.video.io import default_clips

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        import av.logging

        av.logging.set_level(av.logging.ERROR)
    except (ImportError, AttributeError):
        pass

    t = time.perf_counter()
    codec = load_codec(ckpt)
    load_s = time.perf_counter() - t
    rate = args.rate or default_rate(codec.config)  # as helix encode resolves it
    rate_point(rate, codec.config)  # an unknown name: one line naming the model's points
    constraints = codec.config.get("constraints", "standard")
    video = default_clips()["test"][0]
    frames = read_input_video(video, args.frames, args.size)
    n, h, w = frames.shape[:3]
    _progress(start, f"{video.name}: {n} frames {w}x{h}; model {ckpt} ({codec.model_hash()}), "
                     f"rate point {rate}; torch threads {torch.get_num_threads()}, cpus "
                     f"{os.cpu_count()}; timing HELIX and x265 ...")

    if not args.no_warmup:  # caches: float64 token-model copy, FSM tables; an inter frame
        warm = frames[:2] if is_conditional(codec) else frames[:1]
        strands, _ = codec.encode_video(warm, constraints, coder="fsm", rate=rate)
        codec.decode_video(strands)
    best = _best([helix_run(codec, frames, rate, constraints) for _ in range(args.repeat)])
    if best["decoded"].shape != frames.shape:
        raise HelixError(f"HELIX decoded {best['decoded'].shape}, expected {frames.shape}")
    xruns = [x265_run(frames, args.x265_crf, args.x265_preset, args.threads)
             for _ in range(args.repeat)]
    xb = dict(xruns[0])
    xb["encode_s"] = min(x["encode_s"] for x in xruns)
    xb["decode_s"] = min(x["decode_s"] for x in xruns)
    _progress(start, "speed done; complexity and model size in DNA ...")

    params = {name: sum(p.numel() for p in getattr(codec, name).parameters())
              for name in ("tokenizer", "mixer", "token_model")}
    params["total"] = sum(p.numel() for p in codec.parameters())
    kmac = complexity(codec, frames, rate)
    dna = model_dna(ckpt)
    _progress(start, "memory: encode child ...")
    mem_enc = encode_memory(args.checkpoint and str(ckpt), video, n, args.threads, rate,
                            args.size, constraints)
    if tuple(mem_enc["child"]["shape"]) != frames.shape:
        raise HelixError(f"the encode child read {mem_enc['child']['shape']}, the timed runs "
                         f"{list(frames.shape)}")
    mem_train = None
    if args.train_steps:
        _progress(start, f"memory: {args.train_steps}-step training child ...")
        mem_train = train_memory(args.train_config, args.train_steps)
    _progress(start, "done")
    return {"video": video, "frames": frames, "ckpt": ckpt, "codec": codec, "load_s": load_s,
            "rate": rate, "default_rate": default_rate(codec.config),
            "threads": torch.get_num_threads(), "best": best, "x265": xb, "params": params,
            "kmac": kmac, "dna": dna, "mem_enc": mem_enc, "mem_train": mem_train}


# ---------------------------------------------------------------------- table

def _row(group: str, metric: str, value: Any, unit: str = "", target: str = "",
         ok: bool | None = None) -> dict:
    return {"group": group, "metric": metric, "value": value, "unit": unit, "target": target,
            "ok": "" if ok is None else ("yes" if ok else "no")}


def _targets(m: dict) -> tuple[Targets | None, str]:
    """The targets that apply to this run (its frame size, the model's default rate point)
    and, when none do, why."""
    h, w = m["frames"].shape[1:3]
    if (w, h) not in TARGETS:
        sizes = ", ".join(f"{tw}x{th}" for tw, th in TARGETS)
        return None, f"targets at {sizes} only"
    if m["rate"] != m["default_rate"]:
        return None, f"targets at the default rate point {m['default_rate']}"
    return TARGETS[(w, h)], ""


def _setup_rows(m: dict, args: argparse.Namespace) -> list[dict]:
    n, h, w = m["frames"].shape[:3]
    clip = f"{m['video'].name} {w}x{h}" + (" (resized)" if args.size else "")
    rate = m["rate"] + (" (default)" if m["rate"] == m["default_rate"] else "")
    return [
        _row("setup", "clip", clip, "", ""),
        _row("setup", "frames", n, "frames"),
        _row("setup", "checkpoint", m["ckpt"].name),
        _row("setup", "model_hash", m["codec"].model_hash()),
        _row("setup", "rate_point", rate, "", "inter coding" if _is_inter(m) else "intra coding"),
        _row("setup", "torch_threads", m["threads"], "threads"),
        _row("setup", "cpu_count", os.cpu_count() or 0, "cpus"),
        _row("setup", "model_load_s", m["load_s"], "s"),
    ]


def _is_inter(m: dict) -> bool:
    from helix_lightning.model.conditional import is_conditional

    return is_conditional(m["codec"])


def _speed_rows(m: dict) -> list[dict]:
    n = len(m["frames"])
    best, xb = m["best"], m["x265"]
    target, why = _targets(m)
    h_enc, h_dec = n / best["encode_s"], n / best["decode_s"]
    x_enc, x_dec = n / xb["encode_s"], n / xb["decode_s"]
    rows = []
    for way, fps, goal in (("encode", h_enc, target and target.encode_fps),
                           ("decode", h_dec, target and target.decode_fps)):
        rows.append(_row("speed", f"helix_{way}_fps", fps, "frames/s",
                         f">= {goal:g}" if goal else why, fps >= goal if goal else None))
    # with a helper thread (more than one torch thread) the tokenizer runs beside the range
    # coder: the parts then overlap in time and "other" (the remainder) is not meaningful
    inter = _is_inter(m)
    detail = {"encode": (("encoder", "resampling + encoder + mixer + FSQ"),
                         ("context", "reference features of the inter frames"),
                         ("loop_decoder", "the decoder run in the loop")),
              "decode": (("context", "reference features of the inter frames"),
                         ("decoder", "mixer.inverse + decoder"))}
    tok_note = {"encode": "inter: encoder + context + decoder in the loop",
                "decode": "inter: context + decoder, resampling"}
    entropy_note = {"encode": "the range coder's own time", "decode": ""}
    split = best["split"]
    for way in ("encode", "decode"):
        overlap = "parts overlap (threads)" if split[f"overlap_{way}"] else ""
        rows.append(_row("speed", f"helix_{way}_s", best[f"{way}_s"], "s"))
        for part in ("tokenizer", "entropy", "dna", "other"):
            value = split[f"{way}_{part}_s"]
            if value is None:
                continue
            text = {"tokenizer": tok_note[way] if inter else "",
                    "entropy": entropy_note[way]}.get(part, "")
            text = "; ".join(t for t in (text, overlap) if t)
            rows.append(_row("speed", f"helix_{way}_{part}_s", value, "s", text))
        for part, text in detail[way] if inter else ():
            rows.append(_row("speed", f"helix_{way}_{part}_s", split[f"{way}_{part}_s"], "s",
                             f"of tokenizer: {text}"))
    return rows + [
        _row("speed", "x265_encode_fps", x_enc, "frames/s"),
        _row("speed", "x265_decode_fps", x_dec, "frames/s"),
        _row("speed", "helix_over_x265_encode_speed", h_enc / x_enc, "ratio"),
        _row("speed", "helix_over_x265_decode_speed", h_dec / x_dec, "ratio"),
    ]


def _rate_rows(m: dict, args: argparse.Namespace) -> list[dict]:
    from helix_lightning.metrics import bits_per_px, psnr

    frames, st, xb, kmac = m["frames"], m["best"]["stats"], m["x265"], m["kmac"]
    n, h, w = frames.shape[:3]
    return [
        _row("rate", "helix_psnr_db", psnr(frames, m["best"]["decoded"]), "dB",
             f"rate point {m['rate']}, coded at {kmac['coded']}, {kmac['digits']} digits"),
        _row("rate", "helix_bits_per_px", st.bits_per_px, "bits/px"),
        _row("rate", "helix_payload_bits_per_px", st.payload_bits_per_px, "bits/px"),
        _row("rate", "helix_nt_per_px", st.nt_per_px, "nt/px"),
        _row("rate", "helix_nt_per_px_with_primers", st.nt_per_px_with_primers, "nt/px"),
        _row("rate", "helix_strands", st.strands, "strands"),
        _row("rate", "helix_violations", st.violations, "violations", "0",
             st.violations == 0),
        _row("rate", "x265_psnr_db", psnr(frames, xb["decoded"]), "dB",
             f"crf {args.x265_crf:g}, {args.x265_preset}"),
        _row("rate", "x265_bits_per_px", bits_per_px(8 * xb["bytes"], n, h, w), "bits/px"),
    ]


def _memory_rows(m: dict, args: argparse.Namespace) -> list[dict]:
    mem_enc, mem_train = m["mem_enc"], m["mem_train"]
    target, why = _targets(m)
    goal = target and target.encode_mib
    rss = mem_enc["peak_rss_mib"]
    rows = [_row("memory", "encode_peak_rss_mib", rss, "MiB",
                 f"< {goal:.0f}" + (" (4 GB)" if goal == 4 * GB_MIB else "") if goal else why,
                 rss < goal if goal else None)]
    if mem_enc["peak_tree_pss_mib"] is not None:
        rows.append(_row("memory", "encode_peak_tree_pss_mib", mem_enc["peak_tree_pss_mib"],
                         "MiB (sampled)"))
    rows.append(_row("memory", "encode_child_wall_s", mem_enc["wall_s"], "s"))
    if mem_train is not None:
        rows.append(_row("memory", "train_peak_rss_mib", mem_train["peak_rss_mib"], "MiB",
                         f"< {TARGET_TRAIN_MIB:g}", mem_train["peak_rss_mib"] < TARGET_TRAIN_MIB))
        if mem_train["peak_tree_pss_mib"] is not None:
            rows.append(_row("memory", "train_peak_tree_pss_mib", mem_train["peak_tree_pss_mib"],
                             "MiB (sampled)"))
        rows += [_row("memory", "train_steps", args.train_steps, "steps"),
                 _row("memory", "train_child_wall_s", mem_train["wall_s"], "s")]
    return rows


def _model_rows(m: dict) -> list[dict]:
    kmac, dna = m["kmac"], m["dna"]
    rows = [_row("model", f"params_{name}", value, "parameters")
            for name, value in m["params"].items()]
    per = f"per input px of {kmac['frame']}"
    if _is_inter(m):
        enc_ctx, dec_ctx = kmac["contexts"]
        enc_note = f"encoder + decoder in the loop + context x{enc_ctx}, {per}"
        dec_note = f"decoder + context x{dec_ctx}, {per}"
    else:
        enc_note = f"tokenizer.encode + mixer, {per}"
        dec_note = f"mixer.inverse + tokenizer.decode, {per}"
    rows += [
        _row("model", "kmac_per_px_encode", kmac["encode"], "kMAC/px", enc_note),
        _row("model", "kmac_per_px_decode", kmac["decode"], "kMAC/px", dec_note),
    ]
    if "encode_intra" in kmac:
        rows += [_row("model", "kmac_per_px_encode_intra_frame", kmac["encode_intra"],
                      "kMAC/px", "frame 0: encoder + decoder in the loop"),
                 _row("model", "kmac_per_px_decode_intra_frame", kmac["decode_intra"],
                      "kMAC/px", "frame 0: decoder")]
    passes = f"mean per frame of {INTER_FRAMES}" if _is_inter(m) else "one coding pass"
    rows += [
        _row("model", "kmac_per_px_token_model", kmac["token_model"], "kMAC/px",
             f"{passes} ({kmac['stages']} stages, drop {kmac['drop']:g}, {kmac['digits']} "
             f"digits, coded at {kmac['coded']})"),
        _row("model", "model_bytes", dna["bytes"], "bytes"),
        _row("model", "model_nt", dna["nt"], "nt", "standard, primers excluded"),
        _row("model", "model_nt_with_primers", dna["nt_with_primers"], "nt"),
        _row("model", "model_strands", dna["strands"], "strands"),
        _row("model", "model_net_density", dna["net_density"], "bits/nt"),
    ]
    return rows


def run(args: argparse.Namespace) -> list[dict]:
    """Measure (`measure`) and lay the results out as table rows."""
    m = measure(args)
    return (_setup_rows(m, args) + _speed_rows(m) + _rate_rows(m, args)
            + _memory_rows(m, args) + _model_rows(m))


def _terminate(signum, frame) -> None:
    raise SystemExit(128 + signum)  # unwinds through run_child, which kills its child tree


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
    from helix_lightning.errors import HelixError

    try:
        rows = run(args)
    except HelixError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    size = f" at {args.size[0]}x{args.size[1]}" if args.size else ""
    emit(rows, f"HELIX codec vs x265 (crf {args.x265_crf:g}, {args.x265_preset}), "
               f"{args.frames} frames of carphone{size}", args.csv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
