"""FASTA/FASTQ files by content: compression by magic bytes, FASTQ or FASTA by the first
record, `-` for stdin and stdout."""

import bz2
import gzip
import io
import lzma
import sys

import pytest

from helix_lightning.dna.fasta import (
    atomic_output, read_sequence_file, read_sequences, write_fasta, write_fastq)
from helix_lightning.errors import HelixError

FASTQ = b"@r1 first\nacgtN\n+\nIIIII\n@r2\nGGCC\n+\nIIII\n"
FASTA = b">s1\nACGT\nAC\n>s2\nTTTT\n"


@pytest.mark.parametrize("pack", [lambda b: b, gzip.compress, bz2.compress, lzma.compress])
@pytest.mark.parametrize("content,fastq", [(FASTQ, True), (FASTA, False)])
def test_format_and_compression_come_from_the_content(tmp_path, pack, content, fastq):
    path = tmp_path / "input.dat"
    path.write_bytes(pack(content))
    got = read_sequence_file(path, allow_n=True)
    assert got.fastq is fastq
    assert got.records == ([("r1 first", "ACGTN"), ("r2", "GGCC")] if fastq
                           else [("s1", "ACGTAC"), ("s2", "TTTT")])


def test_n_is_refused_unless_allowed(tmp_path):
    path = tmp_path / "r.fastq.gz"
    path.write_bytes(gzip.compress(FASTQ))
    with pytest.raises(HelixError, match="non-ACGT"):
        read_sequences(path)


@pytest.mark.parametrize("content,message", [(b"", "empty file"), (gzip.compress(b""), "empty"),
                                             (b"\x1f\x8bnot gzip at all", "not a readable"),
                                             (b"plain words\n", "not a readable")])
def test_bad_inputs_are_helix_errors(tmp_path, content, message):
    path = tmp_path / "bad"
    path.write_bytes(content)
    with pytest.raises(HelixError, match=message):
        read_sequences(path)
    with pytest.raises(HelixError, match="not found"):
        read_sequences(tmp_path / "missing.fa")
    with pytest.raises(HelixError, match="directory"):
        read_sequences(tmp_path)


def test_dash_reads_stdin(monkeypatch):
    stdin = io.TextIOWrapper(io.BufferedReader(io.BytesIO(gzip.compress(FASTA))))
    monkeypatch.setattr(sys, "stdin", stdin)
    assert read_sequences("-") == [("s1", "ACGTAC"), ("s2", "TTTT")]


def test_dash_writes_stdout_only_where_allowed(tmp_path, monkeypatch, capsysbinary):
    write_fastq("-", [("r1", "ACGT", "IIII")])
    assert capsysbinary.readouterr().out == b"@r1\nACGT\n+\nIIII\n"
    with atomic_output("-", "wb", allow_stdout=True) as out:
        out.write(b"\x00bytes")
    assert capsysbinary.readouterr().out == b"\x00bytes"
    monkeypatch.chdir(tmp_path)
    write_fasta("-", [("s", "ACGT")])  # FASTA output: `-` is a file name
    assert (tmp_path / "-").read_text() == ">s\nACGT\n"
