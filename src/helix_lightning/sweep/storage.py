"""Where a study lives, and how trials left behind by a dead worker are found and re-run.

- Default (no URL): an Optuna `JournalStorage` over a `JournalFileBackend` file,
  `runs/sweeps/<study>/study.journal`: embedded, append-only, safe for several processes on
  one machine (file lock). Journal storages have no heartbeat, so every trial records its
  worker (`helix:worker` = host:pid); a RUNNING trial whose worker is a dead process on this
  host (or that names no worker) is stale.
- A URL (`postgresql://user@host/db`, `sqlite:///file.db`): an `RDBStorage` with a heartbeat
  (`heartbeat_interval`, `grace_period` from the sweep's `storage:` section) and a
  `RetryHeartbeatStaleTrialCallback` (Optuna's failed-trial callback), so a trial whose worker
  stopped beating is marked FAIL by the next worker that starts a trial and queued again.
  `grace_period` must exceed the longest a live worker may go without a heartbeat (a
  CPU-starved machine delays the heartbeat thread): a live trial declared dead is run twice.

Either way a stale trial ends as FAIL and a WAITING copy with the same parameters (and, for
the grid sampler, the same grid point) is queued: a killed sweep loses at most the trial in
flight, and only COMPLETE and PRUNED trials count towards `n_trials`.
"""

from __future__ import annotations

import json
import os
import socket
import warnings
from pathlib import Path
from typing import Any

from ..errors import HelixError

WORKER_ATTR = "helix:worker"
DUPLICATE_ATTR = "helix:duplicate_of"  # a grid trial that gave way to this trial number
JOURNAL_NAME = "study.journal"  # what `helix report` looks for under runs/sweeps/<study>/


def is_url(storage: str | None) -> bool:
    return bool(storage) and "://" in str(storage)


def describe(storage: str | None, run_dir: Path) -> str:
    """What `open_storage` will open, for messages (a URL without its password)."""
    if is_url(storage):
        from sqlalchemy.engine import make_url

        try:
            return make_url(str(storage)).render_as_string(hide_password=True)
        except Exception:  # noqa: BLE001 - just a label
            return str(storage).split("@")[-1]
    return str(journal_path(storage, run_dir))


def journal_path(storage: str | None, run_dir: Path) -> Path:
    return Path(storage) if storage else run_dir / JOURNAL_NAME


def open_storage(storage: str | None, run_dir: Path, options: dict | None = None):
    """An Optuna storage: the journal file under `run_dir` (default), a journal file path, or an
    RDB URL with heartbeat and the retry callback."""
    import optuna

    options = options or {}
    if is_url(storage):
        from optuna.storages import RDBStorage

        hb = options.get("heartbeat_interval", 10)
        kwargs: dict[str, Any] = {}
        if hb:
            kwargs = {"heartbeat_interval": int(hb),
                      "grace_period": options.get("grace_period") or None}
            retry = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None)
            if retry is not None:  # Optuna >= 4.9
                kwargs["heartbeat_stale_trial_callback"] = retry(max_retry=options.get(
                    "max_retry"))
            else:
                kwargs["failed_trial_callback"] = optuna.storages.RetryFailedTrialCallback(
                    max_retry=options.get("max_retry"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            try:
                return RDBStorage(str(storage), engine_kwargs={"pool_pre_ping": True}, **kwargs)
            except ImportError as exc:
                raise HelixError(f"storage {describe(storage, run_dir)}: missing database "
                                 f"driver ({exc}); for PostgreSQL `pip install "
                                 f"'helix-lightning[postgres]'`") from None
            except Exception as exc:  # sqlalchemy's OperationalError and friends
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc)
                raise HelixError(f"cannot open storage {describe(storage, run_dir)}: "
                                 f"{first}") from None
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    path = journal_path(storage, run_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(str(path)))


def uses_heartbeat(storage) -> bool:
    from optuna.storages._heartbeat import is_heartbeat_enabled

    return is_heartbeat_enabled(storage)


# ---------------------------------------------------------------- workers and stale trials

def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_stale(trial, unowned_after: float = 60.0) -> bool:
    """A RUNNING trial of a journal storage whose worker is gone (see module docstring).

    A trial that names no worker is stale once it is `unowned_after` seconds old (a worker
    records itself right after it starts a trial)."""
    import datetime

    owner = trial.system_attrs.get(WORKER_ATTR)
    if not owner:
        start = trial.datetime_start
        if start is None:
            return True
        return (datetime.datetime.now() - start).total_seconds() > unowned_after
    host, _, pid = str(owner).rpartition(":")
    if host != socket.gethostname():
        return False  # another machine's worker: it may be alive; leave it
    try:
        return not _pid_alive(int(pid))
    except ValueError:
        return True


def _key(params: dict) -> str:
    return json.dumps(params, sort_keys=True, default=str)


def fail_stale_trials(study) -> list[int]:
    """Mark stale RUNNING trials FAIL (journal: dead worker; RDB: Optuna's heartbeat check,
    which also queues the retry). Returns the numbers of the trials failed here."""
    import optuna
    from optuna.trial import TrialState

    storage = study._storage
    if uses_heartbeat(storage):
        before = {t.number for t in study.get_trials(deepcopy=False,
                                                     states=(TrialState.RUNNING,))}
        optuna.storages.fail_stale_trials(study)
        after = {t.number for t in study.get_trials(deepcopy=False,
                                                    states=(TrialState.RUNNING,))}
        return sorted(before - after)
    failed = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if is_stale(t):
            try:
                if storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL):
                    failed.append(t.number)
            except optuna.exceptions.UpdateFinishedTrialError:
                pass
    return failed


