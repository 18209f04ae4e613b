"""Run a study: storage, sampler, pruner, the shared pretrained model, worker(s), summary.

    helix sweep NAME [--budget smoke|default] [--storage URL] [--workers N] [--trials N]
    helix sweep NAME --params '{"arm": "none", "loss.lambda_rate": 0.01, "seed": 1}'

- Storage: the journal file `runs/sweeps/<study>/study.journal` unless `--storage` names a URL
  (PostgreSQL for many machines: every machine runs the same command; see storage.py).
- Resume: running the command again continues the study. Stale RUNNING trials (a killed
  worker) are marked FAIL and their parameters queued again; only COMPLETE and PRUNED trials
  count towards `n_trials`; a worker starts no trial once COMPLETE + PRUNED + RUNNING
  reaches it. Three failed trials in a row stop a worker.
- Samplers: `grid` (Optuna's GridSampler over arms x space x seeds; `n_trials` defaults to
  the grid size), `tpe`, `nsga2`, `random`: each new configuration is sampled with
  seed = seeds[0] (PartialFixedSampler) and its other seeds are queued at once.
- `--workers N` starts N worker processes on this machine (logs under `<run_dir>/workers/`)
  and shows their joint progress; on one machine the journal file is enough, across
  machines use a PostgreSQL URL.
- At the end: the Pareto front (`study.best_trials`, kept as the study's user attribute
  `pareto_front`), the mean and spread over seeds of every configuration, all written to
  `<run_dir>/summary.json` and printed.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import subprocess
import sys
import time
import warnings
from typing import Any, Callable

from ..errors import HelixError
from . import storage as st
from .config import BUDGETS, Sweep, UnknownStudyError, known_studies, load_sweep
from .time_cap import PRETRAIN_TIME_CAPPED_ATTR, TIME_CAPPED_ATTR, message

MAX_FAILURES_IN_A_ROW = 3


# ---------------------------------------------------------------- quiet libraries

def quiet() -> None:
    """Keep Optuna's and Lightning's per-trial chatter out of the sweep's output."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        from lightning.pytorch.utilities.warnings import PossibleUserWarning

        warnings.simplefilter("ignore", PossibleUserWarning)
    except ImportError:  # pragma: no cover
        pass
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")


def say(console, text: str) -> None:
    """A plain line on the console: no markup, no highlighting, paths never wrapped."""
    console.print(text, markup=False, highlight=False, soft_wrap=True)


# ---------------------------------------------------------------- sampler, pruner, study

def make_sampler(sweep: Sweep):
    import optuna

    opts = dict(sweep.spec["sampler"])
    name, seed = opts.pop("name"), opts.pop("seed", 0)
    try:
        if name == "grid":
            if opts:
                raise TypeError(f"unexpected options {sorted(opts)}")
            return optuna.samplers.GridSampler(sweep.grid, seed=seed)
        cls = {"tpe": optuna.samplers.TPESampler, "nsga2": optuna.samplers.NSGAIISampler,
               "random": optuna.samplers.RandomSampler}[name]
        base = cls(seed=seed, **opts)
    except TypeError as exc:
        raise HelixError(f"sampler {name}: {exc}") from None
    return optuna.samplers.PartialFixedSampler({"seed": sweep.seeds[0]}, base)


def make_pruner(sweep: Sweep):
    import optuna

    opts = {k: v for k, v in sweep.spec["pruner"].items() if k not in ("name", "monitor")}
    name = sweep.spec["pruner"]["name"]
    cls = {"none": optuna.pruners.NopPruner, "median": optuna.pruners.MedianPruner,
           "percentile": optuna.pruners.PercentilePruner,
           "threshold": optuna.pruners.ThresholdPruner,
           "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
           "hyperband": optuna.pruners.HyperbandPruner}[name]
    try:
        return cls(**opts)
    except (TypeError, ValueError) as exc:
        raise HelixError(f"pruner {name}: {exc}") from None


