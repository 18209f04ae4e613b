"""The estimated rate of the tokens: registered priors and the likelihoods the loss pays.

A prior (`register("prior", name, defaults=...)`, named by `model.rate.prior`) gives log2 p
of every token id at every position of a frame's grid, and which positions are stored:

- "staged": the masked token model in the very context the range coder uses
  (`masked.stage_masks`): stage s sees the tokens of stages < s and the previous frame's
  tokens at the same positions; dropped tokens are not stored, so not counted. S forward
  passes of the transformer per batch.
- "factorised": one learned categorical over the token ids, shared by every position (no
  context): one softmax, no transformer pass; an upper bound on what context buys.

`HelixCodec.forward(x, prior=...)` returns, CompressAI style, the reconstruction and the
`likelihoods` of its tokens: `log2_likelihoods` is log2 p of each stored token, straight
through its soft assignment q(token) = prod_c soft_digit_c (`FSQ.soft_digits` at the soft
temperature): the value is the hard token's log2 p, the gradient reaches the encoder through
q, so the encoder learns to move towards cheaper tokens. Bits = -sum of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import register
from .masked import stage_masks, temporal_kw
from .nested import marginal_log2_per_item

LN2 = math.log(2.0)


@dataclass
class PriorContext:
    """What the module hands every prior: its token model, the factorised prior's logits
    (a parameter of the module, not of the codec, so the codec's hashed names stay as they
    are), and the coding stages and drop share of `model.rate`."""

    token_model: nn.Module
    logits: Tensor
    stages: int
    drop: float


class TokenPrior(Protocol):
    """log2 p of every token id at every position (N, h*w, K) and the stored mask (h*w,)."""

    def log2_probs(self, tokens: Tensor, prev: Tensor, temporal: Tensor | None = None
                   ) -> tuple[Tensor, Tensor]: ...


@register("prior", "staged", defaults={})
class StagedPrior:
    """The masked token model, stage by stage, in the range coder's context."""

    def __init__(self, context: PriorContext) -> None:
        self.context = context

    def log2_probs(self, tokens: Tensor, prev: Tensor, temporal: Tensor | None = None
                   ) -> tuple[Tensor, Tensor]:
        """Position in stage s gets the model's prediction with stages < s visible (and the
        temporal prior's state, `temporal_prior`, when the model has one)."""
        n, h, w = tokens.shape
        ctx = self.context
        masks = [m.to(tokens.device) for m in stage_masks(h, w, ctx.stages, ctx.drop)]
        mask_id = ctx.token_model.mask_id
        visible = torch.zeros(h, w, dtype=torch.bool, device=tokens.device)
        logp = None
        for s in range(ctx.stages):
            coded = (masks[s] & ~masks[-1]).flatten()
            if bool(coded.any()):
                inp = torch.where(visible, tokens, torch.full_like(tokens, mask_id))
                lp = F.log_softmax(ctx.token_model(inp, prev, (h, w), **temporal_kw(temporal)),
                                   -1)
                logp = lp if logp is None else torch.where(coded[None, :, None], lp, logp)
            visible = visible | masks[s]
        return logp / LN2, ~masks[-1].flatten()


@register("prior", "factorised", defaults={})
class FactorisedPrior:
    """One learned categorical over the token ids (the context's logits), at every position."""

    def __init__(self, context: PriorContext) -> None:
        self.context = context

    def log2_probs(self, tokens: Tensor, prev: Tensor, temporal: Tensor | None = None
                   ) -> tuple[Tensor, Tensor]:
        n, h, w = tokens.shape
        logits = self.context.logits
        logp = F.log_softmax(logits, -1).expand(n, h * w, logits.shape[-1])
        return logp / LN2, torch.ones(h * w, dtype=torch.bool, device=tokens.device)


def soft_tokens(soft: Tensor) -> Tensor:
    """Soft digits (N, k, h, w, L) -> probabilities over the L**k token ids (N, h, w, L**k).

    Channel 0 is the most significant digit, as in `FSQ.indices`.
    """
    sd = soft.movedim(1, -2)  # (N, h, w, k, L)
    q = sd[..., 0, :]
    for c in range(1, sd.shape[-2]):
        q = (q[..., :, None] * sd[..., c, None, :]).flatten(-2)
    return q


def previous_tokens(tokens: Tensor, frames_per_clip: int, mask_id: int) -> Tensor:
    """Each frame's previous frame's tokens within its clip (mask_id for first frames)."""
    clips = tokens.unflatten(0, (-1, frames_per_clip))
    prev = torch.cat([torch.full_like(clips[:, :1], mask_id), clips[:, :-1]], dim=1)
    return prev.flatten(0, 1)


def log2_likelihoods(fsq: nn.Module, out: dict[str, Tensor], prior: TokenPrior,
                     temperature: float) -> Tensor:
    """log2 p of each stored token (N, stored positions), straight through the soft
    assignment; `out` is the codec's forward dict (tokens, prev, z_mixed; with `kept`, the
    digits kept per frame, the log2 marginal of each token's kept prefix: the hard value is
    the truncated token's, and the dropped digits get no gradient, their soft assignments
    summing to 1 over the prefix's completions)."""
    tokens = out["tokens"]
    log2p, stored = prior.log2_probs(tokens, out["prev"], out.get("temporal"))
    if out.get("kept") is not None:  # nested digits: each frame pays its prefixes' marginal
        log2p = marginal_log2_per_item(log2p, out["kept"], fsq.channels, fsq.levels)
    q = soft_tokens(fsq.soft_digits(out["z_mixed"], temperature)).flatten(1, 2)  # (N, n, K)
    hard = F.one_hot(tokens.flatten(1), q.shape[-1]).to(q.dtype)
    q = hard + q - q.detach()  # value: the hard token; gradient: its soft assignment
    return (q * log2p).sum(-1)[:, stored]
