"""Forged and hostile inputs (issue 13): every one fails with one HelixError line, within a
second and without a large allocation; impossible settings are refused with their bound."""

from __future__ import annotations

import math

import numpy as np
import optuna
import pytest
from forgery import (FIXTURES, forge_archive, forge_container, measure, strands_of,
                     video_container)
from optuna.trial import create_trial

from helix_lightning.cli import main as helix
from helix_lightning.dna.archive import decode_archive, encode_archive
from helix_lightning.dna.channel import ChannelParams, simulate_reads
from helix_lightning.dna.constraints import ConstraintSet
from helix_lightning.dna.fasta import write_fasta
from helix_lightning.errors import HelixError
from helix_lightning.model import container
from helix_lightning.model.checkpoint import DEFAULT_CHECKPOINT, load_codec

SECONDS = 1.0  # the bound for a forged header (the checks themselves take microseconds)
MEGABYTES = 300


def assert_refused(call, match: str = "") -> HelixError:
    """`call` raises one HelixError line (matching `match`) within SECONDS and MEGABYTES."""
    error, seconds, grown = measure(call)
    assert isinstance(error, HelixError), f"expected HelixError, got {error!r}"
    assert "\n" not in str(error)
    assert match in str(error), str(error)
    assert seconds < SECONDS, f"took {seconds:.2f} s"
    assert grown < MEGABYTES, f"peak memory grew {grown:.0f} MB"
    return error


# ------------------------------------------------------------------ video containers

FORGED_CONTAINERS = {
    "grid 4000x4000": (dict(h=4000, w=4000, hp=4000, wp=4000), "cannot hold"),
    "T = 100000": (dict(frames=100_000), "need 25000"),
    "T = 100000, one stream": (dict(frames=100_000, group=100_000), "cannot hold 100000 frames"),
    "T = 2^32-1 of 65535x65535": (dict(frames=2**32 - 1, height=65535, width=65535,
                                       group=2**32 - 1), "corrupt"),
    "T = 10^7": (dict(frames=10**7, group=10**7), "GiB decoded"),
    "stages = 255": (dict(stages=255), "255 coding stages"),
    "stages = 0": (dict(stages=0), "0 coding stages"),
    "coded size 0x0": (dict(coded_height=0, coded_width=0), "coded size 0x0"),
    "group = 0": (dict(group=0), "0 frames per stream"),
    "drop = nan": (dict(drop=math.nan), "drop share"),
    "drop = 1": (dict(drop=1.0), "drop share"),
    "2^32-1 streams": (dict(n_streams=2**32 - 1), "streams"),
    "height 0": (dict(height=0), "corrupt"),
    "output 16x over coded": (dict(height=65535), "larger per side"),
    "direct with streams": (dict(coder=1), "direct container has streams"),
}


@pytest.mark.parametrize("case", sorted(FORGED_CONTAINERS))
def test_forged_container_is_refused_before_decoding(case):
    fields, match = FORGED_CONTAINERS[case]
    forged = forge_container(video_container(), **fields)
    assert_refused(lambda: container.from_bytes(forged), match)


@pytest.fixture(scope="module")
def codec():
    if not DEFAULT_CHECKPOINT.is_file():
        pytest.skip("no default model")
    return load_codec()


MODEL_FIT = {
    "grid not from the coded size": dict(coded_height=200, coded_width=200),
    "padded grid not whole blocks": dict(wp=13),
    "grid over the model's tokens": dict(coded_height=1024, coded_width=1024, h=128, w=128,
                                         hp=128, wp=128),
}


@pytest.mark.parametrize("case", sorted(MODEL_FIT))
def test_container_the_model_would_not_write_is_refused(codec, case):
    forged = forge_container(video_container(), **MODEL_FIT[case])
    assert_refused(lambda: codec.decode_bytes(forged), "video container's")


def test_every_forged_container_fails_through_the_codec(codec):
    for fields, match in FORGED_CONTAINERS.values():
        assert_refused(lambda: codec.decode_bytes(forge_container(video_container(), **fields)),
                       match)


def test_corrupt_stream_is_one_line(codec):
    data = video_container()
    size = container.header_size(data)
    # keep the length prefix, replace the stream's words by 0xFF: the range decoder fails
    forged = data[:size + 4] + b"\xff" * (len(data) - size - 4)
    error, _, _ = measure(lambda: codec.decode_bytes(forged))
    assert error is None or isinstance(error, HelixError)


