"""The token model's temporal prior (model/temporal_prior.py): a state over decoded grids."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_codec import clip
from test_inter import TOKENIZER

from helix_lightning.errors import HelixError
from helix_lightning.model.module import build_codec
from helix_lightning.model.codec import HelixCodec
from helix_lightning.model.conditional import ConditionalTokenizer
from helix_lightning.model.entropy import TokenEntropyCoder
from helix_lightning.model.fsq import FSQ
from helix_lightning.model.kronecker import KroneckerMixer
from helix_lightning.model.local_masked import LocalMaskedTokenModel
from helix_lightning.model.temporal_prior import TemporalState


def temporal_codec(seed: int = 0, gop: int = 3) -> HelixCodec:
    """A tiny conditional codec whose temporal prior is not zero (the state matters)."""
    torch.manual_seed(seed)
    tok = ConditionalTokenizer(**TOKENIZER)
    for conv in [*tok.encoder_fuse, *tok.decoder_fuse]:
        torch.nn.init.normal_(conv.weight, std=0.3)
    tm = LocalMaskedTokenModel(codebook_size=16, dim=32, depth=1, window=2, temporal=8)
    torch.nn.init.normal_(tm.temporal.project.weight, std=0.5)
    config = {"stages": 2, "drop": 0.0, "inter": {"gop": gop, "scene_cut": 0.5}}
    return HelixCodec(tok, KroneckerMixer(2, mode="learned", block=(2, 2)),
                      FSQ(levels=4, channels=2), tm, config).eval()


def test_zero_initialised_prior_is_the_model_it_was():
    torch.manual_seed(0)
    plain = LocalMaskedTokenModel(codebook_size=16, dim=32, depth=1, window=2)
    torch.manual_seed(0)
    with_prior = LocalMaskedTokenModel(codebook_size=16, dim=32, depth=1, window=2, temporal=8)
    missing, unexpected = with_prior.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith("temporal.") for k in missing)
    tokens, prev = torch.randint(0, 16, (2, 6, 6)), torch.randint(0, 16, (2, 6, 6))
    state = with_prior.temporal.step(None, prev)
    with torch.no_grad():
        assert torch.equal(with_prior(tokens, prev, temporal=state), plain(tokens, prev))


def test_states_follow_the_clip():
    prior = TemporalState(16, 4, 8)
    tokens = torch.randint(0, 16, (2, 3, 5, 5))
    states = prior.states(tokens).unflatten(0, (2, 3))
    assert torch.equal(states[:, 0], torch.zeros(2, 4, 5, 5))
    with torch.no_grad():
        s1 = prior.step(None, tokens[:, 0])
        assert torch.equal(states[:, 1], s1)
        assert torch.equal(states[:, 2], prior.step(s1, tokens[:, 1]))


def test_a_model_without_the_prior_refuses_a_state():
    tm = LocalMaskedTokenModel(codebook_size=16, dim=32, depth=1, window=2)
    with pytest.raises(HelixError, match="temporal"):
        tm(torch.zeros(1, 4, 4, dtype=torch.long), temporal=torch.zeros(1, 8, 4, 4))


def test_the_state_changes_the_rate_and_gets_a_gradient():
    codec = temporal_codec().train()
    from helix_lightning.model.module import HelixModule  # noqa: F401 (registers priors)
    from helix_lightning.model.rate import PriorContext, StagedPrior

    prior = StagedPrior(PriorContext(codec.token_model, torch.zeros(16), 2, 0.0))
    x = torch.from_numpy(clip(t=3)).permute(0, 3, 1, 2).float()[None] / 255
    out = codec(x, prior=prior)
    assert out["temporal"].shape[0] == 3 and out["temporal"].abs().sum() > 0
    bits = -out["likelihoods"]["tokens"].sum()
    bits.backward()
    grads = [p.grad for p in codec.token_model.temporal.parameters()]
    assert all(g is not None and g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize("group", [None, 2])
def test_round_trip_exact_and_thread_independent(group):
    codec = temporal_codec()
    frames = clip(t=5)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = codec.compress(frames, group=group)
        torch.set_num_threads(2)
        two = codec.compress(frames, group=group)
    finally:
        torch.set_num_threads(threads)
    assert one["strings"] == two["strings"]
    assert one["shape"].intra == (0, 3)
    tokens = codec.decompress_tokens(one["strings"], one["shape"])
    assert torch.equal(tokens, one["tokens"])
    assert np.array_equal(codec.decompress(one["strings"], one["shape"]),
                          codec.decompress(two["strings"], two["shape"]))


def test_the_state_is_what_the_coder_codes_under():
    """Another temporal prior gives other tables: the state really reaches the coder."""
    codec, other = temporal_codec(0), temporal_codec(0)
    torch.nn.init.normal_(other.token_model.temporal.project.weight, std=0.5)
    frames = clip(t=3)
    assert codec.compress(frames)["strings"] != other.compress(frames)["strings"]


def test_resets_restart_the_state():
    codec = temporal_codec()
    grids = [torch.randint(0, 16, (4, 4)) for _ in range(3)]
    coder = TokenEntropyCoder(codec.token_model, 4, 4, 2, resets=(2,))
    coder.begin_frame(0, 10)
    assert coder._state is None
    coder.end_frame(grids[0])
    coder.begin_frame(1, 10)
    assert coder._state is not None
    coder.end_frame(grids[1])
    coder.begin_frame(2, 10)
    assert coder._state is None


def test_config_builds_the_prior():
    model_cfg = {"masked": {"name": "local", "dim": 32, "depth": 1, "heads": 4, "window": 4,
                            "temporal": 8}}
    from helix_lightning.model.config import resolve

    cfg = resolve({"model": model_cfg})
    codec = build_codec(cfg["model"])
    assert isinstance(codec.token_model.temporal, TemporalState)
    assert any(k.startswith("token_model.temporal.") for k in codec.state_dict())
