"""ConvTokenizer: latent shapes for f=8 and 16, padding and cropping, size budget, output range."""

import pytest
import torch

from helix_lightning.model import TOKENIZERS, build
from helix_lightning.model.tokenizer import ConvTokenizer, pad_to_multiple


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.mark.parametrize("f", [8, 16])
def test_shapes(f):
    tok = ConvTokenizer(channels_latent=4, downsample=f, width=16)
    x = torch.rand(2, 3, 2 * f, 3 * f)
    z = tok.encode(x)
    assert z.shape == (2, 4, 2, 3)
    assert tok.decode(z).shape == x.shape


@pytest.mark.parametrize("f", [8, 16])
def test_odd_sizes_padded_and_cropped(f):
    tok = ConvTokenizer(channels_latent=3, downsample=f, width=16)
    x = torch.rand(1, 3, f + 3, 2 * f - 5)
    z = tok.encode(x)
    assert z.shape == (1, 3, *tok.latent_size(*x.shape[-2:])) == (1, 3, 2, 2)
    assert tok(x).shape == x.shape
    assert tok.decode(z, x.shape[-2:]).shape == x.shape


def test_pad_to_multiple_reflects_and_falls_back():
    x = torch.arange(5.0).view(1, 1, 1, 5).expand(1, 1, 5, 5)
    y = pad_to_multiple(x, 8)
    assert y.shape == (1, 1, 8, 8) and torch.equal(y[0, 0, 0, 5:], torch.tensor([3.0, 2.0, 1.0]))
    tiny = pad_to_multiple(torch.rand(1, 3, 2, 3), 8)  # too short to reflect: replicate
    assert tiny.shape == (1, 3, 8, 8)


def test_default_size_under_one_million_parameters():
    tok = build("tokenizer", "conv")
    n = sum(p.numel() for p in tok.parameters())
    print(f"ConvTokenizer(width=64, f=8, k=4): {n} parameters")
    assert TOKENIZERS["conv"] is ConvTokenizer
    assert n < 1_000_000


def test_decode_in_unit_range_and_trains():
    tok = ConvTokenizer(width=16)
    z = torch.randn(2, 4, 2, 2) * 50
    x = tok.decode(z)
    assert x.min() >= 0 and x.max() <= 1
    frames = torch.rand(2, 3, 16, 16)
    loss = (tok(frames) - frames).pow(2).mean()
    loss.backward()
    assert all(p.grad is not None for p in tok.parameters())


@pytest.mark.parametrize("f", [8, 16])
def test_shuffle_stem_and_per_level_widths(f):
    levels = {8: [16, 24, 32], 16: [16, 16, 24, 32]}[f]
    tok = ConvTokenizer(channels_latent=4, downsample=f, width=levels, stem="shuffle")
    x = torch.rand(1, 3, 2 * f + 3, 3 * f)
    z = tok.encode(x)
    assert z.shape == (1, 4, 3, 3)
    assert tok(x).shape == x.shape
    assert not any(isinstance(m, torch.nn.Conv2d) and m.in_channels == 3 for m in tok.modules())


def test_bad_widths_and_stem_raise():
    from helix_lightning.errors import HelixError

    with pytest.raises(HelixError, match="one value per factor"):
        ConvTokenizer(downsample=8, width=[16, 16])
    with pytest.raises(HelixError, match="stem"):
        ConvTokenizer(stem="patchify")
