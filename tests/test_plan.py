"""Channel profiles, the strand-erasure model and `helix dna plan`, and `helix dna encode`
planning when given a channel (issue 14, point 3)."""

import json
from dataclasses import replace

import numpy as np
import pytest
from scipy.stats import nbinom

from helix_lightning.cli import main
from helix_lightning.dna.archive import encode_archive
from helix_lightning.dna.channel import ChannelParams, reads_per_strand, simulate_reads
from helix_lightning.dna.constraints import get_constraints
from helix_lightning.dna.erasure_model import non_increasing, predict_erasure
from helix_lightning.dna.plan import plan_archive, segment_failure
from helix_lightning.dna.profiles import channel_params, get_profile, profile_names
from helix_lightning.dna.reads import recover_reads
from helix_lightning.dna.strands import StrandLayout
from helix_lightning.dna.verifier import data_verifier
from helix_lightning.errors import HelixError

PLAN_KEYS = {"channel", "strand_erasure", "erasure_no_reads", "erasure_recovery", "redundancy",
             "data_strands", "parity_strands", "header_strands", "strands", "nt",
             "nt_with_primers", "net_density", "cost_usd", "price_per_nt", "failure_probability",
             "failure_target", "segments", "strand_length", "symbol_bytes", "index_bits"}


def test_profiles_reference_is_the_default_channel_and_long_read_is_13_31_6():
    assert profile_names()[:3] == ["reference", "short-read", "long-read"]
    assert get_profile("reference").params == ChannelParams()
    long = get_profile("long-read").params
    assert (long.sub, long.dele, long.ins) == pytest.approx((0.06 * 13 / 50, 0.06 * 31 / 50,
                                                            0.06 * 6 / 50))
    short = get_profile("short-read").params
    assert short.sub > 2 * (short.ins + short.dele)  # substitution-dominated
    assert all(get_profile(n).description for n in profile_names())
    params = channel_params("short-read", {"coverage": 4, "sub": None})
    assert params.coverage == 4 and params.sub == short.sub
    with pytest.raises(HelixError, match="unknown channel"):
        channel_params("pacbio")
    with pytest.raises(HelixError, match="sub"):
        channel_params(None, {"sub": 1.5})


def test_reads_per_strand_gives_each_strand_its_count():
    strands = ["ACGT" * 30, "TTGCA" * 24, "GATC" * 30]
    clean = replace(ChannelParams(), sub=0, ins=0, dele=0, reverse_fraction=0)
    reads = reads_per_strand(strands, [3, 0, 2], clean, seed=4)
    assert sorted(reads) == sorted([strands[0]] * 3 + [strands[2]] * 2)
    assert reads_per_strand(strands, [1, 1, 1], clean, 4) == reads_per_strand(strands, [1, 1, 1],
                                                                                clean, 4)
    with pytest.raises(HelixError):
        reads_per_strand(strands, [1, 2], clean, 4)


def test_non_increasing_pools_adjacent_violators():
    assert non_increasing([0.9, 0.5, 0.6, 0.1, 0.0], [1, 1, 1, 1, 1]) == pytest.approx(
        [0.9, 0.55, 0.55, 0.1, 0.0])
    assert non_increasing([0.2, 0.4], [3, 1]) == pytest.approx([0.25, 0.25])
    assert non_increasing([0.5, 0.3], [1, 1]) == [0.5, 0.3]


def test_erasure_model_parts_add_up_and_follow_coverage():
    cs = get_constraints("standard")
    base = ChannelParams()
    pred = predict_erasure(base, cs, 200)
    r = base.dispersion
    zero = nbinom.pmf(0, r, r / (r + base.coverage))
    assert pred.no_reads == pytest.approx(base.dropout + (1 - base.dropout) * zero)
    assert pred.strand_erasure == pytest.approx(pred.no_reads + pred.recovery)
    fail = pred.fail_by_reads
    assert fail[0] == 1.0 and all(a >= b for a, b in zip(fail, fail[1:]))
    assert fail[1] > 0.5 and fail[-1] < 0.05  # one noisy read rarely, many reads nearly always
    rates = [predict_erasure(replace(base, coverage=c), cs, 200).strand_erasure
             for c in (3, 5, 10, 20)]
    assert rates == sorted(rates, reverse=True)
    assert predict_erasure(base, cs, 200) == pred  # deterministic (and cached)


def test_plan_lower_coverage_needs_more_redundancy_and_meets_its_target():
    plans = [plan_archive(20_000, channel_params(None, {"coverage": c}), "standard")
             for c in (4, 6, 10, 30)]
    redundancy = [p.to_dict()["redundancy"] for p in plans]
    assert redundancy == sorted(redundancy, reverse=True) and redundancy[0] > redundancy[-1]
    for plan in plans:
        assert plan.failure_probability <= plan.failure_target == 1e-6
        d = plan.to_dict()
        assert d["strands"] == d["data_strands"] + d["parity_strands"] + d["header_strands"]
        assert d["cost_usd"] == pytest.approx(d["nt_with_primers"] * 1e-4)
    # a tighter target costs more strands
    strict = plan_archive(20_000, channel_params(), failure_target=1e-12)
    assert strict.failure_probability <= 1e-12
    assert strict.to_dict()["parity_strands"] > plans[2].to_dict()["parity_strands"]


def test_segment_failure_is_binomial_tail_plus_raptorq_residual():
    assert segment_failure(100, 0, 0.0) == pytest.approx(1e-2)  # all K arrive: RaptorQ's 1%
    assert segment_failure(100, 2, 0.0) == pytest.approx(1e-6)
    assert segment_failure(100, 10, 0.5) > 0.99
    assert segment_failure(100, 60, 0.1) < segment_failure(100, 30, 0.1)


