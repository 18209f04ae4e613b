"""Reads at scale: `helix dna simulate` window by window (dna/stream_simulate.py) and `helix
dna decode` of reads bucket by bucket (dna/read_buckets.py, stream_reads.py): the same reads
as the in-memory simulator where the input fits in one window, the same bytes as the
in-memory decoder, buckets that bound what one task holds, and a real shell pipe."""

from __future__ import annotations

import io
import os
import random
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helix_lightning.cli import main
from helix_lightning.dna.archive import encode_archive
from helix_lightning.dna.channel import ChannelParams, simulate_reads
from helix_lightning.dna.fasta import write_fasta, write_fastq
from helix_lightning.dna.read_buckets import (BUCKET_BYTES, MAX_BUCKETS, bucket_count,
                                              route, route_bases)
from helix_lightning.dna.read_decode import decode_loaded
from helix_lightning.dna.reads import recover_reads
from helix_lightning.dna.stream_reads import decode_reads_file
from helix_lightning.dna.stream_simulate import (WINDOW_READS, simulate_file,
                                                 simulate_windows, window_strands)
from helix_lightning.errors import HelixError

ROOT = Path(__file__).resolve().parents[1]
SIZE = 30_000  # about 1,000 strands, 9,500 reads at the reference channel


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    """A 30 kB file, its archive's FASTA, simulated reads (FASTQ) and their in-memory decode."""
    folder = tmp_path_factory.mktemp("reads")
    data = random.Random(11).randbytes(SIZE)
    archive = encode_archive(data)
    write_fasta(folder / "a.fa", archive.fasta_records())
    reads = simulate_reads(archive.strands, ChannelParams(seed=5))
    write_fastq(folder / "a.fq", reads)
    loaded = recover_reads([seq for _, seq, _ in reads])
    decoded, report, _ = decode_loaded(loaded, "standard")
    assert decoded == data
    return data, archive, folder, report


# ---------------------------------------------------------------- simulate
def test_one_window_is_the_in_memory_simulator(pool):
    _, archive, folder, _ = pool
    params = ChannelParams(seed=9)
    assert len(archive.strands) < window_strands(params)
    windows = list(simulate_windows(archive.strands, params))
    assert len(windows) == 1 and windows[0] == simulate_reads(archive.strands, params)
    out = io.StringIO()
    done = simulate_file(folder / "a.fa", out, params)
    assert (done.strands, done.reads) == (len(archive.strands), len(windows[0]))
    assert out.getvalue() == "".join(f"@{n}\n{s}\n+\n{q}\n" for n, s, q in windows[0])


def test_windows_shuffle_within_themselves_and_number_across(pool):
    _, archive, _, _ = pool
    params = ChannelParams(seed=9)
    windows = list(simulate_windows(archive.strands, params, window=300))
    assert len(windows) == -(-len(archive.strands) // 300)
    names = [n for w in windows for n, _, _ in w]
    assert [int(n.split(":")[0][1:]) for n in names] == list(range(len(names)))
    for w, reads in enumerate(windows):
        sources = [int(n.split(":")[1][1:]) for n, _, _ in reads]
        assert min(sources) >= 300 * w and max(sources) < 300 * (w + 1)
        assert sources != sorted(sources)  # shuffled inside the window
    again = [r for w in simulate_windows(archive.strands, params, window=300) for r in w]
    assert again == [r for w in windows for r in w]
    assert names != [n for n, _, _ in simulate_reads(archive.strands, params)]  # not global


def test_a_window_holds_a_bounded_number_of_reads():
    for coverage in (1, 10, 200, 5000):
        params = ChannelParams(coverage=coverage)
        assert window_strands(params) * coverage <= WINDOW_READS
        assert window_strands(params) >= 1


# ---------------------------------------------------------------- buckets
def test_route_is_by_the_trailing_payload_bases_and_even():
    rng = np.random.default_rng(1)
    middles = ["".join(rng.choice(list("ACGT"), 150)) for _ in range(20_000)]
    for count in (2, 8, 64):
        where = route(middles, count)
        assert where.min() >= 0 and where.max() < count
        sizes = np.bincount(where, minlength=count)
        assert sizes.max() < 1.6 * len(middles) / count
        r = route_bases(count)
        changed = [("A" if m[0] != "A" else "C") + m[1:] for m in middles[:500]]
        assert (route(changed, count) == where[:500]).all()  # earlier bases do not matter
        at = len(middles[0]) - r  # the first routing base
        changed = [m[:at] + ("A" if m[at] != "A" else "C") + m[at + 1:] for m in middles[:500]]
        assert (route(changed, count) != where[:500]).any()
    assert (route(middles, 1) == 0).all()


def test_bucket_count_grows_with_the_input(tmp_path):
    small = tmp_path / "small.fq"
    small.write_text("@r\nACGT\n+\nIIII\n")
    assert bucket_count(small, None) == 1
    assert bucket_count(small, 7) == 7
    big = tmp_path / "big.fq"
    with open(big, "wb") as f:
        f.truncate(5 * BUCKET_BYTES + 1)  # sparse: six buckets' worth, rounded up to 8
    assert bucket_count(big, None) == 8
    for bad in (0, MAX_BUCKETS + 1):
        with pytest.raises(HelixError):
            bucket_count(small, bad)


# ---------------------------------------------------------------- bucketed decode
def test_bucketed_decode_equals_the_in_memory_decode(pool):
    data, archive, folder, report = pool
    out = io.BytesIO()
    done = decode_reads_file(folder / "a.fq", out, 4, workers=2)
    assert out.getvalue() == data
    assert done.buckets == 4 and done.used == done.reads
    # bounded: no task held more than about half the payloads (a quarter each, on average)
    assert done.largest_bucket < 0.5 * done.reads
    # reads whose key carries an error are lost to their strand: a few strands at most
    assert done.decoded.report.valid_data_strands >= report.valid_data_strands - 10


def test_bucketed_decode_on_a_dask_local_cluster(pool):
    import distributed  # noqa: F401 (the dev extra installs it: a missing one fails here)

    data, _, folder, _ = pool
    out = io.BytesIO()
    local = io.BytesIO()
    done = decode_reads_file(folder / "a.fq", out, 3, workers=2, dask="local")
    decode_reads_file(folder / "a.fq", local, 3, workers=1)
    assert out.getvalue() == local.getvalue() == data
    assert done.decoded.report.ok


def test_buckets_flag_through_the_cli(pool, tmp_path, capsys):
    data, _, folder, _ = pool
    out = tmp_path / "out.bin"
    assert main(["dna", "decode", str(folder / "a.fq"), "-o", str(out), "--buckets", "3",
                 "--workers", "1"]) == 0
    assert out.read_bytes() == data
    assert "3 buckets of at most" in capsys.readouterr().err
    assert main(["dna", "decode", str(folder / "a.fq"), "-o", str(tmp_path / "x"),
                 "--buckets", "0", "-q"]) == 2
    assert not (tmp_path / "x").exists()


def test_simulate_piped_into_decode_through_a_shell(pool, tmp_path):
    data, _, folder, _ = pool
    helix = f"{shlex.quote(sys.executable)} -m helix_lightning.cli"
    out = tmp_path / "out.bin"
    command = (f"{helix} dna simulate {shlex.quote(str(folder / 'a.fa'))} -o - --seed 4 | "
               f"{helix} dna decode - -o {shlex.quote(str(out))} --buckets 4 --workers 2")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    done = subprocess.run(["bash", "-o", "pipefail", "-c", command], capture_output=True,
                          env=env, text=True)
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == data
    assert "reads from" in done.stderr and "4 buckets of at most" in done.stderr
