"""Reads as labs have them: compressed, on stdin, with whole, partial or no primers, adapter
read-through, either orientation, one base longer, among junk; all decode (issue 13.1)."""

import bz2
import gzip
import json
import lzma
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helix_lightning.cli import main
from helix_lightning.dna.archive import decode_archive, encode_archive
from helix_lightning.dna.channel import ChannelParams, simulate_reads
from helix_lightning.dna.fasta import write_fasta, write_fastq
from helix_lightning.dna.primers import (
    DEFAULT_PREFIX as P, DEFAULT_SUFFIX as S, find_head, find_tail, reverse_complement)
from helix_lightning.dna.reads import load_strands
from helix_lightning.errors import HelixError

ROOT = Path(__file__).resolve().parents[1]
ADAPTER = "AGATCGGAAGAGCACACGTCTGAACTCCAGTCAC"  # Illumina TruSeq read-through
CHANNEL = ChannelParams(dropout=0.02, coverage=8, seed=5)


@pytest.fixture(scope="module")
def archive():
    data = random.Random(7).randbytes(2500)
    return data, encode_archive(data, "standard")


@pytest.fixture(scope="module")
def reads(archive):
    """(name, sequence, qualities) reads of the archive, both orientations, 1% errors."""
    return simulate_reads(archive[1].strands, CHANNEL)


def strands_of(path) -> tuple[bytes, object]:
    loaded = load_strands(path)
    data, _ = decode_archive(loaded.strands, loaded.support, variants=loaded.variants,
                             constraints=loaded.constraint_hint)
    return data, loaded


def fastq(tmp_path, seqs, name="reads.fastq") -> Path:
    path = tmp_path / name
    write_fastq(path, [(f"r{i}", s, "I" * len(s)) for i, s in enumerate(seqs)])
    return path


def forward(reads) -> list[str]:
    """Reads turned to the strands' orientation (as `cutadapt --revcomp` writes them)."""
    return [reverse_complement(s) if n.endswith("-") else s for n, s, _ in reads]


def as_sequenced(reads, change) -> list[str]:
    """`change` applied to each read in strand orientation, then turned back as sequenced."""
    out = []
    for (name, _, _), seq in zip(reads, forward(reads)):
        seq = change(seq)
        out.append(reverse_complement(seq) if name.endswith("-") else seq)
    return out


# ---------------------------------------------------------------- compression and stdio

@pytest.mark.parametrize("compress", [gzip.compress, bz2.compress, lzma.compress])
def test_compressed_reads_and_strands_are_read_by_content(tmp_path, archive, reads, compress):
    data, arc = archive
    plain = fastq(tmp_path, [s for _, s, _ in reads])
    packed = tmp_path / "reads.txt"  # the name says nothing
    packed.write_bytes(compress(plain.read_bytes()))
    got, loaded = strands_of(packed)
    assert got == data and loaded.from_reads and loaded.ignored == 0
    fasta = tmp_path / "a.fasta"
    write_fasta(fasta, arc.fasta_records())
    packed.write_bytes(compress(fasta.read_bytes()))
    got, loaded = strands_of(packed)
    assert got == data and not loaded.from_reads and loaded.support is None
    assert loaded.constraint_hint == "standard"


def test_stdin_and_stdout_through_the_command(tmp_path, archive):
    data, arc = archive
    fasta = tmp_path / "a.fasta"
    write_fasta(fasta, arc.fasta_records())
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    helix = [sys.executable, "-m", "helix_lightning.cli"]
    sim = subprocess.run([*helix, "dna", "simulate", str(fasta), "-o", "-", "--seed", "4"],
                         capture_output=True, env=env, check=True)
    assert sim.stdout.startswith(b"@") and b"reads from" in sim.stderr
    dec = subprocess.run([*helix, "dna", "decode", "-", "-o", "-"], input=gzip.compress(sim.stdout),
                         capture_output=True, env=env)
    assert dec.returncode == 0, dec.stderr
    assert dec.stdout == data
    assert b"used, 0 ignored" in dec.stderr


