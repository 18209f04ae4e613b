"""Constraint sets beyond the released ones, through the archive both ways (library and CLI),
from FASTA and from simulated reads: a newly registered set with a format code, a set
registered without one, a flag-defined set whose header goes under a registered set (decodes
with no hint), and one with a motif whose header cannot (decodes with the encode flags)."""

import pytest

from helix_lightning.cli import main as helix
from helix_lightning.dna.archive import decode_archive, encode_archive, find_header
from helix_lightning.dna.channel import ChannelParams, simulate_reads
from helix_lightning.dna.consensus import recover_strands
from helix_lightning.dna.constraints import (
    ConstraintSet,
    check_strands,
    register_constraints,
    unregister_constraints,
)
from helix_lightning.dna.primers import DEFAULT_PREFIX, DEFAULT_SUFFIX
from helix_lightning.errors import HelixError

TOY = ConstraintSet("toy", max_run=3, gc_min=0.35, gc_max=0.65)
TOY_CODE = 200
#: `helix dna encode --gc-window 0 --gc-min 0.35` (base set `standard`): under `fountain`'s
#: strands every strand is valid, so the header strands go there.
FLAGS = ["--gc-window", "0", "--gc-min", "0.35"]
FLAG_SET = ConstraintSet("custom", max_run=3, gc_min=0.35, gc_max=0.60)
#: a motif no registered set forbids: the header strands stay under the custom set.
MOTIF_FLAGS = ["--constraints", "rl3", "--max-run", "2", "--motif", "GAATTC"]


@pytest.fixture
def toy():
    register_constraints("toy", code=TOY_CODE)(lambda: TOY)
    yield TOY
    unregister_constraints("toy")


def _reads_to_candidates(strands: list[str], seed: int):
    reads = simulate_reads(strands, ChannelParams(seed=seed))
    cands = recover_strands([r[1] for r in reads], DEFAULT_PREFIX, DEFAULT_SUFFIX, 200)
    return [c.seq for c in cands], [c.support for c in cands], [c.variants for c in cands]


def _library_roundtrip(data: bytes, cs, hint, seed: int):
    archive = encode_archive(data, cs)
    assert check_strands(archive.strands, archive.cs).total == 0
    out, report = decode_archive(archive.strands[::-1], constraints=hint)
    assert out == data and report.ok
    seqs, support, variants = _reads_to_candidates(archive.strands, seed)
    out, report = decode_archive(seqs, support, variants=variants, constraints=hint)
    assert out == data and report.ok
    return archive, report


def _cli_roundtrip(tmp_path, data: bytes, encode_flags: list[str], decode_flags: list[str]):
    src, fa, fq = tmp_path / "in.bin", tmp_path / "a.fasta", tmp_path / "r.fastq"
    src.write_bytes(data)
    assert helix(["dna", "encode", str(src), "-o", str(fa), "-q", *encode_flags]) == 0
    assert helix(["dna", "simulate", str(fa), "-o", str(fq), "--seed", "4", "-q"]) == 0
    for i, path in enumerate((fa, fq)):
        out = tmp_path / f"out{i}.bin"
        assert helix(["dna", "decode", str(path), "-o", str(out), "-q", *decode_flags]) == 0
        assert out.read_bytes() == data
    return fa


def test_registered_set_library_roundtrip(toy, rng_bytes):
    archive, report = _library_roundtrip(rng_bytes(4000, seed=1), "toy", None, seed=1)
    assert archive.header.version == 3 and archive.header.constraints_code == TOY_CODE
    assert report.constraints == "toy"


def test_registered_set_cli_roundtrip(toy, tmp_path, rng_bytes, capsys):
    fa = _cli_roundtrip(tmp_path, rng_bytes(4000, seed=2), ["--constraints", "toy"], [])
    assert fa.read_text().startswith(">helix:v3:toy:")
    assert helix(["dna", "check", str(fa)]) == 0
    assert '"constraints": "toy"' in capsys.readouterr().out


def test_set_registered_without_code_is_written_as_custom(rng_bytes):
    plain = ConstraintSet("plain", max_run=3, gc_min=0.3, gc_max=0.7)
    register_constraints("plain")(lambda: plain)
    try:
        archive, report = _library_roundtrip(rng_bytes(3000, seed=3), "plain", None, seed=2)
    finally:
        unregister_constraints("plain")
    assert (archive.header.version, archive.header.constraints_code) == (3, 255)
    assert report.constraints == "plain"
    # the definition travels in the header: it decodes once the set is unregistered too
    assert decode_archive(archive.strands)[1].constraints == "plain"


def test_flag_defined_set_library_roundtrip(rng_bytes):
    for hint in (None, FLAG_SET):
        archive, report = _library_roundtrip(rng_bytes(4000, seed=4), FLAG_SET, hint, seed=3)
        assert archive.header.version == 3 and archive.header.header_code == 1  # fountain
        assert archive.header.definition == FLAG_SET and report.constraints == "custom"
    found = find_header(archive.strands)
    assert found.cs == FLAG_SET and found.header_cs.name == "fountain"


def test_flag_defined_set_cli_roundtrip(tmp_path, rng_bytes, capsys):
    data = rng_bytes(4000, seed=5)
    fa = _cli_roundtrip(tmp_path, data, FLAGS, [])  # no hint: the header defines the set
    assert fa.read_text().startswith(">helix:v3:custom:")
    _cli_roundtrip(tmp_path, data, FLAGS, FLAGS)  # and with the encode flags
    capsys.readouterr()
    assert helix(["dna", "check", str(fa)]) == 0
    assert '"violations": 0' in capsys.readouterr().out
    # flags that define another set are refused
    assert helix(["dna", "decode", str(fa), "-o", str(tmp_path / "x"), "-q", "--gc-window", "0",
                  "--gc-min", "0.3"]) == 2
    assert "different constraint set" in capsys.readouterr().err


def test_set_no_registered_set_covers_decodes_with_its_flags(tmp_path, rng_bytes, capsys):
    data = rng_bytes(3000, seed=6)
    _cli_roundtrip(tmp_path, data, MOTIF_FLAGS, MOTIF_FLAGS)
    out = tmp_path / "x.bin"
    assert helix(["dna", "decode", str(tmp_path / "a.fasta"), "-o", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert "no valid header strand" in err and "same --constraints/flags" in err
    assert not out.exists()
    motif_set = ConstraintSet("custom", max_run=2, motifs=("GAATTC",))
    archive, _ = _library_roundtrip(data, motif_set, motif_set, seed=5)
    assert archive.header.version == 3 and archive.header.header_code == 255
    with pytest.raises(HelixError, match="no valid header strand"):
        decode_archive(archive.strands)
