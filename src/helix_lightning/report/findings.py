"""The opening of a study's report: one sentence per ablation, then every configuration's mean
and spread over seeds.

An ablation is one value of one searched param against the study's reference configuration
(the sweep's `reference`, stored in the study's `spec` attribute; by default the first arm and
the first value of each space key): the configuration equal to the reference except for that
param. Its effect is paired by seed: for each seed both configurations ran with, the
difference treated - reference (PSNR in dB, nt/px in per cent of the reference's); the
sentence gives the mean of those differences, each seed's difference and their standard
deviation, and calls the effect `clear` only when every seed's difference has the same sign
and the mean exceeds the reference configuration's own spread over seeds (max - min), else
`within seed noise`. A study of one seed (no training: deterministic) says so instead.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from ..sweep.time_cap import TIME_CAPPED_ATTR, message
from .figures import markdown_table, number
from .load import StudyData, TrialRecord, sort_key

#: Metrics each sentence states: (attribute, label, relative change?).
FINDING_METRICS = (("psnr", "PSNR", False), ("nt_per_px", "nt/px", True))
TABLE_METRICS = ("psnr", "ms_ssim", "nt_per_px", "violations", "direct_violations")


@dataclass
class Ablation:
    """One param set to one value, against the reference, paired by seed."""

    param: str
    value: Any
    reference: Any
    seeds: list[int]
    diffs: dict[str, list[float]] = field(default_factory=dict)     # per metric, per seed
    ref_spread: dict[str, float] = field(default_factory=dict)      # reference max - min
    violations: tuple[float, float] | None = None                   # means: reference, treated
    capped: list[str] = field(default_factory=list)                  # time-cap lines


def _key(params: dict) -> str:
    return json.dumps({k: v for k, v in params.items() if k != "seed"}, sort_keys=True,
                      default=str)


def _seed(t: TrialRecord) -> Any:
    return t.params.get("seed", t.attrs.get("seed"))


def _value(t: TrialRecord, metric: str, study: StudyData) -> float | None:
    v = t.attrs.get(metric)
    if v is None and metric in study.objectives and t.values:
        v = t.values[study.objectives.index(metric)]
    return number(v)


def configurations(study: StudyData) -> dict[str, list[TrialRecord]]:
    """Complete trials grouped by their params other than the seed."""
    out: dict[str, list[TrialRecord]] = {}
    for t in study.trials:
        out.setdefault(_key(t.params), []).append(t)
    return out


def reference(study: StudyData) -> dict[str, Any]:
    """The reference configuration: the study spec's `reference`, else for each searched param
    the first arm / space value of the spec, else its smallest value among the trials."""
    spec = study.user_attrs.get("spec") if isinstance(study.user_attrs.get("spec"), dict) \
        else {}
    out: dict[str, Any] = {}
    for p in study.param_names():
        if p == "seed":
            continue
        if p == "arm" and spec.get("arms"):
            out[p] = next(iter(spec["arms"]))
        elif isinstance((spec.get("space") or {}).get(p), list):
            out[p] = spec["space"][p][0]
        else:
            out[p] = min((t.params[p] for t in study.trials if p in t.params), key=sort_key)
    out.update({k: v for k, v in (spec.get("reference") or {}).items() if k in out})
    return out


def ablations(study: StudyData) -> list[Ablation]:
    """Every (param, value) that differs from the reference in one param only and ran."""
    ref = reference(study)
    groups = configurations(study)
    base = groups.get(_key(ref), [])
    out = []
    for p in study.varying_params():
        values = sorted({json.dumps(t.params[p], default=str) for t in study.trials
                         if p in t.params}, key=lambda s: sort_key(json.loads(s)))
        for raw in values:
            v = json.loads(raw)
            if v == ref.get(p):
                continue
            treated = groups.get(_key({**ref, p: v}), [])
            if treated and base:
                out.append(_pair(study, p, v, ref.get(p), base, treated))
    return out


def _pair(study: StudyData, param: str, value: Any, ref_value: Any,
          base: list[TrialRecord], treated: list[TrialRecord]) -> Ablation:
    by_seed = {_seed(t): t for t in base}
    pairs = [(by_seed[_seed(t)], t) for t in treated if _seed(t) in by_seed]
    pairs.sort(key=lambda pr: sort_key(_seed(pr[1])))
    ab = Ablation(param, value, ref_value, [_seed(t) for _, t in pairs])
    for metric, _, relative in FINDING_METRICS:
        diffs = []
        for r, t in pairs:
            a, b = _value(r, metric, study), _value(t, metric, study)
            if a is None or b is None or (relative and a == 0):
                continue
            diffs.append(100 * (b - a) / a if relative else b - a)
        if diffs:
            ab.diffs[metric] = diffs
            refs = [v for v in (_value(r, metric, study) for r, _ in pairs) if v is not None]
            spread = max(refs) - min(refs)
            ab.ref_spread[metric] = 100 * spread / abs(refs[0]) if relative and refs[0] else \
                spread
    viol = [(number(r.attrs.get("violations")), number(t.attrs.get("violations")))
            for r, t in pairs]
    viol = [(a, b) for a, b in viol if a is not None and b is not None]
    if viol and any(a or b for a, b in viol):
        ab.violations = (sum(a for a, _ in viol) / len(viol), sum(b for _, b in viol) / len(viol))
    for t in sorted({t.number: t for pr in pairs for t in pr}.values(), key=lambda t: t.number):
        capped = t.attrs.get(TIME_CAPPED_ATTR)
        if isinstance(capped, dict):
            ab.capped.append(message(f"trial {t.number}", capped))
    return ab


def _sd(values: list[float]) -> float:
    if len(values) < 2:
        return float("nan")
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def _signed(v: float, digits: int) -> str:
    text = f"{v:+.{digits}f}"
    return text.replace("+0." + "0" * digits, "±0." + "0" * digits).replace(
        "-0." + "0" * digits, "±0." + "0" * digits)


def clear(ab: Ablation, metric: str) -> bool:
    """Every seed's difference has one sign and the mean beats the reference's spread."""
    diffs = ab.diffs.get(metric, [])
    if len(diffs) < 2:
        return False
    same_sign = all(d > 0 for d in diffs) or all(d < 0 for d in diffs)
    mean = sum(diffs) / len(diffs)
    return same_sign and abs(mean) > ab.ref_spread.get(metric, 0.0)


def sentence(ab: Ablation) -> str:
    """'`arm` = none instead of learned-4-separable: PSNR -0.41 dB (seeds -0.45, -0.37; sd
    0.06), nt/px +2.3% (...): PSNR and nt/px clear (outside the seed spread).'"""
    parts = []
    n = len(ab.seeds)
    for metric, label, relative in FINDING_METRICS:
        diffs = ab.diffs.get(metric)
        if not diffs:
            continue
        digits, unit = (1, "%") if relative else (2, " dB")
        mean = sum(diffs) / len(diffs)
        text = f"{label} {_signed(mean, digits)}{unit}"
        if n > 1:
            each = ", ".join(_signed(d, digits) for d in diffs)
            text += f" (seeds {each}; sd {_sd(diffs):.{digits}f})"
        parts.append(text)
    if ab.violations is not None:
        parts.append(f"violations {ab.violations[1]:.4g} against {ab.violations[0]:.4g}")
    head = f"`{ab.param}` = {ab.value} instead of {ab.reference}: " + ", ".join(parts)
    if n < 2:
        verdict = "one run each (deterministic: no training, so no spread over seeds)"
    else:
        sure = [label for metric, label, _ in FINDING_METRICS if clear(ab, metric)]
        verdict = (f"{' and '.join(sure)} clear (every seed the same way, more than the "
                   "reference's own spread over seeds)" if sure else
                   f"within seed noise over {n} seeds")
    tail = f"; {'; '.join(ab.capped)}" if ab.capped else ""
    return f"{head}: {verdict}{tail}."


