"""The streaming archive path (dna/stream_encode.py, stream_decode.py, segment_pool.py,
cli_stream.py): the same FASTA and the same bytes as the in-memory path, whatever the worker
count or engine, from a shuffled FASTA too, and the in-memory path wherever it must take
over. Memory boundedness is measured by benchmarks/bench_scale.py, not here."""

from __future__ import annotations

import io
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from helix_lightning.cli import main
from helix_lightning.dna.archive import DecodeFailure, decode_archive, encode_archive
from helix_lightning.dna.bootstrap import encoded_pool
from helix_lightning.dna.fasta import write_fasta
from helix_lightning.dna.stream_decode import NotStreamable, decode_file
from helix_lightning.dna.stream_encode import encode_file

ROOT = Path(__file__).resolve().parents[1]
SIZE = 2_400_000  # two RaptorQ segments on `standard` at 200 nt


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """A 2.4 MB file, its in-memory archive and decode report, and its FASTA as written and
    shuffled."""
    folder = tmp_path_factory.mktemp("stream")
    data = random.Random(7).randbytes(SIZE)
    path = folder / "data.bin"
    path.write_bytes(data)
    archive = encode_archive(data)
    records = archive.fasta_records()
    write_fasta(folder / "sorted.fa", records)
    shuffled = list(records)
    random.Random(3).shuffle(shuffled)
    write_fasta(folder / "shuffled.fa", shuffled)
    decoded, report = decode_archive(archive.strands)
    assert decoded == data
    return data, path, archive, folder, report


def _fasta_bytes(records) -> bytes:
    return "".join(f">{n}\n{s}\n" for n, s in records).encode()


def test_archive_has_several_segments(big):
    assert big[2].header.segmentation().count == 2


@pytest.mark.parametrize("workers", [1, 2])
def test_streaming_encode_equals_in_memory(big, workers):
    data, path, archive, *_ = big
    out = io.BytesIO()
    streamed = encode_file(path, out, "standard", workers=workers)
    assert out.getvalue() == _fasta_bytes(archive.fasta_records())
    assert streamed.stats == archive.stats
    assert streamed.header.pack() == archive.header.pack()


def test_self_describing_encode_through_the_command(big, tmp_path):
    data, path, archive, *_ = big
    small = tmp_path / "small.bin"
    small.write_bytes(data[:20_000])
    out = tmp_path / "small.fa"
    assert main(["dna", "encode", str(small), "-o", str(out), "--self-describing", "-q",
                 "--workers", "2", "--json"]) == 0
    records, _ = encoded_pool(encode_archive(data[:20_000]), True)
    assert out.read_bytes() == _fasta_bytes(records)


def test_streaming_decode_of_the_fasta_as_written_equals_in_memory(big):
    data, _, _, folder, reference = big
    out = io.BytesIO()
    assert decode_file(folder / "sorted.fa", out, workers=2).report == reference
    assert out.getvalue() == data


def test_shuffled_fasta_decodes_bit_exact_on_one_or_two_workers(big):
    data, _, _, folder, reference = big
    outputs = []
    for workers in (1, 2):
        out = io.BytesIO()
        assert decode_file(folder / "shuffled.fa", out, workers=workers).report == reference
        outputs.append(out.getvalue())
    assert outputs[0] == outputs[1] == data


def test_dask_local_cluster_decodes_as_the_local_pool(big):
    import distributed  # noqa: F401 (the dev extra installs it: a missing one fails here)

    data, _, _, folder, reference = big
    out = io.BytesIO()
    assert decode_file(folder / "shuffled.fa", out, workers=2, dask="local").report == reference
    assert out.getvalue() == data


def test_losses_junk_and_corruption_decode_as_in_memory(tmp_path, rng_bytes):
    data = rng_bytes(60_000, seed=4)
    archive = encode_archive(data)
    rng = random.Random(5)
    strands = [s for s in archive.strands if rng.random() > 0.03]  # some lost
    strands[40] = strands[40][:100] + ("A" if strands[40][100] != "A" else "C") + strands[40][101:]
    strands.insert(10, "ACGT" * 50)                                # foreign, framed nowhere
    strands.insert(20, strands[30])                                # a duplicate
    rng.shuffle(strands)
    write_fasta(tmp_path / "pool.fa", [(f"helix:v3:standard:{i:07d}", s)
                                       for i, s in enumerate(strands)])
    expected, reference = decode_archive([s for s in strands if s != "ACGT" * 50])
    out = io.BytesIO()
    done = decode_file(tmp_path / "pool.fa", out, workers=2)
    assert out.getvalue() == expected == data
    assert done.report == reference
    assert done.ignored == 1 and done.records == len(strands)


def test_too_many_losses_fail_and_write_nothing(tmp_path, rng_bytes):
    archive = encode_archive(rng_bytes(30_000, seed=6))
    kept = archive.strands[:len(archive.strands) // 2]
    write_fasta(tmp_path / "half.fa", archive.fasta_records()[:len(kept)])
    with pytest.raises(DecodeFailure, match="segment 0: .* strands recovered"):
        decode_file(tmp_path / "half.fa", io.BytesIO(), workers=1)
    out = tmp_path / "out.bin"
    assert main(["dna", "decode", str(tmp_path / "half.fa"), "-o", str(out), "-q"]) == 2
    assert not out.exists()


def test_what_streaming_cannot_take_goes_in_memory(tmp_path, rng_bytes):
    one, two = encode_archive(rng_bytes(5_000, seed=1)), encode_archive(rng_bytes(5_000, seed=2))
    write_fasta(tmp_path / "mixed.fa", one.fasta_records() + two.fasta_records())
    with pytest.raises(NotStreamable):
        decode_file(tmp_path / "mixed.fa", io.BytesIO())
    unnamed = [(f"strand{i}", s) for i, s in enumerate(one.strands)]
    write_fasta(tmp_path / "unnamed.fa", unnamed)
    with pytest.raises(NotStreamable, match="no constraint set"):
        decode_file(tmp_path / "unnamed.fa", io.BytesIO())
    # the command decodes both all the same: the in-memory path takes over
    out = tmp_path / "out.bin"
    assert main(["dna", "decode", str(tmp_path / "unnamed.fa"), "-o", str(out), "-q"]) == 0
    assert out.read_bytes() == rng_bytes(5_000, seed=1)
    archive_id = f"{two.header.archive_id:08x}"
    assert main(["dna", "decode", str(tmp_path / "mixed.fa"), "-o", str(out), "-q",
                 "--archive", archive_id]) == 0
    assert out.read_bytes() == rng_bytes(5_000, seed=2)


def test_a_pipe_through_stdin_and_stdout(tmp_path, rng_bytes):
    data = rng_bytes(40_000, seed=9)
    (tmp_path / "in.bin").write_bytes(data)
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    helix = [sys.executable, "-m", "helix_lightning.cli"]
    subprocess.run([*helix, "dna", "encode", str(tmp_path / "in.bin"), "-o",
                    str(tmp_path / "a.fa"), "-q", "--workers", "2"], check=True,
                   capture_output=True, env=env)
    dec = subprocess.run([*helix, "dna", "decode", "-", "-o", "-", "--workers", "2"],
                         input=(tmp_path / "a.fa").read_bytes(), capture_output=True,
                         check=True, env=env)
    assert dec.stdout == data
    assert b"decoded 40000 bytes" in dec.stderr
