"""Plain progress lines (what long commands print when stderr is not a terminal), driven by
a fake clock: at most one line per interval, a heartbeat while a step runs long, nothing
from a command shorter than the interval."""

import io
import threading
import time

from helix_lightning.progress import INTERVAL, ProgressLines, progress_lines


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_lines_at_most_once_per_interval():
    clock, out = FakeClock(), io.StringIO()
    lines = ProgressLines("encode", interval=10, clock=clock, stream=out)
    for done in range(1, 301):  # 300 frames, 0.5 s each
        clock.now += 0.5
        lines("entropy-code", done, 300)
    printed = out.getvalue().splitlines()
    assert printed[0] == "encode: entropy-code 20/300, 10 s"
    assert printed[-1] == "encode: entropy-code 300/300, 150 s"
    assert len(printed) == 15  # one per 10 s of 150 s


def test_a_short_command_prints_nothing():
    clock, out = FakeClock(), io.StringIO()
    lines = ProgressLines("decode", interval=INTERVAL, clock=clock, stream=out)
    for done in range(1, 5):
        clock.now += 2
        lines("reconstruct", done, 4)
    assert out.getvalue() == ""
    assert INTERVAL == 10


def test_tick_reports_a_long_step_and_a_command_without_steps():
    clock, out = FakeClock(), io.StringIO()
    lines = ProgressLines("dna simulate", interval=10, clock=clock, stream=out)
    clock.now += 9.9
    lines.tick()
    assert out.getvalue() == ""
    clock.now += 0.1
    lines.tick()
    assert out.getvalue() == "dna simulate: working, 10 s\n"
    lines("consensus", 5, 80)  # a step 0 s after the last line: no new line
    clock.now += 25
    lines.tick()
    assert out.getvalue().splitlines()[-1] == "dna simulate: consensus 5/80, 35 s"


def test_the_heartbeat_thread_ticks_while_the_block_runs_and_stops_after():
    clock, out = FakeClock(), io.StringIO()
    with progress_lines("encode", interval=10, clock=clock, stream=out, poll=0.01) as lines:
        lines("tokenise", 1, 8)
        clock.now += 12  # one step runs long: the heartbeat prints without a callback
        deadline = time.monotonic() + 5
        while not out.getvalue() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert out.getvalue() == "encode: tokenise 1/8, 12 s\n"
    assert not any(t.name == "progress-encode" for t in threading.enumerate())
    clock.now += 100
    time.sleep(0.05)
    assert out.getvalue().count("\n") == 1  # nothing after the block ended


def test_the_heartbeat_stops_when_the_block_raises():
    clock, out = FakeClock(), io.StringIO()
    try:
        with progress_lines("decode", clock=clock, stream=out, poll=0.01):
            raise ValueError("boom")
    except ValueError:
        pass
    assert not any(t.name == "progress-decode" for t in threading.enumerate())


def test_dna_commands_print_lines_off_a_terminal(tmp_path, capsys, monkeypatch):
    from pathlib import Path

    import helix_lightning.progress as progress
    from helix_lightning.cli import main

    monkeypatch.setattr(progress, "INTERVAL", 0.0)  # a line for every step
    data = Path(__file__).resolve().parent / "fixtures" / "bytes.bin"
    fasta, back = tmp_path / "a.fasta", tmp_path / "back.bin"
    assert main(["dna", "encode", str(data), "-o", str(fasta)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err and all(line.startswith("dna encode: ") for line in err)
    assert main(["dna", "decode", str(fasta), "-o", str(back)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert any(line.startswith("dna decode: ") for line in err)
    assert err[-1].startswith("decoded 3000 bytes") and back.read_bytes() == data.read_bytes()
    assert main(["dna", "encode", str(data), "-o", str(fasta), "-q"]) == 0
    assert capsys.readouterr().err == ""
