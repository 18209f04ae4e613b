"""Frames <-> DNA strands: a HelixCodec, the video container and a DNA coder, end to end.

`encode_video(codec, frames, constraints)` compresses the frames (`HelixCodec.compress`) and
writes strands under a resolved `ConstraintSet` (`dna.constraints.get_constraints`) with one
of two DNA coders; `decode_video` reverses it. Rates per pixel count the input's pixels,
whatever the coding size.

- "fsm" (default): the container bytes (`container.to_bytes`) go through
  `dna.archive.encode_archive`: FSM constrained coding, index, check bits, RaptorQ outer
  code; 0 violations by construction.
- "direct": the reference arm. The container header (as base-4 digits, 4 per byte) followed
  by the stored tokens' quaternary digits, written by `dna.direct.direct_strands`: no entropy
  coding, no FSM. Digit order (`stored_digits`): frame, the stored (non-dropped) positions
  row-major, then the token's k FSQ digits, token by token, the order the synthesis term of
  the loss reads, so that term shapes the bases this coder writes. Violations are counted
  with `check_strands` and reported, never hidden.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from fractions import Fraction
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import torch

from ..dna.archive import (ArchiveStats, FoundHeader, MixedPool, decode_archive,
                           encode_archive, find_header)
from ..dna.constraints import ConstraintSet, check_strands, get_constraints
from ..dna.direct import (DIRECT_BODY, bytes_to_digits, digits_to_bytes, direct_strands,
                          read_direct_strands)
from ..dna.density import bits_per_px, net_density, nt_per_px
from ..dna.primers import DEFAULT_PREFIX, DEFAULT_SUFFIX
from ..errors import HelixError
from ..metrics import direct_violations
from . import container
from . import inter_coding
from . import resilient as resilient_layout
from .container import CODERS, DEFAULT_FPS, CodedShape, check_coder
from .entropy import PRECISION, Progress, TokenEntropyCoder, check_precision
from .masked import stage_masks

if TYPE_CHECKING:
    from .codec import HelixCodec

#: Called with a container's (shape, meta) once its header is read, before any token is
#: decoded: a caller may refuse the clip there (e.g. a size its output file cannot hold).
OnHeader = Callable[[CodedShape, dict[str, Any]], None]


def stored_digits(compressed: dict[str, Any]) -> np.ndarray:
    """The stored tokens' digits in direct-mapping order: (T, n_stored, k) uint8, C order
    (token by token, as the synthesis term reads them); k: the digits kept."""
    kept = CodedShape(*compressed["shape"]).digits or compressed["digits"].shape[1]
    d = compressed["digits"][:, :kept, compressed["stored_mask"]].transpose(1, 2)
    return d.numpy().astype(np.uint8)


def container_bytes(codec: HelixCodec, compressed: dict[str, Any], coder: str = "fsm",
                    fps: float | Fraction = DEFAULT_FPS) -> bytes:
    """`compress`'s result as a container written by `codec` (its hash and FSQ geometry),
    for a clip at `fps` frames per second; version 6 (`resilient`) when it holds "resync"."""
    return container.to_bytes(compressed["strings"], compressed["shape"], codec.model_hash(),
                              codec.fsq.channels, codec.fsq.levels, coder,
                              compressed.get("precision", PRECISION), fps,
                              compressed.get("resync"))


def check_meta(codec: HelixCodec, meta: dict[str, Any], shape: CodedShape | None = None
               ) -> None:
    """Refuse a container written by another model or with another geometry (and, given its
    shape, a token grid this model would not have written: `container.check_model_fit`)."""
    mine = codec.model_hash()
    if meta["model_hash"] != mine:
        from .registry import where_released

        raise HelixError(f"archive was written by model {meta['model_hash']}, this "
                         f"checkpoint is {mine}; {where_released(meta['model_hash'])}")
    if (meta["channels"], meta["levels"]) != (codec.fsq.channels, codec.fsq.levels):
        raise HelixError("archive's FSQ geometry does not match this checkpoint")
    check_precision(meta["precision"], codec.fsq.codebook_size)
    if shape is not None:
        padded = getattr(codec.mixer, "padded_size", lambda h, w: (h, w))(shape.h, shape.w)
        container.check_model_fit(shape, codec.tokenizer.downsample, padded,
                                  getattr(codec.token_model, "max_tokens", None))


def decode_container(codec: HelixCodec, data: bytes, progress: Progress | None = None,
                     on_header: OnHeader | None = None) -> np.ndarray:
    """Container bytes (range-coded) -> uint8 frames; refuses a mismatched model. A
    resilient container (version 6 or 7) may have lost bytes (`dna.salvage.PartialBytes`): its
    lost frames are predicted (`resilient.decode_container`)."""
    data = resilient_layout.check_readable(data)
    if len(data) > 4 and data[4] in container.RESILIENT_VERSIONS:
        return resilient_layout.decode_container(codec, data, progress, on_header)
    strings, shape, meta = container.from_bytes(data)
    check_meta(codec, meta, shape)
    if on_header:
        on_header(shape, meta)
    return codec.decompress(strings, shape, progress, meta["precision"])


# ---------------------------------------------------------------------- encode

@dataclass
class VideoStats:
    """What `encode_video` wrote, in the words of docs/DESIGN.md ("Definitions"): the
    geometry and rate point `compress` chose, its bits, and the strands the DNA coder wrote
    (nt exclude primers; rates per pixel count the input's pixels). `archive` is the FSM
    archive's own stats (None for the direct coder); every count is the video's, a model
    archive stored beside it is counted in `model` alone."""

    coder: str
    constraints: str
    model_hash: str
    frames: int
    height: int
    width: int
    rate: str
    scale: float
    coded_height: int
    coded_width: int
    stages: int
    drop: float
    tokens_stored: int
    estimated_bits: float
    table_bits: float
    actual_bits: int
    direct_violations: int
    container_bytes: int
    coding_density: float
    redundancy: float
    archive: ArchiveStats | None
    strands: int
    nt: int
    nt_with_primers: int
    nt_per_px: float
    nt_per_px_with_primers: float
    bits_per_px: float
    payload_bits_per_px: float
    source_bits: int
    net_density: float
    net_density_with_primers: float
    violations: int
    model: Any = None  # with_model.ModelCost: the pool's model archive (helix encode --with-model)

    def to_dict(self) -> dict[str, Any]:
        """The stats as a dict with these keys in this order (`archive` and `model` nested as
        dicts, and left out when None: the direct coder, no model archive)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("archive", "model"):
                if value is None:
                    continue
                value = value.to_dict()
            out[f.name] = value
        return out


class _Written(NamedTuple):
    """What a DNA coder wrote for one container."""

    strands: list[str]
    source_bits: int
    nt: int
    nt_with_primers: int
    container_bytes: int
    coding_density: float
    redundancy: float
    archive: ArchiveStats | None = None


def encode_video(codec: HelixCodec, frames: np.ndarray, constraints: ConstraintSet,
                 coder: str = "fsm", stages: int | None = None, drop: float | None = None,
                 redundancy: float | None = None, group: int | None = None,
                 rate: str | None = None, progress: Progress | None = None,
                 scale: float | None = None, fps: float | Fraction = DEFAULT_FPS,
                 digits: int | None = None, resync: int | None = None
                 ) -> tuple[list[str], VideoStats]:
    """uint8 frames (T, H, W, 3) -> (strands, stats); `rate`, `scale`, `stages`, `drop`,
    `digits`, `group` and `progress` as in `HelixCodec.compress`, `redundancy` as in
    `encode_archive`; `fps`: the clip's frame rate, stored in the container for the decoder
    to write. `resync` (frames per context chain, 0: one chain): the resilient layout
    (`resilient`; fsm coder, `group` default one stream per chain)."""
    check_coder(coder)
    cs = constraints
    comp = _compress(codec, frames, coder, resync, stages=stages, drop=drop, group=group,
                     rate=rate, progress=progress, scale=scale, digits=digits)
    if coder == "fsm":
        w = _fsm_strands(codec, comp, cs, redundancy, progress, fps)
    else:
        w = _direct_strands(codec, comp, fps)
    shape, scale = comp["shape"], comp["scale"]
    t, h, wd = shape.frames, shape.height, shape.width
    stats = VideoStats(
        coder=coder, constraints=cs.name, model_hash=codec.model_hash(),
        frames=t, height=h, width=wd, rate=_point_name(codec, shape, scale),
        scale=scale, coded_height=shape.coded_size[0], coded_width=shape.coded_size[1],
        stages=shape.stages, drop=shape.drop,
        tokens_stored=int(comp["stored_mask"].sum()) * t,
        estimated_bits=comp["estimated_bits"], table_bits=comp["table_bits"],
        actual_bits=comp["actual_bits"],
        direct_violations=direct_violations(stored_digits(comp), cs, DIRECT_BODY),
        container_bytes=w.container_bytes, coding_density=w.coding_density,
        redundancy=w.redundancy, archive=w.archive, strands=len(w.strands), nt=w.nt,
        nt_with_primers=w.nt_with_primers, nt_per_px=nt_per_px(w.nt, t, h, wd),
        nt_per_px_with_primers=nt_per_px(w.nt_with_primers, t, h, wd),
        bits_per_px=bits_per_px(w.source_bits, t, h, wd),
        payload_bits_per_px=bits_per_px(comp["actual_bits"], t, h, wd),
        source_bits=w.source_bits, net_density=net_density(w.source_bits, w.nt, empty=0.0),
        net_density_with_primers=net_density(w.source_bits, w.nt_with_primers, empty=0.0),
        violations=check_strands(w.strands, cs).total)
    return w.strands, stats


def _compress(codec: HelixCodec, frames: np.ndarray, coder: str, resync: int | None,
              **options: Any) -> dict[str, Any]:
    """`codec.compress`; with `resync`, in the resilient layout (and "resync" recorded)."""
    if resync is None:
        return codec.compress(frames, **options)
    if coder != "fsm":
        raise HelixError("the resilient layout needs the fsm coder (its outer code)")
    if options.get("group") is None:
        options["group"] = resilient_layout.default_group(len(frames), resync)
    if resync < 0 or resync % options["group"]:
        raise HelixError(f"--resync must be 0 or a multiple of the group of "
                         f"{options['group']} frames, got {resync}")
    return {**codec.compress(frames, resync=resync or None, **options), "resync": resync}


def _point_name(codec: HelixCodec, shape: CodedShape, scale: float | None) -> str:
    """The name of the rate point coded (`rates.rate_name`, in the model's ladder)."""
    from .rates import rate_name

    digits = None if shape.digits in (0, codec.fsq.channels) else shape.digits
    return rate_name(scale, shape.drop, shape.stages, digits, codec.config)


def _fsm_strands(codec: HelixCodec, comp: dict[str, Any], cs: ConstraintSet,
                 redundancy: float | None, progress: Progress | None,
                 fps: float | Fraction) -> _Written:
    """The container through the FSM archive."""
    data = container_bytes(codec, comp, "fsm", fps)  # either layout: today's outer code
    if "resync" in comp:  # and repair symbols for the header guard's strands
        redundancy = resilient_layout.archive_redundancy(data, len(comp["strings"]), cs,
                                                         redundancy)
    arch = encode_archive(data, cs, redundancy=redundancy, progress=progress)
    a = arch.stats
    return _Written(arch.strands, 8 * len(data), a.nt, a.nt_with_primers, len(data),
                    a.coding_density, a.redundancy, a)


def _direct_strands(codec: HelixCodec, comp: dict[str, Any], fps: float | Fraction) -> _Written:
    """Header digits + stored token digits as bases, 2 bits per nt."""
    stored = stored_digits(comp)
    header = container.pack_header(comp["shape"], codec.model_hash(), codec.fsq.channels,
                                   codec.fsq.levels, "direct", PRECISION, 0, fps)
    strands = direct_strands(np.concatenate([bytes_to_digits(header), stored.reshape(-1)]))
    nt_primers = sum(len(s) for s in strands)
    nt = nt_primers - len(strands) * (len(DEFAULT_PREFIX) + len(DEFAULT_SUFFIX))
    return _Written(strands, 2 * stored.size, nt, nt_primers,
                    len(header) + math.ceil(stored.size / 4), 2.0, 0.0)


# ---------------------------------------------------------------------- decode

def decode_video(codec: HelixCodec, strands: Sequence[str],
                 constraints: ConstraintSet | None = None, coder: str = "auto",
                 support: Sequence[int] | None = None, variants: Sequence[int] | None = None,
                 progress: Progress | None = None,
                 on_header: OnHeader | None = None,
                 archive_id: str | None = None) -> np.ndarray:
    """Strands (either coder; "auto" tries fsm, then direct) -> uint8 frames (T, H, W, 3).

    Without `constraints` the fsm archive's constraint set is found once: the model's own
    set (`codec.config["constraints"]`) is tried first, then the DNA layer's guess.
    `on_header(shape, meta)` sees the container header before any token is decoded.
    A pool of several fsm archives needs `archive_id` (`dna.pool`)."""
    strands = list(strands)
    if coder not in ("auto", *CODERS):
        raise HelixError(f"unknown coder {coder!r} (known: auto, {', '.join(CODERS)})")
    found = None
    if coder in ("auto", "fsm"):
        try:
            found = _find_header(codec, strands, constraints, archive_id)
            coder = "fsm"
        except HelixError as exc:
            if coder == "fsm" or archive_id is not None or isinstance(exc, MixedPool):
                raise
            coder = "direct"
    if coder == "direct":
        return _decode_direct(codec, strands, progress, on_header)
    data, _ = decode_archive(strands, support, variants=variants, constraints=found.cs,
                             progress=progress, archive_id=archive_id, partial=True)
    return decode_container(codec, data, progress, on_header)


def _find_header(codec: HelixCodec, strands: list[str], constraints: ConstraintSet | None,
                 archive_id: str | None = None) -> FoundHeader:
    """The fsm archive's header; the model's constraint set tried first when none given."""
    if constraints is None and codec.config.get("constraints"):
        try:
            return find_header(strands, get_constraints(codec.config["constraints"]),
                               archive_id=archive_id)
        except MixedPool:
            raise
        except HelixError:
            pass
    return find_header(strands, constraints, archive_id=archive_id)


def _decode_direct(codec: HelixCodec, strands: list[str], progress: Progress | None,
                   on_header: OnHeader | None = None) -> np.ndarray:
    """Direct strands -> frames: stored tokens read back, dropped ones predicted."""
    digits = read_direct_strands(strands)
    if digits.size < 20:
        raise HelixError("direct strands too short to hold a container header")
    n_head = 4 * container.header_size(digits_to_bytes(digits[:4 * container.SIZE_PREFIX]))
    if digits.size < n_head:
        raise HelixError("direct strands too short to hold a container header")
    _, shape, meta = container.from_bytes(digits_to_bytes(digits[:n_head]))
    if meta["coder"] != "direct":
        raise HelixError(f"container says coder {meta['coder']!r}, strands are direct")
    check_meta(codec, meta, shape)
    if on_header:
        on_header(shape, meta)
    ids = _stored_tokens(codec, digits[n_head:], shape)
    coder = TokenEntropyCoder(codec.token_model, shape.hp, shape.wp, shape.stages, shape.drop,
                              digits=shape.digits or None, resets=shape.intra or ())
    prev = None
    for t in range(shape.frames):
        coder.begin_frame(t, shape.group)
        ids[t] = coder.fill(ids[t], prev)
        coder.end_frame(ids[t])
        prev = ids[t]
        if progress:
            progress("fill", t + 1, shape.frames)
    if shape.intra is not None:
        return inter_coding.reconstruct(codec, ids, shape, progress)
    return codec.reconstruct(codec.fsq.digits_from_indices(ids), (shape.h, shape.w),
                             shape.coded_size, progress, (shape.height, shape.width),
                             shape.digits)


def _stored_tokens(codec: HelixCodec, body: np.ndarray, shape: CodedShape) -> torch.Tensor:
    """Token ids (T, hp, wp) from the direct body digits; dropped positions 0 (unfilled)."""
    stored_mask = ~stage_masks(shape.hp, shape.wp, shape.stages, shape.drop)[-1]
    k = shape.digits or codec.fsq.channels  # the digits kept; the rest stay 0
    n = shape.frames * k * int(stored_mask.sum())
    if body.size < n:
        raise HelixError(f"direct strands hold {body.size} token digits, {n} needed")
    full = torch.zeros(shape.frames, codec.fsq.channels, shape.hp, shape.wp, dtype=torch.long)
    full[:, :k, stored_mask] = (torch.from_numpy(body[:n].astype(np.int64))
                               .view(shape.frames, -1, k).transpose(1, 2))
    return codec.fsq.indices(full)
