"""A trial's measurement: the evaluation clip through the real codec to strands and back.

`evaluate(codec, frames, ...)` encodes the clip (`HelixCodec.encode_video`: range coder,
container, FSM coder + outer code, or the direct mapping), decodes the strands
(`decode_video`) and compares the decoded frames with the originals. Returned
(docs/DESIGN.md's words): psnr, ms_ssim, bits_per_px, nt_per_px (+ _with_primers),
coding_density, net_density (+ _with_primers), capacity (bits/nt of the constraint set's graph),
share_of_capacity (= coding_density / capacity), violations (of the strands written),
direct_violations (of the direct mapping of the stored tokens), strands, nt, and histograms:

- `hist_runs_written` / `hist_runs_direct`: homopolymer runs by length, counts[i] = runs of
  length i+1, the last bucket `RUN_BUCKETS` and longer; of (a) the strands written, whole
  (primers included, as `violations` counts them) and (b) the direct mapping of the stored
  tokens, cut into `dna.direct.DIRECT_BODY`-nt strands (as `direct_violations` counts them);
- `hist_gc_written` / `hist_gc_direct`: counts[k] = windows of w nt (`hist_gc_window`)
  holding k G or C, k = 0..w, i.e. GC share k/w (bin edges `hist_gc_edges`, (k -+ 0.5)/w);
  w is the constraint set's `gc_window` (20 for sets without one).

With `out_dir` the first original and decoded frame are saved as `frame0.png` (side by side;
user attribute `frame_image`) and `frame0.npz` (`frame_npz`).
"""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Any

import numpy as np

RUN_BUCKETS = 8
DEFAULT_GC_WINDOW = 20


# ---------------------------------------------------------------- the clip

def clip_path(ev: dict, cfg: dict) -> Path:
    """The evaluation clip a sweep's `eval.clip` names (see config.py)."""
    clip = ev["clip"]
    if clip in ("test", "val"):
        from ..video.io import default_clips

        return default_clips()[clip][0]
    if clip == "synthetic":
        from ..model.train import synthetic_clips

        s = cfg["data"]["synthetic"]
        directory = synthetic_clips(Path(cfg["runs_dir"]) / cfg["name"] / "synthetic",
                                    s["videos"], s["frames"], s["height"], s["width"],
                                    seed=cfg["seed"])
        return sorted(directory.glob("*.mkv"))[0]
    return Path(clip)


@functools.lru_cache(maxsize=4)
def _read(path: str, frames: int, size: tuple[int, int] | None) -> np.ndarray:
    from ..video.io import read_video

    return read_video(path, frames=frames, size=size)


def read_clip(ev: dict, cfg: dict) -> tuple[np.ndarray, str]:
    """uint8 frames (T, H, W, 3) of the evaluation clip, and its path."""
    path = clip_path(ev, cfg)
    size = tuple(ev["size"]) if ev.get("size") else None
    frames = _read(str(path), int(ev["frames"]), size)
    return frames.copy(), str(path)


# ---------------------------------------------------------------- histograms

def run_histogram(codes: list[np.ndarray], buckets: int = RUN_BUCKETS) -> list[int]:
    """Homopolymer runs by length over each sequence of base codes (runs do not cross
    sequences): counts[i] = runs of length i+1, the last bucket `buckets` and longer."""
    counts = np.zeros(buckets, dtype=np.int64)
    for seq in codes:
        seq = np.asarray(seq)
        if seq.size == 0:
            continue
        starts = np.flatnonzero(np.concatenate([[True], seq[1:] != seq[:-1]]))
        lengths = np.diff(np.append(starts, seq.size))
        counts += np.bincount(np.minimum(lengths, buckets) - 1, minlength=buckets)
    return [int(c) for c in counts]


def gc_histogram(codes: list[np.ndarray], window: int) -> list[int]:
    """counts[k] = windows of `window` nt (every offset, within each sequence) holding k G/C."""
    from ..dna.constraints import GC_OF_CODE

    counts = np.zeros(window + 1, dtype=np.int64)
    for seq in codes:
        seq = np.asarray(seq)
        if seq.size < window:
            continue
        gc = GC_OF_CODE[seq].astype(np.int64)
        csum = np.concatenate([[0], np.cumsum(gc)])
        counts += np.bincount(csum[window:] - csum[:-window], minlength=window + 1)
    return [int(c) for c in counts]


def gc_edges(window: int) -> list[float]:
    """Bin edges (GC share) of `gc_histogram`'s counts: (k - 0.5)/w .. (k + 0.5)/w."""
    return [(k - 0.5) / window for k in range(window + 2)]


