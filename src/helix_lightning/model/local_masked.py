"""Local masked token model: window attention (Swin-style), cost linear in the grid.

`LocalMaskedTokenModel` predicts a frame's tokens from the visible ones and the previous
frame's, like `masked.MaskedTokenModel` (same inputs, same MASK id, same MaskGIT loss), but
each layer attends only within non-overlapping `window` x `window` windows of the token grid,
so a frame of N tokens costs O(N * window**2) instead of O(N**2): a 1280x720 frame (92x160
tokens) is as cheap per token as a 176x144 one (`benchmarks/bench_token_model.py`: at equal
dim/depth, 1280x720 codes about 14x faster than with the global model).

Inputs per position: the current token's embedding (MASK = `codebook_size` where unknown)
plus the previous frame's token at the same position (its own table; id K: no previous
frame). There is no absolute position embedding: each window layer adds a learned relative
position bias per head (Swin), so the model works on any grid size, is translation-equivariant
up to the windows' alignment, and a token only ever influences positions within its
receptive field.

Windows: odd layers (0-based) are shifted by window // 2 both ways, so information crosses
window borders; a grid that is not a multiple of the window (or a shifted layer's border)
is padded, and padded keys are masked out of the attention (no wrap-around, unlike Swin's
cyclic shift). The receptive field of L layers is thus within L * (window - 1) tokens each
way (`receptive_field`).

Coding: `coding_logits(tokens, prev, shape, rows)` is the coder's pass (`masked.coding_logits`
hands it over, so `masked.StagePlan` and `entropy.TokenEntropyCoder` run it unchanged, in
float64 on one thread under `masked.coding_context`): the last layer runs its output
projection, feed-forward, final norm and head (the most costly part with a large codebook)
on the coded positions `rows` only; the linear layers never run on padding; the attention
masks (bias + padding) are cached per grid size while coding. Attention runs per window
(scaled_dot_product_attention batched over windows), so a window's output never depends on
another window's values: the locality is exact.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import HelixError
from . import register
from .masked import MaskedTokenModel, flatten_grid
from .temporal_prior import TemporalState


def _relative_index(window: int) -> Tensor:
    """(window**2, window**2) index into a (2 window - 1)**2 table of relative offsets."""
    ys, xs = torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")
    coords = torch.stack([ys.flatten(), xs.flatten()])  # (2, L)
    rel = coords[:, :, None] - coords[:, None, :] + (window - 1)  # (2, L, L), >= 0
    return rel[0] * (2 * window - 1) + rel[1]


class WindowBlock(nn.Module):
    """Pre-norm transformer layer whose attention stays inside (shifted) windows.

    `forward(x, rows=None)`: x (B, H, W, d) -> (B, H, W, d); with `rows` (1-D flat
    indices), only those positions' outputs (B, R, d), computed without the feed-forward of
    the others.
    """

    def __init__(self, dim: int, heads: int, window: int, shift: int,
                 dropout: float = 0.0) -> None:
        super().__init__()
        if dim % heads:
            raise HelixError(f"dim {dim} is not divisible by heads {heads}")
        self.heads, self.window, self.shift = heads, window, shift
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(4 * dim, dim))
        self.drop = nn.Dropout(dropout)
        self.rel_bias = nn.Parameter(torch.zeros(heads, (2 * window - 1) ** 2))
        nn.init.trunc_normal_(self.rel_bias, std=0.02)
        self.register_buffer("rel_index", _relative_index(window), persistent=False)

    def _padding(self, h: int, w: int) -> tuple[int, int, int, int]:
        """(top, bottom, left, right) padding that tiles the grid with shifted windows."""
        ws, s = self.window, self.shift
        return s, (-(h + s)) % ws, s, (-(w + s)) % ws

    def _windows(self, t: Tensor) -> Tensor:
        """(B, H, W, c) -> (B * nh * nw, window**2, c), padded with zeros."""
        b, h, w, c = t.shape
        top, bottom, left, right = self._padding(h, w)
        t = F.pad(t, (0, 0, left, right, top, bottom))
        ws = self.window
        nh, nw = t.shape[1] // ws, t.shape[2] // ws
        t = t.view(b, nh, ws, nw, ws, c).permute(0, 1, 3, 2, 4, 5)
        return t.reshape(b * nh * nw, ws * ws, c)

    def _unwindows(self, t: Tensor, b: int, h: int, w: int) -> Tensor:
        """Inverse of `_windows`: (B * nh * nw, window**2, c) -> (B, H, W, c), cropped."""
        top, bottom, left, right = self._padding(h, w)
        ws = self.window
        nh, nw = (h + top + bottom) // ws, (w + left + right) // ws
        t = t.view(b, nh, nw, ws, ws, -1).permute(0, 1, 3, 2, 4, 5)
        t = t.reshape(b, nh * ws, nw * ws, -1)
        return t[:, top:top + h, left:left + w]

    def attention_mask(self, h: int, w: int, like: Tensor) -> Tensor:
        """(nwin, heads, L, L) additive mask: relative position bias, -inf on padded keys.

        Without autograd (coding) it is kept per grid size, dtype and bias version."""
        key = (h, w, like.dtype, like.device, self.rel_bias._version)
        cache = self.__dict__.setdefault("_mask_cache", {})
        if not torch.is_grad_enabled() and key in cache:
            return cache[key]
        real = torch.ones(1, h, w, 1, dtype=torch.bool, device=like.device)
        pad = ~self._windows(real)[..., 0]  # (nwin, L): True on padding
        bias = self.rel_bias[:, self.rel_index].to(like.dtype)  # (heads, L, L)
        mask = bias[None].masked_fill(pad[:, None, None, :], float("-inf"))
        if not torch.is_grad_enabled():
            cache.clear()
            cache[key] = mask
        return mask

    def attention(self, y: Tensor) -> Tensor:
        """Multi-head self-attention inside each window of normed y (B, H, W, d), before
        the output projection (B, H, W, d)."""
        b, h, w, d = y.shape
        win = self._windows(self.qkv(y))  # (B * nwin, L, 3d), padded
        n, length, _ = win.shape
        q, k, v = win.view(n, length, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        mask = self.attention_mask(h, w, q)  # q's dtype: under autocast not y's
        mask = mask if b == 1 else mask.repeat(b, 1, 1, 1)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                             dropout_p=self.drop.p if self.training else 0.0)
        return self._unwindows(out.transpose(1, 2).reshape(n, length, d), b, h, w)

    def forward(self, x: Tensor, rows: Tensor | None = None) -> Tensor:
        a = self.attention(self.norm1(x))
        if rows is not None:
            x, a = x.flatten(1, 2)[:, rows], a.flatten(1, 2)[:, rows]
        x = x + self.drop(self.proj(a))
        return x + self.drop(self.mlp(self.norm2(x)))


@register("token_model", "local", defaults={"dim": 64, "depth": 2, "heads": 4, "window": 8,
                                          "dropout": 0.0, "temporal": 0})
class LocalMaskedTokenModel(nn.Module):
    """Window-attention token model predicting a frame's tokens from the visible ones + prev.

    `forward(tokens, prev=None, shape=None)`: tokens (B, N) int64 with unknown positions set
    to `mask_id` (= codebook_size), or (B, H, W); prev the same shape or None; shape (H, W)
    of the grid (defaults to the tokens' own 2-D shape, else (1, N)). Returns logits
    (B, N, codebook_size), as `MaskedTokenModel` does. `temporal` > 0: a temporal prior of
    that many channels (`temporal_prior`); its state (B, C, H, W) is then an input too
    (`temporal=`, None: a reset's zeros).
    """

    def __init__(self, codebook_size: int = 4**4, dim: int = 64, depth: int = 2,
                 heads: int = 4, window: int = 8, dropout: float = 0.0, temporal: int = 0
                 ) -> None:
        super().__init__()
        if codebook_size < 2:
            raise HelixError(f"codebook_size must be >= 2, got {codebook_size}")
        if window < 1 or depth < 1:
            raise HelixError(f"window and depth must be >= 1, got {window} and {depth}")
        self.codebook_size = codebook_size
        self.mask_id = codebook_size
        self.dim, self.window = dim, window
        self.tok_emb = nn.Embedding(codebook_size + 1, dim)
        self.prev_emb = nn.Embedding(codebook_size + 1, dim)  # id K: no previous frame
        self.blocks = nn.ModuleList(
            WindowBlock(dim, heads, window, (window // 2) * (i % 2), dropout)
            for i in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, codebook_size)
        if temporal < 0:
            raise HelixError(f"temporal must be >= 0 channels, got {temporal}")
        # absent when 0: the parameter names (and the model hash) of models without it stay
        self.temporal = TemporalState(codebook_size, temporal, dim) if temporal else None

    @property
    def receptive_field(self) -> int:
        """Tokens each way beyond which an input cannot change a prediction (a bound)."""
        return len(self.blocks) * (self.window - 1)  # a window spans window - 1 each way

    def forward(self, tokens: Tensor, prev: Tensor | None = None,
                shape: tuple[int, int] | None = None, temporal: Tensor | None = None
                ) -> Tensor:
        tokens, prev, (h, w) = flatten_grid(tokens, prev, shape)
        if prev is not None and prev.shape != tokens.shape:
            raise HelixError(f"prev shape {tuple(prev.shape)} != tokens {tuple(tokens.shape)}")
        return self.coding_logits(tokens, prev, (h, w), temporal=temporal)

    def coding_logits(self, tokens: Tensor, prev: Tensor | None, shape: tuple[int, int],
                      rows: Tensor | None = None, temporal: Tensor | None = None) -> Tensor:
        """Logits (B, R, K) of positions `rows` (None: all, (B, N, K)); tokens/prev (B, N);
        `temporal` the temporal prior's state (B, C, H, W), None: zeros (a reset).

        The last layer's projection, feed-forward, norm and head run on `rows` only."""
        b, n = tokens.shape
        h, w = shape
        if prev is None:
            prev = torch.full_like(tokens, self.mask_id)
        x = (self.tok_emb(tokens) + self.prev_emb(prev)).view(b, h, w, self.dim)
        if self.temporal is not None:
            if temporal is None:
                temporal = self.temporal.zeros(b, h, w, like=x)
            x = x + self.temporal.inject(temporal.to(x.dtype))
        elif temporal is not None:
            raise HelixError("this token model has no temporal prior (model.masked.temporal)")
        last = len(self.blocks) - 1
        for i, block in enumerate(self.blocks):
            x = block(x, rows if i == last else None)
        if rows is None:
            x = x.flatten(1, 2)
        return self.head(self.norm(x))

    # the MaskGIT objective is the same as the global model's: mask, predict, cross-entropy
    masking_loss = MaskedTokenModel.masking_loss

