"""Find Optuna studies in their storage and load them into plain data for the report.

Default storage: one Optuna journal file per sweep, `runs/sweeps/<NAME>/study.journal`
(a JournalFileBackend), holding the study named NAME. `--storage URL` reads any other
storage instead: an SQLite or PostgreSQL URL, or a journal file's path.

Only COMPLETE trials are kept; the others are counted by state. Nothing here writes to the
storage (a journal file or SQLite file that does not exist is an error, never created).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import HelixError

DEFAULT_SWEEPS = Path("runs/sweeps")
DEFAULT_OUT = Path("reports")
JOURNAL_NAME = "study.journal"
OBJECTIVES = ("psnr", "nt_per_px")  # the sweeps' objectives when the study names none


class UnknownStudyError(HelixError):
    """A study asked for is not in the storage (the CLI exits 1 with this message)."""


@dataclass(frozen=True)
class StudySource:
    """Where one study lives and how its report is regenerated."""

    name: str      # the study's name in the storage (= the sweep's NAME)
    storage: str   # journal file path or database URL
    kind: str      # "journal" or "rdb"
    label: str     # printable: a path relative to the working directory, passwords masked
    command: str   # the command that regenerates this report


@dataclass
class TrialRecord:
    number: int
    params: dict[str, Any]
    values: list[float] | None
    attrs: dict[str, Any]


@dataclass
class StudyData:
    source: StudySource
    directions: list[str]                  # "maximize" / "minimize", one per objective
    objectives: list[str]                  # names of the objectives, in values' order
    user_attrs: dict[str, Any]
    counts: dict[str, int]                 # trials per state name (COMPLETE, FAIL, ...)
    trials: list[TrialRecord]              # COMPLETE trials, by number
    best_numbers: list[int]                # Pareto front (or best trial), by number
    study: Any = field(default=None, repr=False)  # the optuna.Study (for importances)

    @property
    def name(self) -> str:
        return self.source.name

    @property
    def n_complete(self) -> int:
        return len(self.trials)

    @property
    def n_total(self) -> int:
        return sum(self.counts.values())

    def param_names(self) -> list[str]:
        """Every searched param of the complete trials, sorted."""
        return sorted({k for t in self.trials for k in t.params})

    def varying_params(self, include_seed: bool = False) -> list[str]:
        """Searched params that take two or more values among the complete trials."""
        out = []
        for name in self.param_names():
            if name == "seed" and not include_seed:
                continue
            values = {_hashable(t.params[name]) for t in self.trials if name in t.params}
            if len(values) > 1:
                out.append(name)
        return out

    def frame(self):
        """One row per complete trial: number, params, objective values, scalar user attrs."""
        import pandas as pd

        rows = []
        for t in self.trials:
            row: dict[str, Any] = {"number": t.number}
            for k in sorted(t.attrs):
                v = t.attrs[k]
                if _is_scalar(v) and k not in ("command",):
                    row[k] = v
            for i, name in enumerate(self.objectives):
                if t.values is not None and i < len(t.values) and row.get(name) is None:
                    row[name] = t.values[i]
            for k in sorted(t.params):
                row[k] = t.params[k]
            rows.append(row)
        columns = ["number"] + self.param_names()
        seen = set(columns)
        for row in rows:
            for k in row:
                if k not in seen:
                    seen.add(k)
                    columns.append(k)
        head = columns[: 1 + len(self.param_names())]
        columns = head + sorted(columns[len(head):])
        return pd.DataFrame(rows, columns=columns)


def _is_scalar(v: Any) -> bool:
    return v is None or isinstance(v, (bool, int, float, str))


def _hashable(v: Any) -> Any:
    return repr(v) if isinstance(v, (list, dict)) else v


def sort_key(v: Any) -> tuple:
    """Order mixed param values: missing, then numbers, then strings."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return (0, 0.0, "")
    if isinstance(v, bool):
        return (1, float(v), "")
    if isinstance(v, (int, float)):
        return (1, float(v), "")
    return (2, 0.0, str(v))


def mask_url(url: str) -> str:
    """postgresql://user:secret@host/db -> postgresql://user:***@host/db"""
    return re.sub(r"://([^:/@]+):[^@/]*@", r"://\1:***@", url)


def _rel(path: Path) -> str:
    p = Path(os.path.abspath(path))
    try:
        return p.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return p.as_posix()


def _storage_kind(storage: str) -> str:
    if "://" in storage:
        return "rdb"
    return "journal"


def _sqlite_path(url: str) -> Path | None:
    if url.startswith("sqlite:///"):
        rest = url[len("sqlite:///"):].split("?", 1)[0]
        return None if rest in ("", ":memory:") else Path(rest)
    return None


def open_storage(storage: str):
    """An Optuna storage object for a journal file path or a database URL (never creates one)."""
    import optuna

    if _storage_kind(storage) == "journal":
        path = Path(storage)
        if not path.is_file():
            raise UnknownStudyError(f"storage file not found: {storage}")
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        return JournalStorage(JournalFileBackend(str(path)))
    sqlite = _sqlite_path(storage)
    if sqlite is not None and not sqlite.is_file():
        raise UnknownStudyError(f"SQLite storage not found: {sqlite}")
    try:
        return optuna.storages.RDBStorage(storage)
    except Exception as exc:  # bad URL, unreachable server, missing driver
        raise HelixError(f"cannot open storage {mask_url(storage)}: "
                         f"{exc.__class__.__name__}: {str(exc).splitlines()[0][:200]}") from None


