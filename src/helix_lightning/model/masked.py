"""Masked token model (MaskGIT-style), its coding stages and its deterministic coding pass.

Model
-----
`MaskedTokenModel` is a small bidirectional transformer over one frame's token grid (H, W),
flattened row-major to N = H * W positions. Each position's input is the sum of

* the current token's embedding (ids 0..K-1, or MASK = K = `codebook_size` where unknown),
* the previous frame's decoded token at the same position (its own embedding table; id K
  means "no previous frame", used for the first frame or `prev=None`), and
* a fixed 2-D sinusoidal position embedding (half the channels encode the row, half the
  column), so one model serves any grid size up to `max_tokens` positions.

Adding the previous frame at the same position (rather than concatenating N extra tokens)
keeps attention cost at N^2 and gives the co-located previous token directly to each
position; attention still sees the whole previous frame through the other positions.

Coding stages
-------------
`stage_masks(h, w, S, drop)` orders the grid coarse to fine with a deterministic 2-D
interleave (lowest position bits first: the (even, even) lattice, then (odd, odd), then
(even, odd), then (odd, even), recursively inside each lattice) and cuts the order into S
parts of equal count: S=2 on an even grid is a checkerboard, S=4 the 2x2 interleave.
Stage s is coded with stages < s visible and everything else masked. The dropped set is the
last round(drop * N) positions of that order: the finest positions, all inside the last
stage, spread over the grid, and known to both sides from (h, w, S, drop) alone, so no side
information is stored. Dropped tokens are never coded; the decoder fills them with the
model's argmax given every stored token (`fill_dropped`).

Reproducible tables
-------------------
The range coder (`entropy.TokenEntropyCoder`) needs encoder and decoder to use bit-identical
models. Coding therefore runs the network in float64 on the CPU (a float64 copy of the model)
under `torch.use_deterministic_algorithms(True)`, on one intra-op thread whatever the
caller's `torch.get_num_threads()` (`coding_context`): the caller's thread count cannot change
the summation order, and the small per-frame matrices gain nothing from more threads (on a
busy machine extra OpenMP threads only wait on each other). Another machine (another BLAS
kernel) may still sum in another order, which moves float64 probabilities by ~1e-15; the
integer tables (`entropy.integer_frequencies`) absorb that.

Speed: `coding_logits` is the module's forward written out layer by layer, so that the last
layer computes queries, feed-forward, norm and head only for the positions a stage codes (a
quarter of the grid with 4 stages); `StagePlan` keeps the per-grid work (masks, indices,
position embedding) for a whole clip.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import HelixError
from . import register


def sincos_2d(h: int, w: int, dim: int) -> Tensor:
    """Fixed 2-D sinusoidal position embedding, (h * w, dim) float32, rows then columns."""
    if dim % 4:
        raise HelixError(f"2-D sinusoidal embedding needs dim divisible by 4, got {dim}")
    quarter = dim // 4
    freq = 1.0 / (10000.0 ** (torch.arange(quarter, dtype=torch.float64) / quarter))
    ys = torch.arange(h, dtype=torch.float64)[:, None] * freq  # (h, q)
    xs = torch.arange(w, dtype=torch.float64)[:, None] * freq  # (w, q)
    row = torch.cat([ys.sin(), ys.cos()], dim=1)[:, None, :].expand(h, w, 2 * quarter)
    col = torch.cat([xs.sin(), xs.cos()], dim=1)[None, :, :].expand(h, w, 2 * quarter)
    return torch.cat([row, col], dim=2).reshape(h * w, dim).float()


def cosine_mask_ratio(batch: int, generator: torch.Generator | None = None) -> Tensor:
    """MaskGIT's cosine schedule: masked share r = cos(pi/2 * u), u ~ U(0, 1), per sample."""
    u = torch.rand(batch, generator=generator)
    return torch.cos(0.5 * math.pi * u)


def temporal_kw(temporal: Tensor | None) -> dict[str, Tensor]:
    """The keyword a token model with a temporal prior takes (`temporal_prior`); none when
    there is no state, so models without one are called as they always were."""
    return {} if temporal is None else {"temporal": temporal}


