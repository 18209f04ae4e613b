"""Model parts by name, as CompressAI registers its models.

`MODELS[kind][name]` is a class or factory; `TOKENIZERS`, `MIXERS` and `QUANTIZERS` are the
kinds' own dicts (`MIXERS["separable"]`); `@register(kind, name)` adds one and
`build(kind, name, **cfg)` makes one, so configs and sweeps name parts by string.
"""

from __future__ import annotations

from typing import Any, Callable, TypeVar

from ..errors import HelixError

T = TypeVar("T", bound=Callable[..., Any])

MODELS: dict[str, dict[str, Callable[..., Any]]] = {"tokenizer": {}, "mixer": {}, "quantizer": {}}
TOKENIZERS = MODELS["tokenizer"]
MIXERS = MODELS["mixer"]
QUANTIZERS = MODELS["quantizer"]


def register(kind: str, name: str) -> Callable[[T], T]:
    """Decorator: put a class or factory into `MODELS[kind]` under `name` (a new kind is made)."""

    def wrap(obj: T) -> T:
        MODELS.setdefault(kind, {})[name] = obj
        return obj

    return wrap


def build(kind: str, name: str, **cfg: Any) -> Any:
    """An instance of the registered `kind` part `name`, built with `cfg`."""
    if kind not in MODELS:
        raise HelixError(f"unknown model kind {kind!r} (known: {', '.join(sorted(MODELS))})")
    table = MODELS[kind]
    if name not in table:
        raise HelixError(f"unknown {kind} {name!r} (known: {', '.join(sorted(table))})")
    return table[name](**cfg)


# Importing the parts fills the registries (they import `register` from above).
from . import fsq, kronecker, masked, tokenizer  # noqa: E402,F401
