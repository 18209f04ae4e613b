"""Classic video codecs as raw elementary bitstreams, through PyAV: x264, x265, SVT-AV1, VP9.

A registry in the style of the DNA codes': `BASELINES[name]` is a `VideoBaseline`,
`get_baseline(name)` returns it. Each one encodes uint8 RGB frames (T, H, W, 3) at one rate
parameter (CRF) into the *stream* that is stored in DNA, and decodes that stream back:

- x264 / x265: the Annex-B elementary stream (start codes frame it; no extra framing), the
  encoder's SEI user-data "settings string" removed (x264 writes ~675 bytes of it into the
  first access unit and has no option to leave it out, so its SEI NAL is dropped; x265 is
  told `info=0`, and any user-data SEI left is dropped the same way). Parameter sets stay
  in-band: they are part of what a decoder needs, so they are counted.
- SVT-AV1: the low-overhead OBU stream without temporal-delimiter OBUs (2 bytes per frame,
  implied by our framing and put back before decoding), each temporal unit prefixed by its
  length as LEB128 (the AV1 spec's own varint). No IVF header.
- VP9: each packet (frame or superframe) prefixed by its length as LEB128. No IVF header.

Nothing else is stored: no container, no frame rate, no frame count (the stream ends where the
bytes end). Odd frame sizes are padded to even (4:2:0 chroma) and the true size is appended as
4 counted bytes. Colour: RGB -> YUV 4:2:0 (BT.601, limited range) by swscale before encoding
and back after decoding, the same conversion on both sides.

`EncodedStream.packets` keeps the encoder's own packets (headers and all) so a test can check
that decoding the stored stream gives *exactly* the frames a direct decode of those packets
gives (`decode_packets`): the header stripping loses nothing. Loggers: x265's is set to
errors only, SVT-AV1's console log is silenced with SVT_LOG=1 (set before the first encoder
is made, unless the user set it) and FFmpeg's own log is left at PyAV's default (quiet).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from fractions import Fraction
import av
import numpy as np

from ..errors import HelixError

#: name -> the baseline (registry; `register_baseline` adds one)
BASELINES: dict[str, "VideoBaseline"] = {}

PIX_FMT = "yuv420p"
COLORSPACE = "ITU601"


def register_baseline(cls: type["VideoBaseline"]) -> type["VideoBaseline"]:
    """Class decorator: put one instance of a baseline into `BASELINES` under `cls.name`."""
    BASELINES[cls.name] = cls()
    return cls


def get_baseline(name: str) -> "VideoBaseline":
    if name not in BASELINES:
        raise HelixError(f"unknown baseline codec {name!r} (known: {', '.join(BASELINES)})")
    return BASELINES[name]


# ---------------------------------------------------------------- byte helpers

def leb128(n: int) -> bytes:
    """Unsigned LEB128 (7 bits per byte, low first), as AV1's obu_size."""
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def read_leb128(data: bytes, pos: int) -> tuple[int, int]:
    """(value, next position) of the LEB128 number at `pos`."""
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 56:
            raise HelixError("baseline stream: truncated or bad length field")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def length_frame(units: list[bytes]) -> bytes:
    return b"".join(leb128(len(u)) + u for u in units)


def length_unframe(data: bytes) -> list[bytes]:
    units, pos = [], 0
    while pos < len(data):
        n, pos = read_leb128(data, pos)
        if pos + n > len(data):
            raise HelixError("baseline stream: a frame runs past the end of the stream")
        units.append(data[pos:pos + n])
        pos += n
    return units


def split_annexb(data: bytes) -> list[bytes]:
    """Annex-B bytes -> NAL units, each with its own start code (3 or 4 bytes) in front."""
    starts = []
    i = data.find(b"\x00\x00\x01")
    while i >= 0:
        starts.append(i - 1 if i > 0 and data[i - 1] == 0 else i)
        i = data.find(b"\x00\x00\x01", i + 3)
    if not starts or starts[0] != 0:
        raise HelixError("not an Annex-B stream (no start code at the beginning)")
    return [data[a:b] for a, b in zip(starts, starts[1:] + [len(data)])]


def _nal_payload(nal: bytes) -> bytes:
    """The NAL unit after its start code."""
    return nal[nal.index(b"\x00\x00\x01") + 3:]