# ---------------------------------------------------------------- capacity

@functools.cache
def capacity(constraints: str) -> float:
    """Shannon capacity (bits/nt) of a constraint set (`dna.capacity.constraint_capacity`)."""
    from ..dna.capacity import constraint_capacity

    return constraint_capacity(constraints)


# ---------------------------------------------------------------- the measurement

def direct_codes(codec, frames: np.ndarray, stages: int, drop: float) -> list[np.ndarray]:
    """The stored tokens' digits as bases (direct mapping order, `dna.direct.DIRECT_BODY`-nt
    pieces): the tokens the encoder chose at the positions the container stores."""
    from ..metrics import direct_mapping_bases
    from ..dna.direct import DIRECT_BODY
    from ..model.masked import stage_masks

    ids, _ = codec.tokenize(frames)
    _, hp, wp = ids.shape
    stored = ~stage_masks(hp, wp, stages, drop)[-1]
    digits = codec.fsq.digits_from_indices(ids)[:, :, stored]
    bases = direct_mapping_bases(digits)
    return [bases[i:i + DIRECT_BODY] for i in range(0, bases.size, DIRECT_BODY)]


def evaluate(codec, frames: np.ndarray, coder: str = "fsm", constraints: str = "standard",
             redundancy: float | None = None, out_dir: Path | None = None) -> dict[str, Any]:
    """Encode `frames` to strands, decode them, measure (see the module docstring).

    With `out_dir`, the first original and decoded frame are saved there as `frame0.png`
    (side by side) and `frame0.npz` (arrays `original`, `decoded`)."""
    import torch

    from ..dna.constraints import encode_bases, get_constraints
    from ..metrics import video_quality

    cs = get_constraints(constraints)
    t0 = time.perf_counter()
    with torch.no_grad():
        strands, stats = codec.encode_video(frames, constraints=constraints, coder=coder,
                                            redundancy=redundancy)
        encode_s = time.perf_counter() - t0
        decoded = codec.decode_video(strands, constraints=constraints, coder=coder)
    decode_s = time.perf_counter() - t0 - encode_s
    if decoded.shape != frames.shape:
        raise RuntimeError(f"decoded {decoded.shape}, encoded {frames.shape}")
    psnr, ms_ssim = video_quality(decoded, frames)
    cap = capacity(constraints)
    window = cs.gc_window or DEFAULT_GC_WINDOW
    written = [encode_bases(s) for s in strands]
    direct = direct_codes(codec, frames, int(stats.stages), float(stats.drop))
    out: dict[str, Any] = {
        "psnr": psnr,
        "ms_ssim": ms_ssim,
        "bits_per_px": float(stats.bits_per_px),
        "nt_per_px": float(stats.nt_per_px),
        "nt_per_px_with_primers": float(stats.nt_per_px_with_primers),
        "coding_density": float(stats.coding_density),
        "net_density": float(stats.net_density),
        "net_density_with_primers": float(stats.net_density_with_primers),
        "capacity": cap,
        "share_of_capacity": float(stats.coding_density) / cap,
        "violations": int(stats.violations),
        "direct_violations": int(stats.direct_violations),
        "strands": int(stats.strands), "nt": int(stats.nt),
        "frames": int(stats.frames), "width": int(stats.width),
        "height": int(stats.height), "stages": int(stats.stages),
        "drop": float(stats.drop), "coder": coder, "constraints": cs.name,
        "encode_seconds": encode_s, "decode_seconds": decode_s,
        "hist_runs_written": run_histogram(written), "hist_runs_direct": run_histogram(direct),
        "hist_gc_written": gc_histogram(written, window),
        "hist_gc_direct": gc_histogram(direct, window),
        "hist_gc_window": window, "hist_gc_edges": gc_edges(window),
    }
    if out_dir is not None:
        out.update(save_frames(frames[0], decoded[0], Path(out_dir)))
    return out


def save_frames(original: np.ndarray, decoded: np.ndarray, out_dir: Path) -> dict[str, str]:
    """frame0.png (original | decoded) and frame0.npz under `out_dir`; their paths
    (`frame_image`, `frame_npz`)."""
    from PIL import Image

    out_dir.mkdir(parents=True, exist_ok=True)
    npz, png = out_dir / "frame0.npz", out_dir / "frame0.png"
    np.savez_compressed(npz, original=original, decoded=decoded)
    gap = np.full((original.shape[0], 4, 3), 255, dtype=np.uint8)
    Image.fromarray(np.concatenate([original, gap, decoded], axis=1)).save(png)
    return {"frame_image": str(png), "frame_npz": str(npz)}
