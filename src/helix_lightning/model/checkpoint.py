"""Load a trained HelixModule checkpoint as a HelixCodec (the coding face).

    codec = load_codec("runs/tiny/last.ckpt")   # or load_codec() for the committed default

A checkpoint is what `train.train` writes (Lightning's `save_checkpoint`): the module's
`hyper_parameters["config"]` (the full training config) and its `state_dict`. The module is
rebuilt from that stored config, the weights loaded strictly, and a HelixCodec made over its
parts (tokenizer, mixer, fsq, token model) with the config's `model.rate` stages and drop as
the coding defaults and `model.constraints` as `codec.config["constraints"]`.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import HelixError

#: The committed default model (`make train` writes it); it may not exist in a fresh checkout.
DEFAULT_CHECKPOINT = Path(__file__).resolve().parent / "default.ckpt"


def resolve_checkpoint(path: str | Path | None = None) -> Path:
    """`path`, or the default checkpoint; HelixError if it does not exist."""
    if path is None:
        if not DEFAULT_CHECKPOINT.is_file():
            raise HelixError("no default model: run `make train` or pass --checkpoint")
        return DEFAULT_CHECKPOINT
    p = Path(path)
    if not p.exists():
        raise HelixError(f"checkpoint not found: {p}")
    if p.is_dir():
        raise HelixError(f"checkpoint is a directory, not a file: {p}")
    return p


def load_module(path: str | Path | None = None):
    """The HelixModule stored at `path` (default: DEFAULT_CHECKPOINT), in eval mode on CPU."""
    import pickle
    import zipfile

    import torch

    from .module import HelixModule

    p = resolve_checkpoint(path)
    try:
        ckpt = torch.load(p, map_location="cpu", weights_only=False)
    except (pickle.UnpicklingError, zipfile.BadZipFile, EOFError, RuntimeError, OSError,
            ValueError) as exc:
        raise HelixError(f"{p}: not a readable checkpoint ({type(exc).__name__})") from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise HelixError(f"{p}: not a HELIX checkpoint (no state_dict)")
    config = (ckpt.get("hyper_parameters") or {}).get("config")
    if not isinstance(config, dict):
        raise HelixError(f"{p}: not a HELIX checkpoint (no stored config)")
    module = HelixModule(config)
    try:
        module.load_state_dict(ckpt["state_dict"], strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "mismatch"
        raise HelixError(f"{p}: weights do not fit the stored config ({first})") from None
    return module.eval()


def load_codec(path: str | Path | None = None):
    """HelixCodec over the parts of the checkpoint at `path` (default: DEFAULT_CHECKPOINT)."""
    from .codec import HelixCodec

    module = load_module(path)
    m = module.cfg["model"]
    config = {"stages": int(m["rate"]["stages"]), "drop": float(m["rate"]["drop"]),
              "constraints": m["constraints"]}
    codec = HelixCodec(module.tokenizer, module.mixer, module.fsq, module.token_model, config)
    return codec.eval()


def load_matching(module, path: str | Path) -> dict:
    """Load the weights of checkpoint `path` into `module` wherever name and shape match
    (strict=False), e.g. a pretrained model into one with a mixer of another block size.

    Returns {"from": path, "loaded": n tensors, "not_loaded": the module's tensors left at
    their initial values (absent from the checkpoint or of another shape), "unexpected": the
    checkpoint's tensors the module has no place for}.
    """
    import torch

    p = resolve_checkpoint(path)
    ckpt = torch.load(p, map_location="cpu", weights_only=False)
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise HelixError(f"{p}: not a HELIX checkpoint (no state_dict)")
    source = ckpt["state_dict"]
    own = module.state_dict()
    fitting = {k: v for k, v in source.items() if k in own and tuple(v.shape) == tuple(own[k].shape)}
    result = module.load_state_dict(fitting, strict=False)
    not_loaded = sorted(set(result.missing_keys))
    unexpected = sorted(k for k in source if k not in own)
    return {"from": str(p), "loaded": len(fitting), "not_loaded": not_loaded,
            "unexpected": unexpected}
