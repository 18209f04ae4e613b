"""Nested digits: one model that codes each token with its first k' of K quaternary digits.

A token's K FSQ digits are read coarse to fine (channel 0 is the most significant digit of
the token id, `FSQ.indices`). Keeping k' digits keeps the id's prefix, id // 4**(K - k'):
an alphabet of 4**k' symbols. Everything that handles a k'-digit token uses one convention:

- the decoder's latent: the dropped channels take the neutral value 0, the midpoint of the
  bounded latent [-1, 1] (`keep_latent`); training does the same, so the decoder learns it;
- the token grid (context of the token model, the previous frame, `compress`'s "tokens"):
  the full K-digit id with the dropped digits 0 (`truncate`), so one network sees every k';
- the coded symbol: the prefix (`prefix`), under the marginal of the token model's K-digit
  prediction over the prefix's 4**(K - k') completions (`marginal`): one network serves every
  k', and the training rate term pays the same marginal (`marginal_log2`). The coder turns
  the marginal into integer tables as ever (`entropy.integer_frequencies`), so coding stays
  exact and deterministic.

Training (`model.nested: {min_digits: m}`, off when absent): each clip keeps a random k' in
[m, K] (`sample_kept`); the MaskGIT loss sees the truncated grid and predicts the full ids
(`masking_loss`), whose marginal is then the prefix distribution at every k'.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import HelixError

LN2 = math.log(2.0)
#: `model.nested`'s keys and defaults (the section exists only in configs that state it).
NESTED_DEFAULTS = {"min_digits": 2}


def check_digits(digits: int, channels: int) -> int:
    """`digits` kept of `channels` (1..channels) as an int; HelixError otherwise."""
    if isinstance(digits, bool) or int(digits) != digits or not 1 <= digits <= channels:
        raise HelixError(f"digits kept must be an integer in 1..{channels}, got {digits}")
    return int(digits)


def completions(channels: int, digits: int, levels: int = 4) -> int:
    """Full ids per k'-digit prefix: levels ** (channels - digits)."""
    return levels ** (channels - digits)


def prefix(ids: Tensor, step: int) -> Tensor:
    """The k'-digit symbols of full ids (step = `completions`)."""
    return torch.div(ids, step, rounding_mode="floor")


def truncate(ids: Tensor, step: int | Tensor) -> Tensor:
    """Full ids with the dropped digits set to 0 (step may be per frame, broadcast on dim 0)."""
    if isinstance(step, Tensor):
        step = step.view(-1, *([1] * (ids.dim() - 1))).to(ids.device)
    return torch.div(ids, step, rounding_mode="floor") * step


def keep_latent(z: Tensor, kept: int | Tensor, dim: int = 1) -> Tensor:
    """z (channels on `dim`) with the channels from `kept` on set to the neutral value 0;
    `kept` an int or one count per item of dim 0."""
    channel = torch.arange(z.shape[dim], device=z.device)
    shape = [1] * z.dim()
    shape[dim] = -1
    channel = channel.view(shape)
    if isinstance(kept, Tensor):
        kept = kept.to(z.device).view(-1, *([1] * (z.dim() - 1)))
    return torch.where(channel < kept, z, torch.zeros_like(z))


def marginal(probs: Tensor, step: int) -> Tensor:
    """Probabilities over full ids (..., 4**K) -> over the prefixes (..., 4**K / step)."""
    return probs if step == 1 else probs.unflatten(-1, (-1, step)).sum(-1)


def marginal_log2(log2p: Tensor, step: int) -> Tensor:
    """log2 p over full ids (..., 4**K) -> each id's prefix's log2 marginal (same shape)."""
    if step == 1:
        return log2p
    grouped = log2p.unflatten(-1, (-1, step))
    m = torch.logsumexp(grouped * LN2, -1, keepdim=True) / LN2
    return m.expand_as(grouped).flatten(-2)


def marginal_log2_per_item(log2p: Tensor, kept: Tensor, channels: int,
                           levels: int = 4) -> Tensor:
    """`marginal_log2` with each item of dim 0 at its own digits kept `kept` (N,)."""
    out = log2p.clone()
    for k in kept.unique().tolist():
        sel = (kept == k).to(log2p.device)
        out[sel] = marginal_log2(log2p[sel], completions(channels, int(k), levels))
    return out


def sample_kept(clips: int, frames_per_clip: int, min_digits: int, channels: int,
                generator: torch.Generator | None = None) -> Tensor:
    """Digits kept per frame (clips * frames_per_clip,): uniform in [min_digits, channels],
    one draw per clip (a clip is coded at one k')."""
    check_digits(min_digits, channels)
    k = torch.randint(min_digits, channels + 1, (clips,), generator=generator)
    return k.repeat_interleave(frames_per_clip)


def masking_loss(token_model: nn.Module, context: Tensor, targets: Tensor, prev: Tensor,
                 generator: torch.Generator | None = None, temporal: Tensor | None = None
                 ) -> tuple[Tensor, Tensor]:
    """MaskGIT loss with the truncated grid `context` as input and the full ids `targets`
    predicted at the masked positions (N, h, w each): (mean loss, accuracy on the full ids).
    A context of all K digits makes it `MaskedTokenModel.masking_loss`."""
    from .masked import cosine_mask_ratio, temporal_kw

    shape = tuple(context.shape[1:])
    flat, want = context.flatten(1), targets.flatten(1)
    b, n = flat.shape
    ratio = cosine_mask_ratio(b, generator).to(flat.device).float()
    count = torch.clamp(torch.ceil(ratio * n), 1, n).long()
    ranks = torch.rand(b, n, generator=generator).to(flat.device).argsort(1).argsort(1)
    masked = ranks < count[:, None]
    inp = torch.where(masked, torch.full_like(flat, token_model.mask_id), flat)
    logits = token_model(inp, None if prev is None else prev.flatten(1), shape,
                         **temporal_kw(temporal))
    loss = F.cross_entropy(logits[masked], want[masked])
    acc = (logits[masked].argmax(-1) == want[masked]).float().mean()
    return loss, acc