def _init_text(ts: list[TrialRecord]) -> str:
    """What a configuration did not take from the shared model (the trials' `init`)."""
    inits = [t.attrs.get("init") for t in ts if isinstance(t.attrs.get("init"), dict)]
    if not inits:
        return ""
    init = inits[0]
    missing = init.get("not_loaded") or []
    unused = init.get("unexpected") or []
    if isinstance(missing, str):
        return missing
    if not missing and not unused:
        return "all loaded"

    def where(keys: list[str]) -> str:
        return ", ".join(sorted({".".join(k.split(".")[:-2]) or k for k in keys}))

    parts = []
    if missing:
        parts.append(f"{len(missing)} not loaded ({where(missing)}: initial values)")
    else:
        parts.append("all it has loaded")
    if unused:
        parts.append(f"{len(unused)} of the shared model's unused ({where(unused)})")
    return "; ".join(parts)


def _steps_text(ts: list[TrialRecord]) -> str:
    out = []
    for t in sorted(ts, key=lambda t: sort_key(_seed(t))):
        steps = t.attrs.get("steps")
        capped = t.attrs.get(TIME_CAPPED_ATTR)
        if isinstance(capped, dict):
            out.append(f"{capped.get('steps')}/{capped.get('max_steps')} (time cap)")
        elif steps is not None:
            out.append(str(steps))
    return ", ".join(out)


