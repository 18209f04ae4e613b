"""The codec as a user runs it: the committed default model on the real carphone clip.

A few full-size (176x144) frames of the held-out clip (`default_clips()["test"]`), coded with
`load_codec()`. Only thresholds and relations are checked, never the current model's numbers,
so a retrained default model passes the same tests.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from helix_lightning.cli import main
from helix_lightning.dna.channel import ChannelParams, simulate_reads
from helix_lightning.dna.consensus import recover_strands
from helix_lightning.dna.constraints import check_strands, get_constraints
from helix_lightning.dna.fasta import read_sequences
from helix_lightning.dna.primers import DEFAULT_PREFIX, DEFAULT_SUFFIX, reverse_complement
from helix_lightning.errors import HelixError
from helix_lightning.model.checkpoint import DEFAULT_CHECKPOINT, load_codec
from helix_lightning.model.rates import RATE_POINTS
from helix_lightning.video.io import default_clips, read_video

from test_codec import forward_on_tokens

FRAMES = 6  # full-size frames for most tests
RATE_SLACK = 0.03  # actual payload bits within 3% of the model's estimate

pytestmark = pytest.mark.skipif(not DEFAULT_CHECKPOINT.is_file(), reason="no default model")


@pytest.fixture(scope="module")
def codec():
    return load_codec()


@pytest.fixture(scope="module")
def clip_path():
    return default_clips()["test"][0]


@pytest.fixture(scope="module")
def clip(clip_path):
    frames = read_video(clip_path, frames=16)
    assert frames.shape == (16, 144, 176, 3)
    return frames


def max_abs_diff(a: np.ndarray, b: np.ndarray) -> int:
    assert a.shape == b.shape and a.dtype == b.dtype == np.uint8
    return int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())


@pytest.mark.parametrize("rate", ["high", "mid"])
def test_fsm_strands_decode_to_the_models_forward_pass(codec, clip, rate):
    frames = clip[:FRAMES]
    strands, stats = codec.encode_video(frames, rate=rate)
    comp = codec.compress(frames, rate=rate)
    shape = comp["shape"]
    assert (shape.frames, shape.height, shape.width) == (FRAMES, 144, 176)
    assert stats.rate == rate
    assert (stats.scale, stats.drop, stats.stages) == RATE_POINTS[rate]
    assert shape.coded_size == {"high": (192, 224), "mid": (160, 192)}[rate]
    assert (stats.coded_height, stats.coded_width) == shape.coded_size
    decoded = codec.decode_video(strands)
    assert decoded.shape == frames.shape
    # the codec's reconstruction of the stored tokens, and the model's forward pass on them
    assert max_abs_diff(decoded, codec.reconstruct(comp["digits"], (shape.h, shape.w),
                                                   shape.coded_size,
                                                   out_size=(shape.height, shape.width))) <= 1
    assert max_abs_diff(decoded, forward_on_tokens(codec, comp["digits"], shape)) <= 1
    # stored tokens are the tokenizer's; the rest is what the model predicts
    tokens = codec.decompress_tokens(comp["strings"], shape)
    assert torch.equal(tokens, comp["tokens"])
    ids, _ = codec.tokenize(frames, coded=shape.coded_size)
    mask = comp["stored_mask"]
    assert torch.equal(tokens[:, mask], ids[:, mask])


def test_rate_points_bits_near_estimate_and_decreasing(codec, clip):
    frames = clip[:FRAMES]
    nt_per_px, payload = [], []
    for rate in ("high", "mid", "low"):
        strands, stats = codec.encode_video(frames, rate=rate)
        est, act = stats.estimated_bits, stats.actual_bits
        assert est > 0 and act % 32 == 0
        assert abs(act - est) <= RATE_SLACK * est, (rate, est, act)
        assert stats.violations == 0
        nt_per_px.append(stats.nt_per_px)
        payload.append(act)
    assert nt_per_px[0] > nt_per_px[1] > nt_per_px[2], nt_per_px
    assert payload[0] > payload[1] > payload[2], payload


_ENCODE = """
import sys, numpy as np, torch
torch.set_num_threads(2)
from helix_lightning.model.checkpoint import load_codec
from helix_lightning.video.io import read_video
out = sys.argv[1]
codec = load_codec()
frames = read_video(sys.argv[2], frames=int(sys.argv[3]))
strands, stats = codec.encode_video(frames, rate=sys.argv[4])
comp = codec.compress(frames, rate=sys.argv[4])
s = comp["shape"]
np.save(out + "/enc_tokens.npy", comp["tokens"].numpy())
np.save(out + "/enc_frames.npy", codec.reconstruct(comp["digits"], (s.h, s.w), s.coded_size,
                                                  out_size=(s.height, s.width)))
