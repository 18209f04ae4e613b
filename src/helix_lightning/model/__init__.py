"""Model parts by name, as CompressAI registers its models.

`MODELS[kind][name]` is a class or factory; `TOKENIZERS`, `MIXERS`, `QUANTIZERS`,
`TOKEN_MODELS` and `PRIORS` are the kinds' own dicts (`MIXERS["separable"]`).
`@register(kind, name, defaults={...})` adds one together with the configuration it takes
(its own parameters and their defaults: `part_defaults(kind, name)`), and
`build(kind, name, **cfg)` makes one, so configs and sweeps name parts by string and the
training config's section of a part is checked against that part's own keys
(`model.config`). Adding a mixer is one new file that registers it.
"""

from __future__ import annotations

import copy
from typing import Any, Callable, TypeVar

from ..errors import HelixError

T = TypeVar("T", bound=Callable[..., Any])

KINDS = ("tokenizer", "mixer", "quantizer", "token_model", "prior")
MODELS: dict[str, dict[str, Callable[..., Any]]] = {kind: {} for kind in KINDS}
#: PART_DEFAULTS[kind][name]: the configuration keys the part takes and their defaults.
PART_DEFAULTS: dict[str, dict[str, dict[str, Any]]] = {kind: {} for kind in KINDS}
TOKENIZERS = MODELS["tokenizer"]
MIXERS = MODELS["mixer"]
QUANTIZERS = MODELS["quantizer"]
TOKEN_MODELS = MODELS["token_model"]
PRIORS = MODELS["prior"]


def register(kind: str, name: str, defaults: dict[str, Any] | None = None) -> Callable[[T], T]:
    """Decorator: put a class or factory into `MODELS[kind]` under `name` (a new kind is made),
    with `defaults`: the configuration keys it takes (keyword arguments) and their values
    when a config leaves them out."""

    def wrap(obj: T) -> T:
        MODELS.setdefault(kind, {})[name] = obj
        PART_DEFAULTS.setdefault(kind, {})[name] = copy.deepcopy(dict(defaults or {}))
        return obj

    return wrap


def _table(kind: str, name: Any) -> dict[str, Any]:
    if kind not in MODELS:
        raise HelixError(f"unknown model kind {kind!r} (known: {', '.join(sorted(MODELS))})")
    table = MODELS[kind]
    if not isinstance(name, str) or name not in table:
        raise HelixError(f"unknown {kind} {name!r} (known: {', '.join(sorted(table))})")
    return table


def part_defaults(kind: str, name: str) -> dict[str, Any]:
    """A copy of the configuration the registered `kind` part `name` takes, with defaults."""
    _table(kind, name)
    return copy.deepcopy(PART_DEFAULTS.get(kind, {}).get(name, {}))


def build(kind: str, name: str, **cfg: Any) -> Any:
    """An instance of the registered `kind` part `name`, built with `cfg`."""
    return _table(kind, name)[name](**cfg)


# Importing the parts fills the registries (they import `register` from above).
from . import conditional, fsq, kronecker, local_masked, masked, rate, tokenizer  # noqa: E402,F401