def flatten_grid(tokens: Tensor, prev: Tensor | None, shape: tuple[int, int] | None
                 ) -> tuple[Tensor, Tensor | None, tuple[int, int]]:
    """A token model's inputs as (B, N) with their grid (h, w): tokens (B, N) or (B, H, W),
    prev the same or None, `shape` defaulting to the tokens' own 2-D shape, else (1, N)."""
    if tokens.dim() == 3:
        shape = shape or (tokens.shape[1], tokens.shape[2])
        tokens = tokens.flatten(1)
    if prev is not None and prev.dim() == 3:
        prev = prev.flatten(1)
    n = tokens.shape[1]
    h, w = shape or (1, n)
    if h * w != n:
        raise HelixError(f"grid shape {(h, w)} does not hold {n} tokens")
    return tokens, prev, (h, w)


@register("token_model", "masked", defaults={"dim": 64, "depth": 2, "heads": 4, "max_tokens": 4096,
                                           "dropout": 0.0})
class MaskedTokenModel(nn.Module):
    """Bidirectional transformer predicting a frame's tokens from the visible ones + prev frame.

    `forward(tokens, prev=None, shape=None)`: tokens (B, N) int64 with unknown positions set
    to `mask_id` (= codebook_size), or (B, H, W); prev the same shape or None; shape (H, W)
    of the grid (defaults to the tokens' own 2-D shape, else (1, N)). Returns logits
    (B, N, codebook_size).
    """

    def __init__(self, codebook_size: int = 4**4, dim: int = 64, depth: int = 2,
                 heads: int = 4, max_tokens: int = 4096, dropout: float = 0.0) -> None:
        super().__init__()
        if codebook_size < 2:
            raise HelixError(f"codebook_size must be >= 2, got {codebook_size}")
        self.codebook_size = codebook_size
        self.mask_id = codebook_size
        self.dim = dim
        self.max_tokens = max_tokens
        self.tok_emb = nn.Embedding(codebook_size + 1, dim)
        self.prev_emb = nn.Embedding(codebook_size + 1, dim)  # id K: no previous frame
        layer = nn.TransformerEncoderLayer(dim, heads, dim_feedforward=4 * dim, dropout=dropout,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, codebook_size)
        sincos_2d(1, 4, dim)  # validates dim early

    def forward(self, tokens: Tensor, prev: Tensor | None = None,
                shape: tuple[int, int] | None = None) -> Tensor:
        tokens, prev, (h, w) = flatten_grid(tokens, prev, shape)
        n = tokens.shape[1]
        if n > self.max_tokens:
            raise HelixError(f"{n} tokens exceed max_tokens={self.max_tokens}")
        if prev is None:
            prev = torch.full_like(tokens, self.mask_id)
        elif prev.shape != tokens.shape:
            raise HelixError(f"prev shape {tuple(prev.shape)} != tokens {tuple(tokens.shape)}")
        pos = sincos_2d(h, w, self.dim).to(device=tokens.device, dtype=self.tok_emb.weight.dtype)
        x = self.tok_emb(tokens) + self.prev_emb(prev) + pos
        return self.head(self.norm(self.blocks(x)))

    def masking_loss(self, tokens: Tensor, prev: Tensor | None = None,
                     mask_ratio_sampler: Callable[[int], Tensor] | None = None,
                     generator: torch.Generator | None = None, temporal: Tensor | None = None
                     ) -> tuple[Tensor, Tensor]:
        """MaskGIT objective: mask a cosine-scheduled share, cross-entropy on masked positions.

        tokens (B, H, W) or (B, N); `mask_ratio_sampler(B)` gives each sample's masked share
        (default `cosine_mask_ratio`); at least one position per sample is masked. Returns
        (mean loss over masked positions, accuracy on masked positions).
        """
        shape = (tokens.shape[1], tokens.shape[2]) if tokens.dim() == 3 else None
        flat = tokens.flatten(1) if tokens.dim() == 3 else tokens
        b, n = flat.shape
        ratio = (mask_ratio_sampler(b) if mask_ratio_sampler is not None
                 else cosine_mask_ratio(b, generator)).to(flat.device).float()
        count = torch.clamp(torch.ceil(ratio * n), 1, n).long()  # (B,)
        ranks = torch.rand(b, n, generator=generator).to(flat.device).argsort(1).argsort(1)
        masked = ranks < count[:, None]
        inp = torch.where(masked, torch.full_like(flat, self.mask_id), flat)
        logits = self(inp, prev, shape, **temporal_kw(temporal))
        loss = F.cross_entropy(logits[masked], flat[masked])
        acc = (logits[masked].argmax(-1) == flat[masked]).float().mean()
        return loss, acc


