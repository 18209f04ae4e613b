"""Encoder-side latent refinement (`model/refine.py`, `helix encode --refine`): better tokens
for the same decoder, the same format, and encodes that do not depend on the thread count."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from helix_lightning.cli import main
from helix_lightning.errors import HelixError
from helix_lightning.model.checkpoint import DEFAULT_CHECKPOINT, load_codec
from helix_lightning.model.codec import frames_to_tensor, token_ids
from helix_lightning.model.refine import MAX_REFINE_STEPS, check_refine, refine_latent
from helix_lightning.video.io import default_clips, read_video

from test_inter import inter_codec

pytestmark = pytest.mark.skipif(not DEFAULT_CHECKPOINT.is_file(), reason="no default model")
STEPS = 6


@pytest.fixture(scope="module")
def codec():
    return load_codec()


@pytest.fixture(scope="module")
def frames():
    return read_video(default_clips()["test"][0], frames=2)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / mse))


def test_zero_steps_is_the_encoder(codec, frames):
    x = frames_to_tensor(codec, frames)
    with torch.no_grad():
        lat = codec.tokenizer.encode(x)
    assert torch.equal(refine_latent(codec, x, 0), lat)
    plain = codec.compress(frames)
    assert [bytes(s) for s in codec.compress(frames, refine=0)["strings"]] == \
        [bytes(s) for s in plain["strings"]]


def test_refined_tokens_decode_closer_to_the_frames(codec, frames):
    plain_strands, plain = codec.encode_video(frames)
    strands, stats = codec.encode_video(frames, refine=STEPS)
    assert strands != plain_strands  # other tokens were chosen
    assert stats.violations == 0
    decoded, plain_decoded = codec.decode_video(strands), codec.decode_video(plain_strands)
    assert decoded.shape == frames.shape
    assert psnr(decoded, frames) > psnr(plain_decoded, frames) + 0.05
    assert stats.model_hash == plain.model_hash  # the decoder is the same model


def test_refinement_leaves_the_model_untouched(codec, frames):
    before = codec.model_hash()
    wanted = [p.requires_grad for p in codec.parameters()]
    x = frames_to_tensor(codec, frames[:1])
    lat = refine_latent(codec, x, 2)
    assert not lat.requires_grad
    assert codec.model_hash() == before
    assert [p.requires_grad for p in codec.parameters()] == wanted
    ids, grid = token_ids(codec, x)
    assert ids.shape[-2:] == codec.compress(frames[:1], refine=2)["tokens"].shape[-2:]


_ENCODE = """
import sys, torch
torch.set_num_threads(int(sys.argv[2]))
from helix_lightning.model.checkpoint import load_codec
from helix_lightning.video.io import default_clips, read_video
codec = load_codec()
frames = read_video(default_clips()["test"][0], frames=5)
strands, _ = codec.encode_video(frames, refine=3)
open(sys.argv[1], "w").write("\\n".join(strands))
"""


def test_refined_encode_is_the_same_on_one_and_two_threads(tmp_path):
    outs = []
    for threads in (1, 2):
        out = tmp_path / f"t{threads}.txt"
        done = subprocess.run([sys.executable, "-c", textwrap.dedent(_ENCODE), str(out),
                               str(threads)], capture_output=True, text=True, timeout=300,
                              env={**os.environ, "OMP_NUM_THREADS": str(threads)})
        assert done.returncode == 0, done.stderr[-2000:]
        outs.append(out.read_text())
    assert outs[0] and outs[0] == outs[1]


@pytest.mark.parametrize("steps", [-1, MAX_REFINE_STEPS + 1, 2.5, True])
def test_bad_step_counts_are_refused(steps):
    with pytest.raises(HelixError, match="--refine"):
        check_refine(steps)


def test_inter_models_refuse_refinement():
    frames = np.zeros((2, 32, 32, 3), dtype=np.uint8)
    with pytest.raises(HelixError, match="intra"):
        inter_codec().compress(frames, refine=2)


def test_cli_refuses_a_negative_refine_in_one_line(tmp_path, capsys):
    out = tmp_path / "clip.fasta"
    code = main(["encode", str(default_clips()["test"][0]), "-o", str(out), "--frames", "2",
                 "--refine", "-3"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--refine" in err[0]
    assert not out.exists()
