"""Plain progress lines for logs: what a long command prints when stderr is not a terminal.

A rich progress bar redraws one line in place, which a log file or a pipe cannot show, so
a 5-minute encode into a log printed nothing until it ended. `ProgressLines` is a progress
callback `(stage, done, total)` that writes a line such as

    encode: entropy-code 120/300, 42 s

at most once per `interval` seconds, and `progress_lines` adds a heartbeat thread so a line
still comes every `interval` seconds while one step runs long or a command reports no
steps at all ("simulate: working, 20 s"). A command shorter than `interval` prints nothing.
The clock is injectable, so tests need not wait.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

#: Seconds between two progress lines (the longest a long command stays silent).
INTERVAL = 10.0


class ProgressLines:
    """A progress callback printing `"{label}: {stage} {done}/{total}, {elapsed} s"` lines,
    at most one per `interval` seconds; `tick()` prints the latest state when one is due."""

    def __init__(self, label: str, interval: float = INTERVAL,
                 clock: Callable[[], float] = time.monotonic,
                 stream: TextIO | None = None) -> None:
        self.label, self.interval, self.clock = label, float(interval), clock
        self.stream = stream
        self.start = self.last = clock()
        self.state: tuple[str, int, int] | None = None
        self.lock = threading.Lock()

    def __call__(self, stage: str, done: int, total: int) -> None:
        """Record a step (the Progress callback of the library) and print if one is due."""
        with self.lock:
            self.state = (stage, int(done), int(total))
        self.tick()

    def tick(self) -> None:
        """Print the latest state if `interval` seconds passed since the last line."""
        with self.lock:
            now = self.clock()
            if now - self.last < self.interval:
                return
            self.last = now
            line = f"{self.label}: {self.describe()}, {now - self.start:.0f} s"
        print(line, file=self.stream or sys.stderr, flush=True)

    def describe(self) -> str:
        """The latest step as words ("working" before the first)."""
        if self.state is None:
            return "working"
        stage, done, total = self.state
        return f"{stage} {done}/{total}"


@contextmanager
def progress_lines(label: str, interval: float | None = None,
                   clock: Callable[[], float] = time.monotonic, stream: TextIO | None = None,
                   poll: float = 1.0) -> Iterator[ProgressLines]:
    """A `ProgressLines` (every `interval` seconds, default INTERVAL) and a daemon thread
    calling its `tick` every `poll` seconds while the block runs (stopped and joined on
    exit, whatever the block raised)."""
    lines = ProgressLines(label, INTERVAL if interval is None else interval, clock, stream)
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(poll):
            lines.tick()

    thread = threading.Thread(target=beat, name=f"progress-{label}", daemon=True)
    thread.start()
    try:
        yield lines
    finally:
        stop.set()
        thread.join()
