"""A small convolutional tokenizer: frames (B, 3, H, W) in [0, 1] <-> latents (B, k, H/f, W/f).

The encoder is a stem conv, then per factor of 2 in f a stride-2 conv and residual blocks
(GroupNorm + SiLU) at the reduced size, then a 1x1 conv to k channels; the decoder mirrors it
with nearest upsampling + conv and ends in a sigmoid, so frames come back in [0, 1]. Compute
sits at the reduced resolutions (only the stem and the last upsampling conv run at full
size). Width 64, f=8, k=4 has about 0.67M parameters; see the class for `stem`. Sides that are not multiples of f are
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


@register("tokenizer", "conv", defaults={"downsample": 8, "channels_latent": 4, "width": 64,
                                         "res_blocks": 1, "groups": 8, "stem": "conv"})
class ConvTokenizer(nn.Module):
    """Conv encoder/decoder between frames and a k-channel latent grid, downsampling by f.

    `width` is one int (every level) or one int per factor of 2 in f, finest level first
    (e.g. [48, 96, 128]: cheap where the grid is large, wide where it is small). `stem`
    "conv" starts with a 3x3 conv at full size and ends with upsample + conv back to it;
    "shuffle" replaces the first factor of 2 by pixel (un)shuffle (space to depth), so no
    conv runs at full size: about half the MACs per pixel at the same widths.
    """

    def __init__(
        self,
        channels_latent: int = 4,
        downsample: int = 8,
        width: int | list[int] = 64,
        res_blocks: int = 1,
        groups: int = 8,
        stem: str = "conv",
    ) -> None:
        super().__init__()
        if downsample < 2 or downsample & (downsample - 1):
            raise HelixError(f"downsample must be a power of two >= 2, got {downsample}")
        stages = int(math.log2(downsample))
        widths = [int(width)] * stages if isinstance(width, int) else [int(v) for v in width]
        if len(widths) != stages:
            raise HelixError(f"width needs one value per factor of 2 in f={downsample} "
                             f"({stages}), got {list(widths)}")
        for wd in widths:
            if wd % groups:
                raise HelixError(f"width {wd} is not a multiple of groups {groups}")
        if stem not in ("conv", "shuffle"):
            raise HelixError(f"stem must be conv or shuffle, got {stem!r}")
        self.channels_latent, self.downsample = channels_latent, downsample
        self.width, self.stem = widths, stem

        # taps: the layer after which each level (1/2, 1/4, ... 1/f) begins, in the order the
        # tensor passes them (`conditional` adds context features there)
        enc: list[nn.Module] = []
        if stem == "shuffle":
            enc += [nn.PixelUnshuffle(2), nn.Conv2d(12, widths[0], 3, padding=1)]
        else:
            enc += [nn.Conv2d(3, widths[0], 3, padding=1),
                    nn.Conv2d(widths[0], widths[0], 3, stride=2, padding=1)]
        self.encoder_taps = [len(enc) - 1]
        enc.extend(ResBlock(widths[0], groups) for _ in range(res_blocks))
        for lo, hi in zip(widths, widths[1:]):
            enc.append(nn.Conv2d(lo, hi, 3, stride=2, padding=1))
            self.encoder_taps.append(len(enc) - 1)
            enc.extend(ResBlock(hi, groups) for _ in range(res_blocks))
        enc += [nn.GroupNorm(groups, widths[-1]), nn.SiLU(),
                nn.Conv2d(widths[-1], channels_latent, 1)]
        self.encoder = nn.Sequential(*enc)

        dec: list[nn.Module] = [nn.Conv2d(channels_latent, widths[-1], 3, padding=1)]
        self.decoder_taps = [0]  # coarsest level first
        for hi, lo in zip(widths[::-1], widths[::-1][1:]):
            dec.extend(ResBlock(hi, groups) for _ in range(res_blocks))
            dec.append(nn.Upsample(scale_factor=2, mode="nearest"))
            dec.append(nn.Conv2d(hi, lo, 3, padding=1))
            self.decoder_taps.append(len(dec) - 1)
        dec.extend(ResBlock(widths[0], groups) for _ in range(res_blocks))
        if stem == "shuffle":
            dec += [nn.GroupNorm(groups, widths[0]), nn.SiLU(),
                    nn.Conv2d(widths[0], 12, 3, padding=1), nn.PixelShuffle(2)]
        else:
            dec += [nn.Upsample(scale_factor=2, mode="nearest"),
                    nn.Conv2d(widths[0], widths[0], 3, padding=1),
                    nn.GroupNorm(groups, widths[0]), nn.SiLU(),
                    nn.Conv2d(widths[0], 3, 3, padding=1)]
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


