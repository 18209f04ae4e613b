"""kMAC per input pixel of a codec's encode path, decode path and token model, counted with
torch's FlopCounterMode (MAC = FLOP/2) on the codec's own code, so the count is the work
that really runs (bench_codec.py reports it).

- Intra codecs: on the first frame, `tokenize` (tokenizer.encode + mixer + FSQ) is the
  encode path, `reconstruct` (mixer.inverse + tokenizer.decode) the decode path, and
  `compress` minus `tokenize` the token model's coding passes.
- Inter codecs (a `conditional` tokenizer, `model/inter_coding.py`): compress and decompress
  run on three frames (frame 1 inter unless the model's gop or scene-cut rule makes it
  intra; frames repeated when the clip has fewer) and every call of
  `inter_coding.tokenise` (encoder + mixer + FSQ), `inter_coding.rebuild` (mixer.inverse +
  decoder) and the tokenizer's `context` (reference features) is counted on its own; a
  context call belongs to the frame whose reference it reads (the frame before, as rebuilt).
  Per frame 1, the figures reported: the encode path is everything the closed loop runs
  for it, its encoder, its decoder (the encoder rebuilds frame 1 when frame 2 starts, hence
  three frames) and every context computed from its reference (once or twice, as the code
  does it); the decode path its contexts and decoder; the token model the passes over the
  three frames (encode run minus the pieces) divided by three. Frame 0's (intra) encode
  (encoder + decoder in the loop) and decode are given too.

The transformer's fused eval fast path is switched off while counting (the counter cannot
see inside it), and CPU attention, an op the counter does not know, is counted with torch's
own SDPA formula. One torch thread while counting: the codec then runs everything on the
calling thread, where the counter sees it.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator

import numpy as np


def _flop_counter():
    import torch
    from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

    def cpu_sdpa(query, key, value, *args, out_shape=None, **kwargs):
        return sdpa_flop_count(query, key, value)

    mapping = {}
    op = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)
    if op is not None:
        mapping[op] = cpu_sdpa
    return FlopCounterMode(display=False, custom_mapping=mapping)


@contextmanager
def _counting() -> Iterator[None]:
    """One thread, the transformer fast path off, both restored after."""
    import torch

    mha = torch.backends.mha
    fast, threads = mha.get_fastpath_enabled(), torch.get_num_threads()
    mha.set_fastpath_enabled(False)
    torch.set_num_threads(1)
    try:
        yield
    finally:
        mha.set_fastpath_enabled(fast)
        torch.set_num_threads(threads)


def complexity(codec, frames: np.ndarray, rate: str) -> dict[str, Any]:
    """kMAC per input pixel at rate point `rate` of the codec's ladder: {"encode", "decode",
    "token_model", "stages", "drop", "digits", "coded" ("WxH"), "inter" (bool), "frame"
    (what the figures are per), and for inter codecs "encode_intra", "decode_intra"}."""
    from helix_lightning.model.conditional import is_conditional

    with _counting():
        if is_conditional(codec):
            return _inter(codec, frames, rate)
        return _intra(codec, frames, rate)


def _shape_fields(s) -> dict[str, Any]:
    return {"stages": int(s.stages), "drop": float(s.drop), "digits": int(s.digits),
            "coded": f"{s.coded_size[1]}x{s.coded_size[0]}"}


def _intra(codec, frames: np.ndarray, rate: str) -> dict[str, Any]:
    from helix_lightning.model.rates import rate_point

    one = frames[:1]
    px = one.shape[1] * one.shape[2]
    coded = codec.coding_size(one.shape[1], one.shape[2], rate_point(rate, codec.config).scale)
    with _flop_counter() as fc:
        codec.tokenize(one, coded=coded)
    enc = fc.get_total_flops() / 2
    with _flop_counter() as fc:
        comp = codec.compress(one, rate=rate)
    tm = fc.get_total_flops() / 2 - enc
    s = comp["shape"]
    with _flop_counter() as fc:
        codec.reconstruct(comp["digits"], (s.h, s.w), s.coded_size,
                          out_size=(s.height, s.width), kept=s.digits)
    dec = fc.get_total_flops() / 2
    return {"encode": enc / px / 1e3, "decode": dec / px / 1e3, "token_model": tm / px / 1e3,
            "inter": False, "frame": "frame 0 (intra)", **_shape_fields(s)}


class _Ledger:
    """Each call of the wrapped inter-path functions, in call order: (name, has a
    reference, FLOPs, its first tensor argument, its result), FLOPs read off a running
    FlopCounterMode."""

    def __init__(self, counter) -> None:
        self.counter = counter
        self.calls: list[tuple[str, bool, float, Any, Any]] = []

    def wrap(self, name: str, fn: Callable, ctx_at: int | None, arg_at: int) -> Callable:
        """fn counted; `ctx_at`: the positional index of its `ctx` argument (None: a call
        made only for inter frames, as `context`); `arg_at`: of the argument kept."""
        def counted(*args, **kwargs):
            before = self.counter.get_total_flops()
            out = None
            try:
                out = fn(*args, **kwargs)
                return out
            finally:
                ctx = None if ctx_at is None else (
                    args[ctx_at] if len(args) > ctx_at else kwargs.get("ctx"))
                self.calls.append((name, ctx_at is None or ctx is not None,
                                   self.counter.get_total_flops() - before, args[arg_at], out))
        return counted

    def of(self, name: str) -> list[tuple[str, bool, float, Any, Any]]:
        return [c for c in self.calls if c[0] == name]

    def frame(self, t: int) -> dict[str, float]:
        """FLOPs spent on frame t: its encoder (`tokenise`) and decoder (`rebuild`) calls
        and every `context` computed from its reference (frame t-1's rebuilt frame)."""
        tok, reb = self.of("tokenise"), self.of("rebuild")
        ref = reb[t - 1][4] if t >= 1 and len(reb) >= t else None
        return {"encoder": tok[t][2] if t < len(tok) else 0.0,
                "decoder": reb[t][2] if t < len(reb) else 0.0,
                "context": sum(c[2] for c in self.of("context") if c[3] is ref),
                "contexts": sum(1 for c in self.of("context") if c[3] is ref),
                "inter": tok[t][1] if t < len(tok) else reb[t][1]}


@contextmanager
def _ledger_on(codec, counter) -> Iterator[_Ledger]:
    """A ledger of the inter path's pieces while the block runs (module functions of
    inter_coding and the tokenizer's `context`, wrapped and restored)."""
    from helix_lightning.model import inter_coding as ic

    ledger = _Ledger(counter)
    saved = {"tokenise": ic.tokenise, "rebuild": ic.rebuild}
    ic.tokenise = ledger.wrap("tokenise", saved["tokenise"], 2, 1)
    ic.rebuild = ledger.wrap("rebuild", saved["rebuild"], 5, 1)
    codec.tokenizer.context = ledger.wrap("context", codec.tokenizer.context, None, 0)
    try:
        yield ledger
    finally:
        del codec.tokenizer.context
        for name, fn in saved.items():
            setattr(ic, name, fn)


INTER_FRAMES = 3  # frame 1's rebuild in the encoder's loop happens when frame 2 starts


def _inter(codec, frames: np.ndarray, rate: str) -> dict[str, Any]:
    clip = frames[:INTER_FRAMES]
    if len(clip) < INTER_FRAMES:  # repeat the last frame: the count hardly depends on content
        clip = np.concatenate([clip, np.repeat(clip[-1:], INTER_FRAMES - len(clip), axis=0)])
    px = clip.shape[1] * clip.shape[2]
    with _flop_counter() as fc, _ledger_on(codec, fc) as enc:
        comp = codec.compress(clip, rate=rate)
        enc_total = fc.get_total_flops()
    s = comp["shape"]
    with _flop_counter() as fc, _ledger_on(codec, fc) as dec:
        codec.decompress(comp["strings"], s, precision=comp["precision"])
    if len(enc.of("tokenise")) != INTER_FRAMES or len(enc.of("rebuild")) < 2 \
            or len(dec.of("rebuild")) != INTER_FRAMES:
        raise RuntimeError("unexpected inter coding calls: encode "
                           f"{[c[:3] for c in enc.calls]}, decode {[c[:3] for c in dec.calls]}")
    e0, e1, d0, d1 = enc.frame(0), enc.frame(1), dec.frame(0), dec.frame(1)
    pieces = sum(c[2] for c in enc.calls)
    per = 2e3 * px  # FLOP -> kMAC per pixel
    return {"encode": (e1["encoder"] + e1["context"] + e1["decoder"]) / per,
            "decode": (d1["context"] + d1["decoder"]) / per,
            "token_model": (enc_total - pieces) / INTER_FRAMES / per,
            "encode_intra": (e0["encoder"] + e0["decoder"]) / per,
            "decode_intra": d0["decoder"] / per,
            "inter": e1["inter"], "contexts": (e1["contexts"], d1["contexts"]),
            "frame": f"frame 1 of {INTER_FRAMES} ("
                     + ("inter" if e1["inter"] else "intra: gop or scene cut") + ")",
            **_shape_fields(s)}
