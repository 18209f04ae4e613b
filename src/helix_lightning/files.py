"""Safe output files: checked before work starts, written whole or not at all.

- `check_output(path, inputs)`: refuses, before any work, an output that is a directory, is
  (or links to) one of the inputs (`same_file`), or lies where nothing can be written (a
  missing or read-only directory: a probe file is created and removed).
- `atomic_write(path, mode)` / `atomic_path(path)`: the data goes to a temporary file beside
  the target, renamed onto it on success and removed on any error, KeyboardInterrupt (SIGINT)
  or SIGTERM. Files get the permissions the umask gives (0666 & ~umask), like any other tool.
- Temporary names record the writing process id (`.NAME.helix-PID-XXXXXXXX.tmpSUFFIX`): a run
  killed with SIGKILL leaves one, and the next write to the same target removes every
  temporary whose process is gone (`remove_stale`).
- `OSError`s (disk full, permission denied, read-only file system, a directory in the way)
  become one `HelixError` line (`output_error`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import signal
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from .errors import HelixError

PathLike = str | os.PathLike
_LIVE: set[Path] = set()  # temporaries of this process, removed on SIGTERM
_STALE = re.compile(r"\.helix-(\d+)-[0-9a-f]{8}")
_HANDLER_INSTALLED = False

_REASONS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EROFS: "read-only file system",
    errno.EISDIR: "it is a directory",
    errno.ENOENT: "its directory does not exist",
    errno.ENOTDIR: "a part of its path is not a directory",
    errno.ENAMETOOLONG: "the name is too long",
}


def output_error(path: PathLike, exc: OSError) -> HelixError:
    """One line saying why `path` could not be written."""
    reason = _REASONS.get(exc.errno or 0, exc.strerror or str(exc))
    return HelixError(f"cannot write {path}: {reason}")


def same_file(a: PathLike, b: PathLike) -> bool:
    """True if `a` and `b` name the same file (through links, hard links included)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve()


def check_output(path: PathLike, inputs: Iterable[PathLike] = ()) -> Path:
    """Refuse an output that cannot or must not be written, before any work: HelixError if
    `path` is a directory, is (or links to) one of `inputs`, or its directory is missing or
    not writable. Returns `path` as a Path."""
    path = Path(path)
    if path.is_dir():
        raise HelixError(f"cannot write {path}: it is a directory")
    for source in inputs:
        if source is not None and str(source) != "-" and same_file(path, source):
            raise HelixError(f"output {path} is the input {source}: choose another output")
    parent = path.parent
    if not parent.is_dir():
        raise HelixError(f"cannot write {path}: its directory does not exist")
    try:
        fd, probe = _create_temporary(path)
    except OSError as exc:
        raise output_error(path, exc) from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)
    return path


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's
        return True
    return True


def remove_stale(path: PathLike) -> list[Path]:
    """Remove temporaries of `path` left by processes that no longer run; returns them."""
    path = Path(path)
    removed = []
    with contextlib.suppress(OSError):
        for tmp in path.parent.glob(f".{glob_escape(path.name)}.helix-*"):
            match = _STALE.match(tmp.name[len(path.name) + 1:])
            if match and tmp not in _LIVE and not _pid_alive(int(match.group(1))):
                with contextlib.suppress(OSError):
                    tmp.unlink()
                    removed.append(tmp)
    return removed


def glob_escape(name: str) -> str:
    """`name` with glob metacharacters escaped."""
    return re.sub(r"([*?\[])", r"[\1]", name)


def _create_temporary(path: Path) -> tuple[int, Path]:
    """A new temporary file beside `path`, created 0666 & ~umask: (fd, its path)."""
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.helix-{os.getpid()}-{secrets.token_hex(4)}.tmp"
                             f"{path.suffix}")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp
        except FileExistsError:
            continue
    raise HelixError(f"cannot create a temporary file beside {path}")


def _on_sigterm(signum: int, frame: Any) -> None:
    """Remove this process's temporaries, then die of the signal as before."""
    for tmp in list(_LIVE):
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    _LIVE.clear()
    signal.signal(signum, _PREVIOUS.get(signum, signal.SIG_DFL))
    previous = _PREVIOUS.get(signum)
    if callable(previous):
        previous(signum, frame)
    else:
        os.kill(os.getpid(), signum)


_PREVIOUS: dict[int, Any] = {}


def _install_handler() -> None:
    """SIGTERM removes live temporaries (SIGINT raises KeyboardInterrupt, which the writers'
    cleanup already handles). Only the main thread may install handlers."""
    global _HANDLER_INSTALLED
    if _HANDLER_INSTALLED or threading.current_thread() is not threading.main_thread():
        return
    previous = signal.getsignal(signal.SIGTERM)
    if previous is not _on_sigterm:
        _PREVIOUS[signal.SIGTERM] = previous
        signal.signal(signal.SIGTERM, _on_sigterm)
    _HANDLER_INSTALLED = True


@contextlib.contextmanager
def atomic_path(path: PathLike, inputs: Iterable[PathLike] = ()) -> Iterator[Path]:
    """A temporary path beside `path` (ending in its suffix) for a writer that wants a file
    name; renamed onto `path` if the block succeeds, removed otherwise (SIGTERM included).
    Checks the output first (`check_output`); OSError -> HelixError."""
    path = check_output(path, inputs)
    remove_stale(path)
    _install_handler()
    try:
        fd, tmp = _create_temporary(path)
    except OSError as exc:
        raise output_error(path, exc) from None
    os.close(fd)
    _LIVE.add(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as exc:
        raise output_error(path, exc) from None
    finally:
        _LIVE.discard(tmp)
        with contextlib.suppress(OSError):
            os.unlink(tmp)


@contextlib.contextmanager
def atomic_write(path: PathLike, mode: str = "w", inputs: Iterable[PathLike] = (), *,
                 encoding: str | None = None, newline: str | None = None) -> Iterator[IO]:
    """An open file (text mode "w" or binary "wb") whose contents replace `path` only when the
    block succeeds; see `atomic_path`. Text defaults to UTF-8."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write writes with mode 'w' or 'wb', not {mode!r}")
    if mode == "w" and encoding is None:
        encoding = "utf-8"
    with atomic_path(path, inputs) as tmp:
        try:
            with open(tmp, mode, encoding=encoding, newline=newline) as handle:
                yield handle
        except OSError as exc:
            raise output_error(path, exc) from None