def _sei_payload_types(rbsp: bytes) -> list[int]:
    """payloadType of each SEI message in an SEI RBSP (emulation bytes do not matter for the
    first header; later messages are walked by payloadSize, good enough for a filter)."""
    types, pos = [], 0
    while pos < len(rbsp) and rbsp[pos] != 0x80:
        t = 0
        while pos < len(rbsp) and rbsp[pos] == 0xFF:
            t, pos = t + 255, pos + 1
        if pos >= len(rbsp):
            break
        t, pos = t + rbsp[pos], pos + 1
        size = 0
        while pos < len(rbsp) and rbsp[pos] == 0xFF:
            size, pos = size + 255, pos + 1
        if pos >= len(rbsp):
            break
        size, pos = size + rbsp[pos], pos + 1
        types.append(t)
        pos += size
    return types


USER_DATA_UNREGISTERED = 5


def strip_user_data_sei(data: bytes, hevc: bool) -> bytes:
    """Drop SEI NAL units that carry only user-data-unregistered messages (encoder settings
    strings) from Annex-B H.264 (`hevc=False`) or HEVC bytes. Decoding ignores them."""
    keep = []
    for nal in split_annexb(data):
        body = _nal_payload(nal)
        if hevc:
            is_sei = len(body) > 2 and ((body[0] >> 1) & 0x3F) in (39, 40)
            rbsp = body[2:]
        else:
            is_sei = len(body) > 1 and (body[0] & 0x1F) == 6
            rbsp = body[1:]
        if is_sei:
            types = _sei_payload_types(rbsp)
            if types and all(t == USER_DATA_UNREGISTERED for t in types):
                continue
        keep.append(nal)
    return b"".join(keep)


# ---------------------------------------------------------------- colour conversion

def _to_yuv(rgb: np.ndarray) -> av.VideoFrame:
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
    return frame.reformat(format=PIX_FMT, src_colorspace=COLORSPACE, dst_colorspace=COLORSPACE)


def _to_rgb(frame: av.VideoFrame) -> np.ndarray:
    return frame.reformat(format="rgb24", src_colorspace=COLORSPACE,
                          dst_colorspace=COLORSPACE).to_ndarray()


def _yuv_planes(frame: av.VideoFrame) -> np.ndarray:
    """A decoded frame's YUV 4:2:0 samples as one flat array (for bit-exact comparisons)."""
    return frame.reformat(format=PIX_FMT).to_ndarray().reshape(-1)


# ---------------------------------------------------------------- encoded stream

@dataclass
class EncodedStream:
    """One baseline encode: the stored stream and what it came from."""

    codec: str
    rate_param: str              # e.g. "crf=35"
    stream: bytes                # what goes into DNA (bitstream + minimal framing)
    packets: list[bytes]         # the encoder's packets as it gave them (for direct decodes)
    frames: int
    width: int
    height: int
    encode_s: float
    stripped_bytes: int = 0      # header bytes removed from the packets (settings SEI, TDs)
    framing_bytes: int = 0       # bytes of our own framing (lengths, size trailer)

    @property
    def packet_bytes(self) -> int:
        return sum(map(len, self.packets))


