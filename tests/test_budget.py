"""`helix encode --nt-budget N` and `budget.encode_within_budget`: the best rate point of the
model's ladder whose strands fit N nt (primers included); none fits: one line naming the
smallest budget possible. On the golden clip with the committed default model (high, mid,
low)."""

from __future__ import annotations

from pathlib import Path

import pytest

from helix_lightning.cli import main as helix
from helix_lightning.dna.fasta import read_sequences
from helix_lightning.errors import HelixError
from helix_lightning.model.budget import encode_within_budget
from helix_lightning.model.checkpoint import DEFAULT_CHECKPOINT, load_codec
from helix_lightning.video.io import read_video

FIXTURES = Path(__file__).resolve().parent / "fixtures"
pytestmark = pytest.mark.skipif(not DEFAULT_CHECKPOINT.is_file(), reason="no default model")


@pytest.fixture(scope="module")
def codec():
    return load_codec()


@pytest.fixture(scope="module")
def clip():
    return read_video(FIXTURES / "clip.mkv")


@pytest.fixture(scope="module")
def point_nt(codec, clip):
    """nt (primers included) of each rate point of the default model on the clip."""
    out = {}
    for rate in ("high", "mid", "low"):
        _, stats = codec.encode_video(clip, rate=rate, fps=25)
        out[rate] = stats.nt_with_primers
    assert out["high"] > out["mid"] > out["low"]
    return out


def test_a_budget_picks_the_best_point_that_fits(codec, clip, point_nt):
    cases = [(point_nt["high"], "high"), (point_nt["high"] - 1, "mid"),
             (point_nt["mid"], "mid"), ((point_nt["mid"] + point_nt["low"]) // 2, "low"),
             (point_nt["low"], "low"), (10**9, "high")]
    for budget, rate in cases:
        strands, stats = encode_within_budget(codec, clip, budget, fps=25)
        assert stats.rate == rate, budget
        assert stats.nt_with_primers == point_nt[rate] <= budget
        assert sum(len(s) for s in strands) == stats.nt_with_primers


def test_no_point_fits_names_the_smallest_budget(codec, clip, point_nt):
    low = point_nt["low"]
    with pytest.raises(HelixError, match=f"no rate point fits {low - 1} nt: the smallest "
                       f"budget possible is {low} nt \\(rate point 'low'"):
        encode_within_budget(codec, clip, low - 1, fps=25)
    for bad in (0, -5, 2.5):
        with pytest.raises(HelixError, match="positive whole number"):
            encode_within_budget(codec, clip, bad)
    with pytest.raises(HelixError, match="give no rate"):
        encode_within_budget(codec, clip, 10**9, rate="mid")


def test_cli_nt_budget(tmp_path, point_nt, capsys):
    out = tmp_path / "clip.fasta"
    budget = point_nt["high"] - 1
    assert helix(["encode", str(FIXTURES / "clip.mkv"), "-o", str(out), "-q",
                  "--nt-budget", str(budget)]) == 0
    assert "mid (scale 1, drop 0," in capsys.readouterr().out
    nt = sum(len(s) for _, s in read_sequences(out))
    assert nt == point_nt["mid"] <= budget
    # the same bytes as --rate mid: a budget only picks the point
    same = tmp_path / "mid.fasta"
    assert helix(["encode", str(FIXTURES / "clip.mkv"), "-o", str(same), "-q",
                  "--rate", "mid"]) == 0
    assert same.read_bytes() == out.read_bytes()
    capsys.readouterr()
    small = point_nt["low"] - 1
    assert helix(["encode", str(FIXTURES / "clip.mkv"), "-o", str(tmp_path / "x.fasta"),
                  "-q", "--nt-budget", str(small)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"smallest budget possible is {point_nt['low']} nt" in err[0]
    assert not (tmp_path / "x.fasta").exists()
    assert helix(["encode", str(FIXTURES / "clip.mkv"), "-o", str(tmp_path / "y.fasta"),
                  "-q", "--nt-budget", "100", "--rate", "low"]) == 2
    assert "not both" in capsys.readouterr().err
