"""Issue 15, point 4: video pools that carry their decoder (`helix encode --with-model`).

A micro model (not the packaged default) built here and saved as a checkpoint; a 2-frame clip.
The pool decodes with no --checkpoint to the frames --checkpoint gives; a missing, damaged or
mismatched model archive is one line, exit 2, nothing written; a pickle payload never runs."""

import contextlib
import io
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from helix_lightning.cli import main
from helix_lightning.dna.archive import encode_archive, find_header
from helix_lightning.dna.fasta import read_sequences, write_fasta
from helix_lightning.dna.pool import MixedPool
from helix_lightning.errors import HelixError
from helix_lightning.model import model_archive as ma
from helix_lightning.model.module import HelixModule
from helix_lightning.model.with_model import model_archive_id, pool_parts
from helix_lightning.video.io import read_video, write_video

MICRO = {"model": {"tokenizer": {"width": 8, "channels_latent": 3, "res_blocks": 0},
                   "masked": {"dim": 8, "depth": 1, "heads": 1}, "rate": {"stages": 2}}}


def save_micro(path: Path, seed: int, extra: dict | None = None) -> Path:
    torch.manual_seed(seed)
    module = HelixModule(MICRO)
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": {"config": MICRO},
                **(extra or {})}, path)
    return path


def run(*argv) -> int:
    return main([str(a) for a in argv])


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A checkpoint, another one, a clip, and the clip encoded with and without the model."""
    d = tmp_path_factory.mktemp("with_model")
    ckpt, other = save_micro(d / "micro.ckpt", 0), save_micro(d / "other.ckpt", 1)
    frames = np.random.default_rng(0).integers(0, 256, (2, 16, 24, 3), dtype=np.uint8)
    write_video(d / "clip.mkv", frames)
    assert run("encode", d / "clip.mkv", "-o", d / "plain.fasta", "--checkpoint", ckpt,
               "-q") == 0
    return SimpleNamespace(dir=d, ckpt=ckpt, other=other, clip=d / "clip.mkv")


@pytest.fixture(scope="module")
def pool(work):
    """`helix encode --with-model --json`: (pool path, JSON stats, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run("encode", work.clip, "-o", work.dir / "pool.fasta", "--checkpoint",
                   work.ckpt, "--with-model", "--json")
    assert code == 0, err.getvalue()
    return work.dir / "pool.fasta", json.loads(out.getvalue()), err.getvalue()


def _records(path):
    return read_sequences(path)


def _decode_fails(argv, output: Path, capsys) -> str:
    capsys.readouterr()
    assert run(*argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: ")
    assert not output.exists()
    return err


def test_cost_is_printed_and_in_json_and_the_video_strands_are_unchanged(work, pool):
    path, stats, err = pool
    model = stats["model"]
    assert model["nt"] > 0 and model["strands"] > 0 and model["bytes"] > 0
    assert model["pool_nt"] == stats["nt"] + model["nt"]
    assert model["share_of_pool"] == pytest.approx(model["nt"] / model["pool_nt"])
    assert 0.5 < model["share_of_pool"] < 1  # the model outweighs a 2-frame clip
    line = [ln for ln in err.splitlines() if ln.startswith("model ")]
    assert len(line) == 1 and " M nt " in line[0] and "% of the pool" in line[0]
    assert f"{100 * model['share_of_pool']:.2f}%" in line[0]
    # the video's own strands are exactly those written without --with-model
    records, plain = _records(path), _records(work.dir / "plain.fasta")
    assert len(records) == len(plain) + model["strands"] and records[:len(plain)] == plain
    assert stats["strands"] == len(plain)
    video_id = find_header([s for _, s in plain]).archive_id
    assert model["archive_id"] == f"{model_archive_id(video_id):08x}"


def test_decode_needs_no_checkpoint_and_matches_the_checkpoint(work, pool, capsys):
    path = pool[0]
    carried, given = work.dir / "carried.mkv", work.dir / "given.mkv"
    assert run("decode", path, "-o", carried, "-q") == 0
    assert run("decode", path, "-o", given, "--checkpoint", work.ckpt, "-q") == 0
    a, b = read_video(carried), read_video(given)
    assert a.shape == (2, 16, 24, 3) and np.array_equal(a, b)
    # the plain pool decodes to the same frames with its checkpoint
    plain = work.dir / "plain.mkv"
    assert run("decode", work.dir / "plain.fasta", "-o", plain, "--checkpoint", work.ckpt,
               "-q") == 0
    assert np.array_equal(read_video(plain), a)


def test_decode_from_reads_needs_no_checkpoint(work, pool, capsys):
    reads, out = work.dir / "reads.fastq", work.dir / "from_reads.mkv"
    assert run("dna", "simulate", pool[0], "-o", reads, "--seed", "2", "-q") == 0
    assert run("decode", reads, "-o", out, "-q") == 0
    assert np.array_equal(read_video(out), read_video(work.dir / "carried.mkv"))


def test_an_explicit_checkpoint_wins_over_the_carried_model(work, pool, capsys):
    out = work.dir / "wins.mkv"
    err = _decode_fails(["decode", pool[0], "-o", out, "--checkpoint", work.other], out, capsys)
    assert "archive was written by model" in err


def test_a_pool_without_its_model_is_one_line(work, pool, capsys):
    out = work.dir / "nomodel.mkv"
    err = _decode_fails(["decode", work.dir / "plain.fasta", "-o", out], out, capsys)
    assert "does not carry (no model archive)" in err
    # the same pool with its model archive's strands lost
    lost = work.dir / "lost.fasta"
    write_fasta(lost, _records(pool[0])[:pool[1]["strands"]])
    assert "no model archive" in _decode_fails(["decode", lost, "-o", out], out, capsys)


def test_a_damaged_model_archive_is_one_line(work, pool, capsys):
    path, stats, _ = pool
    records = _records(path)
    video, model = records[:stats["strands"]], records[stats["strands"]:]
    damaged = work.dir / "damaged.fasta"
    write_fasta(damaged, video + model[:16] + model[16::4])  # header kept, 3/4 of data lost
    out = work.dir / "damaged.mkv"
    err = _decode_fails(["decode", damaged, "-o", out], out, capsys)
    assert f"model archive {stats['model']['archive_id']}: " in err and "nothing written" in err


def test_a_model_archive_of_another_model_is_refused_before_loading(work, pool, capsys,
                                                                    monkeypatch):
    path, stats, _ = pool
    video = [s for _, s in _records(path)[:stats["strands"]]]
    other_hash = stats["model"]["model_hash"][::-1]
    wrapper = ma.pack_model_archive(ma.compact_checkpoint(work.other), other_hash)
    forged = encode_archive(wrapper, "standard",
                            archive_id=model_archive_id(find_header(video).archive_id))
    mixed = work.dir / "forged.fasta"
    write_fasta(mixed, [(f"s{i}", s) for i, s in enumerate(video + forged.strands)])
    loaded = []
    monkeypatch.setattr(ma, "codec_from_model_archive", lambda *a: loaded.append(a))
    out = work.dir / "forged.mkv"
    err = _decode_fails(["decode", mixed, "-o", out], out, capsys)
    assert f"holds model {other_hash}, but the video was written by model" in err
    assert loaded == []  # refused before any weight was loaded


def test_with_model_needs_the_fsm_coder(work, capsys):
    out = work.dir / "direct.fasta"
    err = _decode_fails(["encode", work.clip, "-o", out, "--checkpoint", work.ckpt,
                         "--with-model", "--coder", "direct"], out, capsys)
    assert "fsm coder" in err


class Payload:
    """Unpickling this writes a marker file: proof that code ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (Path(self.marker), "payload ran"))


def test_a_pickle_payload_in_a_model_archive_never_runs(tmp_path):
    marker = tmp_path / "marker"
    evil = save_micro(tmp_path / "evil.ckpt", 0, {"extra": Payload(str(marker))})
    data = ma.pack_model_archive(evil.read_bytes(), "00" * 8)
    with pytest.raises(HelixError, match="refused to load: it would unpickle code"):
        ma.codec_from_model_archive(data)
    assert not marker.exists()


def test_wrapper_round_trip_and_refusals(work):
    payload = ma.compact_checkpoint(work.ckpt)
    for compression in ("xz", "none"):
        data = ma.pack_model_archive(payload, "0123456789abcdef", compression)
        assert data[:5] == b"HXMD\x01" and ma.is_model_archive(data)
        back = ma.read_model_archive(data)
        assert back == ma.ModelArchive("0123456789abcdef", payload)
    good = ma.pack_model_archive(payload, "0123456789abcdef")
    bad = {"no magic": b"HXVC" + good[4:], "version": good[:4] + b"\x02" + good[5:],
           "truncated": good[:-1], "compression": good[:13] + b"\x07" + good[14:],
           "short": good[:10]}
    for name, data in bad.items():
        with pytest.raises(HelixError):
            ma.read_model_archive(data)
    with pytest.raises(HelixError, match="corrupt: its weights hash to"):
        ma.codec_from_model_archive(good)  # the wrapper's hash is not the weights'


def test_the_compact_checkpoint_is_deterministic_and_weights_only(work):
    a, b = ma.compact_checkpoint(work.ckpt), ma.compact_checkpoint(work.ckpt)
    assert a == b
    ckpt = torch.load(io.BytesIO(a), weights_only=True)
    assert set(ckpt) == {"hyper_parameters", "state_dict"}


def test_pool_parts_pairs_each_video_with_its_model():
    def entry(i):
        return SimpleNamespace(archive_id=i)

    v1, v2 = entry(0x11111111), entry(0x22222222)
    m1, m2 = entry(model_archive_id(v1.archive_id)), entry(model_archive_id(v2.archive_id))
    assert pool_parts([m1, v1]) == (v1, m1)
    assert pool_parts([v1]) == (v1, None)
    with pytest.raises(MixedPool, match="2 video archives"):
        pool_parts([v1, m1, v2, m2])
    assert pool_parts([v1, m1, v2, m2], "22222222") == (v2, m2)
    assert pool_parts([v1, m1, v2], "22222222") == (v2, None)
    with pytest.raises(HelixError, match="not in this pool"):
        pool_parts([v1, m1], "33333333")
