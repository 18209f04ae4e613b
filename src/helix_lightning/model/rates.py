"""Rate points: the named operating points of the codec (coding scale, drop share, stages).

Coding scale: with a scale s, frames are resampled (bicubic, antialiased) to s x (H, W)
rounded up to whole tiles of the token grid, and the decoder resamples its output back to
(H, W) (`HelixCodec.coding_size`). s > 1 spends more tokens per input pixel, s < 1 fewer; for
the default model this trades rate for quality far better than dropping tokens
(docs/CODEC.md). Without a scale (and without a rate point) frames are coded at their own
size, padded. A drop share is the share of tokens never stored, predicted by the token model
(`masked.stage_masks`).

Ladders: a model's config may declare its own rate points, best first (`model.ladder`:
name -> {scale, drop, stages, digits}; digits: each token's first digits coded, see
`nested`; a nested model serves every point of its ladder from one checkpoint). A model
without one has RATE_POINTS. `ladder(config)` gives a model's points, `default_rate` the
middle one (mid for RATE_POINTS), what `helix encode` codes at without --rate.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from ..errors import HelixError

MAX_SCALE = 4.0  # largest coding scale (16x the tokens of the input size)


class RatePoint(NamedTuple):
    """A named operating point: coding scale, drop share and coding stages."""

    scale: float
    drop: float
    stages: int


#: Rate points of the default model (`helix encode --rate`, default mid): name -> coding scale,
#: drop share, stages. Every token is stored; an explicit `scale`, `drop` or `stages` overrides
#: the point's. A drop larger than the last coding stage needs fewer stages: `compress` then
#: reduces the stages as far as the drop needs (`fit_stages`) unless `stages` is given.
#: Scale, not drop, sets the rate: for the default model on carphone_pristine (30 frames),
#: dropping a quarter of the tokens cost 8.6 dB for 20% fewer nt, scale 0.75 costs 0.9 dB for
#: 30% fewer. Stages cost time and save little: 4 -> 2 -> 1 stages raised the nt by 0.4% and
#: 1.7% while encoding ran 6.1 -> 9.7 -> 14.0 frames/s at high; high codes in one stage to
#: stay above 10 frames/s on two cores (docs/CODEC.md, "Rate points").
RATE_POINTS: dict[str, RatePoint] = {"high": RatePoint(1.25, 0.0, 1),
                                     "mid": RatePoint(1.0, 0.0, 2),
                                     "low": RatePoint(0.75, 0.0, 2)}


class LadderPoint(NamedTuple):
    """A point of a model's ladder: a RatePoint plus the digits kept (None: all)."""

    scale: float
    drop: float
    stages: int
    digits: int | None = None


#: `model.ladder`'s keys per point and their defaults (a point states at least its scale).
LADDER_POINT_DEFAULTS: dict[str, Any] = {"scale": 1.0, "drop": 0.0, "stages": 2,
                                         "digits": None}
MIN_LADDER = 5  # points a declared ladder has at least (issue 12: a ladder, not a pair)


def ladder(config: dict[str, Any] | None) -> dict[str, LadderPoint]:
    """The rate points of a model whose codec config is `config`, best first: its declared
    `ladder`, else RATE_POINTS (all digits)."""
    declared = (config or {}).get("ladder")
    if not declared:
        return {name: LadderPoint(*p) for name, p in RATE_POINTS.items()}
    return {str(name): LadderPoint(float(p["scale"]), float(p["drop"]), int(p["stages"]),
                                   None if p["digits"] is None else int(p["digits"]))
            for name, p in declared.items()}


def check_ladder(points: dict[str, Any], channels: int) -> None:
    """Refuse a declared ladder of fewer than MIN_LADDER points or with a point out of range
    (scale, drop, stages, digits in 1..channels)."""
    if len(points) < MIN_LADDER:
        raise HelixError(f"model.ladder declares {len(points)} rate points; a ladder needs at "
                         f"least {MIN_LADDER}")
    for name, p in points.items():
        check_scale(float(p["scale"]))
        if not (0.0 <= float(p["drop"]) < 1.0 and int(p["stages"]) >= 1):
            raise HelixError(f"model.ladder.{name}: drop must be in [0, 1) and stages >= 1")
        if p["digits"] is not None and not 1 <= int(p["digits"]) <= channels:
            raise HelixError(f"model.ladder.{name}: digits must be in 1..{channels}, "
                             f"got {p['digits']}")


def default_rate(config: dict[str, Any] | None) -> str:
    """The rate point `helix encode` uses without --rate: the middle of the ladder."""
    names = list(ladder(config))
    return names[len(names) // 2]


def check_scale(scale: float) -> None:
    """Refuse a coding scale outside (0, MAX_SCALE] (or not a number)."""
    if not (math.isfinite(scale) and 0 < scale <= MAX_SCALE):
        raise HelixError(f"coding scale must be in (0, {MAX_SCALE:g}], got {scale}")


def rate_point(rate: str, config: dict[str, Any] | None = None) -> LadderPoint:
    """A named rate point of the model with codec config `config` (default: RATE_POINTS);
    HelixError for an unknown name."""
    points = ladder(config)
    if rate not in points:
        raise HelixError(f"unknown rate point {rate!r} (known: {', '.join(points)})")
    return points[rate]


def rate_name(scale: float | None, drop: float, stages: int, digits: int | None = None,
              config: dict[str, Any] | None = None) -> str:
    """The rate point (of the model with codec config `config`) with this scale, drop
    share, stage count and digits kept (None: all), "native" for no scale and no drop,
    else "custom"."""
    if scale is None and drop == 0 and digits is None:
        return "native"
    return next((name for name, p in ladder(config).items()
                 if p == (scale, drop, stages, digits)), "custom")


def fit_stages(h: int, w: int, stages: int, drop: float) -> int:
    """The most stages <= `stages` whose last stage holds round(drop * h * w) tokens (what
    `stage_masks` needs; at least 1)."""
    n = h * w
    n_drop = round(drop * n)
    while stages > 1 and n_drop > n - round((stages - 1) * n / stages):
        stages -= 1
    return stages


def coding_parameters(config: dict[str, Any], stages: int | None, drop: float | None,
                      rate: str | None = None, scale: float | None = None,
                      digits: int | None = None
                      ) -> tuple[int, float, float | None, int | None]:
    """(stages, drop, scale, digits): explicit values, else the rate point's (of the
    model's ladder), else the model's `config` (stages 4, drop 0 when absent; scale None:
    code at the input size; digits None: all)."""
    if rate is not None:
        point = rate_point(rate, config)
        drop = point.drop if drop is None else drop
        scale = point.scale if scale is None else scale
        stages = point.stages if stages is None else stages
        digits = point.digits if digits is None else digits
    if scale is not None:
        check_scale(scale)
    return (int(stages if stages is not None else config.get("stages", 4)),
            float(drop if drop is not None else config.get("drop", 0.0)), scale, digits)
