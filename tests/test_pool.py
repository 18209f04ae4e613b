"""Pools of several archives (issue 13.2): every archive carries an ID at no cost in net
density; `helix dna ls` lists them; decoding takes the one asked for (`--archive`) or all of
them (`--all`), and refuses a mixed pool without either, never writing only one."""

import json
import math
import random
import sys
from pathlib import Path

import pytest

from helix_lightning.cli import main as helix
from helix_lightning.dna.archive import decode_archive, encode_archive, find_header
from helix_lightning.dna.channel import ChannelParams, simulate_reads
from helix_lightning.dna.constraints import CONSTRAINT_SETS, coded_names
from helix_lightning.dna.fasta import read_sequences, write_fasta, write_fastq
from helix_lightning.dna.header import BASE, ID_VERSION
from helix_lightning.dna.inspect import check_archive
from helix_lightning.dna.pool import MixedPool, format_id, list_archives, parse_id
from helix_lightning.dna.reads import load_strands
from helix_lightning.dna.strands import StrandLayout
from helix_lightning.errors import HelixError

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="module")
def pool():
    """Archives A (20 kB) and B (50 kB), standard, and their strands shuffled together."""
    a_data, b_data = random.Random(1).randbytes(20_000), random.Random(2).randbytes(50_000)
    a, b = encode_archive(a_data, "standard"), encode_archive(b_data, "standard")
    strands = a.strands + b.strands
    random.Random(3).shuffle(strands)
    return {"A": (a_data, a), "B": (b_data, b), "strands": strands}


def _ids(pool) -> dict[str, str]:
    return {k: format_id(pool[k][1].header.archive_id) for k in "AB"}