def open_study(sweep: Sweep, storage_url: str | None = None, create: bool = True):
    """The study in its storage (created on first use, with the spec as user attributes)."""
    import optuna

    storage = st.open_storage(storage_url, sweep.run_dir, sweep.spec["storage"])
    kwargs = dict(study_name=sweep.study_name, storage=storage, sampler=make_sampler(sweep),
                  pruner=make_pruner(sweep))
    try:
        if create:
            study = optuna.create_study(directions=sweep.directions, load_if_exists=True,
                                        **kwargs)
        else:
            study = optuna.load_study(**kwargs)
    except KeyError:
        raise HelixError(f"study {sweep.study_name!r} not found in "
                         f"{st.describe(storage_url, sweep.run_dir)}") from None
    except ValueError as exc:
        raise HelixError(f"study {sweep.study_name!r}: {exc}") from None
    wanted = [d.upper() for d in sweep.directions]
    if [d.name for d in study.directions] != wanted:
        raise HelixError(f"study {sweep.study_name!r} in {st.describe(storage_url, sweep.run_dir)}"
                         f" has directions {[d.name for d in study.directions]}, this sweep "
                         f"{wanted}: use another --storage or remove the old study")
    if create and "spec" not in study.user_attrs:
        study.set_user_attr("spec", sweep.spec)
        study.set_user_attr("spec_hash", sweep.spec_hash())
        study.set_user_attr("sweep", sweep.name)
        study.set_user_attr("budget", sweep.budget)
        study.set_user_attr("objectives", [o["metric"] for o in sweep.objectives])
        study.set_user_attr("command", sweep.command())
    return study


def recover(study, sweep: Sweep, only_mine: bool = False) -> tuple[list[int], list[int]]:
    """Fail stale RUNNING trials and queue failed ones again (each at most storage.max_retry
    times); returns (failed here, queued).

    `only_mine` (the worker loop, while other workers may be recovering too): queue only the
    trials this process failed just now, so one failure is queued once. Failing a trial is
    atomic (one process wins), queueing every failed trial without a twin is not: a worker
    that looks between another one's fail and its queueing (Optuna's heartbeat callback does
    both, one after the other) would queue a second copy, and the grid point would run twice.
    With a heartbeat storage that callback has queued them already."""
    failed = st.fail_stale_trials(study)
    max_retry = sweep.spec["storage"].get("max_retry")
    if not only_mine:
        return failed, st.requeue_failed(study, max_retry=max_retry)
    mine = [] if st.uses_heartbeat(study._storage) else failed
    return failed, st.requeue_failed(study, only=mine, max_retry=max_retry) if mine else []


def grid_exhausted(sweep: Sweep, study) -> bool:
    """Grid sampler: every grid point has been tried and nothing is queued (a point that
    failed more often than max_retry stays failed)."""
    from optuna.trial import TrialState

    if not sweep.grid:
        return False
    trials = study.get_trials(deepcopy=False)
    if any(t.state == TrialState.WAITING for t in trials):
        return False
    tried = {json.dumps(t.params, sort_keys=True) for t in trials if t.params}
    return len(tried) >= math.prod(len(v) for v in sweep.grid.values())


def check_pretrained(study, record: dict | None) -> None:
    """Every worker of a study sweeps from the same pretrained model (see pretrain.py).

    `record` None (no local model for this config yet) is fine for a new study only: a study
    that already has one never trains another here."""
    known = study.user_attrs.get("pretrained")
    if known is None:
        if record is not None:
            study.set_user_attr("pretrained", {k: record[k] for k in (
                "sha256", "path", "seconds", "steps", "seed", "metrics", "model_hash",
                "from_checkpoint") if k in record})
        return
    if record is None or known["sha256"] != record["sha256"]:
        local = "has no pretrained model for this config" if record is None else \
            f"has {record['sha256'][:12]}"
        raise HelixError(
            f"this study was swept from pretrained model {known['sha256'][:12]} "
            f"({known['path']}); this machine {local} (another machine trained it, or the "
            "config changed): copy that machine's pretrained.ckpt and pretrained.json into "
            "the same run directory, or start a new study (another --storage, or remove the "
            "old one)")


def note_time_cap(study, record: dict) -> None:
    """Keep the pretraining's time cap (if it cut the run short) as a study attribute."""
    capped = record.get("time_capped")
    if capped is not None and PRETRAIN_TIME_CAPPED_ATTR not in study.user_attrs:
        study.set_user_attr(PRETRAIN_TIME_CAPPED_ATTR, capped)


# ---------------------------------------------------------------- the loop

