"""Finite scalar quantisation (FSQ, Mentzer et al. 2023): one quaternary digit per channel.

Each latent channel is bounded with tanh and rounded to `levels` evenly spaced values in
[-1, 1] (levels=4: -1, -1/3, 1/3, 1; symmetric, so no level is favoured for zero-mean
latents). Each channel of a token is thus one digit in {0, ..., levels-1}: with levels=4 one
DNA base. Rounding passes the gradient of the bounded value straight through, and the
quantised latent equals `digits_to_latent(digits)` bit for bit.

Token ids: `indices` reads a token's k digits (along `dim`, default 1 = channels) as a
base-`levels` number with channel 0 the most significant digit:
id = sum_c d_c * levels ** (k - 1 - c), in [0, levels ** k).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..errors import HelixError
from . import register


@register("quantizer", "fsq")
class FSQ(nn.Module):
    """FSQ with `levels` levels on each of `channels` latent channels (no learned parameters)."""

    def __init__(self, levels: int = 4, channels: int = 4) -> None:
        super().__init__()
        if levels < 2 or channels < 1:
            raise HelixError(f"FSQ needs levels >= 2 and channels >= 1, got {levels}, {channels}")
        if levels**channels > 2**63 - 1:
            raise HelixError(f"{levels}**{channels} token ids do not fit in int64")
        self.levels = levels
        self.channels = channels
        self.half = (levels - 1) / 2  # bounded value 1.0 sits at digit levels-1

    @property
    def codebook_size(self) -> int:
        """Number of distinct tokens, levels ** channels."""
        return self.levels**self.channels

    def forward(self, z: Tensor, dim: int = 1) -> tuple[Tensor, Tensor]:
        """Quantise z (channels on `dim`): z_q in [-1, 1] (straight-through grad), int64 digits."""
        self._check(z, dim)
        bounded = torch.tanh(z)
        digits = self.latent_to_digits(bounded)
        z_q = self.digits_to_latent(digits, bounded.dtype) + (bounded - bounded.detach())
        return z_q, digits

    def latent_to_digits(self, latent: Tensor) -> Tensor:
        """Digit of the level nearest to each value of a bounded latent in [-1, 1] (int64)."""
        return torch.round(latent * self.half + self.half).clamp(0, self.levels - 1).long()

    def digits_to_latent(self, digits: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
        """The quantiser's output value for each digit: (d - half) / half, exactly as `forward`."""
        return (digits.to(dtype) - self.half) / self.half

    def soft_digits(self, z: Tensor, temperature: float = 1.0, dim: int = 1) -> Tensor:
        """Probabilities over the levels, shape z.shape + (levels,): a differentiable digit.

        softmax(-(u - d)^2 / temperature) over d = 0..levels-1, where u = tanh(z) in digit units
        (levels one apart), so `temperature` is in squared digit steps; argmax is the hard digit.
        """
        self._check(z, dim)
        u = torch.tanh(z) * self.half + self.half
        grid = torch.arange(self.levels, dtype=u.dtype, device=u.device)
        return torch.softmax(-((u.unsqueeze(-1) - grid) ** 2) / temperature, dim=-1)

    def indices(self, digits: Tensor, dim: int = 1) -> Tensor:
        """Token ids in [0, levels**k) from digits (channel 0 most significant); drops `dim`."""
        return (digits.long() * self._weights(digits, dim)).sum(dim)

    def digits_from_indices(self, ids: Tensor, dim: int = 1) -> Tensor:
        """Inverse of `indices`: int64 digits with a new channel axis at `dim`."""
        ids = ids.long().unsqueeze(dim)
        return torch.div(ids, self._weights(ids, dim), rounding_mode="floor") % self.levels

    def _weights(self, like: Tensor, dim: int) -> Tensor:
        powers = torch.arange(self.channels - 1, -1, -1, device=like.device)
        shape = [1] * like.dim()
        shape[dim] = self.channels
        return (self.levels**powers).view(shape)

    def _check(self, z: Tensor, dim: int) -> None:
        if z.shape[dim] != self.channels:
            raise ValueError(
                f"expected {self.channels} channels on dim {dim}, got {tuple(z.shape)}")
