"""Masked token model: shapes, training signal, coding stages, prediction of dropped tokens.

The range coding over these stages (and its integer tables) is tested in test_entropy.py."""

import numpy as np
import pytest
import torch

from helix_lightning.errors import HelixError
from helix_lightning.model import MODELS
from helix_lightning.model.masked import (
    MaskedTokenModel,
    StagePlan,
    fill_dropped,
    stage_masks,
    stage_probabilities,
)


def small_model(k: int = 16, seed: int = 0) -> MaskedTokenModel:
    torch.manual_seed(seed)
    return MaskedTokenModel(codebook_size=k, dim=32, depth=2, heads=4, max_tokens=1024)


def repetitive_grid(b: int = 4, h: int = 4, w: int = 4, k: int = 16) -> torch.Tensor:
    i, j = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    base = (i * 3 + j) % k
    return torch.stack([(base + t) % k for t in range(b)])


def test_registered_and_shapes():
    assert MODELS["token_model"]["masked"] is MaskedTokenModel
    m = small_model()
    tok = torch.randint(0, 17, (2, 12))  # 16 = MASK
    prev = torch.randint(0, 16, (2, 12))
    assert m(tok, prev, (3, 4)).shape == (2, 12, 16)
    assert m(tok).shape == (2, 12, 16)
    assert m(tok.view(2, 3, 4), None).shape == (2, 12, 16)
    with pytest.raises(HelixError):
        m(tok, prev, (5, 5))


def train_masking(m, tok: torch.Tensor, steps: int = 30) -> list[float]:
    """`steps` Adam steps of a token model's masking loss on `tok` (previous frame: `tok`
    rolled by one); the losses, each step's accuracy checked to lie in [0, 1]."""
    prev = torch.roll(tok, 1, dims=0)
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(steps):
        loss, acc = m.masking_loss(tok, prev, generator=gen)
        assert 0.0 <= acc.item() <= 1.0
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_masking_loss_decreases():
    losses = train_masking(small_model(), repetitive_grid())
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5])


@pytest.mark.parametrize("h,w", [(4, 4), (5, 7), (16, 16)])
@pytest.mark.parametrize("stages", [1, 2, 3, 4])
@pytest.mark.parametrize("drop", [0.0, 0.1, 0.25])
def test_stage_masks_partition(h, w, stages, drop):
    masks = stage_masks(h, w, stages, drop)
    assert len(masks) == stages + 1
    stack = torch.stack(masks[:-1]).int()
    assert (stack.sum(0) == 1).all()  # a partition of the grid
    dropped = masks[-1]
    assert not (dropped & ~masks[stages - 1]).any()  # inside the last stage
    assert abs(int(dropped.sum()) - drop * h * w) <= 1
    again = stage_masks(h, w, stages, drop)
    assert all(torch.equal(a, b) for a, b in zip(masks, again))


def test_stage_masks_patterns_and_limits():
    two = stage_masks(4, 4, 2)
    i, j = torch.meshgrid(torch.arange(4), torch.arange(4), indexing="ij")
    assert torch.equal(two[0], (i + j) % 2 == 0)  # checkerboard
    with pytest.raises(HelixError):
        stage_masks(4, 4, 4, 0.5)  # more than the last stage


def test_plan_matches_the_functional_forms_and_fills_from_stored_tokens_only():
    m = small_model()
    gen = torch.Generator().manual_seed(4)
    tok = torch.randint(0, 16, (6, 6), generator=gen)
    prev = torch.randint(0, 16, (6, 6), generator=gen)
    masks = stage_masks(6, 6, 2, 0.25)
    plan = StagePlan(m, 6, 6, 2, 0.25)
    for s in range(2):
        assert np.array_equal(plan.probabilities(tok, prev, s),
                              stage_probabilities(m, tok, prev, masks, s))
    filled = fill_dropped(m, tok, prev, masks)
    assert torch.equal(filled, plan.fill(tok, prev))
    kept = ~masks[-1]
    assert torch.equal(filled[kept], tok[kept])
    noisy = tok.clone()
    noisy[masks[-1]] = (noisy[masks[-1]] + 1) % 16  # the dropped tokens' values are not read
    assert torch.equal(fill_dropped(m, noisy, prev, masks), filled)