# ----------------------------------------------------------------------------- stages


def _interleave_order(h: int, w: int) -> np.ndarray:
    """Flat indices of an (h, w) grid, coarse to fine (see the module docstring)."""
    bits = max(1, math.ceil(math.log2(max(h, w, 2))))
    ii, jj = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    digit = np.array([[0, 2], [3, 1]])  # (i bit, j bit) -> rank: (0,0), (1,1), (0,1), (1,0)
    key = np.zeros((h, w), dtype=np.int64)
    for b in range(bits):  # lowest position bit = most significant key digit
        key = key * 4 + digit[(ii >> b) & 1, (jj >> b) & 1]
    flat_key = key.ravel()
    return np.lexsort((np.arange(h * w), flat_key))  # stable: ties (none) by flat index


def stage_masks(h: int, w: int, stages: int, drop: float = 0.0) -> list[Tensor]:
    """Coding stages of an (h, w) grid: [stage_0, ..., stage_{S-1}, dropped], bool (h, w).

    The S stage masks partition the grid (equal counts, +-1); `dropped` holds
    round(drop * h * w) positions, all in the last stage (the finest of the interleave),
    that are never stored. Deterministic from the arguments alone.
    """
    if stages < 1:
        raise HelixError(f"need at least one coding stage, got {stages}")
    if not 0.0 <= drop < 1.0:
        raise HelixError(f"drop share must lie in [0, 1), got {drop}")
    n = h * w
    order = _interleave_order(h, w)
    cuts = [round(s * n / stages) for s in range(stages + 1)]
    n_drop = round(drop * n)
    last = cuts[-1] - cuts[-2]
    if n_drop > last:
        raise HelixError(f"drop {drop} ({n_drop} tokens) exceeds the last stage ({last} tokens)"
                         f" with {stages} stages; use fewer stages or a smaller drop")
    out = []
    for s in range(stages):
        m = np.zeros(n, dtype=bool)
        m[order[cuts[s]:cuts[s + 1]]] = True
        out.append(torch.from_numpy(m.reshape(h, w)))
    d = np.zeros(n, dtype=bool)
    d[order[n - n_drop:]] = True
    out.append(torch.from_numpy(d.reshape(h, w)))
    return out


# ----------------------------------------------------------------------------- coding


@contextmanager
def coding_context() -> Iterator[None]:
    """Deterministic algorithms, no autograd, one intra-op thread; all restored on exit.

    Entered around every coding forward pass; a caller coding many frames enters it once
    around the loop (nested entries then cost nothing)."""
    was = torch.are_deterministic_algorithms_enabled()
    threads = torch.get_num_threads()
    if not was:
        torch.use_deterministic_algorithms(True)
    if threads != 1:
        torch.set_num_threads(1)
    try:
        with torch.no_grad():
            yield
    finally:
        if threads != 1:
            torch.set_num_threads(threads)
        if not was:
            torch.use_deterministic_algorithms(False)


def coding_model(model: MaskedTokenModel) -> MaskedTokenModel:
    """A float64, eval-mode CPU copy of `model` for coding (cached on the model)."""
    cached = getattr(model, "_coding_copy", None)
    version = tuple(p._version for p in model.parameters())
    if cached is not None and cached[0] == version:
        return cached[1]
    model.__dict__.pop("_coding_copy", None)
    twin = copy.deepcopy(model).to("cpu", torch.float64).eval()
    object.__setattr__(model, "_coding_copy", (version, twin))  # not a submodule
    return twin


