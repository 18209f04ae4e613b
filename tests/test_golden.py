"""Golden outputs: today's program must write the same bytes and decode every fixture.

The fixtures in `tests/fixtures/` (made by `tests/fixtures/make_fixtures.py`, regenerated only
on purpose) are a fixed synthetic clip encoded with the committed default model at each rate
point and coder, and a fixed byte file through `helix dna encode`. Encoding must stay
byte-identical; decoding each fixture must give the recorded frames / bytes, whatever later
changes the code goes through (archives made today must decode tomorrow).

The video fixtures of `golden.json` hold video container version 2 and those of
`golden_v3.json` (`make_fixtures_v3.py`) version 3 (the frame rate joined the header), both
in archive header version 1. Then two changes came at once: `golden_v4c.json`
(`make_fixtures_v4c.py`) holds container version 4 (the digits kept per token) in archive
header version 1, and `golden_v4.json` (`make_format_v3_fixtures.py`) container version 3
in archive header version 3 (every archive carries an ID; the byte encodes of that version
are `bytes_*_v3.fasta`, `format_v3.json`). Today's video encodes, both at once, are pinned
to `video_*_a3c4.fasta` (`golden_a3c4.json`, `make_fixtures_a3c4.py`). Every older fixture
stays a decode fixture, and all of them decode to the same frames.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from helix_lightning.cli import main as helix
from helix_lightning.dna.fasta import read_sequences
from helix_lightning.model.checkpoint import DEFAULT_CHECKPOINT, load_codec
from helix_lightning.video.io import read_video

FIXTURES = Path(__file__).resolve().parent / "fixtures"
GOLDEN = json.loads((FIXTURES / "golden.json").read_text())
#: The video encodes of container version 3 of the same clip and cases.
GOLDEN_V3 = json.loads((FIXTURES / "golden_v3.json").read_text())
#: Container version 4 in archive header version 1 (the digits kept per token).
GOLDEN_V4C = json.loads((FIXTURES / "golden_v4c.json").read_text())
#: Container version 3 in archive header version 3 (archive IDs).
GOLDEN_V4 = json.loads((FIXTURES / "golden_v4.json").read_text())
#: Today's byte encodes (archive header version 3).
FORMAT_V3 = json.loads((FIXTURES / "format_v3.json").read_text())
#: Today's video encodes: container version 4 in archive header version 3.
TODAY = json.loads((FIXTURES / "golden_a3c4.json").read_text())
#: The committed default model's hash, written into every video container it makes.
DEFAULT_MODEL_HASH = "c18f1bd6c519d619"

sys.path.insert(0, str(FIXTURES))
from make_fixtures import fixed_bytes, frames_sha256, sha256, synthetic_clip  # noqa: E402

pytestmark = pytest.mark.skipif(not DEFAULT_CHECKPOINT.is_file(), reason="no default model")


@pytest.fixture(scope="module")
def codec():
    return load_codec()


def test_default_model_hash_is_pinned(codec):
    assert GOLDEN["model_hash"] == DEFAULT_MODEL_HASH
    assert codec.model_hash() == DEFAULT_MODEL_HASH


def test_fixture_inputs_are_the_generated_ones():
    clip = read_video(FIXTURES / "clip.mkv")
    assert np.array_equal(clip, synthetic_clip())
    assert frames_sha256(clip) == GOLDEN["clip_frames_sha256"]
    assert (FIXTURES / "bytes.bin").read_bytes() == fixed_bytes()


@pytest.mark.parametrize("name", sorted(TODAY["video"]))
def test_video_encode_is_byte_identical(name, tmp_path):
    case = TODAY["video"][name]
    out = tmp_path / f"{name}.fasta"
    assert helix(["encode", str(FIXTURES / "clip.mkv"), "-o", str(out), "-q", *case["args"]]) == 0
    assert sha256(out.read_bytes()) == case["fasta_sha256"]
    assert out.read_bytes() == (FIXTURES / f"{name}_a3c4.fasta").read_bytes()


def test_todays_fixtures_are_the_same_cases_and_frames():
    assert TODAY["model_hash"] == DEFAULT_MODEL_HASH
    assert sorted(TODAY["video"]) == sorted(GOLDEN_V3["video"])
    for name, case in TODAY["video"].items():
        assert case["args"] == GOLDEN_V3["video"][name]["args"]
        assert case["frames_sha256"] == GOLDEN_V3["video"][name]["frames_sha256"]


@pytest.mark.parametrize("name", sorted(TODAY["video"]))
def test_todays_fixture_decodes_to_the_version_3_frames(name, codec):
    frames = codec.decode_video([s for _, s in read_sequences(FIXTURES / f"{name}_a3c4.fasta")])
    assert frames_sha256(frames) == GOLDEN_V3["video"][name]["frames_sha256"]


def test_version_4_fixtures_are_the_cases_of_the_same_clip():
    assert GOLDEN_V4C["model_hash"] == DEFAULT_MODEL_HASH
    assert (GOLDEN_V4C["container_version"], GOLDEN_V4C["fps"]) == (4, "25/1")
    assert sorted(GOLDEN_V4C["video"]) == sorted(GOLDEN_V3["video"])
    for name, case in GOLDEN_V4C["video"].items():
        assert case["args"] == GOLDEN_V3["video"][name]["args"]


def test_archive_v3_video_fixtures_are_the_fsm_cases_of_the_same_clip():
    assert GOLDEN_V4["model_hash"] == DEFAULT_MODEL_HASH
    assert sorted(GOLDEN_V4["video"]) == sorted(n for n, c in GOLDEN["video"].items()
                                                if "direct" not in c["args"])
    for name, case in GOLDEN_V4["video"].items():
        assert case["args"] == GOLDEN_V3["video"][name]["args"]
        # only the archive layer changed: the same container, the same frames
        assert case["frames_sha256"] == GOLDEN_V3["video"][name]["frames_sha256"]
        assert case["fasta_sha256"] != GOLDEN_V3["video"][name]["fasta_sha256"]




def test_version_3_fixtures_are_todays_cases_of_the_same_clip():
    assert GOLDEN_V3["model_hash"] == DEFAULT_MODEL_HASH
    assert sorted(GOLDEN_V3["video"]) == sorted(GOLDEN["video"])
    for name, case in GOLDEN_V3["video"].items():
        assert case["args"] == GOLDEN["video"][name]["args"]
        # only the container header changed: the same tokens, the same frames
        assert case["frames_sha256"] == GOLDEN["video"][name]["frames_sha256"]
        assert case["fasta_sha256"] != GOLDEN["video"][name]["fasta_sha256"]


@pytest.mark.parametrize("name", sorted(GOLDEN_V3["video"]))
def test_version_3_fixture_decodes_to_the_version_2_frames(name, codec):
    new = codec.decode_video([s for _, s in read_sequences(FIXTURES / f"{name}_v3.fasta")])
    old = codec.decode_video([s for _, s in read_sequences(FIXTURES / f"{name}.fasta")])
    assert np.array_equal(new, old)
    assert frames_sha256(new) == GOLDEN_V3["video"][name]["frames_sha256"]


@pytest.mark.parametrize("name", sorted(GOLDEN["video"]))
def test_video_fixture_decodes_to_the_golden_frames(name, codec):
    strands = [s for _, s in read_sequences(FIXTURES / f"{name}.fasta")]
    frames = codec.decode_video(strands)
    assert frames.shape == synthetic_clip().shape
    assert frames_sha256(frames) == GOLDEN["video"][name]["frames_sha256"]


def test_video_fixture_decodes_through_the_cli(tmp_path):
    out = tmp_path / "mid.mkv"
    assert helix(["decode", str(FIXTURES / "video_mid.fasta"), "-o", str(out), "-q"]) == 0
    assert frames_sha256(read_video(out)) == GOLDEN["video"]["video_mid"]["frames_sha256"]


@pytest.mark.parametrize("name", sorted(GOLDEN["bytes"]))
def test_bytes_encode_is_byte_identical_and_decodes(name, tmp_path):
    """Today's encode gives the header-version-3 fixture; it and the version-1 fixture of
    the same file and flags decode to the file."""
    case, new = GOLDEN["bytes"][name], FORMAT_V3[f"{name}_v3"]
    assert new["args"] == case["args"] and new["data_sha256"] == case["data_sha256"]
    out = tmp_path / f"{name}.fasta"
    assert helix(["dna", "encode", str(FIXTURES / "bytes.bin"), "-o", str(out), "-q",
                  *case["args"]]) == 0
    assert sha256(out.read_bytes()) == new["fasta_sha256"]
    assert out.read_bytes() == (FIXTURES / f"{name}_v3.fasta").read_bytes()
    for fixture in (f"{name}.fasta", f"{name}_v3.fasta"):
        back = tmp_path / "back.bin"
        assert helix(["dna", "decode", str(FIXTURES / fixture), "-o", str(back), "-q"]) == 0
        assert sha256(back.read_bytes()) == case["data_sha256"]