def test_unreadable_compressed_input_is_one_line(tmp_path, capsys):
    bad = tmp_path / "reads.fastq.gz"
    bad.write_bytes(gzip.compress(b"@r1\nACGT\n+\nIIII\n")[:-12])
    assert main(["dna", "decode", str(bad), "-o", str(tmp_path / "o.bin"), "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a readable FASTA/FASTQ" in err[0]
    assert not (tmp_path / "o.bin").exists()


# ---------------------------------------------------------------- read forms

def _trim_both(seq: str) -> str:
    return seq[len(P):-len(S)]


def _partial(rng):
    def change(seq: str) -> str:
        return seq[int(rng.integers(6, 15)):len(seq) - int(rng.integers(6, 15))]
    return change


def _read_through(rng):
    def change(seq: str) -> str:
        return seq + ADAPTER[:int(rng.integers(5, 16))]
    return change


FORMS = {
    "primers trimmed, as sequenced": lambda rng: _trim_both,
    "partial primers": _partial,
    "adapter read-through 5-15 nt": _read_through,
    "one base longer": lambda rng: (lambda seq: seq + "ACGT"[int(rng.integers(4))]),
}


@pytest.mark.parametrize("form", sorted(FORMS))
def test_read_forms_decode(tmp_path, archive, reads, form):
    data, _ = archive
    change = FORMS[form](np.random.default_rng(11))
    got, loaded = strands_of(fastq(tmp_path, as_sequenced(reads, change)))
    assert got == data
    assert loaded.strand_len == 200 and loaded.used >= 0.95 * len(reads)
    print(form, loaded.summary())


def test_trimmed_reads_in_strand_orientation_decode(tmp_path, archive, reads):
    data, _ = archive
    got, loaded = strands_of(fastq(tmp_path, [_trim_both(s) for s in forward(reads)]))
    assert got == data and loaded.strand_len == 200


def test_reads_in_a_fasta_are_taken_as_reads(tmp_path, archive, reads):
    data, _ = archive
    fasta = tmp_path / "reads.fasta"  # e.g. `seqkit fq2fa` of the sequencer's FASTQ
    write_fasta(fasta, [(n, s) for n, s, _ in reads])
    got, loaded = strands_of(fasta)
    assert got == data and loaded.from_reads and loaded.support is not None


def test_reverse_complemented_reads_decode(tmp_path, archive, reads):
    data, _ = archive
    got, _ = strands_of(fastq(tmp_path, [reverse_complement(s) for _, s, _ in reads]))
    assert got == data


def test_junk_and_foreign_reads_are_ignored_and_counted(tmp_path, archive, reads):
    data, _ = archive
    rng = random.Random(3)
    junk = ["".join(rng.choice("ACGT") for _ in range(60)) for _ in range(2 * len(reads))]
    foreign = ["".join(rng.choice("ACGT") for _ in range(150)) for _ in range(200)]
    mixed = [s for _, s, _ in reads] + junk + foreign
    rng.shuffle(mixed)
    got, loaded = strands_of(fastq(tmp_path, mixed))
    assert got == data and loaded.strand_len == 200
    assert loaded.records == len(mixed)
    assert len(junk) + len(foreign) <= loaded.ignored <= len(junk) + len(foreign) + 10
    assert loaded.used == loaded.records - loaded.ignored
    assert f"{loaded.ignored} ignored (foreign or junk)" in loaded.summary()


def test_junk_only_is_one_line(tmp_path, capsys):
    rng = random.Random(4)
    junk = fastq(tmp_path, ["".join(rng.choice("ACGT") for _ in range(40)) for _ in range(50)])
    assert main(["dna", "decode", str(junk), "-o", str(tmp_path / "o.bin"), "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:")


# ---------------------------------------------------------------- strands without reads

@pytest.mark.parametrize("change", ["primers cut off", "one base longer", "reverse complement"])
def test_clean_fasta_strands_in_other_shapes_decode(tmp_path, archive, change):
    data, arc = archive
    alter = {"primers cut off": _trim_both, "one base longer": lambda s: s + "A",
             "reverse complement": reverse_complement}[change]
    fasta = tmp_path / "strands.fasta"
    write_fasta(fasta, [(n, alter(s)) for n, s in arc.fasta_records()])
    got, loaded = strands_of(fasta)
    assert got == data
    assert loaded.used + loaded.ignored == len(arc.strands) and loaded.ignored <= 2
    print(change, loaded.summary())


def test_primers_are_found_whole_in_part_or_not_at_all():
    payload = "ACGTTGCA" * 20
    assert find_head(P + payload, P) == (20, True)
    assert find_head("GATTACA" + P + payload, P) == (27, True)
    assert find_head(P[9:] + payload, P) == (11, False)      # a remnant of the primer
    assert find_head(payload, P) is None
    read = payload + S + ADAPTER[:12]
    assert find_tail(read, S) == (len(payload), True)
    assert find_tail(payload + S[:8], S) == (len(payload), False)
    assert find_tail(payload, S) is None


def test_strand_length_is_given_or_measured(tmp_path, archive, reads):
    path = fastq(tmp_path, [s for _, s, _ in reads])
    assert load_strands(path).strand_len == 200
    assert load_strands(path, strand_len=200).used == len(reads)
    with pytest.raises(HelixError, match="too little room"):
        load_strands(path, strand_len=80)
    with pytest.raises(HelixError, match="none of .* reads looks like a strand"):
        load_strands(path, strand_len=240)


# ---------------------------------------------------------------- the real cutadapt

@pytest.mark.parametrize("times", ["1", "2"])
def test_cutadapt_trimmed_reads_decode(tmp_path, archive, reads, times):
    """`cutadapt -g P5 -a P3 --revcomp` (the usual lab step; -n 2 takes both primers off)."""
    data, _ = archive
    raw = fastq(tmp_path, [s for _, s, _ in reads])
    trimmed = tmp_path / "trimmed.fastq.gz"
    cutadapt = Path(sys.executable).with_name("cutadapt")
    subprocess.run([str(cutadapt), "-g", P, "-a", S, "--revcomp", "-n", times, "--quiet",
                    "-o", str(trimmed), str(raw)], check=True)
    with gzip.open(trimmed, "rt") as handle:
        lengths = [len(line.strip()) for i, line in enumerate(handle) if i % 4 == 1]
    assert np.median(lengths) == (180 if times == "1" else 160)
    assert main(["dna", "decode", str(trimmed), "-o", str(tmp_path / "out.bin"), "-q"]) == 0
    assert (tmp_path / "out.bin").read_bytes() == data


# ---------------------------------------------------------------- the video path

def test_video_decodes_from_gzipped_reads(tmp_path):
    """`helix decode reads.fastq.gz -o x.mkv`: the golden 4-frame clip from simulated reads."""
    sys.path.insert(0, str(ROOT / "tests" / "fixtures"))
    from make_fixtures import frames_sha256

    from helix_lightning.video.io import read_video

    golden = json.loads((ROOT / "tests/fixtures/golden.json").read_text())
    reads = tmp_path / "reads.fastq.gz"
    assert main(["dna", "simulate", str(ROOT / "tests/fixtures/video_mid.fasta"), "-o",
                 str(tmp_path / "reads.fastq"), "--seed", "2", "-q"]) == 0
    reads.write_bytes(gzip.compress((tmp_path / "reads.fastq").read_bytes()))
    out = tmp_path / "x.mkv"
    assert main(["decode", str(reads), "-o", str(out), "-q"]) == 0
    assert frames_sha256(read_video(out)) == golden["video"]["video_mid"]["frames_sha256"]