def requeue_failed(study, only: set[int] | list[int] | None = None,
                   max_retry: int | None = None) -> list[int]:
    """Queue again every FAIL trial (or those numbered in `only`) whose parameters have no
    COMPLETE, PRUNED, RUNNING or WAITING twin (a killed or crashed trial), keeping its system
    attributes (grid point), unless it was already retried `max_retry` times. Returns the
    numbers of the failed trials queued."""
    import copy

    import optuna
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    covered = set()
    for t in trials:
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING,
                       TrialState.WAITING):
            covered.add(_key(t.system_attrs.get("fixed_params", t.params)))
    queued = []
    for t in trials:
        if t.state != TrialState.FAIL or not t.params or (only is not None
                                                           and t.number not in only):
            continue
        if DUPLICATE_ATTR in t.system_attrs:  # its grid point ran in the twin trial
            continue
        key = _key(t.params)
        if key in covered:
            continue
        covered.add(key)
        system_attrs = {k: v for k, v in copy.deepcopy(t.system_attrs).items()
                        if k != WORKER_ATTR}
        history = list(system_attrs.get("retry_history", [])) + [t.number]
        if max_retry is not None and len(history) > max_retry:
            continue
        system_attrs.update(failed_trial=history[0], retry_history=history)
        study.add_trial(optuna.trial.create_trial(
            state=TrialState.WAITING, params=t.params, distributions=t.distributions,
            user_attrs={}, system_attrs=system_attrs))
        queued.append(t.number)
    return queued


def grid_twin(study, number: int, grid_id: int | None) -> int | None:
    """The trial that holds grid point `grid_id` before trial `number` does: COMPLETE or
    PRUNED, or RUNNING with a lower number; None if there is none.

    Two workers can start one grid point at once: GridSampler picks among the points not yet
    finished or running at random (from the same seeded generator in every process), and two
    trials created in the same instant see the same points. The grid id is set before the
    objective runs (retries copy it), so both see each other, and the higher number gives
    way."""
    from optuna.trial import TrialState

    if grid_id is None:
        return None
    for t in study.get_trials(deepcopy=False):
        if t.number == number or t.system_attrs.get("grid_id") != grid_id:
            continue
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED) or (
                t.state == TrialState.RUNNING and t.number < number):
            return t.number
    return None


def count(study, *states) -> int:
    return len(study.get_trials(deepcopy=False, states=tuple(states)))
