"""Say when a time cap cut a run short, so a budget that is too tight never passes unnoticed.

A run (the shared pretraining or a trial's fine-tuning) plans `trainer.max_steps` steps and
may also have `trainer.max_time`; Lightning stops at whichever comes first and says nothing.
Training runs with `max_epochs=-1`, so a run that has a time cap and ends before its planned
steps was stopped by that cap. `time_capped(cfg, result)` returns the record kept as the
Optuna user attribute `TIME_CAPPED_ATTR` on the trial (`PRETRAIN_TIME_CAPPED_ATTR` on the
study for the pretraining, and `time_capped` in `pretrained.json`):
{steps, max_steps, max_time, max_time_s, seconds}; `message(...)` is the line printed on
stderr at the time.
"""

from __future__ import annotations

from typing import Any

#: Trial user attribute: its fine-tuning stopped on the time cap (absent otherwise).
TIME_CAPPED_ATTR = "helix:time_capped"
#: Study user attribute: the shared pretraining stopped on the time cap (absent otherwise).
PRETRAIN_TIME_CAPPED_ATTR = "helix:pretrain_time_capped"


def max_time_seconds(max_time: Any) -> float | None:
    """Lightning's `max_time` ("DD:HH:MM:SS", a mapping of timedelta keys, or seconds) in
    seconds; None when there is no cap."""
    if max_time is None:
        return None
    if isinstance(max_time, (int, float)):
        return float(max_time)
    if isinstance(max_time, dict):
        from datetime import timedelta

        return timedelta(**max_time).total_seconds()
    parts = [float(p) for p in str(max_time).split(":")]
    seconds = 0.0
    for unit, value in zip((86400, 3600, 60, 1), [0.0] * (4 - len(parts)) + parts):
        seconds += unit * value
    return seconds


def time_capped(cfg: dict, result: dict) -> dict | None:
    """The time-cap record of a finished run (`train`'s config and result), or None when it
    ran every planned step (or had no cap or no step limit)."""
    trainer = cfg["trainer"]
    planned, cap = trainer.get("max_steps"), trainer.get("max_time")
    steps = int(result["steps"])
    if cap is None or planned is None or int(planned) < 0 or steps >= int(planned):
        return None
    return {"steps": steps, "max_steps": int(planned), "max_time": cap,
            "max_time_s": max_time_seconds(cap), "seconds": float(result["seconds"])}


def cap_text(record: dict) -> str:
    """The cap in words: '90 s', '4.5 min'; '' when the record does not say."""
    cap = record.get("max_time_s")
    if cap is None:
        try:
            cap = max_time_seconds(record.get("max_time"))
        except (TypeError, ValueError):
            return str(record.get("max_time"))
    if cap is None:
        return ""
    return f"{cap:.0f} s" if cap < 120 else f"{cap / 60:.3g} min"


def message(what: str, record: dict) -> str:
    """'pretraining stopped at 57 of 120 steps on its 90 s time cap (after 91 s)'."""
    cap = cap_text(record)
    text = (f"{what} stopped at {record.get('steps')} of {record.get('max_steps')} steps on "
            f"its {cap + ' ' if cap else ''}time cap")
    seconds = record.get("seconds")
    return text + (f" (after {seconds:.0f} s)" if isinstance(seconds, (int, float)) else "")
