"""The video container: a fixed big-endian header, then the entropy-coded streams.

Header (version 3): magic "HXVC", version, model hash (8 bytes), geometry (frames T, input
size H x W, token grid h x w, padded grid hp x wp), FSQ channels and levels, stages, drop
share, frames per stream (group), coder id, range-coder table precision (bits), number of
streams, coded size (the size the tokenizer saw), frame rate as a fraction (numerator,
denominator: 30000/1001 is exact). Each stream follows, prefixed by its byte length (u32,
big-endian). The "direct" coder writes the same header (no streams) as digits.

Version policy: this module writes VERSION and reads every version ever released
(`HEADERS`); a newer version is refused with a message naming it. Version 1 (until
2026-11-26) is version 2 without the trailing coded size: it coded at the input size.
Version 2 (until 2026-11-29) is version 3 without the trailing frame rate: it is read as
DEFAULT_FPS (25), the rate every decode wrote then. `tests/fixtures/` keeps a decode
fixture of every version.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from fractions import Fraction
from typing import Any, NamedTuple

from ..errors import HelixError

MAGIC = b"HXVC"
VERSION = 3  # 2: the coding size (resampling) joined the header; 3: the frame rate
CODERS = ("fsm", "direct")
#: The frame rate of containers before version 3 (every decode wrote 25 fps then).
DEFAULT_FPS = Fraction(25)

# magic, version, model hash, T, H, W, h, w, hp, wp, channels, levels, stages, drop, group,
# coder, precision, number of streams[, coded H, coded W (version 2)][, fps numerator,
# fps denominator (version 3)]
HEADERS: dict[int, struct.Struct] = {1: struct.Struct(">4sB8sIHHHHHHBBBdIBBI"),
                                     2: struct.Struct(">4sB8sIHHHHHHBBBdIBBIHH"),
                                     3: struct.Struct(">4sB8sIHHHHHHBBBdIBBIHHII")}
HEADER = HEADERS[VERSION]
_PREFIX = 5  # magic + version: enough to know a header's size
_LEN = struct.Struct(">I")


class CodedShape(NamedTuple):
    """Everything besides the streams that decoding needs (unpacks like a tuple)."""

    frames: int
    height: int
    width: int
    h: int  # token grid of the tokenizer (ceil(H/f), ceil(W/f))
    w: int
    hp: int  # padded grid the mixer writes (whole blocks): the tokens actually coded
    wp: int
    stages: int
    drop: float
    group: int  # frames per entropy-coded stream
    coded_height: int = 0  # the size the tokenizer sees (0: the input size, no resampling)
    coded_width: int = 0

    @property
    def coded_size(self) -> tuple[int, int]:
        """(height, width) the tokens describe; decoding resamples it to (height, width)."""
        return (self.coded_height or self.height, self.coded_width or self.width)


def check_coder(coder: str) -> None:
    """Refuse a DNA coder name other than CODERS."""
    if coder not in CODERS:
        raise HelixError(f"unknown coder {coder!r} (known: {', '.join(CODERS)})")


def frame_rate_fraction(fps: float | Fraction) -> Fraction:
    """A positive frame rate as the fraction the header stores (u32 numerator and
    denominator; 29.97 -> 2997/100, Fraction(30000, 1001) kept as it is)."""
    try:
        rate = Fraction(fps)
    except (ValueError, OverflowError):  # nan, inf
        raise HelixError(f"frame rate must be a finite number, got {fps}") from None
    if not rate > 0:
        raise HelixError(f"frame rate must be positive, got {fps}")
    if rate.denominator > 0xFFFFFFFF:
        rate = rate.limit_denominator(1001)
    if not 0 < rate.numerator <= 0xFFFFFFFF:
        raise HelixError(f"frame rate {fps} does not fit the container header")
    return rate


def pack_header(shape: CodedShape, model_hash: str, channels: int, levels: int, coder: str,
                precision: int, n_streams: int, fps: float | Fraction = DEFAULT_FPS) -> bytes:
    """The header (current VERSION) of a container of `n_streams` streams of a clip at
    `fps` frames per second."""
    check_coder(coder)
    s = CodedShape(*shape)
    rate = frame_rate_fraction(fps)
    try:
        return HEADER.pack(MAGIC, VERSION, bytes.fromhex(model_hash), s.frames, s.height,
                           s.width, s.h, s.w, s.hp, s.wp, channels, levels, s.stages, s.drop,
                           s.group, CODERS.index(coder), precision, n_streams, *s.coded_size,
                           rate.numerator, rate.denominator)
    except struct.error as e:
        raise HelixError(f"clip geometry does not fit the container header: {e}") from None


def to_bytes(strings: Sequence[bytes], shape: CodedShape, model_hash: str, channels: int,
             levels: int, coder: str, precision: int,
             fps: float | Fraction = DEFAULT_FPS) -> bytes:
    """Container: header + each stream prefixed by its length (u32, big-endian)."""
    body = b"".join(_LEN.pack(len(s)) + bytes(s) for s in strings)
    return pack_header(shape, model_hash, channels, levels, coder, precision,
                       len(strings), fps) + body


def header_size(data: bytes) -> int:
    """The header size of the container starting with `data` (at least 5 bytes: magic and
    version); HelixError for bad magic or a version this build does not read."""
    data = bytes(data)
    if len(data) < _PREFIX or data[:4] != MAGIC:
        raise HelixError("not a HELIX video container (bad magic or truncated header)")
    version = data[4]
    if version > VERSION:
        raise HelixError(f"video container version {version} is newer than this build reads "
                         f"(versions 1 to {VERSION}): update helix-lightning")
    if version not in HEADERS:
        raise HelixError(f"video container version {version} is not supported "
                         f"(this build reads versions 1 to {VERSION})")
    return HEADERS[version].size


def read_header(data: bytes) -> tuple[CodedShape, dict[str, Any], int]:
    """Header -> (shape, meta, number of streams), any released version. meta: version,
    model_hash, channels, levels, coder, precision, header_size, fps (a Fraction;
    DEFAULT_FPS before version 3)."""
    data = bytes(data)
    size = header_size(data)
    if len(data) < size:
        raise HelixError("not a HELIX video container (bad magic or truncated header)")
    f = HEADERS[data[4]].unpack(data[:size])
    if f[15] >= len(CODERS):
        raise HelixError(f"unknown coder id {f[15]} in the container header")
    coded = f[18:20] if f[1] >= 2 else (f[4], f[5])  # version 1 coded at the input size
    if f[1] >= 3 and not (f[20] and f[21]):
        raise HelixError(f"bad frame rate {f[20]}/{f[21]} in the container header")
    fps = Fraction(f[20], f[21]) if f[1] >= 3 else DEFAULT_FPS
    shape = CodedShape(f[3], f[4], f[5], f[6], f[7], f[8], f[9], f[12], f[13], f[14], *coded)
    meta = {"version": f[1], "model_hash": f[2].hex(), "channels": f[10], "levels": f[11],
            "coder": CODERS[f[15]], "precision": f[16], "header_size": size, "fps": fps}
    return shape, meta, f[17]


def from_bytes(data: bytes) -> tuple[list[bytes], CodedShape, dict[str, Any]]:
    """Container -> (strings, shape, meta); meta as `read_header`'s plus trailing_bytes.
    Checks magic, version and lengths, not the model."""
    data = bytes(data)
    shape, meta, n_streams = read_header(data)
    strings, pos = [], meta["header_size"]
    for i in range(n_streams):
        if pos + _LEN.size > len(data):
            raise HelixError(f"video container truncated in stream {i}")
        (n,) = _LEN.unpack_from(data, pos)
        pos += _LEN.size
        if pos + n > len(data):
            raise HelixError(f"video container truncated in stream {i}")
        strings.append(data[pos:pos + n])
        pos += n
    meta["trailing_bytes"] = len(data) - pos
    return strings, shape, meta
