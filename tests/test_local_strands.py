"""A codec with the local (window-attention) token model codes frames to strands and back:
the decoder's model-fit check must not ask the local model for a token limit it does not
have (it has none), while the global model's limit is still enforced."""

import numpy as np
import pytest
import torch
from test_codec import clip

from helix_lightning.errors import HelixError
from helix_lightning.model import container
from helix_lightning.model.codec import HelixCodec
from helix_lightning.model.fsq import FSQ
from helix_lightning.model.kronecker import KroneckerMixer
from helix_lightning.model.local_masked import LocalMaskedTokenModel
from helix_lightning.model.tokenizer import ConvTokenizer


def local_codec() -> HelixCodec:
    torch.manual_seed(0)
    tok = ConvTokenizer(width=16, downsample=8, channels_latent=2)
    tm = LocalMaskedTokenModel(codebook_size=16, dim=32, depth=1, heads=4, window=4)
    return HelixCodec(tok, KroneckerMixer(2, mode="learned", block=(2, 2)),
                      FSQ(levels=4, channels=2), tm, {"stages": 2, "drop": 0.0}).eval()


def test_strands_round_trip_with_the_local_token_model():
    codec = local_codec()
    frames = clip(t=2)
    strands, stats = codec.encode_video(frames)
    assert stats.violations == 0
    out = codec.decode_video(strands)
    assert out.shape == frames.shape
    comp = codec.compress(frames)
    assert np.array_equal(out, codec.decompress(comp["strings"], comp["shape"]))


def test_a_token_limit_is_still_enforced_when_the_model_has_one():
    shape = local_codec().compress(clip(t=1))["shape"]
    padded = (shape.hp, shape.wp)
    container.check_model_fit(shape, 8, padded, None)  # no limit: nothing to refuse
    container.check_model_fit(shape, 8, padded, shape.hp * shape.wp)
    with pytest.raises(HelixError, match="tokens per frame"):
        container.check_model_fit(shape, 8, padded, shape.hp * shape.wp - 1)
