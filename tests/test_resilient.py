"""The resilient video layout (container version 7, and version 6 before it): round trip, bit-
exact wherever today's outer code holds, strand loss beyond it (frames before the first lost
byte exact, the rest predicted), the header rebuilt from its guard, the CLI's warning, and its
parts (the stream table, the partial archive decode, the decoder's lookahead)."""

from __future__ import annotations

import warnings
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest
import torch

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
from helix_lightning.model import header_guard
from helix_lightning.model.resilient import (LOOKAHEAD_WORDS, PredictedFramesWarning,
                                             decode_tokens, predict_frame, spans)
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


def _data_strands(strands: list[str]) -> tuple[list[str], list[str], int, int]:
    """(header strands, data strands in index order, source symbols, repair symbols) of a
    one-segment archive."""
    header = find_header(strands).header
    assert header.segmentation().count == 1
    k, r = header.segmentation().symbols(0), header.repair(0)
    first = len(strands) - (k + r)
    return strands[:first], strands[first:], k, r


def _without(strands: list[str], lost: set[int]) -> list[str]:
    """The strands less the data strands of these indices (outer-code symbols)."""
    head, data, _, _ = _data_strands(strands)
    return head + [s for i, s in enumerate(data) if i not in lost]


def _beyond_repair(strands: list[str], lost: set[int]) -> list[str]:
    """The strands less every repair strand and the source strands `lost`: too few left."""
    _, _, k, r = _data_strands(strands)
    return _without(strands, set(lost) | set(range(k, k + r)))


@pytest.fixture(scope="module")
def resilient(codec, clip):
    """(strands, clean decode, container bytes) of the clip in the resilient layout."""
    strands, _ = pipeline.encode_video(codec, clip, get_constraints("standard"), resync=0)
    data, _ = decode_archive(strands)
    return strands, pipeline.decode_video(codec, strands), data


def _decode(codec, strands):
    """(frames, predicted frames or None when no warning)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = pipeline.decode_video(codec, strands)
    found = [w.message for w in caught if isinstance(w.message, PredictedFramesWarning)]
    return got, (found[0].frames if found else None)


def test_decoder_reads_at_most_lookahead_words_ahead():
    """Symbols decoded from the words the encoder had written for them, plus
    LOOKAHEAD_WORDS, whatever follows: what makes a stream's prefix decode exactly."""
    import constriction

    rng = np.random.default_rng(7)
    cat = constriction.stream.model.Categorical(perfect=False)
    for _ in range(20):
        n, k = int(rng.integers(20, 120)), int(rng.integers(2, 200))
        probs = rng.dirichlet(np.full(k, rng.choice([0.05, 0.5, 3.0])), size=n)
        probs = np.maximum(probs, 1e-6) / np.maximum(probs, 1e-6).sum(1, keepdims=True)
        sym = np.array([rng.choice(k, p=p) for p in probs], dtype=np.int32)
        enc, words = constriction.stream.queue.RangeEncoder(), []
        for i in range(n):
            enc.encode(sym[i:i + 1], cat, probs[i:i + 1])
            words.append(enc.num_words())
        full = enc.get_compressed()
        for i in rng.choice(n, 10, replace=False):
            keep = words[i] + LOOKAHEAD_WORDS
            noisy = full.copy()
            noisy[keep:] = rng.integers(0, 2**32, max(0, len(full) - keep), dtype=np.uint64)
            dec = constriction.stream.queue.RangeDecoder(noisy)
            got = [dec.decode(cat, probs[j:j + 1])[0] for j in range(i + 1)]
            assert np.array_equal(got, sym[:i + 1])


