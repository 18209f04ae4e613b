"""Kronecker-structured mixing of the latent token grid, applied before quantisation.

The mixer acts on every latent channel alone, on non-overlapping bh x bw blocks of the
(B, C, H, W) grid: a block X, read row-major into x = vec(X), becomes M x with M of size
bh*bw x bh*bw. With M = A_h (x) A_w this is A_h X A_w^T, computed by reshapes and einsum;
no Kronecker matrix over the whole block is built (bar `dense`, whose map is one);
`factored` folds its 2 x 2 factors into A_h (bh x bh) and A_w (bw x bw) first.

Modes
- "none": M = I.
- "permute": M = P_h (x) P_w, a Kronecker product of two riffle permutations (`riffle`): in
  the row-major order of the mixed grid, horizontal neighbours of the input grid land in one
  row at least bw/2 columns apart, vertical neighbours in one column at least bh/2 rows apart
  (block seams included). Sides must be even or 1 (a side of 1 is left alone).
- "learned": M orthogonal, by `factorisation`:
    "dense"      one orthogonal bh*bw x bh*bw map, initialised as the 2-D DCT C_h (x) C_w;
    "separable"  A_h (x) A_w, each a DCT-II matrix at init, so M starts as the 2-D DCT;
    "factored"   every factor 2 x 2 (bh = 2^a, bw = 2^b): F_1 (x) ... (x) F_a (x) G_1 ... G_b,
                 each the 2-point DCT at init, so M starts as the Walsh-Hadamard transform,
                 the DCT's nearest Kronecker-of-2x2 relative (the 4-point DCT does not factor).
  Each factor is Q0 expm(S - S^T) (`OrthogonalFactor`): orthogonal for any S, so `inverse`
  applies M^T and undoes `forward` to float precision. `per_channel=True` gives every latent
  channel its own S; the default shares one set of factors.

Padding: grids that do not tile are padded at the bottom and right by replicating the edge
token (not zeros: a flat extension adds no edge, so DCT-like maps keep padded blocks'
energy in low frequencies). `padded_size(h, w)` is the grid actually quantised and written
(count those tokens); `crop`, or `inverse(z, size=(h, w))`, restores the size.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import HelixError
from . import register

MODES = ("none", "permute", "learned")
FACTORISATIONS = ("dense", "separable", "factored")


def dct_matrix(n: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """Orthonormal DCT-II matrix: row k is basis k, so y = C x are the DCT coefficients of x."""
    k = torch.arange(n, dtype=torch.float64)[:, None]
    j = torch.arange(n, dtype=torch.float64)[None, :]
    c = torch.cos(math.pi * (2 * j + 1) * k / (2 * n)) * math.sqrt(2 / n)
    c[0] /= math.sqrt(2)
    return c.to(dtype)


def riffle(n: int) -> Tensor:
    """Destination of each of n positions: sigma(j) = j // 2 + (n / 2) * (1 - j % 2), n even or 1.

    A perfect shuffle (odd positions to the first half, even ones to the second): consecutive
    positions land |sigma(j+1) - sigma(j)| in {n/2, n/2 + 1} apart, the largest minimum gap any
    permutation of n allows; across a seam between two blocks (sigma(n-1) = n/2 - 1 then
    sigma(0) = n/2 in the next) the gap is n + 1.
    """
    if n != 1 and n % 2:
        raise HelixError(f"permute needs block sides that are even or 1, got {n}")
    j = torch.arange(n)
    return j // 2 + (n // 2) * (1 - j % 2)


def permutation_matrix(dest: Tensor) -> Tensor:
    """P with (P x)[dest[j]] = x[j]."""
    p = torch.zeros(len(dest), len(dest))
    p[dest, torch.arange(len(dest))] = 1.0
    return p


class OrthogonalFactor(nn.Module):
    """Orthogonal n x n Q = Q0 expm(S - S^T): Q0 fixed (a DCT basis), S learned (zero at init).

    The exponential of a skew-symmetric matrix is a rotation, so Q stays orthogonal after any
    gradient step and Q^T is its inverse; Q0 picks the component (det +1 or -1), so starts
    like the 2-point DCT (a reflection) are reachable. With `copies`, one S per latent channel
    and Q of shape (copies, n, n).
    """

    def __init__(self, base: Tensor, copies: int | None = None) -> None:
        super().__init__()
        n = base.shape[-1]
        self.register_buffer("base", base.clone())
        self.skew = nn.Parameter(torch.zeros((n, n) if copies is None else (copies, n, n)))

    def forward(self) -> Tensor:
        # expm in float64: torch's float32 expm is off orthogonal by ~3e-5 on 2x2 (fine at 1e-7
        # in float64); the factors are small, so this costs nothing
        s = (self.skew - self.skew.transpose(-1, -2)).double()
        return self.base @ torch.linalg.matrix_exp(s).to(self.base.dtype)


def _apply(x: Tensor, m: Tensor, axis: int) -> Tensor:
    """Multiply axis `axis` of x (B, C, ...) by m: shared (n, n) or per channel (C, n, n)."""
    x = x.movedim(axis, -1)
    y = x @ m.transpose(-1, -2) if m.dim() == 2 else torch.einsum("bc...n,cmn->bc...m", x, m)
    return y.movedim(-1, axis)


def _kron(a: Tensor, b: Tensor) -> Tensor:
    """Kronecker product of the last two axes, batched over any leading ones (C, n, n)."""
    out = a[..., :, None, :, None] * b[..., None, :, None, :]
    return out.reshape(*out.shape[:-4], a.shape[-2] * b.shape[-2], a.shape[-1] * b.shape[-1])


def _kron_all(mats: list[Tensor], n: int = 1, like: Tensor | None = None) -> Tensor:
    """Kronecker product of shared (n, n) or per-channel (C, n, n) factors; I_n if none."""
    if mats:
        return functools.reduce(_kron, mats)
    return torch.eye(n) if like is None else torch.eye(n, dtype=like.dtype, device=like.device)


def _log2_side(n: int) -> int:
    if n & (n - 1):
        raise HelixError(f"factored needs block sides that are powers of two, got {n}")
    return n.bit_length() - 1


class KroneckerMixer(nn.Module):
    """Per-channel orthogonal (or permutation) map on bh x bw blocks of a (B, C, H, W) grid."""

    def __init__(
        self,
        channels: int,
        mode: str = "learned",
        block: int | tuple[int, int] = (4, 4),
        factorisation: str = "separable",
        per_channel: bool = False,
    ) -> None:
        super().__init__()
        bh, bw = (block, block) if isinstance(block, int) else tuple(block)
        if mode not in MODES:
            raise HelixError(f"unknown mixer mode {mode!r} (known: {', '.join(MODES)})")
        if mode == "learned" and factorisation not in FACTORISATIONS:
            raise HelixError(
                f"unknown factorisation {factorisation!r} (known: {', '.join(FACTORISATIONS)})")
        if bh < 1 or bw < 1:
            raise HelixError(f"block sides must be positive, got {(bh, bw)}")
        self.channels, self.mode, self.block = channels, mode, (bh, bw)
        self.factorisation = factorisation if mode == "learned" else None
        self.per_channel = per_channel and mode == "learned"
        copies = channels if self.per_channel else None

        if mode == "permute":
            dest = (riffle(bh)[:, None] * bw + riffle(bw)[None, :]).flatten()
            self.register_buffer("dest", dest, persistent=False)
            self.register_buffer("src", torch.argsort(dest), persistent=False)
        if self.factorisation == "dense":
            bases = [torch.kron(dct_matrix(bh), dct_matrix(bw))]
        elif self.factorisation == "separable":
            bases = [dct_matrix(bh), dct_matrix(bw)]
        elif self.factorisation == "factored":
            bases = [dct_matrix(2)] * (_log2_side(bh) + _log2_side(bw))
        else:
            bases = []
        self.learned = nn.ModuleList(OrthogonalFactor(b, copies) for b in bases)

    def padded_size(self, h: int, w: int) -> tuple[int, int]:
        """Grid size after padding (h, w) up to whole blocks: the tokens actually written."""
        bh, bw = self.block
        return -(-h // bh) * bh, -(-w // bw) * bw

    def forward(self, z: Tensor) -> Tensor:
        """Mix (B, C, H, W) latents block by block; the result has `padded_size(H, W)`."""
        if z.dim() != 4 or z.shape[1] != self.channels:
            raise ValueError(f"expected (B, {self.channels}, H, W), got {tuple(z.shape)}")
        hp, wp = self.padded_size(*z.shape[-2:])
        if (hp, wp) != tuple(z.shape[-2:]):
            z = F.pad(z, (0, wp - z.shape[-1], 0, hp - z.shape[-2]), mode="replicate")
        return self._from_blocks(self._mix(self._to_blocks(z), inverse=False))

    def inverse(self, z_mixed: Tensor, size: tuple[int, int] | None = None) -> Tensor:
        """Undo `forward` (M^T; exact for permute), then `crop` to `size` if given."""
        bh, bw = self.block
        if z_mixed.shape[-2] % bh or z_mixed.shape[-1] % bw:
            raise ValueError(f"mixed grid {tuple(z_mixed.shape)} does not tile by {self.block}")
        z = self._from_blocks(self._mix(self._to_blocks(z_mixed), inverse=True))
        return z if size is None else self.crop(z, size)

    @staticmethod
    def crop(z: Tensor, size: tuple[int, int]) -> Tensor:
        """The top-left (h, w) of a padded grid."""
        return z[..., : size[0], : size[1]]

    def factors(self) -> list[Tensor]:
        """The Kronecker factors of M, most significant first (M = kron of them; I for none).

        dense: [Q]; separable: [A_h, A_w]; factored: [F_1..F_a, G_1..G_b]; permute: [P_h, P_w].
        Learned factors are (n, n), or (C, n, n) with `per_channel`.
        """
        if self.mode == "permute":
            return [permutation_matrix(riffle(s)).to(self.dest.device) for s in self.block]
        if self.mode == "none":
            return [torch.eye(self.block[0] * self.block[1])]
        return [f() for f in self.learned]

    def matrix(self) -> Tensor:
        """M itself, (bh*bw, bh*bw) or (C, ., .): for analysis and tests, not for mixing."""
        return _kron_all(self.factors(), self.block[0] * self.block[1])

    def _to_blocks(self, z: Tensor) -> Tensor:
        b, c, h, w = z.shape
        bh, bw = self.block
        return z.reshape(b, c, h // bh, bh, w // bw, bw).permute(0, 1, 2, 4, 3, 5)

    @staticmethod
    def _from_blocks(x: Tensor) -> Tensor:
        b, c, nh, nw, bh, bw = x.shape
        return x.permute(0, 1, 2, 4, 3, 5).reshape(b, c, nh * bh, nw * bw)

    def _mix(self, x: Tensor, inverse: bool) -> Tensor:
        """Apply M (or M^T) to blocks x of shape (B, C, nH, nW, bh, bw)."""
        if self.mode == "none":
            return x
        shape = x.shape
        if self.mode == "permute":
            flat = x.flatten(-2)
            return flat[..., self.dest if inverse else self.src].reshape(shape)
        mats = [f() for f in self.learned]
        if inverse:  # (kron of transposes) = transpose of kron
            mats = [m.transpose(-1, -2) for m in mats]
        if self.factorisation == "dense":
            return _apply(x.flatten(-2), mats[0], -1).reshape(shape)
        if self.factorisation == "factored":  # fold the 2x2 factors into A_h and A_w: 2 matmuls
            a = _log2_side(self.block[0])
            mats = [_kron_all(mats[:a], self.block[0], x), _kron_all(mats[a:], self.block[1], x)]
        return _apply(_apply(x, mats[0], -2), mats[1], -1)

    def extra_repr(self) -> str:
        return (f"channels={self.channels}, mode={self.mode!r}, block={self.block}, "
                f"factorisation={self.factorisation!r}, per_channel={self.per_channel}")


#: What `model.mixer` takes for "kronecker" (the mixer's `channels` come from the tokenizer).
DEFAULTS = {"mode": "learned", "block": 4, "factorisation": "separable", "per_channel": False}
register("mixer", "kronecker", defaults=DEFAULTS)(KroneckerMixer)
# Fixed variants by name: their fixed keys are not parameters any more.
for _name, _fixed in {
    "none": {"mode": "none"},
    "permute": {"mode": "permute"},
    "dense": {"mode": "learned", "factorisation": "dense"},
    "separable": {"mode": "learned", "factorisation": "separable"},
    "factored": {"mode": "learned", "factorisation": "factored"},
}.items():
    _own = {k: v for k, v in DEFAULTS.items() if k not in _fixed
            and (_fixed["mode"] == "learned" or k not in ("factorisation", "per_channel"))}
    register("mixer", _name, defaults=_own)(functools.partial(KroneckerMixer, **_fixed))
