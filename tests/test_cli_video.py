"""`helix train/encode/decode` as a user runs them: a micro model trained in seconds, a tiny
synthetic clip, bad input refused with one line and no output left behind."""

from pathlib import Path

import numpy as np
import pytest

from helix_lightning.cli import main
from helix_lightning.dna.constraints import check_strands, get_constraints
from helix_lightning.dna.fasta import read_sequences
from helix_lightning.video.io import read_video, write_video

MICRO = [
    "logger=false", "trainer.max_steps=3", "trainer.max_time=null",
    "trainer.val_check_interval=3", "trainer.limit_val_batches=1", "trainer.progress_bar=false",
    "data.paths=synthetic", "data.num_workers=0", "data.batch_size=2", "data.clip_frames=2",
    "data.crop=32", "data.val_size=32", "data.clips_per_epoch=6",
    "data.synthetic.videos=3", "data.synthetic.frames=4", "data.synthetic.height=40",
    "data.synthetic.width=40",
    "model.tokenizer.width=16", "model.masked.dim=16", "model.masked.depth=1",
    "model.masked.heads=2", "model.rate.stages=2",
]


def run(*argv):
    return main([str(a) for a in argv])


def train_micro(tmp_path: Path, name: str, seed: int) -> Path:
    out = tmp_path / f"{name}.ckpt"
    sets = [*MICRO, f"runs_dir={tmp_path / 'runs'}", f"name={name}", f"seed={seed}"]
    argv = ["train", "--config", "experiments/tiny.yaml", "--out", out]
    for s in sets:
        argv += ["--set", s]
    assert run(*argv) == 0
    assert out.is_file()
    return out


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("cli_video")


@pytest.fixture(scope="module")
def ckpt(workdir):
    return train_micro(workdir, "micro", seed=0)


@pytest.fixture(scope="module")
def clip(workdir):
    rng = np.random.default_rng(3)
    t, h, w = 12, 24, 40
    yy, xx = np.mgrid[0:h, 0:w]
    frames = np.empty((t, h, w, 3), np.uint8)
    for i in range(t):
        base = (xx * 4 + yy * 3 + i * 5) % 256
        frames[i] = np.stack([base, (base + 80) % 256, (255 - base)], -1)
        frames[i, 5:12, (2 + i):(10 + i)] = rng.integers(0, 255, 3)
    path = workdir / "clip.mkv"
    write_video(path, frames)
    return path


def test_encode_decode_roundtrip(workdir, ckpt, clip, capsys):
    fasta = workdir / "clip.fasta"
    assert run("encode", clip, "-o", fasta, "--checkpoint", ckpt) == 0
    out = capsys.readouterr().out
    assert "violations" in out and "nt/px" in out
    seqs = [s for _, s in read_sequences(fasta)]
    assert seqs and check_strands(seqs, get_constraints("standard")).total == 0
    assert run("dna", "check", fasta) == 0  # the fsm strands are a valid `helix dna` archive
    capsys.readouterr()

    video = workdir / "decoded.mkv"
    assert run("decode", fasta, "-o", video, "--checkpoint", ckpt, "--reference", clip,
               "-q") == 0
    out = capsys.readouterr().out
    assert "psnr" in out and "ms_ssim" in out
    dec, ref = read_video(video), read_video(clip)
    assert dec.shape == ref.shape == (12, 24, 40, 3)


def test_rate_points_and_no_progress_off_a_terminal(workdir, ckpt, clip, capsys):
    import json

    from helix_lightning.model.codec import RATE_POINTS

    nt = []
    for rate in RATE_POINTS:
        fasta = workdir / f"rate_{rate}.fasta"
        assert run("encode", clip, "-o", fasta, "--checkpoint", ckpt, "--rate", rate,
                   "--json") == 0
        cap = capsys.readouterr()
        stats = json.loads(cap.out)
        assert stats["rate"] == rate
        assert (stats["scale"], stats["drop"], stats["stages"]) == RATE_POINTS[rate]
        assert stats["violations"] == 0 and cap.err == ""  # no progress bar in a pipe
        nt.append(stats["payload_bits_per_px"])
        video = workdir / f"rate_{rate}.mkv"
        assert run("decode", fasta, "-o", video, "--checkpoint", ckpt) == 0
        cap = capsys.readouterr()
        assert read_video(video).shape == (12, 24, 40, 3)
        assert cap.err.startswith("decoded 12 frames") and len(cap.err.splitlines()) == 1
    assert nt[0] >= nt[1] > nt[2]  # the micro model's 32-px tiles: high and mid may tie
    # --scale and --drop override --rate; the table names the rate point and coding size
    fasta = workdir / "rate_drop.fasta"
    assert run("encode", clip, "-o", fasta, "--checkpoint", ckpt, "--rate", "low",
               "--scale", "1", "--drop", "0.25", "--frames", 2) == 0
    table = capsys.readouterr().out
    assert "rate point" in table and "custom (scale 1, drop 0.25" in table
    assert "coded at" in table
    assert run("encode", clip, "-o", fasta, "--checkpoint", ckpt, "--frames", 2) == 0
    assert "mid (scale 1, drop 0," in capsys.readouterr().out  # the default rate point


