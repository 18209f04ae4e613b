"""Video pools that carry their decoder: `helix encode --with-model` and the decode that uses it.

Encoding (`carried_model`): the model archive (`model_archive`: the wrapper around a compact
checkpoint) goes through the same DNA archive code as the video, under the video's constraint
set and redundancy, as a second archive of the pool whose ID is paired with the video's
(`model_archive_id`), so a decoder tells the two apart from the headers alone, without
decoding either (docs/FORMAT.md, section 13). Its cost (`ModelCost`) is reported before the
FASTA is written.

Decoding (`decode_pool_video`): with a codec given (an explicit --checkpoint, which wins over
any model the pool carries) the pool's video is decoded with it; a pool of one video and its
model archive needs no --archive. Without one, the pool is scanned once: the video archive
(the one asked for, or the only archive that is not a model archive) is decoded to its
container, the container's model hash read, and the model taken from the pool's model archive
for that video (its wrapper's hash checked against the container's before any weight is
loaded, the weights loaded weights-only and checked against it again), else the packaged
default model. Any failure is one HelixError line, before anything is written.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..dna.archive import decode_found, encode_archive, find_header
from ..dna.constraints import ConstraintSet
from ..dna.pool import MixedPool, PoolArchive, choose_archive, find_archives, format_id, parse_id
from ..errors import HelixError
from .entropy import Progress
from .resilient import check_readable

if TYPE_CHECKING:
    from .codec import HelixCodec

MODEL_ID_KEY = b"HXMD model archive of "  # what the paired ID hashes, before the video's ID


def model_archive_id(video_id: int) -> int:
    """The archive ID of the model archive of the video archive `video_id`: the first 4 bytes
    (big-endian) of BLAKE2b-32 of MODEL_ID_KEY followed by the video's ID (4 bytes,
    big-endian)."""
    digest = hashlib.blake2b(MODEL_ID_KEY + video_id.to_bytes(4, "big"), digest_size=4)
    return int.from_bytes(digest.digest(), "big")


# ---------------------------------------------------------------- encode
@dataclass
class ModelCost:
    """What carrying the model costs: its archive's bytes and strands, and its share of the
    pool's nt (primers excluded, as `VideoStats.nt`)."""

    model_hash: str
    archive_id: str
    bytes: int
    strands: int
    nt: int
    nt_with_primers: int
    pool_nt: int
    share_of_pool: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        """One line for stderr, e.g. "model c18f1bd6c519d619: 3.71 MB -> 19.4 M nt in 121486
        strands (99.97% of the pool), archive 643a19e9" (MB: 10^6 bytes of the wrapper)."""
        return (f"model {self.model_hash}: {self.bytes / 1e6:.3g} MB -> {self.nt / 1e6:.3g} M "
                f"nt in {self.strands} strands ({100 * self.share_of_pool:.2f}% of the pool), "
                f"archive {self.archive_id}")


def carried_model(codec: HelixCodec, checkpoint: str | Path | None, video: Sequence[str],
                  video_nt: int, constraints: ConstraintSet, redundancy: float | None = None,
                  progress: Progress | None = None) -> tuple[list[str], ModelCost]:
    """The strands of the model archive of `codec` (loaded from `checkpoint`; None: the
    packaged default) to store beside the video archive `video` (its strands, `video_nt` nt),
    and their cost. The compact checkpoint is loaded back first: a model archive that would
    not give `codec`'s hash is never written."""
    from .model_archive import codec_from_model_archive, compact_checkpoint, pack_model_archive

    wanted = codec.model_hash()
    data = pack_model_archive(compact_checkpoint(checkpoint), wanted)
    try:
        codec_from_model_archive(data)  # raises unless it gives `codec`'s hash
    except HelixError as exc:
        raise HelixError(f"--with-model: the checkpoint does not load back ({exc})") from None
    video_id = find_header(video, constraints).archive_id
    if video_id is None:
        raise HelixError("--with-model needs a video archive with an ID (header version 3)")
    archive = encode_archive(data, constraints, redundancy=redundancy, progress=progress,
                             archive_id=model_archive_id(video_id))
    s = archive.stats
    pool = video_nt + s.nt
    cost = ModelCost(wanted, format_id(archive.header.archive_id), len(data), s.strands, s.nt,
                     s.nt_with_primers, pool, s.nt / pool)
    return archive.strands, cost


