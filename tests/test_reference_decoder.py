"""Issue 15: the committed test vectors are what the package writes today, and the reference
decoder (docs/reference/decode.py, run without the package) decodes them and every golden byte
archive bit for bit as `helix dna decode` does."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from helix_lightning.cli import main as helix
from helix_lightning.dna.capacity import cache_dir

REPO = Path(__file__).resolve().parents[1]
VECTORS = REPO / "docs" / "vectors"
REFERENCE = REPO / "docs" / "reference" / "decode.py"
FIXTURES = REPO / "tests" / "fixtures"
CUSTOM_FLAGS = ["--constraints", "rl3", "--max-run", "2", "--motif", "GAATTC", "--motif", "TTAA"]
CUSTOM_JSON = json.dumps({"max_run": 2, "motifs": ["GAATTC", "TTAA"]})
MOTIF_FLAGS = ["--constraints", "rl3", "--max-run", "2", "--motif", "GAATTC"]

# run the reference decoder with the package made unimportable, and check it stayed so
ISOLATED = """
import runpy, sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] == 'helix_lightning':
            raise ImportError('the reference decoder must not import helix_lightning')
sys.meta_path.insert(0, Block())
sys.argv = sys.argv[1:]
try:
    runpy.run_path(sys.argv[0], run_name='__main__')
    rc = 0
except SystemExit as exc:
    rc = exc.code or 0
assert not [m for m in sys.modules if m.split('.')[0] == 'helix_lightning']
sys.exit(rc)
"""


def _make_vectors():
    spec = importlib.util.spec_from_file_location("make_vectors",
                                                  REPO / "scripts" / "make_vectors.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def reference(fasta: Path, out: Path, *args: str) -> subprocess.CompletedProcess:
    cache = cache_dir() / "reference"
    return subprocess.run([sys.executable, "-I", "-c", ISOLATED, str(REFERENCE), str(fasta),
                           "-o", str(out), "--cache", str(cache), *args],
                          capture_output=True, text=True, timeout=900)


def test_vectors_are_what_the_package_writes():
    built = _make_vectors().build_vectors()
    committed = {p.name: p.read_bytes() for p in VECTORS.iterdir() if p.is_file()}
    assert sorted(built) == sorted(committed)
    stale = [name for name in built if built[name] != committed[name]]
    assert not stale, f"docs/vectors is stale: run scripts/make_vectors.py ({stale})"


def test_fingerprint_depends_on_motif_order():
    """FORMAT.md §1 documents it: motifs are hashed in the order given."""
    prints = json.loads((VECTORS / "fingerprints.json").read_text())
    assert prints["custom"]["fingerprint"] != prints["custom-reordered"]["fingerprint"]


CASES = [(f"archive_{n}.fasta", [], []) for n in
         ("rl3", "fountain", "standard", "strict", "relaxed", "rl2")] + [
    ("archive_custom.fasta", CUSTOM_FLAGS, ["--definition", CUSTOM_JSON]),
    ("archive_custom_boot.fasta", [], []),
]
GOLDEN = [(f"bytes_{n}.fasta", [], []) for n in
          ("standard", "fountain", "custom_v2", "standard_v3", "fountain_v3", "custom_v3")] + [
    (f"bytes_custom_{v}_motif.fasta", MOTIF_FLAGS,
     ["--definition", json.dumps({"max_run": 2, "motifs": ["GAATTC"]})]) for v in ("v2", "v3")]


@pytest.mark.parametrize("name,flags,ref_flags", CASES + GOLDEN,
                         ids=[c[0] for c in CASES + GOLDEN])
def test_reference_decoder_agrees_with_helix(tmp_path, name, flags, ref_flags):
    fasta = (VECTORS if name.startswith("archive_") else FIXTURES) / name
    expected = (VECTORS / "input.bin" if name.startswith("archive_")
                else FIXTURES / "bytes.bin").read_bytes()
    assert helix(["dna", "decode", str(fasta), "-o", str(tmp_path / "helix.bin"), "-q",
                  *flags]) == 0
    run = reference(fasta, tmp_path / "ref.bin", *ref_flags)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "ref.bin").read_bytes() == (tmp_path / "helix.bin").read_bytes()
    assert (tmp_path / "ref.bin").read_bytes() == expected


def test_reference_decoder_bootstraps_and_returns_the_spec(tmp_path):
    """With bootstrap strands the reference decoder needs no flag for a custom set whose
    header the registered sets cannot hold, and writes the spec text the sector carries."""
    fasta = VECTORS / "archive_custom_boot.fasta"
    run = reference(fasta, tmp_path / "ref.bin", "--spec-out", str(tmp_path / "spec.md"))
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "spec.md").read_bytes() == _make_vectors().BOOT_SPEC
    plain = reference(VECTORS / "archive_custom.fasta", tmp_path / "x.bin")
    assert plain.returncode == 2 and "no header found" in plain.stderr
