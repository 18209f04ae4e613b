"""Pseudo-video from photographs: a virtual camera pans and zooms over a still photo.

Real photographs carry far more varied real texture than the few real clips a package ships,
but a still has no motion. A clip of T frames is cut from one photo by a window that slides
along a straight line and zooms at a constant rate: the window's centre moves linearly from
`start` to `end` (source pixels) and its scale (output pixels per source pixel) changes
geometrically from `scale[0]` to `scale[1]`; every window stays inside the photo. Frames are
resampled bilinearly from the photo, first shrunk with antialiasing to the sharpest frame's
scale, so zoomed-out frames do not alias. The path is drawn from a numpy Generator, so a clip
is fixed by (seed, epoch, index): the same on every worker and every run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from ..errors import HelixError

#: Photo file suffixes the DataModule accepts.
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass(frozen=True)
class Motion:
    """How the virtual camera may move. speed: output pixels per frame (uniform in the range);
    zoom: the largest zoom rate, |log scale change| per frame; scale: range of the first
    frame's scale (log-uniform; below 1 zooms out, showing more of the photo per pixel)."""
    speed: tuple[float, float] = (0.0, 4.0)
    zoom: float = 0.03
    scale: tuple[float, float] = (0.25, 1.0)


@dataclass(frozen=True)
class CameraPath:
    """A window's centre (y, x) in source pixels at the first and last frame, and its scale
    (output pixels per source pixel) at both."""
    start: tuple[float, float]
    end: tuple[float, float]
    scale: tuple[float, float]


@dataclass(frozen=True)
class Photo:
    """A probed photo: its path and size."""
    path: Path
    width: int
    height: int


@dataclass(frozen=True)
class PhotoClip:
    """One pseudo-video clip to render: source number `video` (photos are numbered after a
    dataset's videos, so sharding by file still works) and the camera path."""
    video: int
    camera: CameraPath


def probe_photo(path: str | Path) -> Photo:
    """A Photo from the file's header; HelixError naming the file when it is not an image."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as image:
            return Photo(path, image.width, image.height)
    except (OSError, UnidentifiedImageError) as exc:
        raise HelixError(f"{path}: not a readable image ({exc})") from None


def load_photo(path: str | Path) -> np.ndarray:
    """A photo as uint8 RGB (H, W, 3); grey photos get three equal channels."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except OSError as exc:
        raise HelixError(f"{path}: not a readable image ({exc})") from None


def random_camera_path(rng: np.random.Generator, size: tuple[int, int], crop: tuple[int, int],
                       frames: int, motion: Motion = Motion()) -> CameraPath:
    """A random straight pan with constant zoom over a photo of `size` (height, width) whose
    windows of `crop` output pixels all lie inside the photo."""
    (height, width), (crop_h, crop_w) = size, crop
    fit = max(crop_h / height, crop_w / width)  # below this scale the window leaves the photo
    if fit > 1:
        raise HelixError(f"photo {width}x{height} is smaller than the {crop_w}x{crop_h} crop")
    low = max(motion.scale[0], fit)
    high = max(motion.scale[1], low)
    s0 = float(np.exp(rng.uniform(np.log(low), np.log(high))))
    s1 = max(fit, s0 * float(np.exp(rng.uniform(-motion.zoom, motion.zoom) * (frames - 1))))
    speed = rng.uniform(*motion.speed) * (frames - 1) / math.sqrt(s0 * s1)  # source pixels
    angle = rng.uniform(0, 2 * math.pi)
    start, end = [], []
    for length, crop_len, step in ((height, crop_h, speed * math.sin(angle)),
                                   (width, crop_w, speed * math.cos(angle))):
        h0, h1 = crop_len / s0 / 2, crop_len / s1 / 2
        step = min(max(step, h1 + h0 - length), length - h1 - h0)  # keep both ends inside
        lo, hi = max(h0, h1 - step), min(length - h0, length - h1 - step)
        centre = float(rng.uniform(lo, hi)) if hi > lo else (lo + hi) / 2
        start.append(centre)
        end.append(centre + step)
    return CameraPath((start[0], start[1]), (end[0], end[1]), (s0, s1))