def test_forged_grid_through_the_cli_is_one_line(tmp_path, capsys):
    forged = forge_container(video_container(), h=4000, w=4000, hp=4000, wp=4000)
    fasta = tmp_path / "forged.fasta"
    write_fasta(fasta, encode_archive(forged, "standard").fasta_records())
    out = tmp_path / "out.mkv"
    assert helix(["decode", str(fasta), "-o", str(out), "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: video container is corrupt")
    assert not out.exists()


def test_encoder_refuses_a_shape_it_could_not_read_back():
    shape = container.CodedShape(4, 64, 80, 8, 10, 8, 12, 0, 0.0, 4, 64, 80)
    with pytest.raises(HelixError, match="coding stages"):
        container.pack_header(shape, "00" * 8, 5, 4, "fsm", 24, 1)


# ------------------------------------------------------------------ archive headers

FORGED_HEADERS = {
    "repair = 2^31": (dict(repair_full=2**31, repair_last=2**31), "repair symbols"),
    "segment of 0 symbols": (dict(segment_symbols=0), "segments of 0"),
    "segment over RaptorQ's block": (dict(segment_symbols=2**32 - 1), "segments of"),
    "symbol size 0": (dict(symbol_size=0), "0-byte symbols"),
    "symbol size 255": (dict(symbol_size=255), "255-byte symbols"),
    "index of 200 bits": (dict(index_bits=200), "index of 200 bits"),
    "file size 2^63": (dict(file_size=2**63), "8-bit index"),
    "file size 2^64-1": (dict(file_size=2**64 - 1), "index"),
    "index too wide": (dict(index_bits=12, symbol_size=34), "12-bit index"),
    "primer lengths": (dict(prefix_len=3), "geometry"),
}


@pytest.mark.parametrize("case", sorted(FORGED_HEADERS))
def test_forged_archive_header_is_refused(case):
    fields, match = FORGED_HEADERS[case]
    strands = forge_archive(strands_of("bytes_standard.fasta"), **fields)
    decode_archive(strands_of("bytes_standard.fasta"))  # warm the coder: time only the check
    assert_refused(lambda: decode_archive(strands), match)


def test_largest_legitimate_repair_still_decodes():
    data = bytes(range(256)) * 2
    arch = encode_archive(data, "standard", redundancy=10)
    assert decode_archive(arch.strands)[0] == data
    arch = encode_archive(data, "standard", erasure_rate=0.89)
    assert decode_archive(arch.strands)[0] == data


# ------------------------------------------------------------------ settings with a bound

@pytest.mark.parametrize("length,match", [(400, "at most 64 bytes"), (340, "about 3"),
                                          (100_000, "over the 1000 nt")])
def test_strand_length_is_bounded(length, match):
    with pytest.raises(HelixError, match=match):  # after the coder is built: seconds
        encode_archive(b"x" * 3000, "standard", strand_len=length)


def test_strand_length_through_the_cli(tmp_path, capsys):
    src = FIXTURES / "bytes.bin"
    for length in ("400", "100000"):
        assert helix(["dna", "encode", str(src), "-o", str(tmp_path / "a.fasta"), "-q",
                      "--strand-length", length]) == 2
        assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert not (tmp_path / "a.fasta").exists()


def test_coverage_is_bounded():
    with pytest.raises(HelixError, match=r"coverage must be in \(0, 10000\]"):
        ChannelParams(coverage=1e9).validate()
    with pytest.raises(HelixError, match="reads"):
        simulate_reads(["ACGT" * 50] * 20_000, ChannelParams(coverage=9000))


def test_truncated_cache_files_are_rebuilt(tmp_path, monkeypatch):
    from helix_lightning.dna import capacity
    from helix_lightning.dna.graph import build_graph

    monkeypatch.setenv("HELIX_CACHE", str(tmp_path))
    graph = build_graph(ConstraintSet("tiny-cache-test", 3, None, 0.0, 1.0, ()))
    first = capacity.stationary(graph)
    cached = sorted(tmp_path.glob("stationary-*.npz"))
    assert len(cached) == 1
    for broken in (cached[0].read_bytes()[:30], b"", b"PK\x03\x04 not a zip"):
        cached[0].write_bytes(broken)  # a run killed mid-write, a full disk, garbage
        again = capacity.stationary(graph)
        assert np.array_equal(again.v, first.v) and again.lam == first.lam
        assert cached[0].stat().st_size > 100  # rewritten whole
    assert capacity.load_cached(tmp_path / "missing.npz", np.load) is None


@pytest.mark.slow  # rebuilds the standard set's tables: ~25 s
def test_truncated_cache_of_a_real_coder_is_rebuilt(tmp_path, monkeypatch):
    """The standard set's coder, with every cache file it wrote truncated."""
    from helix_lightning.dna import capacity, fsm_coder, graph

    standard = encode_archive(b"cache me" * 40, "standard").strands
    monkeypatch.setenv("HELIX_CACHE", str(tmp_path))
    for path in capacity.cache_dir().iterdir():
        path.unlink()
    for name in ("stationary", "bulk", "weights", "graph"):
        for src in _default_cache().glob(f"{name}-*"):
            (tmp_path / src.name).write_bytes(src.read_bytes()[:64])
    fsm_coder._CODERS.clear()
    graph.build_graph.cache_clear()
    capacity._capacity_of.cache_clear()
    assert encode_archive(b"cache me" * 40, "standard").strands == standard


def _default_cache():
    import os
    from pathlib import Path

    root = os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache"))
    return Path(root) / "helix_lightning"


# ------------------------------------------------------------------ reports stay in --out

def test_report_with_a_study_named_dotdot_stays_in_out(tmp_path):
    from helix_lightning.report.markdown import dir_name, report_dir
    from test_report import DIST, MODES, trial_data

    url = f"sqlite:///{tmp_path / 's.db'}"
    for name in ("..", "."):
        study = optuna.create_study(study_name=name, storage=url,
                                    directions=["maximize", "minimize"])
        params, values, attrs = trial_data(0, MODES[0], 4, "standard", 0.1, 0, None)
        study.add_trial(create_trial(params=params, distributions=DIST, values=values,
                                     user_attrs=attrs))
    out = tmp_path / "nest" / "out"
    out.mkdir(parents=True)
    assert helix(["report", "--storage", url, "--out", str(out), "-q"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nest", "s.db"]
    assert sorted(p.name for p in (tmp_path / "nest").iterdir()) == ["out"]
    assert (out / "__" / "report.md").is_file() and (out / "_" / "report.md").is_file()
    assert dir_name("..") == "__" and dir_name("../x") == ".._x"
    (out / "elsewhere").symlink_to(tmp_path)
    with pytest.raises(HelixError, match="outside"):
        report_dir(out, "elsewhere")
    assert np.all([p.parent == out for p in out.iterdir()])