def _as_batch(t: Tensor | None) -> Tensor | None:
    if t is None:
        return None
    t = torch.as_tensor(t).long().cpu()
    return t.unsqueeze(0) if t.dim() == 2 else t


def _coded(masks: list[Tensor], stage: int) -> Tensor:
    """Positions coded in `stage`: the stage minus the dropped set (bool (h, w))."""
    return masks[stage] & ~masks[-1]


def _position_embedding(net: MaskedTokenModel, h: int, w: int) -> Tensor:
    """`net`'s position embedding of an (h, w) grid, as its forward adds it (cached on net)."""
    cache = net.__dict__.setdefault("_pos_cache", {})
    key = (h, w, net.tok_emb.weight.dtype)
    if key not in cache:
        cache[key] = sincos_2d(h, w, net.dim).to(dtype=net.tok_emb.weight.dtype)
    return cache[key]


def coding_logits(net: MaskedTokenModel, tokens: Tensor, prev: Tensor | None,
                  shape: tuple[int, int], rows: Tensor | None = None,
                  temporal: Tensor | None = None) -> Tensor:
    """`net(tokens, prev, shape)[:, rows]` computed without the work `rows` does not need.

    tokens/prev (B, N) int64 (prev None: no previous frame), rows a 1-D index tensor of the
    positions whose logits are wanted (None: all). The same arithmetic as the module's
    forward (embeddings, pre- or post-norm encoder layers, final norm, head), written out
    layer by layer so that the last layer runs its queries, feed-forward, norm and head on
    `rows` only (keys and values still come from every position: attention is bidirectional).
    Encoder and decoder call it with the same shapes, so they get the same floats.
    A token model with a coding pass of its own (`coding_logits(tokens, prev, shape, rows)`,
    e.g. `local_masked.LocalMaskedTokenModel`) is handed the call, with `temporal` (its
    temporal prior's state, `temporal_prior`) when given.
    """
    own = getattr(net, "coding_logits", None)
    if own is not None:
        return own(tokens, prev, shape, rows, **temporal_kw(temporal))
    if temporal is not None:
        raise HelixError("the global token model has no temporal prior")
    b, n = tokens.shape
    h, w = shape
    if prev is None:
        prev = torch.full_like(tokens, net.mask_id)
    x = net.tok_emb(tokens) + net.prev_emb(prev) + _position_embedding(net, h, w)
    layers = list(net.blocks.layers)
    for i, layer in enumerate(layers):
        last = rows is not None and i == len(layers) - 1
        x = _encoder_layer(layer, x, rows if last else None)
    if net.blocks.norm is not None:
        x = net.blocks.norm(x)
    if rows is not None and not layers:
        x = x[:, rows]
    return net.head(net.norm(x))