def configuration_table(study: StudyData) -> str:
    """One row per configuration: seeds, mean ± sd over seeds, steps per seed, init."""
    import pandas as pd

    params = [p for p in study.param_names() if p != "seed"]
    rows = []
    for _, ts in sorted(configurations(study).items(), key=lambda kv: [
            sort_key(kv[1][0].params.get(p)) for p in params]):
        row: dict[str, Any] = {p: ts[0].params.get(p) for p in params}
        row["seeds"] = len({_seed(t) for t in ts})
        for m in TABLE_METRICS:
            vals = [v for v in (_value(t, m, study) for t in ts) if v is not None]
            if not vals:
                continue
            mean = sum(vals) / len(vals)
            row[f"{m} mean ± sd"] = (f"{mean:.4g} ± {_sd(vals):.2g}" if len(vals) > 1
                                     else f"{mean:.4g}")
        row["training steps"] = _steps_text(ts)
        row["weights from the shared model"] = _init_text(ts)
        rows.append(row)
    df = pd.DataFrame(rows)
    df = df[[c for c in df.columns if df[c].astype(str).str.len().gt(0).any()]]
    return markdown_table(df)


def opening(study: StudyData) -> list[str]:
    """The report's first lines: the findings, one sentence per ablation."""
    ref = reference(study)
    found = ablations(study)
    if not found:
        return ["No ablation to state: no configuration differs from the reference "
                f"({_fmt_ref(ref)}) in one param with a complete trial of each.", ""]
    seeds = sorted({s for ab in found for s in ab.seeds}, key=sort_key)
    lines = [f"**Findings** (each against the reference configuration {_fmt_ref(ref)}, "
             f"paired by seed over {len(seeds)} seed(s); nt/px change in per cent of the "
             "reference's):", ""]
    lines += [f"- {sentence(ab)}" for ab in found]
    return lines + [""]


def _fmt_ref(ref: dict) -> str:
    return ", ".join(f"`{k}` = {v}" for k, v in ref.items()) or "(none)"


def configuration_section(study: StudyData) -> list[str]:
    """The per-configuration table with its heading and a line on how to read it."""
    return ["## Per configuration (mean ± sd over seeds)", "",
            "Every configuration the study ran, its metrics as mean ± standard deviation over "
            "its seeds, the training steps of each seed (marked where a time cap cut them "
            "short) and which of the shared model's weights it could not start from.", "",
            configuration_table(study), ""]
