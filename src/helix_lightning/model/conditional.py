"""Inter coding's network: a tokenizer conditioned on the previous decoded frame.

Conditional coding in the style of DCVC: the encoder and the decoder of frame t both see
features of the reference frame, the previous frame as the *decoder* rebuilt it (uint8 at
the coding size), so the tokens carry only what the reference does not predict and no
motion bitstream is stored. A context encoder turns the reference into one feature map per
level of the tokenizer (1/2, 1/4, ... 1/f); a zero-initialised 1x1 projection adds each map
to the encoder and to the decoder where that level begins (`ConvTokenizer.encoder_taps` and
`decoder_taps`). Without a reference (an intra frame) the network is exactly the plain
`ConvTokenizer`, and because the projections start at zero a conditional tokenizer built on
a trained intra checkpoint starts out as that intra codec.

Training (`unroll`): a clip's first frame is intra, frame t is conditioned on the model's own
reconstruction of frame t-1 rounded to the uint8 grid (straight through), so training sees
the closed loop coding runs (`inter_coding`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from . import register
from .tokenizer import ConvTokenizer, crop, pad_to_multiple


def round_to_uint8_grid(x: Tensor) -> Tensor:
    """x in [0, 1] rounded to multiples of 1/255 (what a uint8 frame holds), gradient
    straight through."""
    return x + ((x.clamp(0, 1) * 255).round() / 255 - x).detach()


@register("tokenizer", "conditional",
          defaults={"downsample": 8, "channels_latent": 4, "width": 64, "res_blocks": 1,
                    "groups": 8, "stem": "conv"})
class ConditionalTokenizer(ConvTokenizer):
    """`ConvTokenizer` whose encode and decode take the reference frame's context features
    (`context(ref)`); `ctx=None` is the intra path, identical to the plain tokenizer."""

    conditional = True

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        widths = self.width
        levels: list[nn.Module] = [nn.Sequential(
            nn.PixelUnshuffle(2), nn.Conv2d(12, widths[0], 3, padding=1), nn.SiLU(),
            nn.Conv2d(widths[0], widths[0], 3, padding=1))]
        for lo, hi in zip(widths, widths[1:]):
            levels.append(nn.Sequential(nn.SiLU(), nn.Conv2d(lo, hi, 3, stride=2, padding=1),
                                        nn.SiLU(), nn.Conv2d(hi, hi, 3, padding=1)))
        self.context_levels = nn.ModuleList(levels)
        self.encoder_fuse = nn.ModuleList(_zero_conv(w) for w in widths)
        self.decoder_fuse = nn.ModuleList(_zero_conv(w) for w in widths[::-1])

    def context(self, ref: Tensor) -> list[Tensor]:
        """Reference frames (B, 3, H, W) in [0, 1] -> features per level, finest first."""
        h = pad_to_multiple(ref, self.downsample) * 2 - 1
        feats = []
        for level in self.context_levels:
            h = level(h)
            feats.append(h)
        return feats

    def encode(self, x: Tensor, ctx: list[Tensor] | None = None) -> Tensor:
        """Frames -> latents, as `ConvTokenizer.encode`, with the context added per level."""
        if ctx is None:
            return super().encode(x)
        h = pad_to_multiple(x, self.downsample) * 2 - 1
        taps = dict(zip(self.encoder_taps, range(len(ctx))))
        for i, layer in enumerate(self.encoder):
            h = layer(h)
            if i in taps:
                h = h + self.encoder_fuse[taps[i]](ctx[taps[i]])
        return h

    def decode(self, z: Tensor, size: tuple[int, int] | None = None,
               ctx: list[Tensor] | None = None) -> Tensor:
        """Latents -> frames, as `ConvTokenizer.decode`, with the context added per level."""
        if ctx is None:
            return super().decode(z, size)
        h = z
        taps = dict(zip(self.decoder_taps, range(len(ctx))))
        for i, layer in enumerate(self.decoder):
            h = layer(h)
            if i in taps:
                j = taps[i]
                h = h + self.decoder_fuse[j](ctx[len(ctx) - 1 - j])
        x = h.sigmoid()
        return x if size is None else crop(x, size)


def _zero_conv(width: int) -> nn.Conv2d:
    """A 1x1 conv starting at zero: the conditional path adds nothing until trained."""
    conv = nn.Conv2d(width, width, 1)
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


def is_conditional(codec: nn.Module) -> bool:
    """Whether a codec's tokenizer codes frames conditioned on the previous decoded one."""
    return bool(getattr(codec.tokenizer, "conditional", False))


def unroll(codec: nn.Module, clips: Tensor, kept: Tensor | None) -> dict[str, Tensor]:
    """The training face of a conditional codec on clips (B, T, 3, H, W): frame 0 intra,
    frame t conditioned on the rounded reconstruction of frame t-1. Returns x_hat (B, T, 3,
    H, W) and, frame-major within each clip as `clips.flatten(0, 1)` orders them, the rest of
    `codec._frames_forward`'s keys (N, ...)."""
    from .codec import _frames_forward

    b, t_count = clips.shape[:2]
    kept_bt = None if kept is None else kept.view(b, t_count)
    frames: list[dict[str, Tensor]] = []
    ctx = None
    for t in range(t_count):
        out = _frames_forward(codec, clips[:, t], None if kept_bt is None else kept_bt[:, t],
                              ctx)
        frames.append(out)
        if t + 1 < t_count:
            ctx = codec.tokenizer.context(round_to_uint8_grid(out["x_hat"]))
    out = {key: torch.stack([f[key] for f in frames], 1).flatten(0, 1) for key in frames[0]}
    out["x_hat"] = out["x_hat"].view_as(clips)
    return out