def test_header_guard_rebuilds_any_two_lost_rows():
    rng = np.random.default_rng(3)
    for n in (71, 80, 95):
        head = bytes(rng.integers(0, 256, n, dtype=np.uint8))
        b = header_guard.row_length(n)
        rows = np.frombuffer(head.ljust(2 * b, b"\0") + header_guard.guard(head),
                             np.uint8).reshape(4, b)
        for lost in combinations(range(4), 2):
            known = np.ones((4, b), bool)
            known[list(lost)] = False
            garbled = rows.copy()
            garbled[list(lost)] = rng.integers(0, 256, (2, b), dtype=np.uint8)
            got = header_guard.rebuild(garbled, known)
            assert got is not None and bytes(got.reshape(-1))[:n] == head
        known = np.ones((4, b), bool)
        known[:3, 5] = False  # three rows of one column: not enough
        assert header_guard.rebuild(rows, known) is None


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
    assert meta["version"] == 7 and meta["resync"] == 2 and shape.group == 1
    assert strings == comp["strings"] and meta["stream_lengths"] == [len(s) for s in strings]
    assert meta["header_size"] == container.HEADERS[7].size + 4 * (1 + len(strings))
    n = meta["header_size"]
    assert meta["guard_bytes"] == 2 * ((n + 1) // 2) and meta["trailing_bytes"] == 0
    assert data[-meta["guard_bytes"]:] == header_guard.guard(data[:n])
    assert stats.frames == 4


@needs_model
def test_one_stream_per_chain_by_default(codec, clip):
    for resync, streams in ((0, 1), (2, 2)):
        strands, _ = pipeline.encode_video(codec, clip, get_constraints("standard"),
                                           resync=resync)
        data, _ = decode_archive(strands)
        _, shape, meta = container.from_bytes(data)
        assert len(meta["stream_lengths"]) == streams and shape.group == (resync or 4)


@needs_model
def test_version_6_still_decodes(codec, clip, resilient):
    """A version 6 container (version 7 less its guard) decodes to the same frames, in whole
    and with a stream cut short."""
    _, clean, data = resilient
    _, _, meta = container.from_bytes(data)
    v6 = bytearray(data[:len(data) - meta["guard_bytes"]])
    v6[4] = 6
    assert np.array_equal(pipeline.decode_container(codec, bytes(v6)), clean)
    end, hole = len(v6), meta["stream_lengths"][0] // 3 // 4 * 4  # the stream's last third
    cut = PartialBytes(bytes(v6[:end - hole]) + bytes(hole), [(end - hole, end)],
                       DecodeFailure("lost", None))
    with pytest.warns(PredictedFramesWarning) as caught:
        got = pipeline.decode_container(codec, cut)
    frames = caught[0].message.frames
    assert frames and frames == tuple(range(frames[0], 4))
    assert all(np.array_equal(got[t], clean[t]) for t in range(frames[0]))


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
    at = container.HEADERS[7].size + 4  # the first stream's length
    data[at:at + 4] = (10**6).to_bytes(4, "big")
    with pytest.raises(HelixError, match="truncated in stream 0"):
        container.from_bytes(bytes(data))
    data = bytearray(pipeline.container_bytes(codec, {**comp, "resync": 0}))
    data[container.HEADERS[7].size:container.HEADERS[7].size + 4] = (3).to_bytes(4, "big")
    with pytest.raises(HelixError, match="corrupt"):
        container.from_bytes(bytes(data))
    data = pipeline.container_bytes(codec, {**comp, "resync": 0})
    with pytest.raises(HelixError, match="header guard"):
        container.from_bytes(data[:-1])


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
def test_a_stream_decodes_up_to_its_first_hole(codec, clip):
    comp = codec.compress(clip, resync=2, group=2)  # two chains of two frames, one stream each
    shape = comp["shape"]
    coder = TokenEntropyCoder(codec.token_model, shape.hp, shape.wp, shape.stages, shape.drop)
    clean, _ = decode_tokens(coder, comp["strings"], 4, 2, 2)
    first = comp["strings"][0]
    n = len(first)
    for hole in (0, n // 2, n - 4):  # the hole's place decides how far the stream decodes
        cut = PartialBytes(first[:hole] + bytes(n - hole), [(hole, n)], HelixError("lost"))
        got, predicted = decode_tokens(coder, [cut, comp["strings"][1]], 4, 2, 2)
        assert 2 not in predicted and 3 not in predicted  # the next chain: exact
        assert np.array_equal(got[2:], clean[2:])
        assert predicted == list(range(predicted[0], 2)) if predicted else hole == n - 4
        exact = 2 if not predicted else predicted[0]
        assert np.array_equal(got[:exact], clean[:exact])
    cut = PartialBytes(bytes(n), [(0, n)], HelixError("lost"))
    assert decode_tokens(coder, [cut, comp["strings"][1]], 4, 2, 2)[1] == [0, 1]


@needs_model
def test_bit_exact_wherever_the_outer_code_holds(codec, resilient):
    """Any repair's worth of lost strands, header and guard strands among them: the clean
    frames, no warning (today's outer code, so today's threshold)."""
    strands, clean, _ = resilient
    _, _, k, r = _data_strands(strands)
    for lost in ({0, 1, 2}, set(range(k - r + 2, k)), set(range(0, k + r, 3))):
        if len(lost) > r - 2:
            lost = set(sorted(lost)[:r - 2])
        got, predicted = _decode(codec, _without(strands, lost))
        assert predicted is None and np.array_equal(got, clean)


@needs_model
def test_beyond_repair_frames_before_the_first_hole_are_exact(codec, resilient):
    strands, clean, data = resilient
    _, _, meta = container.from_bytes(data)
    end = meta["header_size"] + meta["stream_lengths"][0]  # the stream's last byte + 1
    last = (end - 1) // 35  # its symbol (35 bytes on standard)
    got, predicted = _decode(codec, _beyond_repair(strands, {last}))
    assert got.shape == clean.shape
    assert predicted and 0 < len(predicted) < 4 and predicted == tuple(range(predicted[0], 4))
    for t in range(4):
        assert np.array_equal(got[t], clean[t]) == (t not in predicted)


@needs_model
def test_lost_header_is_rebuilt_from_its_guard(codec, resilient):
    strands, clean, data = resilient
    _, _, meta = container.from_bytes(data)
    guard_from = (len(data) - meta["guard_bytes"]) // 35  # the first symbol the guard touches
    for header_lost in ({0}, {1}, {0, 1}):  # the header and table: bytes 0 .. 70
        got, predicted = _decode(codec, _beyond_repair(strands, header_lost | {guard_from - 1}))
        assert predicted and predicted[0] > 0 and predicted == tuple(range(predicted[0], 4))
        assert np.array_equal(got[:predicted[0]], clean[:predicted[0]])
    lost = {0, 1} | set(range(guard_from, (len(data) - 1) // 35 + 1))
    with pytest.raises(DecodeFailure, match="nothing written"):  # header and guard lost
        pipeline.decode_video(codec, _beyond_repair(strands, lost))


@needs_model
def test_plain_layout_beyond_repair_still_fails(codec, clip):
    plain, _ = pipeline.encode_video(codec, clip, get_constraints("standard"))
    _, _, k, _ = _data_strands(plain)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the old layout: the old error, no prediction
        with pytest.raises(DecodeFailure, match="nothing written"):
            pipeline.decode_video(codec, _beyond_repair(plain, {k - 1}))


@needs_model
def test_one_and_two_threads_decode_the_same(codec, resilient):
    strands, _, data = resilient
    lossy = _beyond_repair(strands, {7})
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one, p1 = _decode(codec, lossy)
        torch.set_num_threads(2)
        two, p2 = _decode(codec, lossy)
    finally:
        torch.set_num_threads(threads)
    assert p1 == p2 and p1 and np.array_equal(one, two)


@needs_model
def test_cli_decode_names_predicted_frames(resilient, clip, tmp_path, capsys):
    strands, _, data = resilient
    _, _, meta = container.from_bytes(data)
    before_guard = (len(data) - meta["guard_bytes"]) // 35 - 1
    fasta = tmp_path / "lossy.fasta"
    write_fasta(fasta, fasta_records(_beyond_repair(strands, {0, before_guard}), "standard",
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
                  "--resilient", "-2"]) == 2


@needs_model
def test_a_frame_decodes_up_to_the_stage_its_hole_is_in(codec, clip):
    """A hole just past the words frame 0's first coding stage needs: that stage's tokens
    exact, the rest of the frame predicted from them."""
    import constriction

    comp = codec.compress(clip)  # one stream
    shape = comp["shape"]
    coder = TokenEntropyCoder(codec.token_model, shape.hp, shape.wp, shape.stages, shape.drop)
    assert coder.stages >= 2
    clean, _ = decode_tokens(coder, comp["strings"], 4, 4, 0)
    rows = coder.plan.rows[0]
    _, freq = coder._tables(torch.zeros(shape.hp * shape.wp, dtype=torch.long), None, 0)
    enc = constriction.stream.queue.RangeEncoder()  # the words stage 0 of frame 0 wrote
    enc.encode(clean[0].reshape(-1)[rows].numpy().astype(np.int32), coder._cat,
               freq / coder._scale)
    raw = comp["strings"][0]
    hole = 4 * (enc.num_words() + LOOKAHEAD_WORDS)
    assert hole < len(raw)
    cut = PartialBytes(raw[:hole] + bytes(len(raw) - hole), [(hole, len(raw))],
                       HelixError("lost"))
    got, predicted = decode_tokens(coder, [cut], 4, 4, 0)
    assert predicted == [0, 1, 2, 3]
    assert np.array_equal(got[0].reshape(-1)[rows], clean[0].reshape(-1)[rows])
    assert not np.array_equal(got[0], predict_frame(coder, None))  # not guessed from nothing


def test_inter_coded_clip_in_the_resilient_layout():
    """A conditional (inter-coding) model: intra frames at the chain starts, token contexts
    restarting there; bit-exact round trip, and after a loss the next chain exact."""
    from test_codec import clip as synthetic_clip
    from test_inter import inter_codec

    codec, frames = inter_codec(), synthetic_clip(t=6)
    strands, _ = pipeline.encode_video(codec, frames, get_constraints("standard"), resync=3)
    data, _ = decode_archive(strands)
    strings, shape, meta = container.from_bytes(data)
    assert meta["version"] == 7 and len(strings) == 2 and shape.intra is None
    comp = codec.compress(frames, resync=3, group=3)
    assert comp["shape"].intra == (0, 3) and strings == comp["strings"]
    clean = pipeline.decode_container(codec, data)
    from helix_lightning.model.inter_coding import reconstruct
    assert np.array_equal(clean, reconstruct(codec, comp["tokens"], comp["shape"]))
    n0 = meta["header_size"]
    lost = (n0 + 4, n0 + meta["stream_lengths"][0])  # chain 0 lost after its first word
    cut = PartialBytes(data[:lost[0]] + bytes(lost[1] - lost[0]) + data[lost[1]:], [lost],
                       DecodeFailure("lost", None))
    with pytest.warns(PredictedFramesWarning) as caught:
        got = pipeline.decode_container(codec, cut)
    assert set(caught[0].message.frames) <= {0, 1, 2} and caught[0].message.frames
    assert np.array_equal(got[3:], clean[3:])  # the intra frame 3 starts a chain: exact