def worker_loop(sweep: Sweep, study, objective: Callable, n_trials: int,
                timeout: float | None = None,
                on_trial: Callable[[Any], None] | None = None) -> int:
    """Run trials until COMPLETE + PRUNED reach `n_trials` (or, with the trials in flight
    elsewhere, would), `timeout` seconds pass, or three trials in a row fail. Returns the
    number of trials this worker ran."""
    from optuna.trial import TrialState

    start, ran, failures = time.monotonic(), 0, 0
    while True:
        if timeout is not None and time.monotonic() - start > timeout:
            break
        recover(study, sweep, only_mine=True)
        done = st.count(study, TrialState.COMPLETE, TrialState.PRUNED)
        running = st.count(study, TrialState.RUNNING)
        if done + running >= n_trials or grid_exhausted(sweep, study):
            break
        before = {t.number for t in study.get_trials(deepcopy=False)}
        study.optimize(objective, n_trials=1, catch=(HelixError,), gc_after_trial=True)
        ran += 1
        mine = [t for t in study.get_trials(deepcopy=False) if t.number not in before
                and t.system_attrs.get(st.WORKER_ATTR) == st.worker_id()]
        trial = max(mine, key=lambda t: t.number) if mine else None
        if trial is not None and on_trial is not None:
            on_trial(trial)
        if trial is not None and st.DUPLICATE_ATTR in trial.system_attrs:
            continue  # gave its grid point to a twin: not a failure, nothing to retry
        if trial is not None and trial.state == TrialState.FAIL:
            # this worker's own failure: it queues the retry (recover does not, see there)
            st.requeue_failed(study, only=[trial.number],
                              max_retry=sweep.spec["storage"].get("max_retry"))
            failures += 1
            if failures >= MAX_FAILURES_IN_A_ROW:
                raise HelixError(f"{failures} trials in a row failed (last: trial "
                                 f"{trial.number}); see the messages above")
        else:
            failures = 0
    return ran


def describe_trial(sweep: Sweep, trial) -> str:
    """One line about a finished trial."""
    p = {k: v for k, v in trial.params.items()}
    text = ", ".join(f"{k.split('.')[-1]}={v}" for k, v in p.items())
    line = f"trial {trial.number} {trial.state.name.lower()} [{text}]"
    ua = trial.user_attrs
    if "psnr" in ua:
        line += (f"  psnr {ua['psnr']:.2f} dB  nt/px {ua['nt_per_px']:.4f}  "
                 f"violations {ua['violations']}  direct {ua['direct_violations']}")
    capped = ua.get(TIME_CAPPED_ATTR)
    if capped:
        line += f"  {message('training', capped)}"
    if trial.datetime_start and trial.datetime_complete:
        line += f"  ({(trial.datetime_complete - trial.datetime_start).total_seconds():.0f} s)"
    return line


# ---------------------------------------------------------------- summary

