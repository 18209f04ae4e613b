"""Load a trained HelixModule checkpoint, and its codec (the coding face).

    codec = load_codec("runs/tiny/last.ckpt")   # or load_codec() for the committed default

A checkpoint is what `train.train` writes (Lightning's `save_checkpoint`): the module's
`hyper_parameters["config"]` (the full training config) and its `state_dict`. The module is
rebuilt from that stored config, the weights loaded strictly, and `load_codec` returns the
module's `HelixCodec` (its config: `model.rate` stages and drop as the coding defaults,
`model.constraints` as `codec.config["constraints"]`).

Safe loading: every checkpoint is read with `torch.load(weights_only=True)`: tensors and
plain containers only; a file that would unpickle code (any other global) is refused with
one line and nothing in it runs.

Old names: checkpoints written before the module held its codec name the codec's parts at
the top level (`tokenizer.x`); `remap_state_dict` moves them under `codec.` on loading.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, BinaryIO

from ..errors import HelixError

#: The committed default model (`make train` writes it); it may not exist in a fresh checkout.
DEFAULT_CHECKPOINT = Path(__file__).resolve().parent / "default.ckpt"
#: Parts whose weights moved from `<part>.*` to `codec.<part>.*` in the module's state_dict.
CODEC_PARTS = ("tokenizer", "mixer", "fsq", "token_model")


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


def _refusal(exc: Exception) -> str:
    """One line saying why weights-only unpickling refused a file."""
    text = str(exc)
    marker = "Unsupported global:"
    if marker in text:
        rest = text.split(marker, 1)[1].strip().split()
        what = " ".join(rest[:2]) if rest and rest[0] == "GLOBAL" else (rest[0] if rest else "")
        return f"it would unpickle code ({what.rstrip('.,')})"
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return f"it is not weights-only ({first[:120]})"


def read_checkpoint(path: str | Path | BinaryIO, label: str | None = None) -> dict[str, Any]:
    """The checkpoint dict at `path` (a file, or an open binary stream such as a BytesIO,
    named `label` in messages), read weights-only (no code unpickled); HelixError if
    unreadable, refused, or without a `state_dict`."""
    import pickle
    import zipfile

    import torch

    p = path if hasattr(path, "read") else Path(path)
    name = label or str(p)
    try:
        ckpt = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise HelixError(f"{name}: refused to load: {_refusal(exc)}") from None
    except (zipfile.BadZipFile, EOFError, RuntimeError, OSError, ValueError) as exc:
        raise HelixError(f"{name}: not a readable checkpoint ({type(exc).__name__})") from None
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("state_dict"), dict):
        raise HelixError(f"{name}: not a HELIX checkpoint (no state_dict)")
    return ckpt


def remap_state_dict(state: dict[str, Any]) -> dict[str, Any]:
    """A module state_dict with the old top-level part names (`tokenizer.x`) moved under
    `codec.` (`codec.tokenizer.x`); names already under `codec.` are left as they are."""
    return {(f"codec.{key}" if key.split(".", 1)[0] in CODEC_PARTS else key): value
            for key, value in state.items()}


def load_module(path: str | Path | None = None):
    """The HelixModule stored at `path` (default: DEFAULT_CHECKPOINT), in eval mode on CPU."""
    p = resolve_checkpoint(path)
    return module_from_checkpoint(read_checkpoint(p), str(p))


def module_from_checkpoint(ckpt: dict[str, Any], label: str):
    """The HelixModule a checkpoint dict (`read_checkpoint`'s) describes: built from its stored
    config, its weights loaded strictly, eval mode; `label` names it in messages."""
    from .module import HelixModule

    config = (ckpt.get("hyper_parameters") or {}).get("config")
    if not isinstance(config, dict):
        raise HelixError(f"{label}: not a HELIX checkpoint (no stored config)")
    module = HelixModule(config)
    try:
        module.load_state_dict(remap_state_dict(ckpt["state_dict"]), strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "mismatch"
        raise HelixError(f"{label}: weights do not fit the stored config ({first})") from None
    return module.eval()


def load_codec(path: str | Path | None = None):
    """The HelixCodec of the checkpoint at `path` (default: DEFAULT_CHECKPOINT), eval mode."""
    return load_module(path).codec.eval()


def load_matching(module, path: str | Path) -> dict:
    """Load the weights of checkpoint `path` into `module` wherever name and shape match
    (strict=False), e.g. a pretrained model into one with a mixer of another block size.

    Returns {"from": path, "loaded": n tensors, "not_loaded": the module's tensors left at
    their initial values (absent from the checkpoint or of another shape), "unexpected": the
    checkpoint's tensors the module has no place for}.
    """
    p = resolve_checkpoint(path)
    source = remap_state_dict(read_checkpoint(p)["state_dict"])
    own = module.state_dict()
    fitting = {k: v for k, v in source.items() if k in own and tuple(v.shape) == tuple(own[k].shape)}
    result = module.load_state_dict(fitting, strict=False)
    not_loaded = sorted(set(result.missing_keys))
    unexpected = sorted(k for k in source if k not in own)
    return {"from": str(p), "loaded": len(fitting), "not_loaded": not_loaded,
            "unexpected": unexpected}
