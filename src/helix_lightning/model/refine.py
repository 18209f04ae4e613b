"""Encoder-side latent refinement: spend encode time to pick better tokens for the same decoder.

The encoder is a network trained to guess, in one pass, the latent that the decoder turns back
into the frame; it guesses short of what the decoder can do (the amortisation gap of learned
codecs: Yang et al. 2020, "Improving inference for neural image compression"). Measured on
the default model and 8 frames of carphone_pristine, the frames decoded from the *unquantised*
latent reach only 23.56 dB while the quaternary digits cost 0.18 dB of that; 20 steps of
gradient descent on the latent, through the decoder and FSQ's straight-through rounding, give
+0.4 to +0.5 dB for a few per cent more nt (docs/CODEC.md, "Refinement at encode time").

`refined_token_ids` starts from the encoder's latent and takes `steps` Adam steps on the mean
squared error of the decoded frame (the decoder's weights are not touched), then quantises as
usual. Only the encoder's choice changes: the decoder, the container and the format are the
same, so every decoder reads a refined stream. Determinism: the tokenizer runs on one
intra-op thread whatever the caller's thread count (`codec._Helper`), and so does this
descent, so a refined encode is the same with 1 or 2 threads (tests/test_refine.py).
"""

from __future__ import annotations

import torch
from torch import Tensor

REFINE_LR = 0.005  # Adam step on the latent (its values are O(1)); tuned on 8 frames, mid
MAX_REFINE_STEPS = 1000


def check_refine(steps: int) -> int:
    """`steps` as an int in 0 .. MAX_REFINE_STEPS, else a HelixError naming the range."""
    from ..errors import HelixError

    if isinstance(steps, bool) or int(steps) != steps or not 0 <= steps <= MAX_REFINE_STEPS:
        raise HelixError(f"--refine takes 0 to {MAX_REFINE_STEPS} steps, got {steps}")
    return int(steps)


def refine_latent(codec: torch.nn.Module, x: Tensor, steps: int,
                  lr: float = REFINE_LR) -> Tensor:
    """The tokenizer's latent of frames x (n, 3, H, W) at the coding size after `steps` Adam
    steps on the decoded frames' mean squared error, through FSQ's straight-through rounding."""
    with torch.no_grad():
        lat0 = codec.tokenizer.encode(x)
    if steps == 0:
        return lat0
    grid, size = tuple(lat0.shape[-2:]), tuple(x.shape[-2:])
    wanted = [p.requires_grad for p in codec.parameters()]
    for p in codec.parameters():
        p.requires_grad_(False)
    try:
        with torch.enable_grad():
            lat = lat0.clone().requires_grad_(True)
            opt = torch.optim.Adam([lat], lr=lr)
            for _ in range(steps):
                z_q, _ = codec.fsq(codec.mixer(lat))
                x_hat = codec.tokenizer.decode(codec.mixer.inverse(z_q, size=grid), size)
                loss = torch.mean((x_hat - x) ** 2)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
    finally:
        for p, w in zip(codec.parameters(), wanted):
            p.requires_grad_(w)
    return lat.detach()


def refined_token_ids(codec: torch.nn.Module, x: Tensor, steps: int
                      ) -> tuple[Tensor, tuple[int, int]]:
    """As `codec.token_ids` (token ids (n, hp, wp) on the CPU, latent grid (h, w)), from the
    latent refined for `steps` steps (`refine_latent`)."""
    lat = refine_latent(codec, x, steps)
    with torch.no_grad():
        _, digits = codec.fsq(codec.mixer(lat))
    return codec.fsq.indices(digits).cpu(), tuple(lat.shape[-2:])
