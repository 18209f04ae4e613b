"""Stats travel as typed records whose `to_dict()` keeps today's keys, order and values (the
CLI's --json, Optuna attributes and results.csv read them), and every rate quantity has one
definition (`dna/density.py`)."""

import json
import math

import numpy as np
import pytest

from helix_lightning.dna.archive import ArchiveStats, encode_archive
from helix_lightning.dna.density import bits_per_px, coding_density, net_density, nt_per_px
from helix_lightning.errors import HelixError
from helix_lightning.model.pipeline import VideoStats

from test_codec import clip, tiny_codec

ARCHIVE_KEYS = [
    "constraints", "bytes", "strands", "header_strands", "data_strands", "parity_strands",
    "redundancy", "nt", "nt_with_primers", "bits_per_strand", "index_bits", "symbol_bytes",
    "coding_density", "net_density", "net_density_with_primers", "erasure_rate_assumed",
    "failure_probability"]
VIDEO_KEYS = [
    "coder", "constraints", "model_hash", "frames", "height", "width", "rate", "scale",
    "coded_height", "coded_width", "stages", "drop", "tokens_stored", "estimated_bits",
    "table_bits", "actual_bits", "direct_violations", "container_bytes", "coding_density",
    "redundancy", "archive", "strands", "nt", "nt_with_primers", "nt_per_px",
    "nt_per_px_with_primers", "bits_per_px", "payload_bits_per_px", "source_bits",
    "net_density", "net_density_with_primers", "violations"]


def test_archive_stats_keys_and_values(rng_bytes):
    data = rng_bytes(4000, seed=3)
    archive = encode_archive(data, "fountain")
    s = archive.stats
    assert isinstance(s, ArchiveStats)
    d = s.to_dict()
    assert list(d) == ARCHIVE_KEYS
    assert d["bytes"] == len(data) and d["strands"] == len(archive.strands)
    assert d["nt"] == (s.strands) * 160 and d["nt_with_primers"] == s.strands * 200
    assert d["net_density"] == 8 * len(data) / s.nt  # the definition, bit for bit
    assert d["net_density_with_primers"] == 8 * len(data) / s.nt_with_primers
    assert d["coding_density"] == s.bits_per_strand / 160
    assert json.loads(json.dumps(d)) == d
    assert encode_archive(data, "fountain", redundancy=0.5).stats.erasure_rate_assumed is None


@pytest.mark.parametrize("coder", ["fsm", "direct"])
def test_video_stats_keys_and_values(coder):
    codec, frames = tiny_codec(), clip()
    strands, s = codec.encode_video(frames, "standard", coder=coder, stages=2)
    assert isinstance(s, VideoStats)
    d = s.to_dict()
    expected = VIDEO_KEYS if coder == "fsm" else [k for k in VIDEO_KEYS if k != "archive"]
    assert list(d) == expected
    if coder == "fsm":
        assert d["archive"] == s.archive.to_dict() and d["nt"] == s.archive.nt
    px = 3 * 24 * 40
    assert (s.frames, s.height, s.width) == (3, 24, 40) and s.strands == len(strands)
    assert s.nt_per_px == s.nt / px and s.bits_per_px == s.source_bits / px
    assert s.payload_bits_per_px == s.actual_bits / px
    assert s.net_density == s.source_bits / s.nt
    assert s.net_density_with_primers == s.source_bits / s.nt_with_primers
    assert s.nt_with_primers == sum(map(len, strands))


def test_density_definitions_and_empty():
    assert bits_per_px(4800, 3, 40, 40) == 1.0 and nt_per_px(2400, 3, 40, 40) == 0.5
    assert coding_density(190, 100) == 1.9 and net_density(150, 100) == 1.5
    assert net_density(8, 0, empty=0.0) == 0.0 and math.isnan(net_density(8, 0, empty=math.nan))
    with pytest.raises(HelixError, match="nt must be > 0"):
        net_density(8, 0)
    with pytest.raises(HelixError):
        nt_per_px(1, 0, 4, 4)
    # exactly the inline ratios they replace
    rng = np.random.default_rng(0)
    for bits, nt in rng.integers(1, 10**9, (50, 2)).tolist():
        assert net_density(bits, nt) == bits / nt


def test_metrics_reexports_the_one_definition():
    from helix_lightning import metrics
    from helix_lightning.dna import density

    for name in ("bits_per_px", "nt_per_px", "coding_density", "net_density"):
        assert getattr(metrics, name) is getattr(density, name)