def test_progress_bar_on_a_terminal(workdir, ckpt, clip, capsys, monkeypatch):
    import sys

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    fasta = workdir / "tty.fasta"
    assert run("encode", clip, "-o", fasta, "--checkpoint", ckpt, "--frames", 4) == 0
    err = capsys.readouterr().err
    assert "entropy-code" in err or "tokenise" in err
    assert run("encode", clip, "-o", fasta, "--checkpoint", ckpt, "--frames", 4, "-q") == 0
    assert capsys.readouterr().err == ""
    video = workdir / "tty.mkv"
    assert run("decode", fasta, "-o", video, "--checkpoint", ckpt) == 0
    err = capsys.readouterr().err
    assert "entropy-decode" in err or "reconstruct" in err


def test_direct_coder_and_frames_size(workdir, ckpt, clip, capsys):
    fasta = workdir / "direct.fasta"
    assert run("encode", clip, "-o", fasta, "--checkpoint", ckpt, "--coder", "direct",
               "--frames", 3, "--size", "32x16", "--json") == 0
    capsys.readouterr()
    video = workdir / "direct.mkv"
    assert run("decode", fasta, "-o", video, "--checkpoint", ckpt, "-q") == 0
    assert read_video(video).shape == (3, 16, 32, 3)


def test_other_checkpoint_is_refused(workdir, ckpt, clip, capsys):
    capsys.readouterr()
    other = train_micro(workdir, "other", seed=1)
    table = capsys.readouterr().out
    assert "val/psnr" in table and "steps" in table
    fasta = workdir / "refuse.fasta"
    assert run("encode", clip, "-o", fasta, "--checkpoint", ckpt, "--frames", 2) == 0
    capsys.readouterr()
    video = workdir / "refused.mkv"
    assert run("decode", fasta, "-o", video, "--checkpoint", other, "-q") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "model" in err
    assert not video.exists()


@pytest.mark.parametrize("argv", [
    ["encode", "{d}/missing.mkv", "-o", "{d}/x.fasta", "--checkpoint", "{c}"],
    ["encode", "{v}", "-o", "{d}/x.fasta", "--checkpoint", "{c}", "--size", "40by24"],
    ["encode", "{v}", "-o", "{d}/x.fasta", "--checkpoint", "{c}", "--rate", "best"],
    ["encode", "{v}", "-o", "{d}/x.fasta", "--checkpoint", "{c}", "--drop", "0.5",
     "--stages", "4"],
    ["encode", "{v}", "-o", "{d}/x.fasta", "--checkpoint", "{c}", "--scale", "0"],
    ["encode", "{v}", "-o", "{d}/x.fasta", "--checkpoint", "{c}", "--scale", "9"],
    ["encode", "{v}", "-o", "{d}/x.fasta", "--checkpoint", "{d}/missing.ckpt"],
    ["encode", "{d}/notavideo.txt", "-o", "{d}/x.fasta", "--checkpoint", "{c}"],
    ["decode", "{d}/missing.fasta", "-o", "{d}/x.mkv", "--checkpoint", "{c}"],
    ["decode", "{d}/notavideo.txt", "-o", "{d}/x.avi", "--checkpoint", "{c}"],
])
def test_bad_input_one_line_exit_2(workdir, ckpt, clip, capsys, argv):
    (workdir / "notavideo.txt").write_text("hello\n")
    argv = [a.format(d=workdir, c=ckpt, v=clip) for a in argv]
    assert run(*argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error:")
    assert not (workdir / "x.fasta").exists() and not (workdir / "x.mkv").exists()


def test_video_file_functions_match_the_cli(workdir, ckpt, clip, capsys):
    """The library calls behind `helix encode` / `helix decode --reference`: same strands,
    same record names, the same comparison."""
    import json

    from helix_lightning.metrics import psnr
    from helix_lightning.model.video_files import (compare_to_reference, decode_to_video_file,
                                                   encode_video_file, open_decoder)

    lib, cli = workdir / "lib.fasta", workdir / "cli.fasta"
    stats = encode_video_file(clip, lib, checkpoint=ckpt, frames=4, rate="low")
    assert run("encode", clip, "-o", cli, "--checkpoint", ckpt, "--frames", 4, "--rate", "low",
               "--json") == 0
    assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(
        {k: v for k, v in stats.to_dict().items() if k != "archive"}, default=str))
    assert lib.read_text() == cli.read_text()
    names = [n for n, _ in read_sequences(lib)]
    assert names[0] == "helix:v1:standard:0000000" and len(names) == stats.strands
    out = workdir / "lib.mkv"
    codec = open_decoder(out, ckpt, clip)
    frames = decode_to_video_file(codec, [s for _, s in read_sequences(lib)], out)
    assert np.array_equal(read_video(out), frames) and frames.shape == (4, 24, 40, 3)
    cmp = compare_to_reference(frames, clip)
    assert cmp["frames"] == 4 and cmp["size"] == "40x24"
    assert cmp["psnr_db"] == pytest.approx(psnr(frames, read_video(clip, frames=4)))
    from helix_lightning.errors import HelixError

    with pytest.raises(HelixError, match="reference video not found"):
        open_decoder(out, ckpt, workdir / "missing.mkv")
    with pytest.raises(HelixError, match="cannot write"):
        open_decoder(workdir / "x.avi", ckpt)


