"""Released models by hash: every model that ever wrote archives stays resolvable.

Every video container records the hash of the model that wrote it (`HelixCodec.model_hash`),
and decoding needs that very model. `RELEASED_MODELS` maps each released default model's
hash to where it lives: the file packaged with this version, or the git revision it was
committed in (`git show COMMIT:PATH > model.ckpt` gets it back; pass it as a checkpoint).

    codec = resolve_model("c18f1bd6c519d619")   # the packaged default
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import HelixError
from .checkpoint import DEFAULT_CHECKPOINT

_DEFAULT_PATH = "src/helix_lightning/model/default.ckpt"


@dataclass(frozen=True)
class ReleasedModel:
    """A released model: its hash, the git revision it was committed in, and the file
    packaged with this version of the code (None: only in the repository's history)."""

    model_hash: str
    released: str  # "git COMMIT:PATH"
    packaged: Path | None = None


RELEASED_MODELS: dict[str, ReleasedModel] = {m.model_hash: m for m in (
    # the default since container v2 (rate points by coding scale); experiments/gpu_finetune.yaml
    ReleasedModel("c18f1bd6c519d619",
                  f"git 4922a1a49c0ed0a9659f98649210c439411216ba:{_DEFAULT_PATH}",
                  DEFAULT_CHECKPOINT),
    # experiments/gpu.yaml + gpu_finetune.yaml, k=5 digits per token
    ReleasedModel("fcbaa1b3f621d471",
                  f"git 30e7d497460abbdc2d770fa682b0753b69927324:{_DEFAULT_PATH}"),
    # experiments/base.yaml + finetune.yaml on 2 CPU cores
    ReleasedModel("564af4a2df6479c5",
                  f"git 315323034c38ac30e1d979c019c23b0640e02e34:{_DEFAULT_PATH}"),
    # experiments/tiny.yaml, the first default
    ReleasedModel("3ed11a7fe377b48d",
                  f"git 3cc90761aab0c910331e0f29e670ee239973ff20:{_DEFAULT_PATH}"),
)}


def where_released(model_hash: str) -> str:
    """One sentence saying where the model `model_hash` can be had (for error messages)."""
    entry = RELEASED_MODELS.get(model_hash)
    if entry is None:
        return (f"model {model_hash} is not a released model: pass the checkpoint that "
                "wrote the archive")
    if entry.packaged is not None and entry.packaged.is_file():
        return f"model {model_hash} is packaged as {entry.packaged}"
    rev = entry.released.split(" ", 1)[-1]
    return (f"model {model_hash} was released as {entry.released} (`git show {rev} > "
            "model.ckpt`, then pass --checkpoint model.ckpt)")


def resolve_model(model_hash: str) -> Any:
    """The HelixCodec of the released model `model_hash` if this package ships it;
    HelixError naming the hash (and where it was released, if known) otherwise."""
    from .checkpoint import load_codec

    entry = RELEASED_MODELS.get(model_hash)
    if entry is None:
        raise HelixError(f"model {model_hash} is not a released model; pass the checkpoint "
                         "that wrote the archive")
    if entry.packaged is None or not entry.packaged.is_file():
        rev = entry.released.split(" ", 1)[-1]
        raise HelixError(f"model {model_hash} is not packaged with this version; it was "
                         f"released as {entry.released} (`git show {rev} > model.ckpt`, "
                         "then pass that checkpoint)")
    codec = load_codec(entry.packaged)
    found = codec.model_hash()
    if found != model_hash:
        raise HelixError(f"{entry.packaged} holds model {found}, not the released {model_hash}")
    return codec
