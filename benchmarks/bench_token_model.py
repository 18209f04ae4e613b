"""Token-model coding cost against picture size: the global `masked` model and the `local`
(window attention) one at equal dim/depth/heads, measured in the same run.

Run: .venv/bin/python benchmarks/bench_token_model.py [--sizes 176x144,640x360,1280x720]
         [--models masked,local] [--dim 96] [--depth 3] [--heads 4] [--window 8]
         [--frames 2] [--codec]

For each picture size the token grid is the one the codec codes (`HelixCodec.tokenize` of
an untrained codec with the committed default model's configuration: tokenizer, mixer
padding, FSQ; no weights are loaded). For each model and size a fresh child process builds
the model with random weights (coding cost does not depend on the weights), codes one frame
to build its caches (the float64 coding copy, attention masks), then range-codes `--frames`
frames of random tokens with `entropy.TokenEntropyCoder` (every stage, previous frame as
context, as `HelixCodec.compress` does), decodes them back and checks the round trip.

Columns: seconds per frame, wall and CPU (`time.process_time`: on a shared machine CPU time
moves less than wall time), for encode and decode; `peak_coding_mib`: the child's peak RSS
while coding (its high-water mark reset just before, `/proc/self/clear_refs`),
`coding_extra_mib` that peak less its RSS before coding (torch alone is ~0.9 GiB); `x_vs_masked`: the masked model's encode CPU time over this model's at the
same size. The coder runs the network on one thread in float64 (`masked.coding_context`).

`--codec`: also the whole codec at 1280x720, one frame: an untrained codec with the default
model's tokenizer/mixer/FSQ and the local token model, `codec.encode_video` (tokenize,
entropy code, FSM archive) and `codec.decode_video`, wall seconds and peak RSS of a child.

Output: a table, and bench-out/token_model.csv.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
from _table import emit  # noqa: E402

REPO = Path(__file__).resolve().parent.parent

# Child: argv = JSON {name, kwargs, grid, frames}; prints one JSON line of measurements.
_CODING_CHILD = r"""
import json, sys, time
import torch
from helix_lightning.model import build
from helix_lightning.model.entropy import TokenEntropyCoder
sys.path.insert(0, sys.argv[2])
from bench_token_model import rss_mib, reset_peak, peak_mib
spec = json.loads(sys.argv[1])
hp, wp = spec["grid"]
torch.manual_seed(0)
net = build("token_model", spec["name"], **spec["kwargs"]).eval()
clip = torch.randint(0, net.codebook_size, (spec["frames"], hp, wp),
                     generator=torch.Generator().manual_seed(1))