class VideoBaseline:
    """A classic codec through PyAV; subclasses set the encoder, decoder, options, framing."""

    name: str = ""
    encoder: str = ""
    decoder: str = ""
    param: str = "crf"
    #: rate parameters from the highest rate to the lowest, chosen so that 30 frames of
    #: carphone (176x144) span about 0.01 (x264, x265) or 0.02 (SVT-AV1, VP9: CRF 63 is their
    #: largest quantiser, and target bitrates below it are not met) to 0.3 nt/px through the
    #: FSM coder on `standard`; `small`: a 2-point ladder for quick checks
    ladders: dict[str, tuple[int, ...]] = {}
    muxer: str = "matroska"  # container used by `muxed_size` (for comparisons only)

    def options(self, value: int) -> dict[str, str]:
        raise NotImplementedError

    # framing of the encoder's packets into the stored stream, and back
    def pack(self, packets: list[bytes]) -> tuple[bytes, int, int]:
        """(stream, stripped header bytes, framing bytes)."""
        stream = length_frame(packets)
        return stream, 0, len(stream) - sum(map(len, packets))

    def unpack(self, stream: bytes) -> list[bytes]:
        """The stored stream -> packets for the decoder."""
        return length_unframe(stream)

    def ladder(self, name: str = "default") -> tuple[int, ...]:
        if name not in self.ladders:
            raise HelixError(f"unknown ladder {name!r} (known: {', '.join(self.ladders)})")
        return self.ladders[name]

    # ------------------------------------------------------------ encode
    def _context(self, width: int, height: int, value: int, fps: Fraction) -> av.CodecContext:
        ctx = av.CodecContext.create(self.encoder, "w")
        ctx.width, ctx.height, ctx.pix_fmt = width, height, PIX_FMT
        ctx.time_base, ctx.framerate = 1 / fps, fps
        ctx.thread_count = 1  # the same bits on every machine
        ctx.options = self.options(value)
        return ctx

    def encode(self, frames: np.ndarray, value: int, fps: float = 25.0) -> EncodedStream:
        """uint8 RGB (T, H, W, 3) at rate parameter `value` -> the stored stream."""
        frames = _check(frames)
        t, h, w = frames.shape[:3]
        padded = np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")
        rate = Fraction(fps).limit_denominator(1001) if fps and fps > 0 else Fraction(25)
        _quiet_encoders()
        t0 = time.perf_counter()
        try:
            ctx = self._context(padded.shape[2], padded.shape[1], value, rate)
            packets: list[bytes] = []
            for i, rgb in enumerate(padded):
                frame = _to_yuv(rgb)
                frame.pts = i
                packets += [bytes(p) for p in ctx.encode(frame)]
            packets += [bytes(p) for p in ctx.encode(None)]
        except av.FFmpegError as exc:
            raise HelixError(f"{self.name}: encoding failed ({exc})") from None
        stream, stripped, framing = self.pack(packets)
        if (h, w) != padded.shape[1:3]:
            stream += int(w).to_bytes(2, "big") + int(h).to_bytes(2, "big")
            framing += 4
        return EncodedStream(self.name, f"{self.param}={value}", stream, packets, t, w, h,
                             time.perf_counter() - t0, stripped, framing)

    # ------------------------------------------------------------ decode
    def decode(self, stream: bytes, size: tuple[int, int] | None = None) -> np.ndarray:
        """The stored stream -> uint8 RGB (T, H, W, 3). `size` (w, h): the source size; when
        it is odd, the stream ends with the 4-byte true size (checked against it)."""
        crop = None
        if size is not None and (size[0] % 2 or size[1] % 2):
            if len(stream) < 4:
                raise HelixError(f"{self.name}: stream too short")
            crop = (int.from_bytes(stream[-4:-2], "big"), int.from_bytes(stream[-2:], "big"))
            stream = stream[:-4]
        frames = [_to_rgb(f) for f in self._decode_frames(self.unpack(stream))]
        if not frames:
            raise HelixError(f"{self.name}: the stream decodes to no frame")
        out = np.stack(frames)
        if crop is not None:
            out = out[:, :crop[1], :crop[0]]
        return out

    def decode_packets(self, packets: list[bytes]) -> list[np.ndarray]:
        """Direct decode of the encoder's own packets: flat YUV samples per frame."""
        return [_yuv_planes(f) for f in self._decode_frames(packets)]

    def decode_stream_yuv(self, stream: bytes, size: tuple[int, int] | None = None
                          ) -> list[np.ndarray]:
        """Decode of the stored stream: flat YUV samples per frame (see `decode_packets`)."""
        if size is not None and (size[0] % 2 or size[1] % 2):
            stream = stream[:-4]
        return [_yuv_planes(f) for f in self._decode_frames(self.unpack(stream))]

    def _decode_frames(self, packets: list[bytes]) -> list[av.VideoFrame]:
        ctx = av.CodecContext.create(self.decoder, "r")
        ctx.thread_count = 1
        out = []
        try:
            for data in packets:
                out += ctx.decode(av.Packet(data))
            out += ctx.decode(None)
        except av.FFmpegError as exc:
            raise HelixError(f"{self.name}: the stream does not decode ({exc})") from None
        return out

    # ------------------------------------------------------------ for comparisons
    def muxed_size(self, frames: np.ndarray, value: int, fps: float = 25.0) -> int:
        """Bytes of the same encode written the usual way: into this baseline's container
        (mp4, mkv or webm, global headers and all), as `helix encode`-style tools would."""
        import io

        frames = _check(frames)
        frames = np.pad(frames, ((0, 0), (0, frames.shape[1] % 2), (0, frames.shape[2] % 2),
                                 (0, 0)), mode="edge")
        _quiet_encoders()
        buf = io.BytesIO()
        rate = Fraction(fps).limit_denominator(1001)
        with av.open(buf, "w", format=self.muxer) as out:
            stream = out.add_stream(self.encoder, rate=rate, options=self.options(value))
            stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], PIX_FMT
            stream.codec_context.thread_count = 1
            for i, rgb in enumerate(frames):
                f = _to_yuv(rgb)
                f.pts = i
                out.mux(stream.encode(f))
            out.mux(stream.encode(None))
        return len(buf.getvalue())


