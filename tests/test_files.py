"""Safe output files (helix_lightning.files): whole or nothing, umask permissions, never an
input, OSError as one HelixError line, temporaries gone after errors, signals and kills."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from helix_lightning import files
from helix_lightning.errors import HelixError
from helix_lightning.files import atomic_path, atomic_write, check_output, remove_stale, same_file

SRC = str(Path(__file__).resolve().parents[1] / "src")


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".helix-" in p.name)


def test_write_replaces_the_target_whole(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with atomic_write(target) as f:
        f.write("new")
        assert target.read_text() == "old"  # not yet replaced
    assert target.read_text() == "new"
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_outputs_get_the_umask_permissions(tmp_path, umask):
    old = os.umask(umask)
    try:
        with atomic_write(tmp_path / "a.fasta") as f:
            f.write(">x\nACGT\n")
        with atomic_path(tmp_path / "b.mkv") as tmp:
            tmp.write_bytes(b"video")
    finally:
        os.umask(old)
    for name in ("a.fasta", "b.mkv"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask


def test_enospc_leaves_no_partial_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "out.bin"
    target.write_bytes(b"previous contents")

    class FullDisk:
        """A real file whose writes fail with ENOSPC after the first 1000 bytes."""

        def __init__(self, *args, **kwargs):
            self.file = open(*args, **kwargs)
            self.written = 0

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.file.close()

        def write(self, data):
            if self.written + len(data) > 1000:
                raise OSError(errno.ENOSPC, "No space left on device")
            self.written += len(data)
            return self.file.write(data)

    monkeypatch.setattr(files, "open", FullDisk, raising=False)
    with pytest.raises(HelixError, match=r"^cannot write .*out.bin: no space left on the device$"):
        with atomic_write(target, "wb") as f:
            for _ in range(10):
                f.write(b"x" * 400)
    assert target.read_bytes() == b"previous contents"
    assert leftovers(tmp_path) == []


def test_enospc_on_close_is_one_line_too(tmp_path, monkeypatch):
    class Full:
        def __init__(self, *a, **k):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            raise OSError(errno.ENOSPC, "No space left on device")

        def write(self, data):
            return len(data)

    monkeypatch.setattr("builtins.open", Full)
    with pytest.raises(HelixError, match="no space left"):
        with atomic_write(tmp_path / "new.txt") as f:
            f.write("data")
    assert list(tmp_path.iterdir()) == []


def test_error_inside_the_block_removes_the_temporary(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(tmp_path / "x.txt") as f:
            f.write("half")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_output_that_is_an_input_is_refused(tmp_path):
    source = tmp_path / "clip.mkv"
    source.write_bytes(b"the only copy")
    link = tmp_path / "link.mkv"
    link.symlink_to(source)
    hard = tmp_path / "hard.mkv"
    os.link(source, hard)
    for out in (source, link, hard, tmp_path / "." / "clip.mkv"):
        with pytest.raises(HelixError, match="is the input"):
            check_output(out, inputs=[source])
        with pytest.raises(HelixError, match="is the input"):
            with atomic_write(out, "wb", inputs=[source]) as f:
                f.write(b"lossy")
    assert source.read_bytes() == b"the only copy"
    assert same_file(link, source) and not same_file(tmp_path / "other", source)


def test_directory_missing_and_read_only_outputs(tmp_path):
    with pytest.raises(HelixError, match="it is a directory"):
        check_output(tmp_path)
    with pytest.raises(HelixError, match="directory does not exist"):
        check_output(tmp_path / "no" / "out.fasta")


@pytest.mark.parametrize("code,words", [(errno.EROFS, "read-only file system"),
                                        (errno.EACCES, "permission denied"),
                                        (errno.EISDIR, "it is a directory"),
                                        (errno.ENOSPC, "no space left")])
def test_os_errors_become_one_line(tmp_path, monkeypatch, code, words):
    def refuse(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(files.os, "open", refuse)
    with pytest.raises(HelixError) as info:
        check_output(tmp_path / "out.fasta")
    assert words in str(info.value) and "\n" not in str(info.value)


def test_stale_temporaries_of_dead_processes_are_removed(tmp_path):
    target = tmp_path / "out.fasta"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead_pid = int(dead.stdout)
    stale = tmp_path / f".out.fasta.helix-{dead_pid}-0123abcd.tmp.fasta"
    stale.write_text("left by a killed run")
    alive = tmp_path / f".out.fasta.helix-{os.getppid()}-0123abcd.tmp.fasta"
    alive.write_text("another run still writing")
    other = tmp_path / f".other.fasta.helix-{dead_pid}-0123abcd.tmp"
    other.write_text("another target's")
    with atomic_write(target) as f:
        f.write("fresh")
    assert not stale.exists() and alive.exists() and other.exists()
    assert remove_stale(tmp_path / "other.fasta") == [other]


def _writer_script(tmp_path: Path, body: str) -> str:
    return textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {SRC!r})
        from helix_lightning.files import atomic_write
        with atomic_write({str(tmp_path / 'out.txt')!r}) as f:
            f.write("partial")
            f.flush()
            print("ready", flush=True)
            {body}
    """)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signals_remove_the_temporary(tmp_path, sig):
    proc = subprocess.Popen([sys.executable, "-c", _writer_script(tmp_path, "time.sleep(30)")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    assert len(leftovers(tmp_path)) == 1
    proc.send_signal(sig)
    proc.wait(timeout=20)
    assert proc.returncode != 0
    assert list(tmp_path.iterdir()) == []


def test_sigkill_leftover_is_cleaned_by_the_next_write(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", _writer_script(tmp_path, "time.sleep(30)")],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    proc.kill()
    proc.wait(timeout=20)
    assert len(leftovers(tmp_path)) == 1  # SIGKILL cannot be caught
    with atomic_write(tmp_path / "out.txt") as f:
        f.write("done")
    assert leftovers(tmp_path) == [] and (tmp_path / "out.txt").read_text() == "done"


def test_write_video_uses_the_safe_writer(tmp_path):
    from helix_lightning.video.io import read_video, write_video

    old = os.umask(0o027)
    try:
        frames = np.zeros((2, 16, 16, 3), np.uint8)
        write_video(tmp_path / "a.mkv", frames)
        assert (tmp_path / "a.mkv").stat().st_mode & 0o777 == 0o640
        with pytest.raises(HelixError, match="is the input"):
            write_video(tmp_path / "a.mkv", frames, inputs=[tmp_path / "a.mkv"])
        with pytest.raises(HelixError, match="fps must be in"):
            write_video(tmp_path / "b.mkv", frames, fps=1e12)
    finally:
        os.umask(old)
    assert read_video(tmp_path / "a.mkv").shape == frames.shape
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mkv"]
