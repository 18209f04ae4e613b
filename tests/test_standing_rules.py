"""Issue 11's standing rules, checked on every run: HelixCodec under 250 lines, cli.py under
450, no function in model/ or the CLI over 60 lines, nothing in src/ citing a file that is
not in the repository, and dna/ never importing the model, video or experiment layers."""

from __future__ import annotations

import ast
import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "helix_lightning"
REPO = SRC.parents[1]


def _functions(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield node, node.end_lineno - node.lineno + 1


def test_helix_codec_is_under_250_lines():
    sizes = {n.name: size for n, size in _functions(SRC / "model" / "codec.py")}
    assert sizes["HelixCodec"] < 250


def test_cli_is_under_450_lines():
    assert len((SRC / "cli.py").read_text().splitlines()) < 450


def test_no_function_in_model_or_cli_over_60_lines():
    files = [*sorted((SRC / "model").glob("*.py")), SRC / "cli.py", SRC / "cli_args.py"]
    long = [f"{f.relative_to(SRC)}:{n.lineno} {n.name} ({size})" for f in files
            for n, size in _functions(f) if not isinstance(n, ast.ClassDef) and size > 60]
    assert not long


def test_src_cites_only_files_in_the_repository():
    cited = re.compile(r"(?<![\w/])((?:docs/|\.\./)?[A-Z][A-Z_]+\.md)")
    missing = set()
    for f in SRC.rglob("*.py"):
        for name in cited.findall(f.read_text()):
            if not ((REPO / name).is_file() or (REPO / "docs" / name).is_file()
                    and name.startswith("docs/")):
                missing.add(f"{f.relative_to(SRC)}: {name}")
    assert not missing


def test_dna_layer_imports_nothing_above_it():
    above = ("model", "video", "sweep", "report", "baselines", "metrics", "demo", "cli")
    bad = []
    for f in (f for f in (SRC / "dna").rglob("*.py") if f.name != "__main__.py"):
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level >= 2:
                top = (node.module or "").split(".")[0]
                if top in above:
                    bad.append(f"{f.relative_to(SRC)} imports {node.module}")
    assert not bad