@pytest.fixture(scope="module")
def pool_fasta(pool, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pool") / "pool.fasta"
    write_fasta(path, [(f"helix:v3:standard:{i:07d}", s) for i, s in enumerate(pool["strands"])])
    return path


@pytest.fixture(scope="module")
def pool_reads(pool, tmp_path_factory) -> Path:
    reads = simulate_reads(pool["strands"], ChannelParams(dropout=0.02, coverage=8, seed=4))
    path = tmp_path_factory.mktemp("pool") / "pool.fastq"
    write_fastq(path, reads)
    return path


# ------------------------------------------------------------------ the ID and its cost

def test_archives_carry_distinct_deterministic_ids(pool):
    a, b = pool["A"][1], pool["B"][1]
    assert a.header.version == b.header.version == ID_VERSION
    assert a.header.archive_id != b.header.archive_id
    again = encode_archive(pool["A"][0], "standard")
    assert again.header.archive_id == a.header.archive_id and again.strands == a.strands
    other = encode_archive(pool["A"][0], "standard", redundancy=0.3)
    assert other.header.archive_id != a.header.archive_id  # other strands, other ID
    fixed = encode_archive(b"hello" * 100, "rl3", archive_id="0000abcd")
    assert fixed.header.archive_id == 0xABCD
    assert find_header(fixed.strands).header.archive_id == 0xABCD
    with pytest.raises(HelixError, match="8 hex digits"):
        parse_id("xyz")


def test_id_costs_no_net_density(pool):
    """The ID keys the data strands' check and whitening (no bits) and sits in the header
    strands beside the tag: at the default geometry the header still needs as many parts
    (strands) as a header without an ID, so net density is unchanged; everywhere the cost is
    bounded by one header part, far under 0.5% of net density for a 1 MB archive."""
    a_data, a = pool["A"]
    layout = StrandLayout(a.cs, 200)
    id_parts = math.ceil(len(a.header.pack()) / layout.header_chunk_of(a.header.archive_id))
    old_parts = math.ceil(BASE.size / layout.header_chunk)
    assert a.stats.header_strands == 8 * id_parts == 8 * old_parts
    old_strands = a.stats.strands - 8 * id_parts + 8 * old_parts
    old_density = 8 * len(a_data) / (old_strands * layout.coded_nt)
    assert a.stats.net_density >= old_density * (1 - 1e-12)
    for name in coded_names():
        for length in (200, 260):  # the default length: no extra strand; elsewhere at most 8
            lay = StrandLayout(CONSTRAINT_SETS[name](), length)
            extra = 8 * (math.ceil(48 / lay.header_chunk_of(0))
                         - math.ceil(44 / lay.header_chunk))
            data_strands_1mb = math.ceil(1_000_000 / ((lay.bits - 15 - 16) // 8))
            assert extra == 0 if length == 200 else extra <= 8, (name, length)
            assert extra / data_strands_1mb <= 0.005, (name, length)


def test_data_strands_of_one_archive_fail_the_other_ones_check(pool):
    a, b = pool["A"][1], pool["B"][1]
    lay = StrandLayout(a.cs, 200)
    bits, ok = lay.read_bits(b.strands[b.stats.header_strands:])
    _, _, valid = lay.parse_data_bits(bits, a.header.index_bits, a.header.symbol_size,
                                      a.header.archive_id)
    assert ok.all() and valid.sum() <= 1  # 16+ check bits: a chance pass is about 1 in 65536


# ------------------------------------------------------------------ the library

def test_list_archives_finds_both(pool):
    infos = {i.archive_id: i for i in list_archives(pool["strands"])}
    ids = _ids(pool)
    assert sorted(infos) == sorted(ids.values())
    for key, size in (("A", 20_000), ("B", 50_000)):
        info = infos[ids[key]]
        stats = pool[key][1].stats
        assert (info.file_size, info.constraints, info.version) == (size, "standard", 3)
        assert info.header_strands == stats.header_strands
        assert info.data_strands == info.data_written == stats.data_strands + stats.parity_strands


def test_mixed_pool_is_refused_without_an_id_and_decodes_with_one(pool):
    with pytest.raises(MixedPool) as err:
        decode_archive(pool["strands"])
    for archive_id in _ids(pool).values():
        assert archive_id in str(err.value)
    for key, archive_id in _ids(pool).items():
        data, report = decode_archive(pool["strands"], archive_id=archive_id)
        assert data == pool[key][0] and report.ok
    with pytest.raises(HelixError, match="not in this pool"):
        decode_archive(pool["strands"], archive_id="12345678")


def test_check_reports_per_archive(pool):
    summary = check_archive(pool["strands"])
    per = {x["archive_id"]: x for x in summary["archives"]}
    ids = _ids(pool)
    assert sorted(per) == sorted(ids.values()) and summary["violations"] == 0
    for key in "AB":
        stats = pool[key][1].stats
        assert per[ids[key]]["strands"] == stats.strands
        assert per[ids[key]]["file_bytes"] == len(pool[key][0])
        assert per[ids[key]]["net_density"] == round(stats.net_density, 4)


def test_archives_of_different_sets_in_one_pool():
    a_data, c_data = random.Random(5).randbytes(3000), random.Random(6).randbytes(4000)
    a, c = encode_archive(a_data, "standard"), encode_archive(c_data, "rl3")
    strands = a.strands + c.strands
    infos = {i.archive_id: i for i in list_archives(strands, "standard")}  # a name hint
    assert {infos[format_id(x.header.archive_id)].constraints for x in (a, c)} == {
        "standard", "rl3"}
    with pytest.raises(MixedPool):
        decode_archive(strands, constraints="standard")
    assert decode_archive(strands, archive_id=format_id(c.header.archive_id))[0] == c_data


def test_old_archive_without_id_in_a_pool(pool):
    old = [s for _, s in read_sequences(FIXTURES / "bytes_standard.fasta")]
    infos = {i.archive_id: i for i in list_archives(old)}
    assert list(infos) == ["none"] and infos["none"].version == 1
    mixed = old + pool["A"][1].strands
    assert sorted(i.archive_id for i in list_archives(mixed)) == sorted(
        ["none", _ids(pool)["A"]])
    back, _ = decode_archive(mixed, archive_id="none")
    assert back == (FIXTURES / "bytes.bin").read_bytes()
    assert decode_archive(mixed, archive_id=_ids(pool)["A"])[0] == pool["A"][0]


def test_reads_of_a_mixed_pool(pool, pool_reads):
    loaded = load_strands(pool_reads)
    ids = _ids(pool)
    assert sorted(i.archive_id for i in list_archives(loaded.strands)) == sorted(ids.values())
    with pytest.raises(MixedPool):
        decode_archive(loaded.strands, loaded.support, variants=loaded.variants)
    for key, archive_id in ids.items():
        data, _ = decode_archive(loaded.strands, loaded.support, variants=loaded.variants,
                                 archive_id=archive_id)
        assert data == pool[key][0]


# ------------------------------------------------------------------ the CLI

def test_cli_ls_lists_both(pool, pool_fasta, capsys):
    assert helix(["dna", "ls", str(pool_fasta), "-q"]) == 0
    out = capsys.readouterr().out.splitlines()
    ids = _ids(pool)
    assert out[0].split()[:3] == ["ID", "BYTES", "CONSTRAINTS"] and len(out) == 3
    rows = {line.split()[0]: line.split() for line in out[1:]}
    assert rows[ids["A"]][1:4] == ["20000", "standard", "3"]
    assert rows[ids["B"]][1:4] == ["50000", "standard", "3"]
    assert helix(["dna", "ls", str(pool_fasta), "--json"]) == 0
    listed = {x["archive_id"]: x for x in json.loads(capsys.readouterr().out)}
    assert listed[ids["B"]]["file_size"] == 50_000 and listed[ids["A"]]["data_strands"] > 0


def test_cli_decode_needs_archive_or_all(pool, pool_fasta, tmp_path, capsys):
    out = tmp_path / "out.bin"
    assert helix(["dna", "decode", str(pool_fasta), "-o", str(out), "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and all(i in err[0] for i in _ids(pool).values())
    assert "--archive" in err[0] and not out.exists()
    assert list(tmp_path.iterdir()) == []
    for key, archive_id in _ids(pool).items():
        assert helix(["dna", "decode", str(pool_fasta), "-o", str(out), "-q",
                      "--archive", archive_id]) == 0
        assert out.read_bytes() == pool[key][0]


def test_cli_decode_all_into_a_directory(pool, pool_fasta, tmp_path):
    folder = tmp_path / "every"
    folder.mkdir()
    assert helix(["dna", "decode", str(pool_fasta), "-o", str(folder), "-q", "--all"]) == 0
    ids = _ids(pool)
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{i}.bin" for i in ids.values())
    for key in "AB":
        assert (folder / f"{ids[key]}.bin").read_bytes() == pool[key][0]
    again = tmp_path / "dir-only"
    again.mkdir()  # -o an existing directory: every archive, without --all
    assert helix(["dna", "decode", str(pool_fasta), "-o", str(again), "-q"]) == 0
    assert len(list(again.iterdir())) == 2


def test_cli_reads_of_a_mixed_pool(pool, pool_reads, tmp_path, capsys):
    out = tmp_path / "a.bin"
    assert helix(["dna", "decode", str(pool_reads), "-o", str(out), "-q"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1 and not out.exists()
    ids = _ids(pool)
    assert helix(["dna", "decode", str(pool_reads), "-o", str(out), "-q",
                  "--archive", ids["A"]]) == 0
    assert out.read_bytes() == pool["A"][0]
    folder = tmp_path / "all"
    folder.mkdir()
    assert helix(["dna", "decode", str(pool_reads), "-o", str(folder), "-q", "--all"]) == 0
    assert (folder / f"{ids['B']}.bin").read_bytes() == pool["B"][0]


def test_cli_single_archive_pool_needs_no_flag(pool, tmp_path):
    single = tmp_path / "a.fasta"
    write_fasta(single, pool["A"][1].fasta_records())
    out = tmp_path / "a.bin"
    assert helix(["dna", "decode", str(single), "-o", str(out), "-q"]) == 0
    assert out.read_bytes() == pool["A"][0]
    old = tmp_path / "old.bin"  # an archive written before IDs
    assert helix(["dna", "decode", str(FIXTURES / "bytes_standard.fasta"), "-o", str(old),
                  "-q"]) == 0
    assert old.read_bytes() == (FIXTURES / "bytes.bin").read_bytes()


def test_cli_encode_archive_id(tmp_path, capsys):
    src = tmp_path / "in.bin"
    src.write_bytes(b"pool member" * 50)
    fa = tmp_path / "a.fasta"
    assert helix(["dna", "encode", str(src), "-o", str(fa), "-q", "--archive-id",
                  "c0ffee00", "--json"]) == 0
    capsys.readouterr()
    assert helix(["dna", "ls", str(fa), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["archive_id"] == "c0ffee00"
    assert helix(["dna", "encode", str(src), "-o", str(fa), "-q", "--archive-id", "nope"]) == 2


def test_cli_video_decode_of_a_mixed_pool_needs_archive(tmp_path, capsys):
    from helix_lightning.model.checkpoint import DEFAULT_CHECKPOINT
    from helix_lightning.video.io import read_video

    if not DEFAULT_CHECKPOINT.is_file():
        pytest.skip("no default model")
    sys.path.insert(0, str(FIXTURES))
    from make_fixtures import frames_sha256

    golden = json.loads((FIXTURES / "golden_v4.json").read_text())["video"]
    mid = [s for _, s in read_sequences(FIXTURES / "video_mid_v4.fasta")]
    low = [s for _, s in read_sequences(FIXTURES / "video_low_v4.fasta")]
    pool = tmp_path / "videos.fasta"
    write_fasta(pool, [(f"helix:v1:standard:{i:07d}", s) for i, s in enumerate(mid + low)])
    out = tmp_path / "clip.mkv"
    assert helix(["decode", str(pool), "-o", str(out), "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    low_id = format_id(find_header(low).header.archive_id)
    assert len(err) == 1 and low_id in err[0] and not out.exists()
    assert helix(["decode", str(pool), "-o", str(out), "-q", "--archive", low_id]) == 0
    assert frames_sha256(read_video(out)) == golden["video_low"]["frames_sha256"]
