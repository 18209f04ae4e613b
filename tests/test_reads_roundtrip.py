"""From noisy reads back to the file: the CLI path (fast) and 1 MB channel trials (slow)."""

import random

import pytest

from helix_lightning.cli import main
from helix_lightning.dna.archive import decode_archive, encode_archive
from helix_lightning.dna.channel import ChannelParams, simulate_reads
from helix_lightning.dna.consensus import recover_strands
from helix_lightning.dna.primers import DEFAULT_PREFIX, DEFAULT_SUFFIX


def test_cli_encode_simulate_decode(tmp_path, rng_bytes):
    src = tmp_path / "in.bin"
    src.write_bytes(rng_bytes(20_000, seed=11))
    fa, fq, out = tmp_path / "a.fasta", tmp_path / "r.fastq", tmp_path / "out.bin"
    assert main(["dna", "encode", str(src), "-o", str(fa), "--constraints", "fountain", "-q"]) == 0
    assert main(["dna", "simulate", str(fa), "-o", str(fq), "--seed", "3", "-q"]) == 0
    assert fq.read_text().startswith("@")
    assert main(["dna", "decode", str(fq), "-o", str(out), "-q"]) == 0
    assert out.read_bytes() == src.read_bytes()


def test_reads_with_too_little_coverage_fail_cleanly(tmp_path, rng_bytes, capsys):
    src = tmp_path / "in.bin"
    src.write_bytes(rng_bytes(5_000, seed=12))
    fa, fq, out = tmp_path / "a.fasta", tmp_path / "r.fastq", tmp_path / "out.bin"
    main(["dna", "encode", str(src), "-o", str(fa), "--constraints", "rl3", "-q"])
    main(["dna", "simulate", str(fa), "-o", str(fq), "--coverage", "1", "--dropout", "0.5",
          "--seed", "2", "-q"])
    assert main(["dna", "decode", str(fq), "-o", str(out), "-q"]) == 2
    assert "error:" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.slow
@pytest.mark.parametrize("constraints,seed", [("standard", 1), ("fountain", 2)])
def test_one_megabyte_through_reference_channel(constraints, seed):
    data = random.Random(seed).randbytes(1_000_000)
    archive = encode_archive(data, constraints)
    reads = simulate_reads(archive.strands, ChannelParams(seed=seed))
    cands = recover_strands([r[1] for r in reads], DEFAULT_PREFIX, DEFAULT_SUFFIX, 200)
    out, report = decode_archive([c.seq for c in cands], [c.support for c in cands],
                                 variants=[c.variants for c in cands], constraints=constraints)
    assert out == data and report.ok
