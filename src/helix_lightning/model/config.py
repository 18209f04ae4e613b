"""Training configs: defaults composed from the registered parts, one merge, `extends`, `--set`.

A config is a nested mapping with the sections of `defaults_for()`. The sections of the
plugged-in parts take the keys of the part they name (`PART_SECTIONS`): `model.tokenizer`
and `model.mixer` by `name`, `model.rate` by `prior` (plus the coding `stages` and `drop`
every prior shares), `model.masked` the token model's by `name` (optional: a section
without one is the global `masked` model's, as before part names). Each part declares its
keys and their defaults where it is registered (`register(kind, name, defaults=...)`), so a
new mixer with a parameter of its own needs no edit here; a key the named part does not
take raises HelixError naming it and the keys it does take.

Optional sections: `model.nested` (nested digits, `nested`) and `model.ladder` (the model's
own rate points, `rates`) exist only in configs that state them.

- `resolve(cfg)`: `cfg` laid over the defaults of the parts it names (the only merge).
- `load_config(path)`: a YAML file, which may say `extends: other.yaml` (relative to the
  file; chains allowed, cycles refused) and state only what differs. Mappings merge key by
  key; naming another part in a part's section drops the keys the new part does not take.
  `name` is never inherited: a file's name is its own `name:` or its file name.
- `set_key(cfg, "a.b.c", value)` and `apply_overrides(cfg, ["a.b.c=VALUE", ...])`: the
  `--set` of the CLI and of `python -m helix_lightning.model.train` (VALUE read as YAML).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import HelixError
from . import part_defaults

#: The sections HelixModule reads (the rest is for `train`: data, trainer, logging).
MODULE_SECTIONS = ("model", "loss", "optim", "best")


@dataclass(frozen=True)
class PartSection:
    """Where a registered part's configuration lives and which key names the part."""

    path: tuple[str, ...]  # ("model", "mixer")
    kind: str  # registry kind: tokenizer, mixer, token_model, prior
    name_key: str | None  # the key naming the part; None: always `default`
    default: str  # the part used when the config names none
    common: dict[str, Any] = field(default_factory=dict)  # keys every part here shares
    #: the section may leave `name_key` out for the default part, and its resolved form then
    #: has none (`model.masked` predates part names: configs naming no part stay as they were)
    optional_name: bool = False

    def names(self, cfg: Any) -> bool:
        """Whether `cfg`'s section states the part's name."""
        section = _get(cfg, self.path)
        return bool(self.name_key) and isinstance(section, dict) and self.name_key in section

    def chosen(self, cfg: Any) -> Any:
        """The part name `cfg` gives this section (the default where it gives none)."""
        section = _get(cfg, self.path)
        if self.name_key and isinstance(section, dict) and self.name_key in section:
            return section[self.name_key]
        return self.default

    def defaults(self, name: Any, named: bool = True) -> dict[str, Any]:
        """The section's keys and defaults when it names part `name` (`named`: the section
        states the name; matters only for an `optional_name` section's default part)."""
        try:
            own = part_defaults(self.kind, name)
        except HelixError as exc:
            where = ".".join(self.path + ((self.name_key,) if self.name_key else ()))
            raise HelixError(f"{where}: {exc}") from None
        implicit = self.optional_name and not named and name == self.default
        head = {self.name_key: name} if self.name_key and not implicit else {}
        return {**head, **copy.deepcopy(self.common), **own}

    def part_kwargs(self, section: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """(part name, its own keyword arguments) from a resolved section."""
        name = section.get(self.name_key, self.default) if self.name_key else self.default
        shared = set(self.common) | {self.name_key}
        return name, {k: v for k, v in section.items() if k not in shared}


PART_SECTIONS: dict[str, PartSection] = {
    "tokenizer": PartSection(("model", "tokenizer"), "tokenizer", "name", "conv"),
    "mixer": PartSection(("model", "mixer"), "mixer", "name", "kronecker"),
    "token_model": PartSection(("model", "masked"), "token_model", "name", "masked",
                               optional_name=True),
    "prior": PartSection(("model", "rate"), "prior", "prior", "staged",
                         {"stages": 4, "drop": 0.0}),
}

#: Everything but the parts' own sections (filled in by `defaults_for`).
_TEMPLATE: dict[str, Any] = {
    "name": "default",
    "seed": 0,
    "runs_dir": "runs",
    "logger": True,
    "checkpoint": None,
    "checkpoint_dtype": "float32",
    "init_from": None,
    "codec_metrics": {"every": 1, "frames": 2, "size": 64},
    "data": {
        "paths": None,
        "clip_frames": 4,
        "crop": 64,
        "val_size": 64,
        "batch_size": 4,
        "num_workers": 0,
        "clips_per_epoch": 256,
        "clips_per_file": 2,
        "frame_size": None,
        "cache": False,
        "scale": None,
        "synthetic": {"videos": 4, "frames": 24, "height": 96, "width": 96},
    },
    "model": {
        "tokenizer": {},
        "mixer": {},
        "levels": 4,
        "masked": {},
        "rate": {},
        "constraints": "standard",
        "soft_temperature": 0.5,
    },
    "loss": {"lambda_rate": 0.01, "mask": 1.0, "synthesis": 0.01, "ms_ssim": 0.0},
    "optim": {"lr": 1e-3, "weight_decay": 0.0, "betas": [0.9, 0.99], "schedule": "constant",
              "warmup_steps": 0, "total_steps": None, "total_seconds": None},
    "best": {"monitor": "val/loss", "mode": "min"},
    "trainer": {
        "max_steps": 100,
        "max_time": None,
        "val_check_interval": 50,
        "limit_val_batches": 1.0,
        "limit_test_batches": 0,
        "num_sanity_val_steps": 0,
        "accelerator": "auto",
        "devices": 1,
        "num_nodes": 1,
        "strategy": "auto",
        "precision": "32-true",
        "gradient_clip_val": 1.0,
        "log_every_n_steps": 10,
        "progress_bar": "auto",
        "deterministic": False,
    },
}


def _get(cfg: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(cfg, dict):
            return None
        cfg = cfg.get(key)
    return cfg


def _optional_sections(cfg: Any) -> dict[str, Any]:
    """The defaults of the optional `model` sections `cfg` states (absent from every other
    config, so those resolve as before): `model.nested` (`nested.NESTED_DEFAULTS`),
    `model.ladder` (each point it names: `rates.LADDER_POINT_DEFAULTS`) and `model.inter`
    (`inter_coding.INTER_DEFAULTS`)."""
    from .inter_coding import INTER_DEFAULTS
    from .nested import NESTED_DEFAULTS
    from .rates import LADDER_POINT_DEFAULTS

    model = _get(cfg, ("model",))
    out: dict[str, Any] = {}
    if isinstance(model, dict) and "nested" in model:
        out["nested"] = dict(NESTED_DEFAULTS)
    if isinstance(model, dict) and "ladder" in model:
        points = model["ladder"] if isinstance(model["ladder"], dict) else {}
        out["ladder"] = {name: dict(LADDER_POINT_DEFAULTS) for name in points}
    if isinstance(model, dict) and "inter" in model:
        out["inter"] = dict(INTER_DEFAULTS)
    return out


def defaults_for(cfg: dict | None = None) -> dict[str, Any]:
    """The full default config for the parts `cfg` names (the default parts where it names
    none) and the optional sections it states; HelixError if it names a part that is not
    registered."""
    out = copy.deepcopy(_TEMPLATE)
    out["model"].update(_optional_sections(cfg))
    for section in PART_SECTIONS.values():
        *parents, last = section.path
        node = out
        for key in parents:
            node = node[key]
        node[last] = section.defaults(section.chosen(cfg), section.names(cfg))
    return out


def merge(defaults: dict, override: dict | None, where: str = "") -> dict:
    """Deep copy of `defaults` with `override` laid over it; unknown keys raise HelixError."""
    out = copy.deepcopy(defaults)
    for key, value in (override or {}).items():
        path = f"{where}.{key}" if where else str(key)
        if key not in defaults:
            known = ", ".join(sorted(map(str, defaults)))
            raise HelixError(f"unknown config key {path!r} (known here: {known})")
        if isinstance(defaults[key], dict):
            if not isinstance(value, dict):
                raise HelixError(f"config key {path!r} must be a mapping, got {value!r}")
            out[key] = merge(defaults[key], value, path)
        else:
            out[key] = copy.deepcopy(value)
    return out


def resolve(cfg: dict | None, sections: Iterable[str] | None = None) -> dict:
    """`cfg` laid over `defaults_for(cfg)`; HelixError on unknown keys or a non-mapping.

    With `sections`, only those top-level sections (the rest of `cfg` is ignored)."""
    if cfg is not None and not isinstance(cfg, dict):
        raise HelixError(f"a config must be a mapping, got {type(cfg).__name__}")
    cfg = cfg or {}
    spec = defaults_for(cfg)
    if sections is not None:
        keep = tuple(sections)
        cfg = {k: v for k, v in cfg.items() if k in keep}
        spec = {k: spec[k] for k in keep}
    return merge(spec, cfg)


def _switch_parts(base: dict, over: dict) -> dict:
    """Copy of `base` whose part sections drop the keys a part named in `over` (another
    part than `base` names) does not take."""
    out = copy.deepcopy(base)
    for section in PART_SECTIONS.values():
        old, new = _get(out, section.path), _get(over, section.path)
        if (section.name_key and isinstance(old, dict) and isinstance(new, dict)
                and section.name_key in new and new[section.name_key] != section.chosen(base)):
            known = section.defaults(new[section.name_key])
            for key in [k for k in old if k not in known]:
                del old[key]
    return out


def overlay(base: dict, over: dict) -> dict:
    """`over` laid over `base` (both unresolved): mappings merge key by key, anything else
    replaces; a part section that names another part keeps only the keys that part takes."""

    def patch(a: Any, b: Any) -> Any:
        if isinstance(a, dict) and isinstance(b, dict):
            out = dict(a)
            for key, value in b.items():
                out[key] = patch(a[key], value) if key in a else copy.deepcopy(value)
            return out
        return copy.deepcopy(b)

    return patch(_switch_parts(base, over), over)


def set_key(cfg: dict, dotted: str, value: Any) -> None:
    """Set `a.b.c` in a nested config, in place; the key must be one the config takes (for a
    part's section: one the part it names takes). Naming another part in its section (e.g.
    `model.mixer.name`) drops the old part's keys and fills in the new part's defaults."""
    keys = dotted.split(".")
    nested: Any = value
    for key in reversed(keys):
        nested = {key: nested}
    spec: Any = defaults_for(overlay(cfg, nested))
    node = cfg
    for key in keys[:-1]:
        if not isinstance(spec.get(key), dict):
            raise HelixError(f"unknown config key {dotted!r}")
        node, spec = node.setdefault(key, {}), spec[key]
    if keys[-1] not in spec:
        raise HelixError(f"unknown config key {dotted!r}")
    section = next((s for s in PART_SECTIONS.values() if s.path == tuple(keys[:-1])), None)
    if section is not None and keys[-1] == section.name_key and value != section.chosen(cfg):
        for key in [k for k in node if k not in spec]:
            del node[key]
        for key, default in spec.items():
            node.setdefault(key, copy.deepcopy(default))
    node[keys[-1]] = value


def parse_override(item: str) -> tuple[str, Any]:
    """`KEY=VALUE` -> (KEY, VALUE read as YAML); HelixError if malformed."""
    import yaml

    key, sep, value = item.partition("=")
    if not sep:
        raise HelixError(f"--set needs KEY=VALUE, got {item!r}")
    try:
        return key, yaml.safe_load(value)
    except yaml.YAMLError:
        raise HelixError(f"--set {key}: cannot parse value {value!r}") from None


def apply_overrides(cfg: dict, items: Iterable[str]) -> dict:
    """Apply `--set KEY=VALUE` items to `cfg` in order (in place; returns it)."""
    for item in items:
        set_key(cfg, *parse_override(item))
    return cfg


def read_config_file(path: str | Path, _chain: tuple[Path, ...] = ()) -> dict:
    """The raw mapping of a YAML config, with the files it `extends` laid under it."""
    from ..yaml_file import read_yaml

    path = Path(path)
    data = read_yaml(path, "config")
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise HelixError(f"{path}: a config must be a mapping at the top level")
    if "defaults" in data:
        raise HelixError(f"{path}: 'defaults' lists are not supported; use 'extends: FILE'")
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if not isinstance(parent, str) or not parent:
        raise HelixError(f"{path}: extends must be the path of another config, got {parent!r}")
    target = path.parent / parent
    chain = _chain or (path.resolve(),)
    if target.resolve() in chain:
        cycle = " -> ".join(p.name for p in chain + (target.resolve(),))
        raise HelixError(f"{path}: extends makes a cycle ({cycle})")
    if not target.is_file():
        raise HelixError(f"{path}: extends {parent}: no such file ({target})")
    base = read_config_file(target, chain + (target.resolve(),))
    base.pop("name", None)  # a name is never inherited
    try:
        return overlay(base, data)
    except HelixError as exc:
        raise HelixError(f"{path}: {exc}") from None


def load_config(path: str | Path) -> dict:
    """Read a YAML training config (following `extends`) and resolve it (HelixError if
    invalid); `name` defaults to the file's name."""
    path = Path(path)
    data = read_config_file(path)
    try:
        cfg = resolve(data)
    except HelixError as exc:
        raise HelixError(f"{path}: {exc}") from None
    if "name" not in data:
        cfg["name"] = path.stem
    return cfg