open(out + "/strands.txt", "w").write("\\n".join(strands))
print(torch.get_num_threads())
"""

_DECODE = """
import sys, numpy as np, torch
torch.set_num_threads(1)
from helix_lightning.model.checkpoint import load_codec
from helix_lightning.model.container import from_bytes
from helix_lightning.dna.archive import decode_archive
out = sys.argv[1]
codec = load_codec()
strands = open(out + "/strands.txt").read().split()
np.save(out + "/dec_frames.npy", codec.decode_video(strands))
data, _ = decode_archive(strands)
strings, shape, meta = from_bytes(data)
tokens = codec.decompress_tokens(strings, shape, precision=meta["precision"])
np.save(out + "/dec_tokens.npy", tokens.numpy())
print(torch.get_num_threads())
"""


def test_two_thread_encode_one_thread_decode_bit_identical(tmp_path, clip_path):
    env = {**os.environ, "OMP_NUM_THREADS": "2"}

    def python(script: str, *args) -> str:
        done = subprocess.run([sys.executable, "-c", textwrap.dedent(script), str(tmp_path),
                               *map(str, args)], env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout.strip()

    assert python(_ENCODE, clip_path, 4, "mid") == "2"
    assert python(_DECODE) == "1"
    enc_tok, dec_tok = np.load(tmp_path / "enc_tokens.npy"), np.load(tmp_path / "dec_tokens.npy")
    assert enc_tok.shape[0] == 4 and np.array_equal(enc_tok, dec_tok)
    enc, dec = np.load(tmp_path / "enc_frames.npy"), np.load(tmp_path / "dec_frames.npy")
    assert enc.shape == (4, 144, 176, 3) and np.array_equal(enc, dec)


def test_noisy_reads_decode_like_clean_strands(codec, clip):
    frames = clip  # 16 frames: enough strands that the channel loses some of them
    strands, _ = codec.encode_video(frames, rate="mid")
    clean = codec.decode_video(strands)
    reads = simulate_reads(strands, ChannelParams())  # the reference channel, seed 1
    # read names are r<i>:s<strand>:<+|->; they are used here only to describe the channel
    source = [(int(name.split(":")[1][1:]), name.endswith("-")) for name, _, _ in reads]
    lost = len(strands) - len({s for s, _ in source})
    wrong = sum((reverse_complement(seq) if rc else seq) != strands[s]
                for (s, rc), (_, seq, _) in zip(source, reads))
    assert wrong > len(reads) // 4  # most reads carry errors: consensus has work to do
    cands = recover_strands([seq for _, seq, _ in reads], DEFAULT_PREFIX, DEFAULT_SUFFIX,
                            len(strands[0]))
    got = codec.decode_video([c.seq for c in cands], support=[c.support for c in cands],
                             variants=[c.variants for c in cands])
    assert np.array_equal(got, clean), f"{lost} strands lost"


@pytest.mark.parametrize("constraints", ["standard", "strict", "fountain", "rl2"])
def test_no_violations_across_constraint_sets_and_drops(codec, clip, constraints):
    frames = clip[:2]
    cs = get_constraints(constraints)
    for drop in (0.0, 0.25, 0.5):
        strands, stats = codec.encode_video(frames, constraints=constraints, drop=drop)
        assert stats.violations == 0 and check_strands(strands, cs).total == 0
        assert stats.constraints == cs.name and stats.drop == drop
        comp = codec.compress(frames, drop=drop)
        s = comp["shape"]
        ref = codec.reconstruct(comp["digits"], (s.h, s.w), (s.height, s.width))
        assert np.array_equal(codec.decode_video(strands[::-1]), ref)  # constraints detected


def test_rate_needs_fewer_stages_unless_given(codec, clip):
    comp = codec.compress(clip[:1], rate="low", drop=0.5)
    assert comp["shape"].drop == 0.5 and comp["shape"].stages < codec.config["stages"]
    assert comp["shape"].coded_size == (128, 160)  # low: scale 0.75, whole 32-px tiles
    with pytest.raises(HelixError, match="drop"):
        codec.compress(clip[:1], drop=0.5, stages=codec.config["stages"])
    assert codec.compress(clip[:1], rate="low")["shape"].drop == 0.0


def test_cli_encode_then_decode_fastq_reads(tmp_path, clip_path, capsys):
    fasta, fastq = tmp_path / "clip.fasta", tmp_path / "reads.fastq"
    assert main(["encode", str(clip_path), "-o", str(fasta), "--frames", "8", "--rate", "mid",
                 "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["rate"] == "mid" and stats["violations"] == 0 and stats["frames"] == 8
    assert main(["dna", "simulate", str(fasta), "-o", str(fastq), "--seed", "1", "-q"]) == 0
    clean, noisy = tmp_path / "clean.mkv", tmp_path / "noisy.mkv"
    assert main(["decode", str(fasta), "-o", str(clean), "-q"]) == 0
    assert main(["decode", str(fastq), "-o", str(noisy), "--reference", str(clip_path),
                 "--json"]) == 0
    cap = capsys.readouterr()
    report = json.loads(cap.out)
    assert report["frames"] == 8 and report["psnr_db"] > 10  # the decoded video, not noise
    assert "\r" not in cap.err and "━" not in cap.err  # no progress bar off a terminal
    a, b = read_video(clean), read_video(noisy)
    assert a.shape == (8, 144, 176, 3) and np.array_equal(a, b)
    assert Path(fasta).stat().st_size > 0 and len(read_sequences(fasta)) == stats["strands"]