TokenEntropyCoder(net, hp, wp, 4).encode(iter(clip[:1]), 1)  # warm: caches
base = rss_mib()
reset_peak()
out = {"base_mib": base}
t, c = time.perf_counter(), time.process_time()
enc = TokenEntropyCoder(net, hp, wp, 4).encode(iter(clip), len(clip))
out["enc_wall"], out["enc_cpu"] = time.perf_counter() - t, time.process_time() - c
t, c = time.perf_counter(), time.process_time()
dec = torch.stack(list(TokenEntropyCoder(net, hp, wp, 4).decode(enc.strings, len(clip))))
out["dec_wall"], out["dec_cpu"] = time.perf_counter() - t, time.process_time() - c
out["peak_mib"] = peak_mib()
out["round_trip"] = bool(torch.equal(dec, enc.tokens))
print(json.dumps(out))
"""

# Child: argv = JSON {model_cfg, height, width}; the whole codec on one frame.
_CODEC_CHILD = r"""
import json, sys, time
import numpy as np
import torch
from helix_lightning.model.module import build_codec
sys.path.insert(0, sys.argv[2])
from bench_token_model import reset_peak, peak_mib
spec = json.loads(sys.argv[1])
torch.manual_seed(0)
codec = build_codec(spec["model_cfg"]).eval()
h, w = spec["height"], spec["width"]
yy, xx = np.mgrid[0:h, 0:w]
frame = np.stack([(xx * 255 // w), (yy * 255 // h), ((xx + yy) % 256)], -1).astype(np.uint8)
frames = frame[None]
codec.encode_video(frames[:, :64, :64], coder="fsm")  # warm: FSM tables
reset_peak()
t = time.perf_counter()
strands, stats = codec.encode_video(frames, coder="fsm")
enc = time.perf_counter() - t
t = time.perf_counter()
back = codec.decode_video(strands)
dec = time.perf_counter() - t
print(json.dumps({"enc_wall": enc, "dec_wall": dec, "peak_mib": peak_mib(),
                  "nt": stats["nt"], "same_shape": list(back.shape) == list(frames.shape)}))
"""


def _status_kib(field: str) -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return float(line.split()[1])
    raise KeyError(field)


def rss_mib() -> float:
    """This process's resident set now (MiB)."""
    return _status_kib("VmRSS") / 1024


def reset_peak() -> None:
    """Reset this process's peak-RSS mark to its current RSS (Linux 4.0+)."""
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


def peak_mib() -> float:
    """This process's peak resident set since the last `reset_peak` (MiB)."""
    return _status_kib("VmHWM") / 1024


def _child(code: str, spec: dict, timeout: float) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src") + os.pathsep
           + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(spec),
                           os.path.dirname(os.path.abspath(__file__))],
                          capture_output=True, text=True, timeout=timeout, env=env)
    if proc.returncode:
        raise RuntimeError(f"child failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def default_model_cfg() -> dict:
    """The committed default model's `model` config (no weights), resolved."""
    from helix_lightning.model.checkpoint import DEFAULT_CHECKPOINT, read_checkpoint
    from helix_lightning.model.config import resolve

    stored = read_checkpoint(DEFAULT_CHECKPOINT)["hyper_parameters"]["config"]["model"]
    return resolve({"model": stored})["model"]


def token_grids(model_cfg: dict, sizes: list[tuple[int, int]]) -> dict:
    """(width, height) -> (hp, wp): the token grid the codec codes at that size."""
    import numpy as np

    from helix_lightning.model.module import build_codec

    codec = build_codec(model_cfg).eval()
    return {(w, h): tuple(codec.tokenize(np.zeros((1, h, w, 3), np.uint8))[0].shape[-2:])
            for w, h in sizes}


def coding_rows(args: argparse.Namespace, grids: dict, codebook: int) -> list[dict]:
    """One table row per size and model."""
    rows = []
    common = {"codebook_size": codebook, "dim": args.dim, "depth": args.depth,
              "heads": args.heads}
    own = {"masked": {"max_tokens": 10**7}, "local": {"window": args.window}}
    for (w, h), (hp, wp) in grids.items():
        masked_cpu = None
        for name in args.models:
            spec = {"name": name, "kwargs": {**common, **own.get(name, {})},
                    "grid": [hp, wp], "frames": args.frames}
            print(f"  {name} at {w}x{h} (grid {hp}x{wp}) ...", flush=True)
            r = _child(_CODING_CHILD, spec, args.timeout)
            n = args.frames
            if name == "masked":
                masked_cpu = r["enc_cpu"]
            rows.append({"size": f"{w}x{h}", "grid": f"{hp}x{wp}", "tokens": hp * wp,
                         "model": name, "enc_s_wall": r["enc_wall"] / n,
                         "enc_s_cpu": r["enc_cpu"] / n, "dec_s_wall": r["dec_wall"] / n,
                         "dec_s_cpu": r["dec_cpu"] / n, "peak_coding_mib": r["peak_mib"],
                         "coding_extra_mib": r["peak_mib"] - r["base_mib"],
                         "x_vs_masked": (masked_cpu / r["enc_cpu"]) if masked_cpu else "",
                         "round_trip": r["round_trip"]})
    return rows


def codec_row(args: argparse.Namespace, model_cfg: dict) -> dict:
    """The whole untrained codec with the local token model at 1280x720, one frame."""
    cfg = {**model_cfg, "masked": {"name": "local", "dim": args.dim, "depth": args.depth,
                                   "heads": args.heads, "window": args.window,
                                   "dropout": 0.0}}
    print("  whole codec, local token model, 1280x720 ...", flush=True)
    r = _child(_CODEC_CHILD, {"model_cfg": cfg, "height": 720, "width": 1280}, args.timeout)
    return {"size": "1280x720", "what": "codec encode_video+decode_video, 1 frame, untrained",
            "enc_s_wall": r["enc_wall"], "dec_s_wall": r["dec_wall"],
            "enc_fps": 1 / r["enc_wall"], "dec_fps": 1 / r["dec_wall"],
            "peak_mib": r["peak_mib"], "nt": r["nt"], "decoded": r["same_shape"]}


def _sizes(text: str) -> list[tuple[int, int]]:
    try:
        return [tuple(int(v) for v in s.lower().split("x")) for s in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"sizes are WxH,WxH,..., got {text!r}") from None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=_sizes, default=_sizes("176x144,640x360,1280x720"))
    ap.add_argument("--models", type=lambda s: s.split(","), default=["masked", "local"])
    ap.add_argument("--dim", type=int, default=None, help="default: the default model's")
    ap.add_argument("--depth", type=int, default=None, help="default: the default model's")
    ap.add_argument("--heads", type=int, default=None, help="default: the default model's")
    ap.add_argument("--window", type=int, default=8)
    ap.add_argument("--frames", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--codec", action="store_true", help="also the whole codec at 1280x720")
    args = ap.parse_args(argv)
    model_cfg = default_model_cfg()
    for key in ("dim", "depth", "heads"):
        if getattr(args, key) is None:
            setattr(args, key, model_cfg["masked"][key])
    codebook = model_cfg["levels"] ** model_cfg["tokenizer"]["channels_latent"]
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; token models: dim {args.dim}, depth {args.depth}, heads {args.heads}, "
          f"codebook {codebook}, window {args.window} (local); {args.frames} frames, 4 stages")
    rows = coding_rows(args, token_grids(model_cfg, args.sizes), codebook)
    emit(rows, "Token model coding cost per frame (1 thread, float64)", "token_model.csv")
    if args.codec:
        emit([codec_row(args, model_cfg)], "Whole codec, local token model",
             "token_model_codec.csv")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