def test_plan_refuses_bad_input():
    params = channel_params()
    for size in (0, -5, 1.5, True):
        with pytest.raises(HelixError, match="size"):
            plan_archive(size, params)
    for target in (0.0, 1.0, -1e-3):
        with pytest.raises(HelixError, match="target"):
            plan_archive(1000, params, failure_target=target)
    with pytest.raises(HelixError, match="failure target"):
        encode_archive(b"abc", failure_target=0.0)
    with pytest.raises(HelixError, match="price"):
        plan_archive(1000, params, price_per_nt=-1.0)
    with pytest.raises(HelixError, match="predicted lost"):  # no reads at all, nearly
        plan_archive(1000, channel_params(None, {"dropout": 0.95}))


def test_cli_plan_json_and_text(capsys):
    assert main(["dna", "plan", "--size", "20k", "--coverage", "5", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert PLAN_KEYS <= set(d) and d["bytes"] == 20_000 and d["coverage"] == 5.0
    assert d["failure_probability"] <= d["failure_target"]
    assert main(["dna", "plan", "--size", "20000", "--channel", "short-read",
                 "--price-per-nt", "0.0002"]) == 0
    text = capsys.readouterr().out
    assert "short-read" in text and "strand erasure" in text and "USD at 0.0002" in text
    for bad in (["--size", "lots"], ["--size", "0"], ["--size", "1k", "--channel", "nope"],
                ["--size", "1k", "--sub", "2"], ["--size", "1k", "--failure-target", "0"]):
        assert main(["dna", "plan", *bad]) == 2
        assert capsys.readouterr().err.startswith("error: ")


def test_encode_with_a_channel_writes_the_plan(tmp_path, rng_bytes, capsys):
    data = rng_bytes(20_000, seed=3)
    src = tmp_path / "in.bin"
    src.write_bytes(data)
    assert main(["dna", "plan", "--size", "20000", "--coverage", "5", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    out = tmp_path / "a.fasta"
    assert main(["dna", "encode", str(src), "-o", str(out), "--coverage", "5", "--json"]) == 0
    captured = capsys.readouterr()
    stats = json.loads(captured.out)
    assert captured.err.count("plan: channel reference*") == 1
    assert stats["strands"] == plan["strands"] and stats["parity_strands"] == plan["parity_strands"]
    assert stats["erasure_rate_assumed"] == pytest.approx(plan["strand_erasure"])
    # without channel flags: exactly the default encode
    plain = tmp_path / "b.fasta"
    assert main(["dna", "encode", str(src), "-o", str(plain), "-q", "--json"]) == 0
    assert "plan:" not in capsys.readouterr().err
    default = encode_archive(data, "standard")
    assert [line for line in plain.read_text().splitlines() if not line.startswith(">")] \
        == default.strands
    assert main(["dna", "encode", str(src), "-o", str(tmp_path / "c.fasta"), "--coverage", "5",
                 "--redundancy", "0.2"]) == 2
    assert "leave out --redundancy" in capsys.readouterr().err


def test_simulate_takes_a_channel_profile(tmp_path, rng_bytes):
    fasta = tmp_path / "a.fasta"
    assert main(["dna", "encode", str(_write(tmp_path, rng_bytes(3000, seed=1))), "-o",
                 str(fasta), "-q"]) == 0
    plain, named = tmp_path / "r1.fastq", tmp_path / "r2.fastq"
    assert main(["dna", "simulate", str(fasta), "-o", str(plain), "-q"]) == 0
    assert main(["dna", "simulate", str(fasta), "-o", str(named), "--channel", "reference",
                 "-q"]) == 0
    assert plain.read_bytes() == named.read_bytes()  # reference = the old defaults
    assert main(["dna", "simulate", str(fasta), "-o", str(named), "--channel", "long-read",
                 "-q"]) == 0
    assert plain.read_bytes() != named.read_bytes()


def _write(tmp_path, data: bytes):
    path = tmp_path / "in.bin"
    path.write_bytes(data)
    return path


SLOW_SIZE = 100_000  # bytes: about 3,000 data strands per trial


@pytest.mark.slow
@pytest.mark.parametrize("channel,coverage", [("reference", 5.0), ("short-read", 4.0)])
def test_predicted_strand_erasure_matches_20_simulated_trials(channel, coverage):
    """The plan's strand-erasure rate within 1 point of the mean over 20 channel simulations
    (each: simulate reads of the archive, recover them as `helix dna decode` does, list
    decoding under the archive's check included, count the data strands missing from the
    candidates)."""
    data = np.random.default_rng(7).bytes(SLOW_SIZE)
    params = channel_params(channel, {"coverage": coverage})
    plan = plan_archive(SLOW_SIZE, params, "standard", channel=channel)
    archive = encode_archive(data, "standard", erasure_rate=plan.strand_erasure,
                             failure_target=plan.segment_target)
    data_strands = archive.strands[archive.stats.header_strands:]
    header = archive.header
    verify = data_verifier(StrandLayout(archive.cs), header.index_bits, header.symbol_size,
                           header.archive_id, len(data_strands))
    measured = []
    for seed in range(1, 21):
        reads = [seq for _, seq, _ in simulate_reads(archive.strands, replace(params, seed=seed))]
        found = set(recover_reads(reads, verify=verify).strands)
        measured.append(np.mean([s not in found for s in data_strands]))
    assert abs(plan.strand_erasure - float(np.mean(measured))) < 0.01