def _check(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or 0 in frames.shape or frames.dtype != np.uint8:
        raise HelixError(f"frames must be a non-empty uint8 (T, H, W, 3) array, "
                         f"got {frames.dtype} {frames.shape}")
    return frames


def _quiet_encoders() -> None:
    """SVT-AV1 prints its settings to the console unless SVT_LOG says otherwise."""
    os.environ.setdefault("SVT_LOG", "1")


# ---------------------------------------------------------------- the codecs

class _AnnexB(VideoBaseline):
    hevc = False
    muxer = "mp4"

    def pack(self, packets: list[bytes]) -> tuple[bytes, int, int]:
        raw = b"".join(packets)
        stream = strip_user_data_sei(raw, self.hevc)
        return stream, len(raw) - len(stream), 0

    def unpack(self, stream: bytes) -> list[bytes]:
        ctx = av.CodecContext.create(self.decoder, "r")
        try:
            packets = ctx.parse(stream) + ctx.parse(None)
        except av.FFmpegError as exc:
            raise HelixError(f"{self.name}: not a {self.decoder} stream ({exc})") from None
        return [bytes(p) for p in packets]


@register_baseline
class X264(_AnnexB):
    """H.264 / AVC by x264 (preset medium, CRF)."""

    name, encoder, decoder = "x264", "libx264", "h264"
    ladders = {"default": (13, 16, 19, 22, 26, 30, 34, 38, 42, 46, 51), "small": (30, 45)}

    def options(self, value: int) -> dict[str, str]:
        return {"crf": str(value), "preset": "medium"}


@register_baseline
class X265(_AnnexB):
    """H.265 / HEVC by x265 (preset medium, CRF, no info SEI, errors-only log)."""

    name, encoder, decoder = "x265", "libx265", "hevc"
    hevc = True
    ladders = {"default": (13, 16, 19, 22, 26, 30, 34, 38, 42, 46, 51), "small": (30, 45)}

    def options(self, value: int) -> dict[str, str]:
        return {"crf": str(value), "preset": "medium",
                "x265-params": "info=0:log-level=error"}


TEMPORAL_DELIMITER = b"\x12\x00"  # OBU type 2, has_size_field, size 0


@register_baseline
class SvtAv1(VideoBaseline):
    """AV1 by SVT-AV1 (preset 8, CRF), OBUs without temporal delimiters, LEB128 framing."""

    name, encoder, decoder = "svtav1", "libsvtav1", "libdav1d"
    ladders = {"default": (8, 14, 20, 26, 32, 38, 44, 50, 56, 60, 63), "small": (40, 58)}

    def options(self, value: int) -> dict[str, str]:
        return {"crf": str(value), "preset": "8"}

    def pack(self, packets: list[bytes]) -> tuple[bytes, int, int]:
        units = [p[len(TEMPORAL_DELIMITER):] if p.startswith(TEMPORAL_DELIMITER) else p
                 for p in packets]
        stream = length_frame(units)
        return stream, sum(map(len, packets)) - sum(map(len, units)), \
            len(stream) - sum(map(len, units))

    def unpack(self, stream: bytes) -> list[bytes]:
        return [TEMPORAL_DELIMITER + u for u in length_unframe(stream)]


@register_baseline
class Vp9(VideoBaseline):
    """VP9 by libvpx (constant quality: CRF with b=0, deadline good, cpu-used 4), LEB128
    framing per packet."""

    name, encoder, decoder = "vp9", "libvpx-vp9", "vp9"
    muxer = "webm"
    ladders = {"default": (16, 20, 26, 32, 38, 44, 50, 56, 60, 63), "small": (30, 58)}

    def options(self, value: int) -> dict[str, str]:
        return {"crf": str(value), "b": "0", "deadline": "good", "cpu-used": "4"}


#: baseline name -> a one-line description (for reports)
DESCRIPTIONS: dict[str, str] = {n: (b.__doc__ or "").split("\n")[0] for n, b in BASELINES.items()}
