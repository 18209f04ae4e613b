"""What inter coding buys: an inter model's rate points at its gop against every frame intra.

For each checkpoint and rate point, the first `--frames` frames of the test clip
(carphone_pristine, never trained or selected on) go through `encode_video` (FSM coder,
`standard`) and `decode_video`, once with the model's own `model.inter.gop` and once with
gop 1 (the same network, every frame intra: the baseline measured in the same run). Prints
nt/px, PSNR and violations per row and the inter/intra ratio of nt at each point, and writes
bench-out/inter.csv (docs/CODEC.md, "Inter coding").

    python benchmarks/bench_inter.py --checkpoint runs/cpu2_inter/cpu2_inter.ckpt \
        --points q2,q4,q6 [--frames 30] [--gop 8]
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _table import emit  # noqa: E402

from helix_lightning.demo import test_clip  # noqa: E402
from helix_lightning.dna.constraints import get_constraints  # noqa: E402
from helix_lightning.metrics import psnr  # noqa: E402
from helix_lightning.model.checkpoint import load_codec  # noqa: E402
from helix_lightning.model.pipeline import decode_video, encode_video  # noqa: E402
from helix_lightning.video.io import read_video  # noqa: E402


def measure(codec, frames: np.ndarray, point: str, gop: int) -> dict:
    """One rate point at one gop: nt/px, PSNR of the decoded frames, violations, seconds."""
    codec = copy.copy(codec)
    codec.config = {**codec.config, "inter": {**codec.config.get("inter", {}), "gop": gop}}
    cs = get_constraints("standard")
    start = time.perf_counter()
    strands, stats = encode_video(codec, frames, cs, rate=point)
    decoded = decode_video(codec, strands, cs)
    return {"nt_per_px": stats.nt_per_px, "psnr_db": float(psnr(decoded, frames)),
            "violations": stats.violations, "seconds": round(time.perf_counter() - start, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", action="append", required=True,
                        help="an inter-coded model (repeat for several)")
    parser.add_argument("--points", default="q2,q4,q6", help="rate points, comma-separated")
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--gop", type=int, help="default: each model's own model.inter.gop")
    args = parser.parse_args(argv)
    frames = read_video(test_clip())[: args.frames]
    rows = []
    for ckpt in args.checkpoint:
        codec = load_codec(ckpt)
        gop = args.gop or int(codec.config.get("inter", {}).get("gop", 8))
        for point in args.points.split(","):
            inter, intra = measure(codec, frames, point, gop), measure(codec, frames, point, 1)
            for mode, m in ((f"gop {gop}", inter), ("gop 1", intra)):
                rows.append({"model": Path(ckpt).stem, "hash": codec.model_hash(),
                             "point": point, "mode": mode, **m,
                             "nt_vs_intra": round(m["nt_per_px"] / intra["nt_per_px"], 4)})
    emit(rows, f"inter coding against every frame intra, {len(frames)} frames of "
         f"{test_clip().stem}, FSM standard", "inter.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
