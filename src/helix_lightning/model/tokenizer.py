"""A small convolutional tokenizer: frames (B, 3, H, W) in [0, 1] <-> latents (B, k, H/f, W/f).

The encoder is a stem conv, then per factor of 2 in f a stride-2 conv and residual blocks
(GroupNorm + SiLU) at the reduced size, then a 1x1 conv to k channels; the decoder mirrors it
with nearest upsampling + conv and ends in a sigmoid, so frames come back in [0, 1]. Compute
sits at the reduced resolutions (only the stem and the last upsampling conv run at full
size). Width 64, f=8, k=4 has about 0.67M parameters. Sides that are not multiples of f are
padded by reflection and cropped back in `decode`.
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import HelixError
from . import register


def pad_to_multiple(x: Tensor, multiple: int) -> Tensor:
    """Pad the bottom and right of (B, C, H, W) up to multiples of `multiple`.

    Reflection (no artificial edge for the convs to code); replicate where a side is too
    short to reflect (reflect needs the pad shorter than the side).
    """
    h, w = x.shape[-2:]
    ph, pw = -h % multiple, -w % multiple
    if ph == 0 and pw == 0:
        return x
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode)


def crop(x: Tensor, size: tuple[int, int]) -> Tensor:
    """The top-left (h, w) of x."""
    return x[..., : size[0], : size[1]]


class ResBlock(nn.Module):
    """x + conv(SiLU(GN(conv(SiLU(GN(x)))))), the last conv zero-initialised (identity at start)."""

    def __init__(self, width: int, groups: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.GroupNorm(groups, width), nn.SiLU(), nn.Conv2d(width, width, 3, padding=1),
            nn.GroupNorm(groups, width), nn.SiLU(), nn.Conv2d(width, width, 3, padding=1),
        )
        nn.init.zeros_(self.body[-1].weight)
        nn.init.zeros_(self.body[-1].bias)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


@register("tokenizer", "conv")
class ConvTokenizer(nn.Module):
    """Conv encoder/decoder between frames and a k-channel latent grid, downsampling by f."""

    def __init__(
        self,
        channels_latent: int = 4,
        downsample: int = 8,
        width: int = 64,
        res_blocks: int = 1,
        groups: int = 8,
    ) -> None:
        super().__init__()
        if downsample < 2 or downsample & (downsample - 1):
            raise HelixError(f"downsample must be a power of two >= 2, got {downsample}")
        if width % groups:
            raise HelixError(f"width {width} is not a multiple of groups {groups}")
        self.channels_latent, self.downsample, self.width = channels_latent, downsample, width
        stages = int(math.log2(downsample))

        enc: list[nn.Module] = [nn.Conv2d(3, width, 3, padding=1)]
        for _ in range(stages):
            enc.append(nn.Conv2d(width, width, 3, stride=2, padding=1))
            enc.extend(ResBlock(width, groups) for _ in range(res_blocks))
        enc += [nn.GroupNorm(groups, width), nn.SiLU(), nn.Conv2d(width, channels_latent, 1)]
        self.encoder = nn.Sequential(*enc)

        dec: list[nn.Module] = [nn.Conv2d(channels_latent, width, 3, padding=1)]
        for _ in range(stages):
            dec.extend(ResBlock(width, groups) for _ in range(res_blocks))
            dec.append(nn.Upsample(scale_factor=2, mode="nearest"))
            dec.append(nn.Conv2d(width, width, 3, padding=1))
        dec += [nn.GroupNorm(groups, width), nn.SiLU(), nn.Conv2d(width, 3, 3, padding=1)]
        self.decoder = nn.Sequential(*dec)

    def latent_size(self, h: int, w: int) -> tuple[int, int]:
        """Latent grid size for an (h, w) frame: sides rounded up to whole multiples of f."""
        f = self.downsample
        return -(-h // f), -(-w // f)

    def encode(self, x: Tensor) -> Tensor:
        """Frames (B, 3, H, W) in [0, 1] -> latents (B, k, ceil(H/f), ceil(W/f)), unbounded."""
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"expected frames (B, 3, H, W), got {tuple(x.shape)}")
        return self.encoder(pad_to_multiple(x, self.downsample) * 2 - 1)

    def decode(self, z: Tensor, size: tuple[int, int] | None = None) -> Tensor:
        """Latents -> frames in [0, 1], cropped to `size` (the frame size before padding)."""
        x = self.decoder(z).sigmoid()
        return x if size is None else crop(x, size)

    def forward(self, x: Tensor) -> Tensor:
        """Plain autoencoding (no quantisation): decode(encode(x)) at x's size."""
        return self.decode(self.encode(x), tuple(x.shape[-2:]))