def render_clip(image: np.ndarray, camera: CameraPath, frames: int,
                crop: tuple[int, int]) -> torch.Tensor:
    """The clip a camera path sees: float32 (T, 3, crop_h, crop_w) in [0, 1]."""
    height, width = image.shape[:2]
    crop_h, crop_w = crop
    t = np.linspace(0.0, 1.0, frames) if frames > 1 else np.zeros(1)
    centre = np.asarray(camera.start) + (np.asarray(camera.end) - camera.start) * t[:, None]
    scale = camera.scale[0] * (camera.scale[1] / camera.scale[0]) ** t
    half = np.stack([crop_h / scale, crop_w / scale], 1) / 2  # (T, 2) window half-sizes
    top = max(0, math.floor((centre[:, 0] - half[:, 0]).min()) - 2)
    bottom = min(height, math.ceil((centre[:, 0] + half[:, 0]).max()) + 2)
    left = max(0, math.floor((centre[:, 1] - half[:, 1]).min()) - 2)
    right = min(width, math.ceil((centre[:, 1] + half[:, 1]).max()) + 2)
    region = torch.from_numpy(np.array(image[top:bottom, left:right]))  # a writable copy
    region = region.permute(2, 0, 1)[None].float() / 255
    shrink = min(1.0, float(scale.max()))
    if shrink < 1:  # antialiased shrink to the sharpest frame's scale before resampling
        size = (max(1, round(region.shape[2] * shrink)), max(1, round(region.shape[3] * shrink)))
        region = F.interpolate(region, size=size, mode="bilinear", antialias=True,
                               align_corners=False)
    factor_y = region.shape[2] / (bottom - top)
    factor_x = region.shape[3] / (right - left)
    # output pixel i of frame t looks at source coordinate centre - half + (i + 0.5) * 2 half / n
    steps_y = (torch.arange(crop_h, dtype=torch.float64) + 0.5) / crop_h
    steps_x = (torch.arange(crop_w, dtype=torch.float64) + 0.5) / crop_w
    c, h = torch.from_numpy(centre), torch.from_numpy(half)
    y = (c[:, :1] - h[:, :1] + steps_y[None] * 2 * h[:, :1] - top) * factor_y
    x = (c[:, 1:] - h[:, 1:] + steps_x[None] * 2 * h[:, 1:] - left) * factor_x
    grid_y = (2 * y / region.shape[2] - 1)[:, :, None].expand(-1, -1, crop_w)
    grid_x = (2 * x / region.shape[3] - 1)[:, None, :].expand(-1, crop_h, -1)
    grid = torch.stack([grid_x, grid_y], -1).float()
    out = F.grid_sample(region.expand(len(t), -1, -1, -1), grid, mode="bilinear",
                        padding_mode="border", align_corners=False)
    return out.clamp_(0, 1)


class PhotoClipDataset(Dataset):
    """`clips` pseudo-video clips of `frames` frames and `crop` (height, width) pixels from
    photos; clip i of an epoch is fixed by (seed, epoch, i). Photos are decoded on demand, or
    taken from `decoded` (uint8 RGB arrays, one per photo) when given."""

    def __init__(self, photos: Sequence[Photo], frames: int, crop: tuple[int, int], clips: int,
                 *, seed: int = 0, motion: Motion = Motion(),
                 decoded: Sequence[np.ndarray] | None = None) -> None:
        if not photos:
            raise HelixError("a photo clip dataset needs at least one photo")
        self.photos, self.frames, self.crop, self.clips = list(photos), frames, crop, clips
        self.seed, self.motion, self.decoded = seed, motion, decoded
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the clips of epoch `epoch`."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self.clips

    def clip(self, index: int) -> PhotoClip:
        """Which photo clip `index` shows and how the camera moves over it."""
        rng = np.random.default_rng([self.seed, self.epoch, index])
        number = int(rng.integers(len(self.photos)))
        photo = self.photos[number]
        return PhotoClip(number, random_camera_path(rng, (photo.height, photo.width),
                                                    self.crop, self.frames, self.motion))

    def image(self, number: int) -> np.ndarray:
        """Photo `number` as uint8 RGB."""
        if self.decoded is not None:
            return self.decoded[number]
        return load_photo(self.photos[number].path)

    def __getitem__(self, index: int) -> torch.Tensor:
        if not 0 <= index < self.clips:
            raise IndexError(index)
        clip = self.clip(index)
        return render_clip(self.image(clip.video), clip.camera, self.frames, self.crop)