# ---------------------------------------------------------------- video conventions (v3)

def _odd_clip(workdir, fps) -> Path:
    """5 frames of 39x23 (odd both ways) at `fps`."""
    rng = np.random.default_rng(7)
    frames = rng.integers(0, 255, (5, 23, 39, 3), dtype=np.uint8)
    path = workdir / "odd.mkv"
    write_video(path, frames, fps=fps)
    return path


def test_decode_keeps_the_input_frame_rate_and_exact_size(workdir, ckpt, capsys):
    from fractions import Fraction

    from helix_lightning.video.io import frame_rate

    for fps in (Fraction(10), Fraction(30000, 1001)):
        clip = _odd_clip(workdir, fps)
        fasta = workdir / "odd.fasta"
        for coder in ("fsm", "direct"):
            assert run("encode", clip, "-o", fasta, "--checkpoint", ckpt, "--coder", coder,
                       "-q") == 0
            video = workdir / "odd_back.mkv"
            assert run("decode", fasta, "-o", video, "--checkpoint", ckpt, "-q") == 0
            assert frame_rate(video) == fps
            assert read_video(video).shape == (5, 23, 39, 3)
    assert run("decode", fasta, "-o", video, "--checkpoint", ckpt, "-q", "--fps", 12) == 0
    assert frame_rate(video) == 12
    capsys.readouterr()


def test_odd_size_into_mp4_is_refused_before_decoding(workdir, ckpt, capsys, monkeypatch):
    clip = _odd_clip(workdir, 25)
    fasta = workdir / "odd_mp4.fasta"
    assert run("encode", clip, "-o", fasta, "--checkpoint", ckpt, "-q") == 0
    from helix_lightning.model.codec import HelixCodec

    def no_decoding(*args, **kwargs):
        raise AssertionError("tokens decoded before the size check")

    monkeypatch.setattr(HelixCodec, "decompress", no_decoding)
    video = workdir / "odd.mp4"
    assert run("decode", fasta, "-o", video, "--checkpoint", ckpt, "-q") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "cannot hold the odd size 39x23" in err and ".mkv" in err
    assert not video.exists()


def test_truncated_input_warns_and_encodes_what_was_read(workdir, ckpt, clip, capsys):
    data = clip.read_bytes()
    cut = workdir / "cut.mkv"
    cut.write_bytes(data[:len(data) // 2])
    fasta = workdir / "cut.fasta"
    assert run("encode", cut, "-o", fasta, "--checkpoint", ckpt, "--json") == 0
    cap = capsys.readouterr()
    import json

    frames = json.loads(cap.out)["frames"]
    assert 0 < frames < 12
    assert cap.err.startswith("warning: ") and len(cap.err.splitlines()) == 1
    assert f"only {frames} could be read; continuing with the {frames} frames read" in cap.err


def test_progress_lines_off_a_terminal(workdir, ckpt, clip, capsys, monkeypatch):
    import helix_lightning.progress as progress

    monkeypatch.setattr(progress, "INTERVAL", 0.0)  # a line for every step
    fasta = workdir / "lines.fasta"
    assert run("encode", clip, "-o", fasta, "--checkpoint", ckpt, "--frames", 4) == 0
    cap = capsys.readouterr()
    lines = cap.err.splitlines()
    assert lines and all(line.startswith("encode: ") and line.endswith(" s") for line in lines)
    assert any("entropy-code" in line and "/4" in line for line in lines)
    assert "(reference arm, not written)" in cap.out and "direct violations" in cap.out
    assert run("encode", clip, "-o", fasta, "--checkpoint", ckpt, "--frames", 4, "-q") == 0
    assert capsys.readouterr().err == ""
    video = workdir / "lines.mkv"
    assert run("decode", fasta, "-o", video, "--checkpoint", ckpt) == 0
    err = capsys.readouterr().err.splitlines()
    assert any(line.startswith("decode: entropy-decode") for line in err)
    assert err[-1].startswith("decoded 4 frames")
