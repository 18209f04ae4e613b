"""The video container: a fixed big-endian header, then the entropy-coded streams.

Header (version 4): magic "HXVC", version, model hash (8 bytes), geometry (frames T, input
size H x W, token grid h x w, padded grid hp x wp), FSQ channels and levels, stages, drop
share, frames per stream (group), coder id, range-coder table precision (bits), number of
streams, coded size (the size the tokenizer saw), frame rate as a fraction (numerator,
denominator: 30000/1001 is exact), digits kept per token (the first k' of the FSQ
channels, `nested`). Each stream follows, prefixed by its byte length (u32,
big-endian). The "direct" coder writes the same header (no streams) as digits.

Version 5 (inter coding, `inter_coding`) is version 4 followed by the intra-frame map:
ceil(T / 8) bytes, bit t (most significant bit of byte t // 8 first) set when frame t is
coded intra; frame 0 always is, and the bits past T are 0. Only inter-coded clips are written
as version 5: a clip whose every frame is coded alone is still written as version 4, byte for
byte as before.

Version 6 (the resilient layout, `resilient`; written only when asked: `helix encode
--resilient`) is version 4's fields, then the resync period (u32: every period-th frame is
coded without frame t-1's tokens, a multiple of the group; 0: frame 0 only), then the stream
table (the byte length of each stream, u32 each), then the streams back to back. Every
stream's place follows from the header alone, so a reader that lost some of the container's
bytes (`dna.salvage`) still knows which streams it holds.

Version 7 (the resilient layout since 2026-11-30) is version 6 followed by the header guard
(`header_guard`): two parity rows over the header (fixed fields, resync period and stream
table), ceil(n / 2) bytes each for an n-byte header, at the container's end; a reader that
lost part of the header rebuilds it from what is left and the guard.

Version policy: this module writes VERSION (4 for intra-only clips) and reads every version ever released
(`HEADERS`); a newer version is refused with a message naming it. Version 1 (until
2026-11-26) is version 2 without the trailing coded size: it coded at the input size.
Version 2 (until 2026-11-29) is version 3 without the trailing frame rate: it is read as
DEFAULT_FPS (25), the rate every decode wrote then. Version 3 (until 2026-11-29) is version
4 without the trailing digits kept: it kept every digit. `tests/fixtures/` keeps a decode
fixture of every version.

Bounds: a header is checked before decoding allocates anything (`check_shape`, called by
`from_bytes`; `check_model_fit` against the decoding model): the geometry must be one an
encoder writes, the stored tokens must fit the stream bits at no more than
MAX_TOKENS_PER_BIT, and the decoded clip must stay under MAX_DECODED_BYTES. A forged header
fails in one HelixError line before any large allocation.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from fractions import Fraction
from typing import Any, NamedTuple

from ..errors import HelixError
from . import header_guard

MAGIC = b"HXVC"
VERSION = 7  # 2: the coding size (resampling); 3: the frame rate; 4: the digits kept;
#              5: the intra-frame map (inter-coded clips only); 6: the resilient layout;
#              7: the resilient layout with its header guard
RESILIENT_VERSION = 7  # the resilient layout this build writes (version 6 plus the guard)
RESILIENT_VERSIONS = (6, 7)  # resync period and stream table after version 4's fields
INTRA_ONLY_VERSION = 4  # what a clip coded frame by frame is written as
CODERS = ("fsm", "direct")
#: The frame rate of containers before version 3 (every decode wrote 25 fps then).
DEFAULT_FPS = Fraction(25)

# magic, version, model hash, T, H, W, h, w, hp, wp, channels, levels, stages, drop, group,
# coder, precision, number of streams[, coded H, coded W (version 2)][, fps numerator,
# fps denominator (version 3)][, digits kept (version 4)]
HEADERS: dict[int, struct.Struct] = {1: struct.Struct(">4sB8sIHHHHHHBBBdIBBI"),
                                     2: struct.Struct(">4sB8sIHHHHHHBBBdIBBIHH"),
                                     3: struct.Struct(">4sB8sIHHHHHHBBBdIBBIHHII"),
                                     4: struct.Struct(">4sB8sIHHHHHHBBBdIBBIHHIIB")}
HEADERS[5] = HEADERS[4]  # plus the intra-frame map (its size follows from T)
HEADERS[6] = HEADERS[4]  # plus the resync period and the stream table (size: the streams)
HEADERS[7] = HEADERS[4]  # as version 6, and the header guard after the streams
HEADER = HEADERS[INTRA_ONLY_VERSION]  # the fixed header intra-only clips are written with
#: Bytes that fix a header's size: magic, version, model hash and T (the map's length).
SIZE_PREFIX = 17
_PREFIX = 5  # magic + version
_LEN = struct.Struct(">I")
_STREAMS_AT = HEADERS[1].size - _LEN.size  # the number of streams: version 1's last field

#: Reader limits (not format fields). The default model's most compressible clip (black,
#: static) codes 3 stored tokens per stream bit, natural clips 0.2; a container claiming more
#: than MAX_TOKENS_PER_BIT per bit (plus STREAM_SLACK_BITS per stream: the coder's flush) is
#: forged or corrupt (an empty stream would otherwise "decode" any number of frames).
MAX_TOKENS_PER_BIT = 32
STREAM_SLACK_BITS = 64
MAX_STAGES = 64  # coding stages (the default model codes with 4, rate points with 1 or 2)
MAX_UPSCALE = 16  # output side / coded side: coding scales below 1/16 are refused
MAX_DECODED_BYTES = 1 << 35  # frames x height x width x 3 of one decode (32 GiB)


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
    digits: int = 0  # each token's first digits coded (`nested`); 0: all (before version 4)
    intra: tuple[int, ...] | None = None  # inter coding: the frames coded intra (version 5)

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
                precision: int, n_streams: int, fps: float | Fraction = DEFAULT_FPS,
                resilient: bool = False) -> bytes:
    """The fixed header (version 4, or 5 with its intra-frame map) of a container of
    `n_streams` streams of a clip at `fps` frames per second; `resilient`: version 6's
    fixed fields (`to_bytes` adds the rest)."""
    check_coder(coder)
    s = CodedShape(*shape)
    check_shape(s, coder)
    rate = frame_rate_fraction(fps)
    version = INTRA_ONLY_VERSION if s.intra is None else 5
    version = RESILIENT_VERSION if resilient else version
    try:
        head = HEADERS[version].pack(
            MAGIC, version, bytes.fromhex(model_hash), s.frames, s.height, s.width, s.h, s.w,
            s.hp, s.wp, channels, levels, s.stages, s.drop, s.group, CODERS.index(coder),
            precision, n_streams, *s.coded_size, rate.numerator, rate.denominator,
            s.digits or channels)
    except struct.error as e:
        raise HelixError(f"clip geometry does not fit the container header: {e}") from None
    if s.intra is None or resilient:  # version 7: the intra frames are the chain starts
        return head
    return head + intra_map(s.intra, s.frames)


def intra_map(intra: Sequence[int], frames: int) -> bytes:
    """The version 5 intra-frame map: bit t set when frame t is coded intra."""
    bits = bytearray(-(-frames // 8))
    for t in intra:
        bits[t // 8] |= 0x80 >> (t % 8)
    return bytes(bits)


def read_intra_map(data: bytes, frames: int) -> tuple[int, ...]:
    """The frames a version 5 intra-frame map marks; HelixError if frame 0 is not among them
    or a bit past the last frame is set."""
    intra = tuple(t for t in range(8 * len(data)) if data[t // 8] & (0x80 >> (t % 8)))
    if not intra or intra[0] != 0 or intra[-1] >= frames:
        raise HelixError("video container header is corrupt: bad intra-frame map")
    return intra


def _stored_per_frame(shape: CodedShape) -> int:
    """Tokens a frame stores: the padded grid less round(drop x grid) (`masked.stage_masks`)."""
    n = shape.hp * shape.wp
    return n - round(shape.drop * n)


def check_shape(shape: CodedShape, coder: str, stream_bytes: Sequence[int] | None = None
                ) -> None:
    """Refuse geometry no encoder writes, before anything is allocated: HelixError naming the
    field. `stream_bytes` (the fsm coder's stream lengths) bounds the stored tokens."""
    s = shape
    if s.frames < 1 or min(s.height, s.width, s.h, s.w) < 1:
        raise HelixError(f"video container header is corrupt: {s.frames} frames of "
                         f"{s.height}x{s.width}, token grid {s.h}x{s.w}")
    if min(s.coded_size) < 1 or s.hp < s.h or s.wp < s.w:
        raise HelixError(f"video container header is corrupt: coded size "
                         f"{s.coded_height}x{s.coded_width}, padded grid {s.hp}x{s.wp} "
                         f"for grid {s.h}x{s.w}")
    if s.height > MAX_UPSCALE * s.coded_size[0] or s.width > MAX_UPSCALE * s.coded_size[1]:
        raise HelixError(f"video container header is corrupt: output {s.height}x{s.width} "
                         f"from coded size {s.coded_size[0]}x{s.coded_size[1]} "
                         f"(at most {MAX_UPSCALE}x larger per side)")
    if not 1 <= s.stages <= min(MAX_STAGES, s.hp * s.wp):
        raise HelixError(f"video container header is corrupt: {s.stages} coding stages "
                         f"(1 to {min(MAX_STAGES, s.hp * s.wp)} for a {s.hp}x{s.wp} grid)")
    if not (math.isfinite(s.drop) and 0.0 <= s.drop < 1.0) or _stored_per_frame(s) < 1:
        raise HelixError(f"video container header is corrupt: drop share {s.drop}")
    if s.group < 1:
        raise HelixError(f"video container header is corrupt: {s.group} frames per stream")
    if s.intra is not None and (not s.intra or s.intra[0] != 0 or s.intra[-1] >= s.frames
                                or list(s.intra) != sorted(set(s.intra))):
        raise HelixError("video container header is corrupt: bad intra-frame map")
    if s.frames * s.height * s.width * 3 > MAX_DECODED_BYTES:
        raise HelixError(f"video container claims {s.frames} frames of {s.height}x{s.width}: "
                         f"over {MAX_DECODED_BYTES >> 30} GiB decoded, refused")
    if coder == "fsm" and stream_bytes is not None:
        _check_streams(s, stream_bytes)


def _check_streams(s: CodedShape, stream_bytes: Sequence[int]) -> None:
    """One stream per group of frames, each long enough for the tokens it claims."""
    n_groups = math.ceil(s.frames / s.group)
    if len(stream_bytes) != n_groups:
        raise HelixError(f"video container holds {len(stream_bytes)} streams; {s.frames} "
                         f"frames in groups of {s.group} need {n_groups}")
    per_frame = _stored_per_frame(s)
    for g, size in enumerate(stream_bytes):
        frames = min(s.group, s.frames - g * s.group)
        if frames * per_frame > MAX_TOKENS_PER_BIT * (8 * size + STREAM_SLACK_BITS):
            raise HelixError(f"video container is corrupt: stream {g} ({size} bytes) cannot "
                             f"hold {frames} frames of {per_frame} tokens")


def check_model_fit(shape: CodedShape, downsample: int, padded: tuple[int, int],
                    max_tokens: int | None) -> None:
    """Refuse a shape the decoding model would not have written: token grid = coded size /
    `downsample` (rounded up), padded grid `padded` (the mixer's whole blocks), at most
    `max_tokens` per frame (the token model's limit; None: a model without one, such as the
    windowed `local` token model)."""
    grid = (-(-shape.coded_size[0] // downsample), -(-shape.coded_size[1] // downsample))
    if (shape.h, shape.w) != grid or (shape.hp, shape.wp) != tuple(padded):
        raise HelixError(f"video container's token grid {shape.h}x{shape.w} (padded "
                         f"{shape.hp}x{shape.wp}) does not match its coded size "
                         f"{shape.coded_size[0]}x{shape.coded_size[1]} under this model")
    if max_tokens is not None and shape.hp * shape.wp > max_tokens:
        raise HelixError(f"video container's {shape.hp}x{shape.wp} token grid exceeds the "
                         f"model's {max_tokens} tokens per frame")


def to_bytes(strings: Sequence[bytes], shape: CodedShape, model_hash: str, channels: int,
             levels: int, coder: str, precision: int,
             fps: float | Fraction = DEFAULT_FPS, resync: int | None = None) -> bytes:
    """Container: header + each stream prefixed by its length (u32, big-endian); with
    `resync` (frames per context chain, 0: one chain) version 7: header, resync, stream
    table, streams, header guard."""
    if resync is None:
        body = b"".join(_LEN.pack(len(s)) + bytes(s) for s in strings)
        return pack_header(shape, model_hash, channels, levels, coder, precision,
                           len(strings), fps) + body
    check_resync(resync, CodedShape(*shape))
    head = pack_header(shape, model_hash, channels, levels, coder, precision, len(strings),
                       fps, resilient=True)
    head += _LEN.pack(resync) + b"".join(_LEN.pack(len(s)) for s in strings)
    return head + b"".join(bytes(s) for s in strings) + header_guard.guard(head)


def check_resync(resync: int, shape: CodedShape) -> None:
    """Refuse a resync period that is not 0 or a whole number of groups."""
    if resync < 0 or resync % shape.group or resync > 0xFFFFFFFF:
        raise HelixError(f"resync period {resync} is not a whole number of groups of "
                         f"{shape.group} frames")


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
    if version < 5:
        return HEADERS[version].size
    if version in RESILIENT_VERSIONS:
        if len(data) < HEADERS[6].size:
            raise HelixError("not a HELIX video container (bad magic or truncated header)")
        (n_streams,) = _LEN.unpack_from(data, _STREAMS_AT)
        return HEADERS[6].size + _LEN.size * (1 + n_streams)
    if len(data) < SIZE_PREFIX:
        raise HelixError("not a HELIX video container (bad magic or truncated header)")
    (frames,) = struct.unpack_from(">I", data, 13)
    return HEADERS[version].size + -(-frames // 8)


def read_header(data: bytes) -> tuple[CodedShape, dict[str, Any], int]:
    """Header -> (shape, meta, number of streams), any released version. meta: version,
    model_hash, channels, levels, coder, precision, header_size, fps (a Fraction;
    DEFAULT_FPS before version 3)."""
    data = bytes(data)
    size = header_size(data)
    if len(data) < size:
        raise HelixError("not a HELIX video container (bad magic or truncated header)")
    f = HEADERS[data[4]].unpack(data[:HEADERS[data[4]].size])
    if f[15] >= len(CODERS):
        raise HelixError(f"unknown coder id {f[15]} in the container header")
    coded = f[18:20] if f[1] >= 2 else (f[4], f[5])  # version 1 coded at the input size
    if 0 in coded:
        raise HelixError(f"video container header is corrupt: coded size {coded[0]}x{coded[1]}")
    if f[1] >= 3 and not (f[20] and f[21]):
        raise HelixError(f"bad frame rate {f[20]}/{f[21]} in the container header")
    fps = Fraction(f[20], f[21]) if f[1] >= 3 else DEFAULT_FPS
    digits = f[22] if f[1] >= 4 else f[10]  # before version 4: every digit
    if not 1 <= digits <= f[10]:
        raise HelixError(f"video container header is corrupt: {digits} digits kept of "
                         f"{f[10]} channels")
    intra = read_intra_map(data[HEADERS[5].size:size], f[3]) if f[1] == 5 else None
    shape = CodedShape(f[3], f[4], f[5], f[6], f[7], f[8], f[9], f[12], f[13], f[14], *coded,
                       digits, intra)
    check_shape(shape, CODERS[f[15]])
    if CODERS[f[15]] == "direct" and f[17]:
        raise HelixError("video container header is corrupt: a direct container has streams")
    meta = {"version": f[1], "model_hash": f[2].hex(), "channels": f[10], "levels": f[11],
            "coder": CODERS[f[15]], "precision": f[16], "header_size": size, "fps": fps}
    if f[1] in RESILIENT_VERSIONS:
        _read_stream_table(data, shape, meta, f[17])
    return shape, meta, f[17]


def _read_stream_table(data: bytes, shape: CodedShape, meta: dict[str, Any],
                       n_streams: int) -> None:
    """Version 6: meta["resync"] (the resync period) and meta["stream_lengths"]."""
    at = HEADERS[6].size
    (meta["resync"],) = _LEN.unpack_from(data, at)
    meta["stream_lengths"] = [_LEN.unpack_from(data, at + 4 * (1 + i))[0]
                              for i in range(n_streams)]
    if meta["coder"] != "fsm":
        raise HelixError("video container header is corrupt: a resilient container of the "
                         f"{meta['coder']} coder")
    try:
        check_resync(meta["resync"], shape)
    except HelixError as exc:
        raise HelixError(f"video container header is corrupt: {exc}") from None


def guard_size(meta: dict[str, Any]) -> int:
    """Bytes of the header guard after the streams (version 7; 0 before)."""
    return 2 * header_guard.row_length(meta["header_size"]) if meta["version"] == 7 else 0


def from_bytes(data: bytes) -> tuple[list[bytes], CodedShape, dict[str, Any]]:
    """Container -> (strings, shape, meta); meta as `read_header`'s plus trailing_bytes.
    Checks magic, version and lengths, not the model."""
    data = bytes(data)
    shape, meta, n_streams = read_header(data)
    strings, pos = [], meta["header_size"]
    if meta["coder"] == "fsm" and n_streams != math.ceil(shape.frames / shape.group):
        raise HelixError(f"video container holds {n_streams} streams; {shape.frames} frames "
                         f"in groups of {shape.group} need {math.ceil(shape.frames / shape.group)}")
    for i in range(n_streams):
        if meta["version"] in RESILIENT_VERSIONS:  # lengths in the stream table
            n = meta["stream_lengths"][i]
            if pos + n > len(data):
                raise HelixError(f"video container truncated in stream {i}")
            strings.append(data[pos:pos + n])
            pos += n
            continue
        if pos + _LEN.size > len(data):
            raise HelixError(f"video container truncated in stream {i}")
        (n,) = _LEN.unpack_from(data, pos)
        pos += _LEN.size
        if pos + n > len(data):
            raise HelixError(f"video container truncated in stream {i}")
        strings.append(data[pos:pos + n])
        pos += n
    check_shape(shape, meta["coder"], [len(b) for b in strings])
    meta["guard_bytes"] = guard_size(meta)
    if len(data) - pos < meta["guard_bytes"]:
        raise HelixError("video container truncated in its header guard")
    meta["trailing_bytes"] = len(data) - pos - meta["guard_bytes"]
    return strings, shape, meta
