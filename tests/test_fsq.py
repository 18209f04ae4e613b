"""FSQ: digit range, straight-through gradient, exact digit <-> latent and token-id round trips."""

import pytest
import torch

from helix_lightning.errors import HelixError
from helix_lightning.model import QUANTIZERS, build
from helix_lightning.model.fsq import FSQ


def test_digits_in_range_and_levels_symmetric():
    fsq = FSQ(levels=4, channels=3)
    z_q, digits = fsq(torch.randn(2, 3, 5, 6) * 3)
    assert digits.dtype == torch.int64 and digits.shape == (2, 3, 5, 6)
    assert digits.min() >= 0 and digits.max() <= 3
    assert set(digits.unique().tolist()) == {0, 1, 2, 3}
    levels = fsq.digits_to_latent(torch.arange(4))
    assert torch.allclose(levels, torch.tensor([-1.0, -1 / 3, 1 / 3, 1.0]))
    assert torch.equal(z_q, fsq.digits_to_latent(digits))  # bit for bit


def test_straight_through_gradient_is_nonzero():
    fsq = FSQ(4, 2)
    z = torch.randn(3, 2, 4, 4, requires_grad=True)
    z_q, _ = fsq(z)
    (z_q * torch.randn_like(z_q)).sum().backward()
    assert z.grad is not None and (z.grad != 0).all()


def test_digits_latent_digits_identity():
    fsq = FSQ(4, 4)
    digits = torch.randint(0, 4, (2, 4, 3, 5))
    assert torch.equal(fsq.latent_to_digits(fsq.digits_to_latent(digits)), digits)
    _, again = fsq(torch.atanh(fsq.digits_to_latent(digits).clamp(-0.999, 0.999)))
    assert torch.equal(again, digits)


def test_token_index_round_trip_and_significance():
    fsq = FSQ(4, 3)
    digits = torch.randint(0, 4, (2, 3, 4, 4))
    ids = fsq.indices(digits)
    assert ids.shape == (2, 4, 4) and ids.min() >= 0 and ids.max() < fsq.codebook_size == 64
    assert torch.equal(fsq.digits_from_indices(ids), digits)
    one = torch.tensor([[1, 2, 3]])  # (N=1, k=3): channel 0 is the most significant digit
    assert fsq.indices(one).item() == 1 * 16 + 2 * 4 + 3
    every = torch.arange(64)
    assert torch.equal(fsq.indices(fsq.digits_from_indices(every)), every)


def test_soft_digits_are_probabilities_peaked_at_hard_digit():
    fsq = FSQ(4, 2)
    z = torch.randn(2, 2, 3, 3, requires_grad=True)
    p = fsq.soft_digits(z, temperature=0.1)
    assert p.shape == (2, 2, 3, 3, 4)
    assert torch.allclose(p.sum(-1), torch.ones(2, 2, 3, 3))
    assert torch.equal(p.argmax(-1), fsq(z)[1])
    (p[..., 0]).sum().backward()
    assert z.grad.abs().sum() > 0


def test_registry_and_bad_config():
    assert QUANTIZERS["fsq"] is FSQ
    assert build("quantizer", "fsq", channels=2).channels == 2
    with pytest.raises(HelixError):
        FSQ(levels=4, channels=40)  # 4**40 ids overflow int64
    with pytest.raises(ValueError):
        FSQ(4, 3)(torch.zeros(1, 2, 1, 1))