def study_names_in(storage: str) -> list[str]:
    import optuna

    return sorted(optuna.get_all_study_names(open_storage(storage)))


def report_command(name: str, storage: str | None, out: Path,
                   sweeps: Path = DEFAULT_SWEEPS) -> str:
    """The command that regenerates one study's report (written under every figure)."""
    default_sweeps = Path(sweeps) == DEFAULT_SWEEPS
    if storage is None and Path(out) == DEFAULT_OUT and default_sweeps:
        return f"make report NAME={name}"
    cmd = f"helix report {name}"
    if storage is not None:
        cmd += f" --storage {mask_url(storage)}"
    elif not default_sweeps:
        cmd += f" --sweeps {_rel(Path(sweeps))}"
    if Path(out) != DEFAULT_OUT:
        cmd += f" --out {_rel(Path(out))}"
    return cmd


def find_sources(names: list[str] | None, storage: str | None = None,
                 sweeps: Path = DEFAULT_SWEEPS, out: Path = DEFAULT_OUT) -> list[StudySource]:
    """The studies to report on, sorted by name.

    storage None: NAME -> `sweeps/NAME/study.journal`; no names -> every such file.
    storage given: NAME -> the study NAME in it; no names -> every study in it.
    Raises UnknownStudyError for a name that is not there, HelixError if nothing is found.
    """
    names = sorted(set(names or []))
    sources: list[StudySource] = []
    if storage is not None:
        kind = _storage_kind(storage)
        available = study_names_in(storage)
        label = _rel(Path(storage)) if kind == "journal" else mask_url(storage)
        for name in names or available:
            if name not in available:
                raise UnknownStudyError(
                    f"unknown study {name!r} in {label} (it holds: "
                    f"{', '.join(available) or 'no studies'})")
            sources.append(StudySource(name, storage, kind, label,
                                       report_command(name, storage, out)))
        if not sources:
            raise HelixError(f"no studies in {label}")
        return sources
    sweeps = Path(sweeps)
    found = sorted(p.parent.name for p in sweeps.glob(f"*/{JOURNAL_NAME}") if p.is_file())
    for name in names or found:
        path = sweeps / name / JOURNAL_NAME
        if not path.is_file():
            raise UnknownStudyError(
                f"unknown study {name!r}: no {_rel(path)} (studies under {_rel(sweeps)}/: "
                f"{', '.join(found) or 'none'}; run `make sweep NAME={name}` first, or pass "
                f"--storage URL)")
        sources.append(StudySource(name, str(path), "journal", _rel(path),
                                   report_command(name, None, out, sweeps)))
    if not sources:
        raise UnknownStudyError(f"no studies found: no {_rel(sweeps)}/*/{JOURNAL_NAME} "
                                "(run `make sweep NAME=...` first, or pass --storage URL)")
    return sources


def load_study(source: StudySource) -> StudyData:
    """Read one study: its COMPLETE trials in full, the others counted by state."""
    import optuna

    storage = open_storage(source.storage)
    name = source.name
    available = sorted(optuna.get_all_study_names(storage))
    if name not in available:
        if source.kind == "journal" and len(available) == 1:
            name = available[0]  # a sweep file holding one study under another name
        else:
            raise UnknownStudyError(f"unknown study {source.name!r} in {source.label} (it "
                                    f"holds: {', '.join(available) or 'no studies'})")
    study = optuna.load_study(study_name=name, storage=storage)
    directions = [d.name.lower() for d in study.directions]
    user_attrs = dict(study.user_attrs)
    objectives = _objective_names(study, user_attrs, len(directions))
    counts: dict[str, int] = {}
    trials: list[TrialRecord] = []
    for t in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
        counts[t.state.name] = counts.get(t.state.name, 0) + 1
        if t.state != optuna.trial.TrialState.COMPLETE:
            continue
        values = list(t.values) if t.values is not None else None
        trials.append(TrialRecord(t.number, dict(t.params), values, dict(t.user_attrs)))
    best: list[int] = []
    if trials:
        try:
            best = sorted(t.number for t in study.best_trials)
        except (ValueError, RuntimeError):
            best = []
    return StudyData(source, directions, objectives, user_attrs, counts, trials, best, study)


def _objective_names(study, user_attrs: dict, n: int) -> list[str]:
    names = user_attrs.get("objectives")
    if isinstance(names, dict):
        names = list(names)
    if isinstance(names, (list, tuple)) and len(names) == n:
        return [str(x) if not isinstance(x, dict) else str(x.get("metric", x.get("name", i)))
                for i, x in enumerate(names)]
    metric_names = getattr(study, "metric_names", None)
    if metric_names and len(metric_names) == n:
        return [str(x) for x in metric_names]
    if n == len(OBJECTIVES):
        return list(OBJECTIVES)
    return ["value"] if n == 1 else [f"value_{i}" for i in range(n)]