def summarize(sweep: Sweep, study) -> dict:
    """Pareto front and per-configuration means over seeds; kept in the study and on disk."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    metrics = [o["metric"] for o in sweep.objectives]
    front = []
    if complete:
        best = study.best_trials if len(metrics) > 1 else [study.best_trial]
        front = sorted(t.number for t in best)
    study.set_user_attr("pareto_front", front)
    groups: dict[str, list] = {}
    for t in complete:
        key = json.dumps({k: v for k, v in t.params.items() if k != "seed"}, sort_keys=True)
        groups.setdefault(key, []).append(t)
    configs = []
    for key, ts in groups.items():
        row: dict[str, Any] = {"params": json.loads(key), "seeds": sorted(t.params["seed"]
                                                                           for t in ts),
                               "trials": sorted(t.number for t in ts)}
        for m in dict.fromkeys(metrics + ["psnr", "nt_per_px", "violations",
                                          "direct_violations"]):
            vals = [float(t.user_attrs[m]) for t in ts if m in t.user_attrs]
            if vals:
                mean = sum(vals) / len(vals)
                sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)) \
                    if len(vals) > 1 else float("nan")
                row[m] = {"mean": mean, "std": sd}
        configs.append(row)
    by_state = {s.name.lower(): sum(t.state == s for t in trials) for s in TrialState}
    capped = sorted(t.number for t in complete if TIME_CAPPED_ATTR in t.user_attrs)
    summary = {
        "study": sweep.study_name, "budget": sweep.budget, "objectives": sweep.objectives,
        "trials": by_state, "n_trials": sweep.n_trials,
        "pareto_front": [{"number": t.number, "params": t.params, "values": t.values,
                          "frame_image": t.user_attrs.get("frame_image")}
                         for t in complete if t.number in front],
        "configs": configs,
        "time_capped_trials": capped,
        "pretrain_time_capped": study.user_attrs.get(PRETRAIN_TIME_CAPPED_ATTR),
    }
    path = sweep.run_dir / "summary.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2, default=str))
    return summary


def print_summary(sweep: Sweep, summary: dict, console) -> None:
    from rich.markup import escape
    from rich.table import Table

    metrics = list(dict.fromkeys([o["metric"] for o in sweep.objectives]
                                 + ["psnr", "nt_per_px", "violations"]))
    front = {json.dumps({k: v for k, v in p["params"].items() if k != "seed"}, sort_keys=True)
             for p in summary["pareto_front"]}
    table = Table(title=f"{summary['study']}: mean ± sd over seeds "
                  f"(* = a seed on the Pareto front)")
    table.add_column("configuration")
    table.add_column("seeds")
    for m in metrics:
        table.add_column(m, justify="right")
    first = sweep.objectives[0]
    rows = sorted(summary["configs"], key=lambda r: r.get(first["metric"], {}).get("mean", 0),
                  reverse=first["direction"] == "maximize")
    for r in rows:
        key = json.dumps(r["params"], sort_keys=True)
        label = ", ".join(f"{k.split('.')[-1]}={v}" for k, v in r["params"].items())
        cells = []
        for m in metrics:
            v = r.get(m)
            cells.append("" if v is None else f"{v['mean']:.4g} ± {v['std']:.2g}"
                         if not math.isnan(v["std"]) else f"{v['mean']:.4g}")
        table.add_row(escape(("* " if key in front else "  ") + label), str(len(r["seeds"])),
                      *cells)
    console.print(table)
    t = summary["trials"]
    say(console, f"trials: {t.get('complete', 0)} complete, {t.get('pruned', 0)} pruned, "
                 f"{t.get('fail', 0)} failed, {t.get('waiting', 0)} queued; "
                 f"summary: {sweep.run_dir / 'summary.json'}")
    capped = summary.get("time_capped_trials") or []
    if capped or summary.get("pretrain_time_capped"):
        pre = summary.get("pretrain_time_capped")
        say(console, f"time cap: {len(capped)} of {t.get('complete', 0)} trials' training "
                     "was cut short" + (f"; {message('pretraining', pre)}" if pre else "")
                     + " (raise trainer.max_time or lower trainer.max_steps)")


# ---------------------------------------------------------------- entry points

def run_sweep(sweep: Sweep, storage_url: str | None = None, workers: int = 1,
              n_trials: int | None = None, console=None, show_progress: bool = True) -> dict:
    """Run (or resume) the study; return the summary."""
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn)

    from .objective import Objective
    from .pretrain import ensure_pretrained, read_record

    quiet()
    console = console or Console(stderr=True)
    if workers < 1:
        raise HelixError(f"--workers must be at least 1, got {workers}")
    n = int(n_trials) if n_trials is not None else sweep.n_trials
    if n < 1:
        raise HelixError(f"--trials must be at least 1, got {n}")
    where = st.describe(storage_url, sweep.run_dir)
    study = open_study(sweep, storage_url)
    failed, queued = recover(study, sweep)
    if failed or queued:
        say(console, f"resuming: {len(failed)} stale trial(s) marked failed, "
                     f"{len(queued)} failed trial(s) queued again")
    check_pretrained(study, read_record(sweep))  # before training one for nothing
    record = ensure_pretrained(sweep, log=lambda text: say(console, text))
    check_pretrained(study, record)
    note_time_cap(study, record)
    if record.get("from_checkpoint"):
        say(console, f"shared model: {record['path']} (model {record['model_hash']}, not "
                     "trained here: every trial starts from it)")
    elif record.get("reused"):
        capped = record.get("time_capped")
        say(console, f"pretrained model: {record['path']} (reused"
            + (f"; {message('its pretraining', capped)})" if capped else ")"))
    say(console, f"study {sweep.study_name} ({sweep.budget} budget): {n} trials, "
                 f"storage {where}")
    from optuna.trial import TrialState

    def done() -> int:
        return st.count(study, TrialState.COMPLETE, TrialState.PRUNED)

    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=console, disable=not show_progress)
    timeout = sweep.spec["timeout"]
    with progress:
        task = progress.add_task(sweep.study_name, total=n, completed=min(n, done()))
        if workers == 1:
            def on_trial(trial) -> None:
                say(progress.console, describe_trial(sweep, trial))
                progress.update(task, completed=min(n, done()))

            worker_loop(sweep, study, Objective(sweep, record), n, timeout, on_trial)
        else:
            seen = {t.number for t in study.get_trials(deepcopy=False) if t.state.is_finished()}

            def tick() -> None:  # the workers log to files: report their trials here
                for t in study.get_trials(deepcopy=False):
                    if t.state.is_finished() and t.number not in seen:
                        seen.add(t.number)
                        say(progress.console, describe_trial(sweep, t))
                progress.update(task, completed=min(n, done()))

            run_workers(sweep, storage_url, workers, n, tick, console)
        progress.update(task, completed=min(n, done()))
    summary = summarize(sweep, study)
    print_summary(sweep, summary, console)
    return summary


def worker_command(sweep: Sweep, storage_url: str | None, n: int) -> list[str]:
    cmd = [sys.executable, "-m", "helix_lightning.sweep", str(sweep.path), "--budget",
           sweep.budget, "--trials", str(n), "--runs-dir", str(sweep.runs_root), "--worker"]
    if storage_url:
        cmd += ["--storage", storage_url]
    return cmd


def run_workers(sweep: Sweep, storage_url: str | None, workers: int, n: int,
                tick: Callable[[], None], console, poll: float = 3.0) -> None:
    """N worker processes on this machine against one study; logs in <run_dir>/workers/."""
    logs = sweep.run_dir / "workers"
    logs.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))
    procs = []
    for i in range(workers):
        log = open(logs / f"worker_{i}.log", "ab")
        procs.append((subprocess.Popen(worker_command(sweep, storage_url, n), stdout=log,
                                       stderr=subprocess.STDOUT, env=env), log, i))
    try:
        while any(p.poll() is None for p, _, _ in procs):
            tick()
            time.sleep(poll)
    except KeyboardInterrupt:
        for p, _, _ in procs:
            if p.poll() is None:
                p.terminate()
        for p, _, _ in procs:
            p.wait()
        raise
    finally:
        for _, log, _ in procs:
            log.close()
    tick()
    bad = [(i, p.returncode) for p, _, i in procs if p.returncode]
    if bad:
        i, rc = bad[0]
        tail = (logs / f"worker_{i}.log").read_text(errors="replace").strip().splitlines()[-3:]
        raise HelixError(f"worker {i} exited with status {rc}: {' / '.join(tail)}")


def run_worker(sweep: Sweep, storage_url: str | None, n: int) -> int:
    """One worker process (`--worker`): the study and its pretrained model exist already."""
    from .objective import Objective
    from .pretrain import ensure_pretrained

    quiet()
    study = open_study(sweep, storage_url, create=False)
    record = ensure_pretrained(sweep, train_allowed=False)
    check_pretrained(study, record)
    return worker_loop(sweep, study, Objective(sweep, record), n, sweep.spec["timeout"],
                       lambda t: print(describe_trial(sweep, t), flush=True))


def run_params(sweep: Sweep, params: dict, console=None) -> dict:
    """One trial with the given parameters, outside any study (the `command` user attr)."""
    import hashlib

    from .objective import check_params, run_trial
    from .pretrain import ensure_pretrained

    quiet()
    check_params(sweep, params)
    record = ensure_pretrained(sweep, log=(lambda text: say(console, text)) if console
                               else print)
    tag = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:8]
    return run_trial(sweep, params, record, sweep.run_dir / f"rerun_{tag}")


# ---------------------------------------------------------------- command line

def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME",
                   help="study: sweeps/NAME.yaml (" + (", ".join(known_studies()) or "none")
                   + ") or a path to a sweep YAML")
    p.add_argument("--budget", default="default", metavar="|".join(BUDGETS),
                   help="the study's named budget: smoke (a few minutes, for tests and a first "
                   "run), default (under an hour on 2 CPU cores), or another the YAML defines")
    p.add_argument("--storage", default=None, metavar="URL",
                   help="Optuna storage: postgresql://user@host/db (many machines) or "
                   "sqlite:///file.db (default: journal file runs/sweeps/<study>/study.journal)")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="worker processes on this machine (default 1)")
    p.add_argument("--trials", type=int, default=None, metavar="N",
                   help="trials to complete (default: the study's n_trials, or its whole grid)")
    p.add_argument("--params", default=None, metavar="JSON",
                   help="run one trial with these parameters outside the study and print its "
                   "metrics (what each trial's `command` attribute does)")
    p.add_argument("--runs-dir", default=None, metavar="DIR",
                   help="root of the run directories (default runs/sweeps)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)


def main_from_args(args: argparse.Namespace) -> int:
    sweep = load_sweep(args.name, args.budget, args.runs_dir)
    if args.worker:
        run_worker(sweep, args.storage, args.trials or sweep.n_trials)
        return 0
    if args.params is not None:
        try:
            params = json.loads(args.params)
        except ValueError as exc:
            raise HelixError(f"--params is not valid JSON ({exc})") from None
        if not isinstance(params, dict):
            raise HelixError("--params must be a JSON object")
        attrs = run_params(sweep, params)
        keep = ("psnr", "ms_ssim", "bits_per_px", "nt_per_px", "coding_density", "net_density",
                "capacity", "share_of_capacity", "violations", "direct_violations", "mask_acc",
                "train_seconds", "params", "seed", "frame_image")
        print(json.dumps({k: attrs[k] for k in keep if k in attrs}, indent=2))
        return 0
    run_sweep(sweep, args.storage, args.workers, args.trials,
              show_progress=not args.no_progress)
    return 0
