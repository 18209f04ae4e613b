"""The video container's version policy: every released version decodes, a newer one is
refused by name; the version-1 decode fixture (tests/fixtures/make_container_v1.py); the
frame rate of version 3 (versions 1 and 2 read as 25 fps); the digits kept of version 4
(versions 1 to 3 kept every digit)."""

import json
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from helix_lightning.dna.archive import decode_archive
from helix_lightning.dna.direct import (
    bytes_to_digits,
    digits_to_bytes,
    direct_strands,
    read_direct_strands,
)
from helix_lightning.errors import HelixError
from helix_lightning.model import container
from helix_lightning.dna.fasta import read_sequences
from helix_lightning.model.checkpoint import DEFAULT_CHECKPOINT, load_codec
from helix_lightning.video.io import read_video

from test_codec import clip, tiny_codec

FIXTURES = Path(__file__).resolve().parent / "fixtures"
sys.path.insert(0, str(FIXTURES))
from make_container_v1 import HEADER_V1, HEADER_V2, as_version_1  # noqa: E402
from make_fixtures import frames_sha256, sha256  # noqa: E402
from make_fixtures_v3 import HEADER_V3  # noqa: E402
from make_fixtures_v3 import as_version_2 as _v3_as_version_2  # noqa: E402
from make_fixtures_v4c import HEADER_V4, as_version_3  # noqa: E402


def as_version_2(data: bytes) -> bytes:
    """Today's (version 4) container or direct header in the version-2 layout."""
    return _v3_as_version_2(as_version_3(data))


@pytest.fixture(scope="module")
def codec():
    return tiny_codec()


@pytest.fixture(scope="module")
def frames():
    return clip()


def test_released_layouts_are_the_ones_the_decoder_knows():
    assert container.VERSION == 7 and container.INTRA_ONLY_VERSION == 4
    assert container.HEADERS[1].format == HEADER_V1.format
    assert container.HEADERS[2].format == HEADER_V2.format
    assert container.HEADERS[3].format == HEADER_V3.format
    assert container.HEADERS[4].format == HEADER_V4.format == container.HEADER.format
    assert HEADER_V3.size == HEADER_V2.size + 8 and HEADER_V4.size == HEADER_V3.size + 1
    assert container.HEADERS[5].format == HEADER_V4.format  # + the intra-frame map
    assert container.HEADERS[6].format == HEADER_V4.format  # + resync and stream table
    assert container.HEADERS[7].format == HEADER_V4.format  # version 6 + the header guard


def test_version_1_container_decodes_as_version_2(codec, frames):
    comp = codec.compress(frames, stages=2, drop=0.25)  # native size: coded = input size
    v2 = as_version_2(codec.to_bytes(comp))
    v1 = as_version_1(v2)
    assert len(v1) == len(v2) - 4
    strings, shape, meta = container.from_bytes(v1)
    assert meta["version"] == 1 and meta["header_size"] == HEADER_V1.size
    assert strings == comp["strings"] and shape == comp["shape"]
    assert shape.coded_size == (shape.height, shape.width)
    assert np.array_equal(codec.decode_bytes(v1), codec.decode_bytes(v2))


def test_newer_or_unknown_versions_are_refused_by_name(codec, frames):
    data = bytearray(codec.to_bytes(codec.compress(frames, stages=2)))
    for version, words in ((8, "version 8 is newer"), (200, "version 200 is newer"),
                           (0, "version 0 is not supported")):
        data[4] = version
        with pytest.raises(HelixError, match=words):
            codec.decode_bytes(bytes(data))
    with pytest.raises(HelixError, match="bad magic or truncated"):
        container.from_bytes(b"HXVC")
    with pytest.raises(HelixError, match="truncated in stream"):
        container.from_bytes(codec.to_bytes(codec.compress(frames, stages=2))[:-1])


def test_direct_strands_with_a_version_1_header_decode(codec, frames):
    strands, _ = codec.encode_video(frames, coder="direct", stages=2, drop=0.25)
    digits = read_direct_strands(strands)
    n_head = 4 * HEADER_V4.size
    v1_head = as_version_1(as_version_2(digits_to_bytes(digits[:n_head])))
    old = direct_strands(np.concatenate([bytes_to_digits(v1_head), digits[n_head:]]))
    assert old != strands
    assert np.array_equal(codec.decode_video(old, coder="direct"),
                          codec.decode_video(strands))


# ---------------------------------------------------------------------- the fixture

