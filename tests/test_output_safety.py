"""Outputs never replace an input and are checked before any work (issue 13, "Files")."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from helix_lightning.cli import main

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _refused(argv: list[str], protected: Path, capsys) -> str:
    before = protected.read_bytes()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert protected.read_bytes() == before
    return err


@pytest.mark.parametrize("command", ["dna encode", "dna decode", "dna simulate"])
def test_dna_output_that_is_the_input_is_refused(command, tmp_path, capsys):
    src = tmp_path / "in.fasta"
    shutil.copy(FIXTURES / "bytes_standard.fasta", src)
    err = _refused([*command.split(), str(src), "-o", str(src), "-q"], src, capsys)
    assert "is the input" in err


def test_a_link_to_the_input_is_refused(tmp_path, capsys):
    src = tmp_path / "in.bin"
    src.write_bytes(b"precious" * 100)
    link = tmp_path / "link.fasta"
    os.symlink(src, link)
    _refused(["dna", "encode", str(src), "-o", str(link), "-q"], src, capsys)


def test_video_output_that_is_the_input_or_reference_is_refused(tmp_path, capsys):
    clip = tmp_path / "clip.mkv"
    shutil.copy(FIXTURES / "clip.mkv", clip)
    _refused(["encode", str(clip), "-o", str(clip), "-q"], clip, capsys)
    _refused(["decode", str(FIXTURES / "video_mid.fasta"), "-o", str(clip), "-q",
              "--reference", str(clip)], clip, capsys)


def test_missing_output_folder_fails_before_work(tmp_path, capsys):
    out = tmp_path / "nowhere" / "x.fasta"
    assert main(["dna", "encode", str(FIXTURES / "bytes.bin"), "-o", str(out), "-q"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_unreadable_reference_fails_before_the_output_is_written(tmp_path, capsys):
    bad = tmp_path / "bad.mkv"
    bad.write_bytes(b"not a video")
    out = tmp_path / "out.mkv"
    assert main(["decode", str(FIXTURES / "video_mid.fasta"), "-o", str(out), "-q",
                 "--reference", str(bad)]) == 2
    assert capsys.readouterr().err.startswith("error: ") and not out.exists()


def test_outputs_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        out = tmp_path / "x.fasta"
        assert main(["dna", "encode", str(FIXTURES / "bytes.bin"), "-o", str(out), "-q"]) == 0
        assert out.stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(old)


def test_a_closed_pipe_is_not_a_traceback(monkeypatch, capsys):
    """`helix dna check ... | head`: the reader leaves early; exit 141, no traceback."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    pipe = os.fdopen(write_end, "w", buffering=1)
    with capsys.disabled():
        monkeypatch.setattr("sys.stdout", pipe)
        assert main(["dna", "check", str(FIXTURES / "bytes_standard.fasta")]) == 141
    monkeypatch.undo()
    pipe.close()