def _encoder_layer(layer: nn.TransformerEncoderLayer, x: Tensor, rows: Tensor | None) -> Tensor:
    """One nn.TransformerEncoderLayer (eval: no dropout) on x (B, N, d); output rows `rows`."""
    attn = layer.self_attn
    d = x.shape[-1]
    heads = attn.num_heads

    def self_attention(y: Tensor) -> Tensor:  # y: the (normed) input of every position
        wt, bias = attn.in_proj_weight, attn.in_proj_bias
        if rows is None:
            q, k, v = F.linear(y, wt, bias).split(d, dim=-1)
        else:
            k, v = F.linear(y, wt[d:], None if bias is None else bias[d:]).split(d, dim=-1)
            q = F.linear(y[:, rows], wt[:d], None if bias is None else bias[:d])
        bq, nq, _ = q.shape
        q = q.reshape(bq, nq, heads, d // heads).transpose(1, 2)
        k = k.reshape(bq, -1, heads, d // heads).transpose(1, 2)
        v = v.reshape(bq, -1, heads, d // heads).transpose(1, 2)
        out = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(bq, nq, d)
        return F.linear(out, attn.out_proj.weight, attn.out_proj.bias)

    def feed_forward(y: Tensor) -> Tensor:
        return layer.linear2(layer.activation(layer.linear1(y)))

    keep = x if rows is None else x[:, rows]
    if layer.norm_first:
        x = keep + self_attention(layer.norm1(x))
        return x + feed_forward(layer.norm2(x))
    x = layer.norm1(keep + self_attention(x))
    return layer.norm2(x + feed_forward(x))


class StagePlan:
    """The staged coding of (h, w) grids with one model: masks, positions, float64 network.

    Built once per clip; `probabilities(tokens, prev, s)` and `fill(tokens, prev)` are what
    `stage_probabilities` and `fill_dropped` compute, without redoing the per-grid work.
    """

    def __init__(self, model: MaskedTokenModel, h: int, w: int, stages: int,
                 drop: float = 0.0, masks: list[Tensor] | None = None) -> None:
        self.net = coding_model(model)
        self.shape = (h, w)
        self.stages = stages
        self.masks = stage_masks(h, w, stages, drop) if masks is None else masks
        self.dropped = self.masks[-1].flatten()
        self.drop_rows = self.dropped.nonzero().flatten()
        self.coded = [_coded(self.masks, s).flatten() for s in range(stages)]
        self.rows = [c.nonzero().flatten() for c in self.coded]
        self.visible = []
        seen = torch.zeros(h * w, dtype=torch.bool)
        for s in range(stages):
            self.visible.append(seen.clone())
            seen |= self.masks[s].flatten()

    def _flat(self, t: Tensor | None) -> Tensor | None:
        """(N,) or (H, W) -> (1, N); (B, H, W) -> (B, N); int64 on the CPU."""
        if t is None:
            return None
        t = torch.as_tensor(t).long().cpu()
        return t.reshape(1 if t.dim() < 3 else t.shape[0], -1)

    def probabilities(self, tokens: Tensor, prev: Tensor | None, stage: int,
                      temporal: Tensor | None = None) -> np.ndarray:
        """float64 probabilities (B, n_s, K) of stage `stage`'s coded positions (row-major);
        only the tokens of stages < `stage` are read. tokens/prev (N,), (H, W) or (B, H, W);
        `temporal` the temporal prior's state (`temporal_prior`), if the model has one."""
        tok, prv = self._flat(tokens), self._flat(prev)
        net = self.net
        inp = torch.where(self.visible[stage], tok, net.mask_id)
        with coding_context():
            logits = coding_logits(net, inp, prv, self.shape, self.rows[stage], temporal)
            return torch.softmax(logits, dim=-1).numpy()

    def fill(self, tokens: Tensor, prev: Tensor | None, temporal: Tensor | None = None
             ) -> Tensor:
        """tokens ((H, W) or (B, H, W)) with the dropped positions set to the model's argmax
        given all stored ones (a copy)."""
        single = torch.as_tensor(tokens).dim() == 2
        tok = _as_batch(tokens).clone()
        if len(self.drop_rows):
            flat = tok.view(tok.shape[0], -1)
            inp = torch.where(self.dropped, self.net.mask_id, flat)
            with coding_context():
                logits = coding_logits(self.net, inp, self._flat(prev), self.shape,
                                       self.drop_rows, temporal)
            flat[:, self.drop_rows] = logits.argmax(-1)
        return tok[0] if single else tok


def _plan(model: MaskedTokenModel, masks: list[Tensor]) -> StagePlan:
    h, w = masks[0].shape
    return StagePlan(model, h, w, len(masks) - 1, masks=masks)


def stage_probabilities(model: MaskedTokenModel, tokens: Tensor, prev: Tensor | None,
                        masks: list[Tensor], stage: int) -> np.ndarray:
    """float64 probabilities (B, n_s, K) for the coded positions of `stage` (row-major).

    Only positions of stages < `stage` are shown to the model (all others masked), so the
    decoder can call this with the tokens it has so far. tokens/prev (H, W) or (B, H, W).
    """
    return _plan(model, masks).probabilities(tokens, prev, stage)


def fill_dropped(model: MaskedTokenModel, tokens: Tensor, prev: Tensor | None,
                 masks: list[Tensor]) -> Tensor:
    """tokens with the dropped positions set to the model's argmax given all stored tokens."""
    return _plan(model, masks).fill(tokens, prev)
