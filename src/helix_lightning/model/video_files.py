"""Video files <-> strand files: what `helix encode` and `helix decode` do, as functions.

- `encode_video_file(video, fasta, ...)`: read a video (optionally its first frames, resized;
  a truncated file warns on stderr and is encoded as far as it reads), encode it with a
  checkpoint's codec (`HelixCodec.encode_video`) at the input's frame rate and write the
  strands as FASTA with HELIX record names (`dna.records`), with `with_model` the model's
  archive after them (`with_model.carried_model`); returns the `VideoStats`. Cheap
  checks (the output folder, the scale) come before any model is loaded, the rate point's
  name (the model's ladder) before the video is read.
- `open_decoder(output, checkpoint, reference)`: the checks before a decode (output suffix and
  folder, the reference exists) and the codec.
- `decode_to_video_file(codec, strands, output, ...)`: strands or consensus candidates ->
  frames -> a video file (.mkv lossless FFV1, .mp4 H.264) at the container's frame rate;
  a size the output cannot hold (odd, for .mp4) is refused once the container header is
  read, before any token is decoded. `container_to_video_file(codec, data, output)` does the
  same from a container already read from its archive (`with_model.decode_pool_video`).
- `compare_to_reference(frames, reference)`: PSNR and MS-SSIM of decoded frames against the
  reference video's first frames, resized to the decoded size.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import HelixError
from .entropy import Progress
from .resilient import PredictedFramesWarning

if TYPE_CHECKING:
    from .codec import HelixCodec
    from .pipeline import VideoStats


def warn_on_stderr(message: str) -> None:
    """Print a one-line warning on stderr (what the video commands do with a truncated
    input)."""
    print(f"warning: {message}", file=sys.stderr)


def read_input_video(path: str | Path, frames: int | None = None,
                     size: tuple[int, int] | None = None) -> np.ndarray:
    """uint8 frames (T, H, W, 3) of a video file; one-line errors for a missing file, a
    folder or a frame count under 1; a truncated file warns (`warn_on_stderr`) and gives
    the frames it holds."""
    from ..video.io import read_video

    p = Path(path)
    if not p.exists():
        raise HelixError(f"input video not found: {p}")
    if p.is_dir():
        raise HelixError(f"input is a directory, not a video: {p}")
    if frames is not None and frames < 1:
        raise HelixError(f"--frames must be positive, got {frames}")
    return read_video(p, frames=frames, size=size, on_truncated=warn_on_stderr)


def check_video_output(path: str | Path, inputs: Sequence[str | Path | None] = ()) -> None:
    """Refuse, before any work, an output video this package cannot write (suffix), place
    (missing or read-only folder, a folder itself) or must not write (one of `inputs`)."""
    from ..files import check_output
    from ..video.io import WRITERS

    p = Path(path)
    if p.suffix.lower() not in WRITERS:
        raise HelixError(f"{p}: cannot write {p.suffix or 'a file without suffix'} video; "
                         "use .mkv (lossless FFV1) or .mp4 (H.264)")
    check_output(p, [i for i in inputs if i is not None])


def encode_video_file(video: str | Path, output: str | Path, *,
                      checkpoint: str | Path | None = None, constraints: str | None = None,
                      coder: str = "fsm", frames: int | None = None,
                      size: tuple[int, int] | None = None, rate: str | None = None,
                      scale: float | None = None, drop: float | None = None,
                      stages: int | None = None, redundancy: float | None = None,
                      progress: Progress | None = None,
                      nt_budget: int | None = None, with_model: bool = False,
                      log: Callable[[str], None] | None = None,
                      resilient: int | None = None) -> VideoStats:
    """Video file -> FASTA of strands (see the module docstring). `constraints` defaults to
    the model's own set; `rate` to the middle point of the model's ladder
    (`rates.default_rate`: mid for the default model); `scale` and `drop` override `rate`;
    `nt_budget` (instead of `rate`): the best point whose strands fit that many nt
    (`budget.encode_within_budget`; the video's strands only); the rest as in
    `encode_video`. `with_model`: the model's archive is written into the same FASTA after
    the video's (`with_model.carried_model`; fsm coder only), its cost in `stats.model` and,
    before the file is written, a line to `log`. `resilient`: `encode_video`'s `resync`."""
    from ..dna.fasta import write_fasta
    from ..dna.records import VIDEO_RECORD_VERSION, fasta_records
    from ..files import check_output
    from ..video.io import frame_rate
    from .checkpoint import load_codec
    from .rates import check_scale, default_rate, rate_point

    out = check_output(output, [video])
    if with_model and coder != "fsm":
        raise HelixError("--with-model needs the fsm coder: the model is stored as a second "
                         "archive of the pool")
    if nt_budget is not None and rate is not None:
        raise HelixError("give either a rate point or an nt budget, not both")
    if scale is not None:
        check_scale(scale)
    codec = load_codec(checkpoint)
    if nt_budget is None:  # the rate point's name is the model's: checked before reading
        rate = rate or default_rate(codec.config)
        rate_point(rate, codec.config)
    clip = read_input_video(video, frames, size)
    options = dict(constraints=constraints or codec.config.get("constraints", "standard"),
                   coder=coder, stages=stages, drop=drop, scale=scale, redundancy=redundancy,
                   progress=progress, fps=frame_rate(video), resync=resilient)
    if nt_budget is None:
        strands, stats = codec.encode_video(clip, rate=rate, **options)
    else:
        from .budget import encode_within_budget

        strands, stats = encode_within_budget(codec, clip, nt_budget, **options)
    if with_model:
        from ..dna.constraints import get_constraints
        from .with_model import carried_model

        model, stats.model = carried_model(codec, checkpoint, strands, stats.nt,
                                           get_constraints(options["constraints"]),
                                           redundancy, progress)
        strands = [*strands, *model]
        if log:
            log(stats.model.line())
    write_fasta(out, fasta_records(strands, stats.constraints, VIDEO_RECORD_VERSION, coder),
                inputs=[video])
    return stats


def open_decoder(output: str | Path, checkpoint: str | Path | None = None,
                 reference: str | Path | None = None,
                 inputs: Sequence[str | Path] = (), load_default: bool = True
                 ) -> HelixCodec | None:
    """The codec for a decode of `inputs` into `output`, after the checks that need no
    strands (the output's place, the reference readable), so nothing fails after writing.
    No checkpoint and not `load_default`: None (the pool's model is chosen later,
    `with_model.decode_pool_video`)."""
    from ..video.io import read_video
    from .checkpoint import load_codec

    check_video_output(output, [*inputs, reference])
    if reference is not None:
        if not Path(reference).is_file():
            raise HelixError(f"reference video not found: {reference}")
        read_video(reference, frames=1)
    return load_codec(checkpoint) if checkpoint is not None or load_default else None


def decode_to_video_file(codec: HelixCodec, strands: Sequence[str], output: str | Path, *,
                         support: Sequence[int] | None = None,
                         variants: Sequence[int] | None = None,
                         constraints: str | None = None, fps: float | None = None,
                         progress: Progress | None = None,
                         inputs: Sequence[str | Path | None] = (),
                         archive_id: str | None = None) -> np.ndarray:
    """Strands (clean, or consensus candidates with their read support) -> frames, written
    to `output` at `fps` (None: the container's frame rate); returns the frames
    (T, H, W, 3). A clip size `output` cannot hold is refused before any token is decoded;
    `archive_id` picks the archive in a pool of several."""
    return _write_decoded(lambda on_header: codec.decode_video(
        strands, constraints=constraints, support=support, variants=variants,
        progress=progress, on_header=on_header, archive_id=archive_id), output, fps, inputs)


def container_to_video_file(codec: HelixCodec, data: bytes, output: str | Path, *,
                            fps: float | None = None, progress: Progress | None = None,
                            inputs: Sequence[str | Path | None] = ()) -> np.ndarray:
    """A video container already read from its archive -> frames written to `output`, as
    `decode_to_video_file` does (`with_model.decode_pool_video` decodes pools this way)."""
    from .pipeline import decode_container

    return _write_decoded(lambda on_header: decode_container(codec, data, progress, on_header),
                          output, fps, inputs)


def _write_decoded(decode: Any, output: str | Path, fps: float | None,
                   inputs: Sequence[str | Path | None]) -> np.ndarray:
    """Frames of `decode(on_header)`, the output's size checked once the header is read,
    written at `fps` or the container's rate."""
    from ..video.io import check_output_size, write_video

    rate: list[Fraction] = []

    def check_header(shape: Any, meta: dict[str, Any]) -> None:
        check_output_size(output, shape.height, shape.width)
        rate.append(meta["fps"])

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PredictedFramesWarning)
        frames = decode(check_header)
    for w in caught:  # frames predicted after strand loss: one warning line each
        if issubclass(w.category, PredictedFramesWarning):
            warn_on_stderr(str(w.message))
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    write_video(output, frames, fps=rate[0] if fps is None else fps,
                inputs=[i for i in inputs if i is not None])
    return frames


def compare_to_reference(frames: np.ndarray, reference: str | Path) -> dict[str, Any]:
    """{frames, size "WxH", psnr_db, ms_ssim} of `frames` against the first as many frames of
    the reference video, resized to the frames' size."""
    from ..metrics import video_quality
    from ..video.io import read_video

    t, h, w = frames.shape[:3]
    ref = read_video(reference, frames=t, size=(w, h))
    psnr_db, ms_ssim = video_quality(frames, ref)
    return {"frames": t, "size": f"{w}x{h}", "psnr_db": psnr_db, "ms_ssim": ms_ssim}
