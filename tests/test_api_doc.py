"""docs/API.md stays true: every ```python block of it runs, from a copy of the repo root."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
API = ROOT / "docs" / "API.md"


def python_blocks() -> list[tuple[str, str]]:
    """(heading of the section, code) for each ```python block of docs/API.md."""
    blocks, heading = [], "top"
    for part in re.split(r"(^## [^\n]*$|^```python\n.*?^```$)", API.read_text(),
                         flags=re.M | re.S):
        if part.startswith("## "):
            heading = part[3:].strip()
        elif part.startswith("```python"):
            blocks.append((heading, part.split("\n", 1)[1].rsplit("```", 1)[0]))
    return blocks


BLOCKS = python_blocks()


def test_every_api_area_has_an_example():
    headings = {h for h, _ in BLOCKS}
    for area in ("Bytes -> DNA -> bytes", "Simulate sequencing, and decode from reads",
                 "Capacity of a constraint set", "Video -> DNA -> video", "Train", "Sweep"):
        assert area in headings


@pytest.mark.parametrize("heading,code", BLOCKS,
                         ids=[f"{i}-{h.split()[0].lower()}" for i, (h, _) in enumerate(BLOCKS)])
def test_api_example_runs(heading, code, tmp_path, monkeypatch, capsys):
    """Run one block as a user would from the repo root; writes go under tmp_path."""
    for name in ("experiments", "sweeps"):
        (tmp_path / name).symlink_to(ROOT / name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    exec(compile(code, f"docs/API.md ({heading})", "exec"), {"__name__": "__api_doc__"})
    assert capsys.readouterr().out.strip(), "every example prints what it computed"