# ---------------------------------------------------------------- decode
def pool_parts(archives: Sequence[PoolArchive], archive_id: str | None = None
               ) -> tuple[PoolArchive, PoolArchive | None]:
    """(the video archive, its model archive or None) of a pool's archives: the video is the
    one `archive_id` names, or the pool's only archive that is not another's model archive;
    MixedPool when several videos could be meant."""
    by_id = {a.archive_id: a for a in archives}
    models = {model_archive_id(i) for i in by_id if i is not None} & set(by_id)
    if archive_id is not None:
        want = parse_id(archive_id)
        if want not in by_id:
            names = ", ".join(format_id(i) for i in by_id)
            raise HelixError(f"archive {format_id(want)} is not in this pool (found: {names})")
        video = by_id[want]
    else:
        videos = [a for a in archives if a.archive_id not in models]
        if len(videos) != 1:
            names = ", ".join(format_id(a.archive_id) for a in videos)
            raise MixedPool(f"this pool holds {len(videos)} video archives ({names}) besides "
                            f"{len(models)} model archive(s): decode one with --archive ID "
                            "(list them with `helix dna ls`)")
        video = videos[0]
    pair = None if video.archive_id is None else model_archive_id(video.archive_id)
    return video, by_id.get(pair) if pair in models else None


def _decode_entry(entry: PoolArchive, candidates: int, support: Any, variants: Any,
                  progress: Progress | None, partial: bool = False) -> bytes:
    found = choose_archive([entry], entry.archive_id)
    return decode_found(found, candidates, support, variants, progress, partial)[0]


def pool_codec(container: bytes, model: PoolArchive | None, candidates: int, support: Any = None,
               variants: Any = None, progress: Progress | None = None) -> HelixCodec:
    """The codec for the video container `container`: the pool's model archive `model`
    (decoded, its hash checked against the container's first), else the packaged default;
    one HelixError line when neither is the model that wrote the video."""
    from .checkpoint import load_codec
    from .container import from_bytes
    from .model_archive import codec_from_model_archive, is_model_archive, read_model_archive
    from .registry import where_released

    if is_model_archive(container):
        raise HelixError("the archive asked for is a model archive (HXMD), not a video: "
                         "decode the video's archive (`helix dna ls` lists them)")
    wanted = from_bytes(container)[2]["model_hash"]
    if model is None:
        codec = load_codec()
        if codec.model_hash() != wanted:
            raise HelixError(f"the video was written by model {wanted}, which this pool does "
                             f"not carry (no model archive) and which is not the default model "
                             f"{codec.model_hash()}; {where_released(wanted)}")
        return codec
    label = f"model archive {format_id(model.archive_id)}"
    try:
        data = _decode_entry(model, candidates, support, variants, progress)
        carried = read_model_archive(data).model_hash
    except HelixError as exc:
        raise HelixError(f"{label}: {exc}") from None
    if carried != wanted:
        raise HelixError(f"{label} holds model {carried}, but the video was written by model "
                         f"{wanted}; pass that model with --checkpoint")
    return codec_from_model_archive(data, label)


def decode_pool_video(codec: HelixCodec | None, strands: Sequence[str], output: str | Path, *,
                      support: Sequence[int] | None = None,
                      variants: Sequence[int] | None = None,
                      constraints: str | ConstraintSet | None = None, fps: float | None = None,
                      progress: Progress | None = None,
                      inputs: Sequence[str | Path | None] = (),
                      archive_id: str | None = None) -> np.ndarray:
    """Strands (or consensus candidates) of a pool -> frames written to `output`, as
    `video_files.decode_to_video_file`, with the model chosen as the module docstring says
    (`codec`: an explicit one; None: the pool's model archive, else the default)."""
    from .checkpoint import load_codec
    from .video_files import container_to_video_file, decode_to_video_file

    strands = list(strands)
    common = dict(fps=fps, progress=progress, inputs=inputs)
    if codec is not None:
        try:
            return decode_to_video_file(codec, strands, output, support=support,
                                        variants=variants, constraints=constraints,
                                        archive_id=archive_id, **common)
        except MixedPool:
            if archive_id is not None:
                raise
    try:
        archives = find_archives(strands, constraints)
    except HelixError:  # direct strands, or not an archive: the usual decode and its errors
        return decode_to_video_file(codec or load_codec(), strands, output, support=support,
                                    variants=variants, constraints=constraints,
                                    archive_id=archive_id, **common)
    video, model = pool_parts(archives, archive_id)
    data = _decode_entry(video, len(strands), support, variants, progress, partial=True)
    data = check_readable(data)  # holes: only a resilient container decodes in part
    if codec is None:
        codec = pool_codec(data, model, len(strands), support, variants, progress)
    return container_to_video_file(codec, data, output, **common)