@pytest.mark.skipif(not DEFAULT_CHECKPOINT.is_file(), reason="no default model")
def test_version_1_fixture_decodes_like_todays_container():
    record = json.loads((FIXTURES / "container_v1.json").read_text())
    data = (FIXTURES / "container_v1.hxvc").read_bytes()
    assert sha256(data) == record["container_sha256"]
    model = load_codec()
    strings, shape, meta = container.from_bytes(data)
    assert (meta["version"], meta["precision"]) == (1, 16)
    assert meta["model_hash"] == record["model_hash"] == model.model_hash()
    frames = model.decode_bytes(data)
    assert frames_sha256(frames) == record["frames_sha256"]
    # today's container (version 4) of the same streams decodes to the same frames
    v3 = container.to_bytes(strings, shape, meta["model_hash"], meta["channels"],
                            meta["levels"], meta["coder"], meta["precision"])
    assert container.from_bytes(v3)[2]["version"] == 4
    assert np.array_equal(model.decode_bytes(v3), frames)
    # and today's native-size encode of the same clip codes the same tokens
    today = model.compress(read_video(FIXTURES / "clip.mkv"))
    assert today["shape"] == shape and today["precision"] == 24
    assert torch.equal(model.decompress_tokens(strings, shape, precision=16), today["tokens"])
    assert np.array_equal(model.decode_bytes(model.to_bytes(today)), frames)


# ---------------------------------------------------------------------- frame rate (v3)

def test_version_3_stores_the_frame_rate_exactly(codec, frames):
    comp = codec.compress(frames, stages=2, drop=0.25)
    for fps in (Fraction(30000, 1001), Fraction(10), 29.97, Fraction(24000, 1001), 120):
        data = container.to_bytes(comp["strings"], comp["shape"], codec.model_hash(),
                                  codec.fsq.channels, codec.fsq.levels, "fsm", 24, fps=fps)
        _, shape, meta = container.from_bytes(data)
        assert meta["version"] == 4 and shape == comp["shape"]
        assert meta["fps"] == (Fraction(2997, 100) if fps == 29.97 else Fraction(fps))
    assert container.from_bytes(codec.to_bytes(comp))[2]["fps"] == 25  # the default
    v2 = as_version_2(codec.to_bytes(comp))
    assert container.from_bytes(v2)[2]["fps"] == container.DEFAULT_FPS == 25
    assert np.array_equal(codec.decode_bytes(v2), codec.decode_bytes(codec.to_bytes(comp)))


def test_frame_rates_the_header_cannot_hold_are_refused(codec, frames):
    comp = codec.compress(frames, stages=2, drop=0.25)
    args = (comp["strings"], comp["shape"], codec.model_hash(), codec.fsq.channels,
            codec.fsq.levels, "fsm", 24)
    for fps, words in ((0, "must be positive"), (-25, "must be positive"),
                       (1e12, "does not fit"), (float("nan"), "finite")):
        with pytest.raises(HelixError, match=words):
            container.to_bytes(*args, fps=fps)
    data = bytearray(container.to_bytes(*args))
    data[HEADER_V3.size - 4:HEADER_V3.size] = bytes(4)  # denominator 0 (before the digits)
    with pytest.raises(HelixError, match="bad frame rate 25/0"):
        container.from_bytes(bytes(data))


def test_direct_strands_carry_the_frame_rate(codec, frames):
    captured = []
    strands, _ = codec.encode_video(frames, coder="direct", stages=2, drop=0.25,
                                    fps=Fraction(30000, 1001))
    dec = codec.decode_video(strands, on_header=lambda shape, meta: captured.append(meta))
    assert captured[0]["fps"] == Fraction(30000, 1001) and captured[0]["coder"] == "direct"
    assert dec.shape == frames.shape


@pytest.mark.parametrize("name,version", [("video_mid", 2), ("video_mid_v3", 3)])
def test_fixtures_of_version_2_and_3_read_as_25_fps(name, version):
    strands = [s for _, s in read_sequences(FIXTURES / f"{name}.fasta")]
    data, _ = decode_archive(strands)
    shape, meta, _ = container.read_header(data)
    assert (meta["version"], meta["fps"]) == (version, 25)
    assert (shape.height, shape.width) == (64, 80)


# ---------------------------------------------------------------------- digits kept (v4)

def test_version_4_records_the_digits_kept_and_older_versions_keep_every_digit(codec, frames):
    k = codec.fsq.channels
    full = codec.compress(frames, stages=2)
    _, shape, meta = container.from_bytes(codec.to_bytes(full))
    assert (meta["version"], shape.digits) == (4, k)
    _, old, meta = container.from_bytes(as_version_3(codec.to_bytes(full)))
    assert (meta["version"], old.digits) == (3, k) and old == shape
    part = codec.compress(frames, stages=2, digits=k - 1)
    data = codec.to_bytes(part)
    strings, shape, _ = container.from_bytes(data)
    assert shape.digits == k - 1 and shape == part["shape"]
    assert np.array_equal(codec.decode_bytes(data),
                          codec.decompress(part["strings"], part["shape"]))
    with pytest.raises(ValueError, match="kept every digit"):
        as_version_3(data)  # a version-3 reader would read them as every digit


@pytest.mark.parametrize("digits", [0, 3, 255])
def test_digits_kept_outside_the_channels_are_refused(codec, frames, digits):
    data = bytearray(codec.to_bytes(codec.compress(frames, stages=2)))
    data[HEADER_V4.size - 1] = digits
    with pytest.raises(HelixError, match=f"corrupt: {digits} digits kept of 2 channels"):
        container.from_bytes(bytes(data))
