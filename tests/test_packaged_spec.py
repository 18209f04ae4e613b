"""Issue 15: the format spec travels with the package (an install has no docs/ folder).

`helix dna encode --self-describing` embeds docs/FORMAT.md; the package reads it from its own
xz copy, `dna/format.md.xz` (package data), which scripts/package_spec.py (`make spec`) writes
from docs/FORMAT.md. These tests fail when the copy is stale, not shipped, or when the package
would reach outside itself for it."""

import lzma
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from helix_lightning.dna.bootstrap import SPEC_FILE, format_spec, read_bootstrap

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "FORMAT.md"


def test_the_packaged_copy_is_docs_format_md():
    assert lzma.decompress(SPEC_FILE.read_bytes()) == DOC.read_bytes(), (
        "src/helix_lightning/dna/format.md.xz is stale: run `make spec` "
        "(scripts/package_spec.py) after editing docs/FORMAT.md")
    assert format_spec() == DOC.read_bytes()


def test_the_copy_is_package_data():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    package_data = data["tool"]["setuptools"]["package-data"]["helix_lightning.dna"]
    assert SPEC_FILE.name in package_data
    assert SPEC_FILE.parent == ROOT / "src" / "helix_lightning" / "dna"


def test_an_install_without_docs_writes_self_describing_pools(tmp_path):
    """The package copied alone (as a wheel installs it: no docs/, no repository) embeds the
    spec in a self-describing pool, and the pool's sector gives docs/FORMAT.md back."""
    site = tmp_path / "site"
    shutil.copytree(ROOT / "src" / "helix_lightning", site / "helix_lightning",
                    ignore=shutil.ignore_patterns("__pycache__", "*.ckpt"))
    (tmp_path / "in.bin").write_bytes(b"a file that outlives its software " * 20)
    env = {**os.environ, "PYTHONPATH": str(site), "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "helix_lightning", "dna", "encode", "in.bin", "-o",
                    "pool.fasta", "--self-describing", "-q"], cwd=tmp_path, env=env,
                   check=True, capture_output=True)
    seqs = [line for line in (tmp_path / "pool.fasta").read_text().splitlines()
            if not line.startswith(">")]
    (sector,) = read_bootstrap(seqs).values()
    assert sector.spec() == DOC.read_bytes()
