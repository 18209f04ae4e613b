"""Where a model's distortion comes from: the quaternary digits, or the autoencoder itself.

Run: .venv/bin/python benchmarks/bench_latent_ceiling.py [--checkpoint CKPT] [--frames 8]
     [--steps 0,20,40]

On the first frames of the test clip (carphone_pristine, never trained on), at scale 1 (the
`mid` coding size), the PSNR of the decoder's output (before the uint8 rounding) from:
- `continuous`: the encoder's latent, bounded (tanh) but not quantised;
- `levels L`: that latent rounded to L levels per channel (4 is the codec's FSQ);
- `refined N`: the latent after N Adam steps (lr 0.005) on the decoded frames' mean squared
  error through FSQ's straight-through rounding, then FSQ: encoder-side refinement, the
  decoder untouched.
The first two say what quantisation costs; the third how far the encoder's one-pass guess is
from what the same decoder can show (the amortisation gap). Prints a table and writes
bench-out/latent_ceiling.csv.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(__file__))
from _table import emit  # noqa: E402

from helix_lightning.model.checkpoint import load_codec  # noqa: E402
from helix_lightning.model.codec import frames_to_tensor  # noqa: E402
from helix_lightning.video.io import default_clips, read_video  # noqa: E402


def psnr(x_hat: torch.Tensor, x: torch.Tensor) -> float:
    return float(10 * torch.log10(1.0 / torch.mean((x_hat.clamp(0, 1) - x) ** 2)))


def refine_latent(codec, x: torch.Tensor, steps: int, lr: float = 0.005) -> torch.Tensor:
    """The encoder's latent of x after `steps` Adam steps on the decoded frames' MSE."""
    for p in codec.parameters():
        p.requires_grad_(False)
    with torch.no_grad():
        lat = codec.tokenizer.encode(x)
    lat.requires_grad_(True)
    opt = torch.optim.Adam([lat], lr=lr)
    for _ in range(steps):
        z_q, _ = codec.fsq(codec.mixer(lat))
        x_hat = codec.tokenizer.decode(codec.mixer.inverse(z_q, size=tuple(lat.shape[-2:])),
                                       tuple(x.shape[-2:]))
        loss = torch.mean((x_hat - x) ** 2)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return lat.detach()


def decoded(codec, latent: torch.Tensor, x: torch.Tensor, levels: int | None) -> torch.Tensor:
    """The decoder's frames from `latent` (pre-mixer), rounded to `levels` per channel after
    the mixer and tanh (None: not rounded)."""
    bounded = torch.tanh(codec.mixer(latent))
    if levels:
        half = (levels - 1) / 2
        bounded = (torch.round(bounded * half + half).clamp(0, levels - 1) - half) / half
    z = codec.mixer.inverse(bounded, size=tuple(latent.shape[-2:]))
    return codec.tokenizer.decode(z, tuple(x.shape[-2:]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--steps", default="0,20,40", help="refinement steps to measure")
    args = ap.parse_args()
    torch.set_num_threads(1)
    codec = load_codec(args.checkpoint).eval()
    frames = read_video(default_clips()["test"][0], frames=args.frames)
    x = frames_to_tensor(codec, frames)
    rows = []
    with torch.no_grad():
        lat = codec.tokenizer.encode(x)
        rows.append({"latent": "continuous", "psnr_db": psnr(decoded(codec, lat, x, None), x),
                     "seconds": 0.0})
        for levels in (4, 8, 16, 64):
            rows.append({"latent": f"levels {levels}",
                         "psnr_db": psnr(decoded(codec, lat, x, levels), x), "seconds": 0.0})
    for steps in (int(s) for s in args.steps.split(",") if s.strip() and int(s) > 0):
        t0 = time.perf_counter()
        refined = refine_latent(codec, x, steps)
        with torch.no_grad():
            rows.append({"latent": f"refined {steps}, levels 4",
                         "psnr_db": psnr(decoded(codec, refined, x, 4), x),
                         "seconds": time.perf_counter() - t0})
    emit(rows, f"latent ceiling: model {codec.model_hash()}, {args.frames} frames of "
         "carphone_pristine at 176x144, scale 1", "latent_ceiling.csv")


if __name__ == "__main__":
    main()
