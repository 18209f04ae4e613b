"""Named sequencing-channel profiles, and channel settings from a profile plus overrides.

A profile is a `ChannelParams` with a name and a one-line description: what `helix dna
simulate`, `helix dna plan` and `helix dna encode` take as `--channel NAME`, any of the flags
`--coverage --sub --ins --del --dropout --dispersion` overriding one of its fields.

Where the numbers come from:
- `reference`: the package's own default channel (`ChannelParams()`), the one its benchmarks
  and tests use. A convention of this project, not a measurement.
- `short-read`: typical values, not measured here, for array-synthesised oligos read on an
  Illumina-like sequencer: substitutions dominate and stay under 1% per base, indels (mostly
  deletions from synthesis) are a few times rarer.
- `long-read`: an indel-heavy, nanopore-like mix at 6% total per base with
  sub:del:ins = 13:31:6, the error mix DNA StairLoop was evaluated on, at coverage 15 (the
  depth of that comparison). The ratio is published; the total is an assumption.
Dropout and the negative-binomial dispersion of the coverage are the reference's in all three
(no measured value of ours says otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, Mapping

from ..errors import HelixError
from .channel import ChannelParams

DEFAULT_PROFILE = "reference"
#: The fields a flag may override (flag `--del` is the field `dele`).
OVERRIDABLE = ("sub", "ins", "dele", "dropout", "coverage", "dispersion")


@dataclass(frozen=True)
class ChannelProfile:
    """A named channel: settings and a one-line description."""

    name: str
    description: str
    params: ChannelParams

    def to_dict(self) -> dict[str, Any]:
        """Name, description and the channel's rates (no seed: a profile has none)."""
        rates = {f.name: getattr(self.params, f.name) for f in fields(self.params)
                 if f.name not in ("seed", "reverse_fraction")}
        return {"name": self.name, "description": self.description, **rates}


_LONG_TOTAL = 0.06  # per-base error of the long-read profile, split 13:31:6 (sub:del:ins)

PROFILES: dict[str, ChannelProfile] = {p.name: p for p in (
    ChannelProfile("reference", "the package's default channel: 1% sub, 0.5% ins, 0.5% del, "
                   "5% dropout, coverage 10", ChannelParams()),
    ChannelProfile("short-read", "Illumina-like (typical values): 0.4% sub, 0.05% ins, "
                   "0.1% del, 2% dropout, coverage 10",
                   ChannelParams(sub=0.004, ins=0.0005, dele=0.001, dropout=0.02)),
    ChannelProfile("long-read", "nanopore-like, indel-heavy: 6% errors as sub:del:ins = "
                   "13:31:6, 5% dropout, coverage 15",
                   ChannelParams(sub=_LONG_TOTAL * 13 / 50, ins=_LONG_TOTAL * 6 / 50,
                                 dele=_LONG_TOTAL * 31 / 50, coverage=15.0)),
)}


def profile_names() -> list[str]:
    """The registered profiles, reference first."""
    return list(PROFILES)


def get_profile(name: str) -> ChannelProfile:
    """The profile called `name`; HelixError naming the registered ones otherwise."""
    try:
        return PROFILES[name]
    except KeyError:
        raise HelixError(f"unknown channel {name!r} (known: {', '.join(PROFILES)})") from None


def channel_params(name: str | None = None, overrides: Mapping[str, float | None] | None = None,
                   seed: int = 1) -> ChannelParams:
    """The profile `name` (default reference) with every non-None override applied, checked."""
    unknown = set(overrides or {}) - set(OVERRIDABLE)
    if unknown:
        raise HelixError(f"channel: cannot override {', '.join(sorted(unknown))}")
    given = {k: float(v) for k, v in (overrides or {}).items() if v is not None}
    params = replace(get_profile(name or DEFAULT_PROFILE).params, **given, seed=seed)
    params.validate()
    return params


def describe_channel(name: str | None, params: ChannelParams) -> str:
    """One line: the profile's name (with `*` if overridden) and the settings in use."""
    base = name or DEFAULT_PROFILE
    custom = replace(params, seed=1) != replace(get_profile(base).params, seed=1)
    return (f"{base}{'*' if custom else ''} (sub {params.sub:.2%}, ins {params.ins:.2%}, "
            f"del {params.dele:.2%}, dropout {params.dropout:.0%}, coverage "
            f"{params.coverage:g}, dispersion {params.dispersion:g})")
