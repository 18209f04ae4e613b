"""The model archive: a trained model as bytes a pool can carry (docs/FORMAT.md, section 13).

`helix encode --with-model` stores, beside the video, the model that decodes it, so the pool
decodes with nothing but this package's code. The bytes are a small wrapper,

    magic "HXMD" (4) | version (1) | model hash (8) | compression (1: 0 none, 1 xz) |
    payload length (8) | payload

(big-endian), whose payload is a compact checkpoint: the stored config and the state_dict of
the checkpoint the codec was loaded from, as `torch.save` writes them, tensors in the dtype the
checkpoint stored (no optimizer state, no training loop state), then xz-compressed. It is read
back weights-only (`checkpoint.read_checkpoint`: a payload that would unpickle code is refused
and nothing in it runs) and the model it builds must have the wrapper's hash.
"""

from __future__ import annotations

import io
import lzma
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import HelixError

MODEL_MAGIC = b"HXMD"
MODEL_VERSION = 1
COMPRESSIONS = {0: "none", 1: "xz"}
WRAPPER = struct.Struct(">4sB8sBQ")  # magic, version, model hash, compression, payload length


@dataclass(frozen=True)
class ModelArchive:
    """A model archive's wrapper read back: the model hash (16 hex digits) and the payload
    (decompressed: a checkpoint `torch.load` reads)."""

    model_hash: str
    payload: bytes


def compact_checkpoint(path: str | Path | None = None) -> bytes:
    """The checkpoint at `path` (default: the packaged model) as `torch.save` bytes of only
    what decoding needs: `{"hyper_parameters": {"config"}, "state_dict"}`, tensors as stored."""
    import torch

    from .checkpoint import read_checkpoint, resolve_checkpoint

    ckpt = read_checkpoint(resolve_checkpoint(path))
    config = (ckpt.get("hyper_parameters") or {}).get("config")
    buf = io.BytesIO()
    torch.save({"hyper_parameters": {"config": config}, "state_dict": ckpt["state_dict"]}, buf)
    return buf.getvalue()


def pack_model_archive(payload: bytes, model_hash: str, compression: str = "xz") -> bytes:
    """The wrapper around a compact checkpoint `payload` of the model `model_hash`."""
    code = {v: k for k, v in COMPRESSIONS.items()}[compression]
    body = (lzma.compress(payload, format=lzma.FORMAT_XZ, preset=9 | lzma.PRESET_EXTREME)
            if compression == "xz" else payload)
    return WRAPPER.pack(MODEL_MAGIC, MODEL_VERSION, bytes.fromhex(model_hash), code,
                        len(body)) + body


def is_model_archive(data: bytes) -> bool:
    """Whether decoded archive bytes are a model archive (they start with the magic)."""
    return data[:4] == MODEL_MAGIC


def read_model_archive(data: bytes) -> ModelArchive:
    """The wrapper's fields and the decompressed payload; HelixError for anything else."""
    if len(data) < WRAPPER.size or not is_model_archive(data):
        raise HelixError("not a model archive (no HXMD magic)")
    magic, version, digest, code, length = WRAPPER.unpack_from(data)
    if version != MODEL_VERSION:
        raise HelixError(f"model archive version {version} is not supported (this build reads "
                         f"version {MODEL_VERSION})")
    body = data[WRAPPER.size:]
    if code not in COMPRESSIONS or len(body) != length:
        raise HelixError(f"model archive is malformed (compression {code}, payload "
                         f"{len(body)} of {length} bytes)")
    if COMPRESSIONS[code] == "xz":
        try:
            body = lzma.decompress(body, format=lzma.FORMAT_XZ)
        except lzma.LZMAError as exc:
            raise HelixError(f"model archive's payload does not decompress ({exc})") from None
    return ModelArchive(digest.hex(), body)


def codec_from_model_archive(data: bytes, label: str = "model archive") -> Any:
    """The HelixCodec a model archive holds, loaded weights-only; HelixError when the payload
    is refused or unreadable, or its weights do not hash to the wrapper's model hash."""
    from .checkpoint import module_from_checkpoint, read_checkpoint

    archive = read_model_archive(data)
    ckpt = read_checkpoint(io.BytesIO(archive.payload), label)
    try:
        codec = module_from_checkpoint(ckpt, label).codec.eval()
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise HelixError(f"{label}: its config does not build a model ({exc!r:.100})") from None
    if codec.model_hash() != archive.model_hash:
        raise HelixError(f"{label} is corrupt: its weights hash to {codec.model_hash()}, its "
                         f"wrapper says {archive.model_hash}")
    return codec
