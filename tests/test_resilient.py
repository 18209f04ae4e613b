"""The resilient video layout (container version 6): round trip, strand loss beyond the outer
code's repair (lost frames predicted, the rest exact), the CLI's warning, and its parts (the
stream table, the partial archive decode)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from helix_lightning.cli import main as helix
from helix_lightning.dna.archive import DecodeFailure, decode_archive, encode_archive, find_header
from helix_lightning.dna.constraints import get_constraints
from helix_lightning.dna.fasta import write_fasta
from helix_lightning.dna.records import VIDEO_RECORD_VERSION, fasta_records
from helix_lightning.dna.salvage import PartialBytes
from helix_lightning.errors import HelixError
from helix_lightning.model import container, pipeline
from helix_lightning.model.checkpoint import DEFAULT_CHECKPOINT, load_codec
from helix_lightning.model.entropy import TokenEntropyCoder
from helix_lightning.model.resilient import (PredictedFramesWarning, decode_tokens,
                                             predict_frame, spans)
from helix_lightning.video.io import read_video

FIXTURES = Path(__file__).resolve().parent / "fixtures"
needs_model = pytest.mark.skipif(not DEFAULT_CHECKPOINT.is_file(), reason="no default model")


@pytest.fixture(scope="module")
def codec():
    return load_codec()


@pytest.fixture(scope="module")
def clip():
    return read_video(FIXTURES / "clip.mkv")  # 4 frames of 80x64


def _without_segment(strands: list[str], s: int) -> list[str]:
    """The strands less every data strand of outer-code segment `s` (encode order: header
    strands, then data strands by index)."""
    header = find_header(strands).header
    seg, first = header.segmentation(), len(strands) - sum(
        header.segmentation().symbols(i) + header.repair(i)
        for i in range(header.segmentation().count))
    base = first + sum(seg.symbols(i) + header.repair(i) for i in range(s))
    return strands[:base] + strands[base + seg.symbols(s) + header.repair(s):]


def test_spans():
    assert spans([0, 1, 2, 5, 7, 8]) == "0-2, 5, 7-8"
    assert spans([3]) == "3"


def test_archive_partial_decode_keeps_what_arrived():
    data = bytes(np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8))
    arch = encode_archive(data, "standard", redundancy=0.3, segment_symbols=20)
    assert arch.header.segmentation().count == 5
    lossy = _without_segment(arch.strands, 1)
    with pytest.raises(DecodeFailure, match="segment 1: 0 of"):
        decode_archive(lossy)
    got, report = decode_archive(lossy, partial=True)
    assert isinstance(got, PartialBytes) and not report.ok
    assert [s["decoded"] for s in report.segments] == [True, False, True, True, True]
    lo, hi = arch.header.segmentation().chunk_range(1)
    assert got.missing == ((lo, hi),)
    assert got[:lo] == data[:lo] and got[hi:] == data[hi:]
    assert not got.known(lo, lo + 1) and got.known(0, lo)
    assert isinstance(got.failure, DecodeFailure) and "segment 1" in str(got.failure)
    whole, report = decode_archive(arch.strands, partial=True)  # nothing lost: plain bytes
    assert whole == data and type(whole) is bytes and report.ok


def test_segment_size_is_refused_out_of_range():
    with pytest.raises(HelixError, match="segments must hold"):
        encode_archive(b"x" * 100, "standard", segment_symbols=0)


@needs_model
def test_resilient_container_round_trip(codec, clip):
    strands, stats = pipeline.encode_video(codec, clip, get_constraints("standard"),
                                           group=1, resync=2)
    plain, _ = pipeline.encode_video(codec, clip, get_constraints("standard"))
    assert np.array_equal(pipeline.decode_video(codec, strands),
                          pipeline.decode_video(codec, plain))
    comp = codec.compress(clip, group=1, resync=2)
    data = pipeline.container_bytes(codec, {**comp, "resync": 2})
    strings, shape, meta = container.from_bytes(data)
    assert meta["version"] == 6 and meta["resync"] == 2 and shape.group == 1
    assert strings == comp["strings"] and meta["stream_lengths"] == [len(s) for s in strings]
    assert meta["header_size"] == container.HEADERS[6].size + 4 * (1 + len(strings))
    assert stats.frames == 4


@needs_model
def test_resync_must_be_whole_groups(codec, clip):
    with pytest.raises(HelixError, match="multiple of the group"):
        pipeline.encode_video(codec, clip, get_constraints("standard"), group=2, resync=3)
    with pytest.raises(HelixError, match="fsm coder"):
        pipeline.encode_video(codec, clip, get_constraints("standard"), coder="direct",
                              resync=0)
    comp = codec.compress(clip, group=2)
    with pytest.raises(HelixError, match="whole number of groups"):
        pipeline.container_bytes(codec, {**comp, "resync": 3})


@needs_model
def test_forged_stream_table_is_refused(codec, clip):
    comp = codec.compress(clip, group=2)
    data = bytearray(pipeline.container_bytes(codec, {**comp, "resync": 0}))
    at = container.HEADERS[6].size + 4  # the first stream's length
    data[at:at + 4] = (10**6).to_bytes(4, "big")
    with pytest.raises(HelixError, match="truncated in stream 0"):
        container.from_bytes(bytes(data))
    data = bytearray(pipeline.container_bytes(codec, {**comp, "resync": 0}))
    data[container.HEADERS[6].size:container.HEADERS[6].size + 4] = (3).to_bytes(4, "big")
    with pytest.raises(HelixError, match="corrupt"):
        container.from_bytes(bytes(data))


@needs_model
def test_lost_stream_is_predicted_and_the_next_chain_is_exact(codec, clip):
    comp = codec.compress(clip, group=1, resync=2)
    shape = comp["shape"]
    coder = TokenEntropyCoder(codec.token_model, shape.hp, shape.wp, shape.stages, shape.drop)
    clean, none_lost = decode_tokens(coder, comp["strings"], 4, 1, 2)
    assert none_lost == [] and np.array_equal(clean, comp["tokens"])
    streams = list(comp["strings"])
    streams[1] = None  # frame 1 lost: predicted from frame 0; frames 2-3 are a new chain
    got, predicted = decode_tokens(coder, streams, 4, 1, 2)
    assert predicted == [1]
    assert np.array_equal(got[[0, 2, 3]], clean[[0, 2, 3]])
    assert np.array_equal(got[1], predict_frame(coder, clean[0].reshape(-1)))
    streams = list(comp["strings"])
    streams[0] = None  # frame 0 lost: frame 1 (same chain) cannot be decoded either
    got, predicted = decode_tokens(coder, streams, 4, 1, 2)
    assert predicted == [0, 1] and np.array_equal(got[2:], clean[2:])


@needs_model
def test_lost_segment_costs_only_its_frames(codec, clip):
    strands, _ = pipeline.encode_video(codec, clip, get_constraints("standard"),
                                       group=1, resync=1)
    clean = pipeline.decode_video(codec, strands)
    header = find_header(strands).header
    assert header.segmentation().count >= 3
    with pytest.warns(PredictedFramesWarning) as caught:
        got = pipeline.decode_video(codec, _without_segment(strands, 1))
    frames = caught[0].message.frames
    data, _ = decode_archive(strands)  # which streams had bytes in segment 1
    _, _, meta = container.from_bytes(data)
    lo, hi = header.segmentation().chunk_range(1)
    ends = meta["header_size"] + np.cumsum(meta["stream_lengths"])
    starts = ends - np.array(meta["stream_lengths"])
    assert frames == tuple(t for t in range(4) if starts[t] < hi and lo < ends[t])
    assert 0 < len(frames) < 4
    assert "predicted by the token model" in str(caught[0].message)
    assert got.shape == clean.shape
    for t in range(4):
        assert np.array_equal(got[t], clean[t]) == (t not in frames)


@needs_model
def test_lost_header_still_fails_and_plain_layout_unchanged(codec, clip):
    strands, _ = pipeline.encode_video(codec, clip, get_constraints("standard"),
                                       group=1, resync=1)
    with pytest.raises(DecodeFailure, match="segment 0: 0 of .*nothing written"):
        pipeline.decode_video(codec, _without_segment(strands, 0))
    plain, _ = pipeline.encode_video(codec, clip, get_constraints("standard"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the old layout: the old error, no prediction
        with pytest.raises(DecodeFailure, match="segment 0: 0 of .*nothing written"):
            pipeline.decode_video(codec, _without_segment(plain, 0))


@needs_model
def test_cli_decode_names_predicted_frames(codec, clip, tmp_path, capsys):
    strands, stats = pipeline.encode_video(codec, clip, get_constraints("standard"),
                                           group=1, resync=1)
    fasta = tmp_path / "lossy.fasta"
    write_fasta(fasta, fasta_records(_without_segment(strands, 1), stats.constraints,
                                     VIDEO_RECORD_VERSION, "fsm"))
    out = tmp_path / "out.mkv"
    assert helix(["decode", str(fasta), "-o", str(out), "-q"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("warning: frames ") and "of 4 predicted by the token model" in err
    assert "decoded exactly" in err
    assert read_video(out).shape == clip.shape


@needs_model
def test_cli_encode_resilient_flag(tmp_path, clip):
    out = tmp_path / "r.fasta"
    assert helix(["encode", str(FIXTURES / "clip.mkv"), "-o", str(out), "-q",
                  "--resilient"]) == 0
    assert helix(["decode", str(out), "-o", str(tmp_path / "r.mkv"), "-q"]) == 0
    assert read_video(tmp_path / "r.mkv").shape == clip.shape
    assert helix(["encode", str(FIXTURES / "clip.mkv"), "-o", str(out), "-q",
                  "--resilient", "3"]) == 2
