"""Inter coding (issue 12.1): the conditional tokenizer, the closed loop, container version 5."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_codec import clip

from helix_lightning.errors import HelixError
from helix_lightning.model import container, inter_coding
from helix_lightning.model.codec import HelixCodec
from helix_lightning.model.conditional import ConditionalTokenizer, is_conditional
from helix_lightning.model.fsq import FSQ
from helix_lightning.model.kronecker import KroneckerMixer
from helix_lightning.model.local_masked import LocalMaskedTokenModel
from helix_lightning.model.masked import MaskedTokenModel
from helix_lightning.model.tokenizer import ConvTokenizer

TOKENIZER = {"width": 16, "downsample": 8, "channels_latent": 2}


def inter_codec(seed: int = 0, gop: int = 8, scene_cut: float = 0.5, local: bool = False
                ) -> HelixCodec:
    """A tiny conditional codec whose fusion weights are not zero (the reference matters);
    `local`: with the windowed token model."""
    torch.manual_seed(seed)
    tok = ConditionalTokenizer(**TOKENIZER)
    for conv in [*tok.encoder_fuse, *tok.decoder_fuse]:
        torch.nn.init.normal_(conv.weight, std=0.3)
    mixer = KroneckerMixer(2, mode="learned", block=(2, 2))
    tm = (LocalMaskedTokenModel(codebook_size=16, dim=32, depth=1, window=2) if local else
          MaskedTokenModel(codebook_size=16, dim=32, depth=1, max_tokens=256))
    config = {"stages": 2, "drop": 0.0, "inter": {"gop": gop, "scene_cut": scene_cut}}
    return HelixCodec(tok, mixer, FSQ(levels=4, channels=2), tm, config).eval()


@pytest.fixture(scope="module")
def codec():
    return inter_codec()


@pytest.fixture(scope="module")
def frames():
    return clip(t=5)


def test_untrained_fusion_is_the_intra_tokenizer():
    """Zero-initialised fusion: an intra checkpoint loaded into the conditional tokenizer
    codes exactly as before, with or without a reference."""
    torch.manual_seed(0)
    plain = ConvTokenizer(**TOKENIZER)
    cond = ConditionalTokenizer(**TOKENIZER)
    missing, unexpected = cond.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and all(k.split(".")[0] in ("context_levels", "encoder_fuse",
                                                      "decoder_fuse") for k in missing)
    x, ref = torch.rand(2, 3, 24, 40), torch.rand(2, 3, 24, 40)
    ctx = cond.context(ref)
    with torch.no_grad():
        lat = plain.encode(x)
        assert torch.equal(cond.encode(x, ctx), lat) and torch.equal(cond.encode(x), lat)
        assert torch.equal(cond.decode(lat, (24, 40), ctx), plain.decode(lat, (24, 40)))


def test_the_reference_changes_what_is_coded(codec, frames):
    x = torch.from_numpy(frames[1:2]).permute(0, 3, 1, 2).float() / 255
    ref_a, ref_b = torch.zeros_like(x), torch.ones_like(x)
    with torch.no_grad():
        a = codec.tokenizer.encode(x, codec.tokenizer.context(ref_a))
        b = codec.tokenizer.encode(x, codec.tokenizer.context(ref_b))
    assert not torch.allclose(a, b)


def test_intra_frames_follow_gop_and_scene_cuts():
    still = np.full((10, 32, 32, 3), 100, dtype=np.uint8)
    assert inter_coding.intra_frames(still, gop=4, scene_cut=0.1) == (0, 4, 8)
    assert inter_coding.intra_frames(still, gop=100, scene_cut=0.1) == (0,)
    cut = still.copy()
    cut[6:] = 200  # a cut at frame 6 restarts the group of pictures
    assert inter_coding.intra_frames(cut, gop=4, scene_cut=0.1) == (0, 4, 6)
    assert inter_coding.intra_frames(cut, gop=4, scene_cut=0.5) == (0, 4, 8)


def test_closed_loop_round_trip_in_container_version_5(codec, frames):
    comp = codec.compress(frames)
    shape = comp["shape"]
    assert shape.intra == (0,) and is_conditional(codec)
    data = codec.to_bytes(comp)
    assert data[4] == 5
    strings, back, meta = container.from_bytes(data)
    assert back == shape and meta["version"] == 5 and strings == comp["strings"]
    decoded = codec.decode_bytes(data)
    assert decoded.shape == frames.shape
    # closed loop: frame 2's tokens are the ones frame 1 *as decoded* gives, not the source
    x2, ref = (torch.from_numpy(f[None]).permute(0, 3, 1, 2).float() / 255
               for f in (frames[2], decoded[1]))
    with torch.no_grad():
        ids, _ = inter_coding.tokenise(codec, x2, codec.tokenizer.context(ref))
        src, _ = inter_coding.tokenise(codec, x2, codec.tokenizer.context(
            torch.from_numpy(frames[1:2]).permute(0, 3, 1, 2).float() / 255))
    assert torch.equal(ids, comp["tokens"][2]) and not torch.equal(src, comp["tokens"][2])
    # the same clip with every frame intra decodes to other frames: the reference is used
    intra_only = inter_coding.reconstruct(codec, comp["tokens"], shape._replace(
        intra=tuple(range(len(frames)))))
    assert np.array_equal(intra_only[0], decoded[0])
    assert not np.array_equal(intra_only[1:], decoded[1:])


def test_gop_and_intra_map_reach_the_decoder(frames):
    codec = inter_codec(gop=2)
    comp = codec.compress(frames)
    assert comp["shape"].intra == (0, 2, 4)
    data = codec.to_bytes(comp)
    _, shape, _ = container.from_bytes(data)
    assert shape.intra == (0, 2, 4)
    head = container.HEADERS[5].size
    assert data[head] == 0b10101000  # frames 0, 2, 4 of 5
    assert np.array_equal(codec.decode_bytes(data), codec.decompress(comp["strings"], shape))


def test_decoding_does_not_depend_on_the_thread_count(codec, frames):
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        data = codec.to_bytes(codec.compress(frames))
        two = codec.decode_bytes(data)
        torch.set_num_threads(1)
        assert codec.to_bytes(codec.compress(frames)) == data
        assert np.array_equal(codec.decode_bytes(data), two)
    finally:
        torch.set_num_threads(threads)


def test_strands_round_trip_with_both_coders(codec, frames):
    """Both DNA coders; and a model with the windowed token model, which has no token
    limit, decodes its strands too."""
    local = inter_codec(local=True)
    strands, _ = local.encode_video(frames)
    assert local.decode_video(strands).shape == frames.shape
    strands, stats = codec.encode_video(frames, rate=None, drop=0.25)
    assert stats.violations == 0
    fsm = codec.decode_video(strands)
    direct, _ = codec.encode_video(frames, coder="direct", drop=0.25)
    assert np.array_equal(codec.decode_video(direct), fsm)


@pytest.mark.parametrize("change, words", [
    (lambda m: bytes([m[0] & 0x7F]) + m[1:], "intra-frame map"),   # frame 0 not intra
    (lambda m: bytes([m[0] | 0x01]) + m[1:], "intra-frame map"),   # a bit past frame 5
])
def test_forged_intra_maps_are_refused(codec, frames, change, words):
    data = codec.to_bytes(codec.compress(frames))
    head = container.HEADERS[5].size
    forged = data[:head] + change(data[head:head + 1]) + data[head + 1:]
    with pytest.raises(HelixError, match=words):
        container.from_bytes(forged)
    with pytest.raises(HelixError, match="truncated"):
        container.from_bytes(data[:container.SIZE_PREFIX - 1])


def test_an_inter_clip_needs_a_conditional_model(codec, frames):
    from test_codec import tiny_codec

    comp = codec.compress(frames)
    with pytest.raises(HelixError, match="inter coded"):
        inter_coding.decompress(tiny_codec(), comp["strings"], comp["shape"])


def test_training_unrolls_the_clip_and_trains_the_fusion():
    codec = inter_codec()
    codec.train()
    clips = torch.rand(2, 3, 3, 16, 16)
    out = codec(clips)
    assert out["x_hat"].shape == clips.shape and out["tokens"].shape == (6, 2, 2)
    torch.nn.functional.mse_loss(out["x_hat"], clips).backward()
    grads = [conv.weight.grad for conv in codec.tokenizer.decoder_fuse]
    assert all(g is not None and g.abs().sum() > 0 for g in grads)
    assert codec.tokenizer.context_levels[0][1].weight.grad.abs().sum() > 0


def test_model_inter_section_is_checked():
    from helix_lightning.model.config import resolve
    from helix_lightning.model.module import build_codec

    cfg = resolve({"model": {"tokenizer": {"name": "conditional", "width": 16},
                             "inter": {"gop": 4}}})
    assert cfg["model"]["inter"] == {"gop": 4, "scene_cut": inter_coding.INTER_DEFAULTS[
        "scene_cut"]}
    assert is_conditional(build_codec(cfg["model"]))
    with pytest.raises(HelixError, match="gop"):
        build_codec(resolve({"model": {"tokenizer": {"name": "conditional", "width": 16},
                                       "inter": {"gop": 0}}})["model"])
    with pytest.raises(HelixError, match="conditional tokenizer"):
        build_codec(resolve({"model": {"tokenizer": {"width": 16}, "inter": {}}})["model"])


def test_set_ladder_rewrites_the_stored_ladder_and_keeps_the_hash(tmp_path):
    """scripts/set_ladder.py: a trained checkpoint takes an experiment's ladder and inter
    settings; the weights (and so the model hash) stay; a YAML without a ladder is refused."""
    import subprocess
    import sys
    from pathlib import Path

    import yaml

    from helix_lightning.model.checkpoint import load_codec
    from helix_lightning.model.module import HelixModule

    root = Path(__file__).resolve().parents[1]
    small = {"model": {"tokenizer": {"name": "conditional", "width": 16},
                       "masked": {"dim": 16, "depth": 1, "heads": 2}, "inter": {"gop": 4},
                       "nested": {"min_digits": 2}}}
    torch.manual_seed(0)
    module = HelixModule(small)
    ckpt = tmp_path / "m.ckpt"
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": {"config": small}}, ckpt)
    before = load_codec(ckpt).model_hash()
    points = {f"p{i}": {"scale": 1.0 - 0.1 * i, "digits": 4 - i // 2} for i in range(5)}
    config = tmp_path / "exp.yaml"
    config.write_text(yaml.safe_dump({"model": {"ladder": points, "inter": {"gop": 12}}}))
    script = [sys.executable, str(root / "scripts" / "set_ladder.py")]
    done = subprocess.run(script + [str(ckpt), str(config)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    codec = load_codec(ckpt)
    assert codec.model_hash() == before and list(codec.config["ladder"]) == list(points)
    assert codec.config["inter"]["gop"] == 12
    config.write_text(yaml.safe_dump({"model": {"inter": {"gop": 12}}}))
    done = subprocess.run(script + [str(ckpt), str(config)], capture_output=True, text=True)
    assert done.returncode == 2 and "states no model.ladder" in done.stderr
