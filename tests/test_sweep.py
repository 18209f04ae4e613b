"""Sweeps (helix_lightning.sweep): config validation, a smoke study on synthetic data, resume
after a killed worker, pruning, and (slow) two workers on one PostgreSQL study."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helix_lightning.errors import HelixError
from helix_lightning.sweep import config as C
from helix_lightning.sweep import storage as S

STUDIES = ("kron_ablation", "fsm_ablation", "mask_ablation")

TRAIN_CONFIG = {
    "name": "sweeptest", "seed": 0, "logger": False, "codec_metrics": {"every": 0},
    "data": {"paths": "synthetic", "clip_frames": 2, "crop": 32, "val_size": 32,
             "batch_size": 2, "num_workers": 0, "clips_per_epoch": 16, "clips_per_file": 1,
             "synthetic": {"videos": 3, "frames": 6, "height": 40, "width": 40}},
    "model": {"tokenizer": {"name": "conv", "downsample": 8, "channels_latent": 4, "width": 8,
                            "res_blocks": 1, "groups": 4},
              "mixer": {"name": "kronecker", "mode": "learned", "block": 2,
                        "factorisation": "separable"},
              "masked": {"dim": 16, "depth": 1, "heads": 2, "max_tokens": 256},
              "rate": {"prior": "staged", "stages": 2, "drop": 0.0}},
    "trainer": {"max_steps": 4, "val_check_interval": 2, "limit_val_batches": 1,
                "progress_bar": False},
}


def sweep_spec(base: Path, **extra) -> dict:
    spec = {
        "name": "tiny",
        "base": str(base),
        "pretrain": {"overrides": {"trainer.max_steps": 4}},
        "trial": {"overrides": {"trainer.max_steps": 2, "trainer.val_check_interval": 1}},
        "eval": {"clip": "synthetic", "frames": 2, "constraints": "standard"},
        "arms": {"none": {"model.mixer.mode": "none"},
                 "learned": {"model.mixer.mode": "learned"}},
        "space": {"loss.lambda_rate": [0.01]},
        "seeds": [0, 1],
        "objectives": ["psnr", "nt_per_px"],
        "budgets": {"smoke": {"n_trials": 2}},
    }
    spec.update(extra)
    return spec


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """A tiny sweep on synthetic clips: (path of tiny.yaml, runs root)."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    base = tmp_path / "train.yaml"
    base.write_text(yaml.safe_dump(TRAIN_CONFIG))
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(sweep_spec(base)))
    return path, tmp_path / "runs"


def write_spec(tmp_path: Path, spec: dict, name: str = "tiny") -> Path:
    base = tmp_path / "train.yaml"
    if not base.exists():
        base.write_text(yaml.safe_dump(TRAIN_CONFIG))
    spec = dict(spec, name=name)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


# ---------------------------------------------------------------- configs

@pytest.mark.parametrize("name", STUDIES)
def test_shipped_studies_load(name):
    """Every shipped study starts from the committed default model (no pretraining), runs two
    seeds per training configuration, and its default budget cannot pass 60 minutes on the
    trial caps it sets: no trial starts after `timeout`, none trains longer than its cap."""
    from helix_lightning.model.checkpoint import DEFAULT_CHECKPOINT
    from helix_lightning.sweep.time_cap import max_time_seconds

    smoke, default = C.load_sweep(name, "smoke"), C.load_sweep(name, "default")
    assert smoke.study_name == f"{name}-smoke" and default.study_name == name
    assert default.run_dir == Path("runs/sweeps") / name
    assert 1 <= smoke.n_trials <= 6 < default.n_trials + 3
    for sweep in (smoke, default):
        assert sweep.pretrained_from.resolve() == DEFAULT_CHECKPOINT.resolve()
        assert sweep.spec["pretrain"]["overrides"] == {}
    assert [o["metric"] for o in default.objectives] == ["psnr", "nt_per_px"]
    if default.trains:
        assert len(default.seeds) >= 2 and len(smoke.seeds) >= 2
        steps = default.spec["trial"]["overrides"]["trainer.max_steps"]
        assert smoke.spec["trial"]["overrides"]["trainer.max_steps"] < steps
        cap = max_time_seconds(default.spec["trial"]["overrides"]["trainer.max_time"])
        assert default.spec["timeout"] + cap + 60 <= 3600
        assert default.n_trials * 60 <= default.spec["timeout"]  # a minute a trial at least
        cfg, _ = default.training_config("trial", seed=0)
        assert cfg["data"]["crop"] <= 96 and cfg["data"]["batch_size"] <= 4
    assert default.reference and all(
        v in default.params_space()[k] for k, v in default.reference.items())
    assert "seed" in default.grid and default.n_trials == C.grid_size(default.grid)


def test_shipped_studies_build_the_default_model():
    """The studies' base config builds the committed default model (model c18f1bd6c519d619),
    so the reference arm loads every tensor of it."""
    from helix_lightning.sweep.pretrain import from_checkpoint

    for name in STUDIES:
        record = from_checkpoint(C.load_sweep(name, "smoke"))
        assert record["model_hash"] == "c18f1bd6c519d619" and record["from_checkpoint"]
        assert record["metrics"]["val/psnr"] > 20  # the stored best validation


def test_study_spaces_cover_the_issue():
    kron = C.load_sweep("kron_ablation", "full")
    arms = kron.spec["arms"].values()
    assert {a["model.mixer.mode"] for a in arms} == {"none", "permute", "learned"}
    assert {a["model.mixer.block"] for a in arms} == {2, 4, 8}
    assert {a.get("model.mixer.factorisation") for a in arms} >= {"dense", "separable",
                                                                    "factored"}
    default = C.load_sweep("kron_ablation")
    assert default.reference == {"arm": "learned-4-separable"}  # the default model's mixer
    assert len(default.spec["arms"]) == 5 and default.n_trials == 10
    fsm = C.load_sweep("fsm_ablation")
    assert not fsm.trains
    assert set(fsm.spec["space"]["constraints"]) == {"rl3", "fountain", "standard", "strict",
                                                     "relaxed", "rl2"}
    assert set(fsm.spec["space"]["coder"]) == {"direct", "fsm"}
    assert fsm.reference == {"coder": "fsm", "constraints": "standard"}
    mask = C.load_sweep("mask_ablation")
    settings = mask.spec["arms"].values()
    assert {a["model.rate.stages"] for a in settings} == {1, 2, 4}
    assert {a["model.rate.drop"] for a in settings} == {0.0, 0.125, 0.25}
    assert mask.spec["arms"][mask.reference["arm"]] == {"model.rate.stages": 4,
                                                        "model.rate.drop": 0.0}


def test_unknown_study_lists_known_ones():
    with pytest.raises(HelixError, match="unknown study 'nope'.*kron_ablation"):
        C.load_sweep("nope")


def test_cli_unknown_study_one_line(capsys):
    from helix_lightning.cli import main

    assert main(["sweep", "nope"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown study" in err[0] and "fsm_ablation" in err[0]
    assert main(["sweep", "kron_ablation", "--budget", "huge"]) == 2  # other errors: 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown budget 'huge'" in err[0]


def test_cli_help_lists_options(capsys):
    from helix_lightning.cli import main

    with pytest.raises(SystemExit):
        main(["sweep", "--help"])
    out = capsys.readouterr().out
    for flag in ("--budget", "--storage", "--workers", "--trials"):
        assert flag in out


@pytest.mark.parametrize("change, message", [
    ({"bogus": 1}, "unknown key 'bogus'"),
    ({"space": {"model.mixer.nope": [1]}}, "unknown config key 'model.mixer.nope'"),
    ({"space": {"loss.lambda_rate": []}}, "empty list"),
    ({"space": {"loss.lambda_rate": {"low": 0.001, "high": 0.1}}}, "grid sampler needs lists"),
    ({"seeds": [0]}, "at least two seeds"),
    ({"objectives": ["psnr", "bogus"]}, "unknown objective metric 'bogus'"),
    ({"pruner": {"name": "median", "monitor": "val/psnr"}}, "exactly one objective"),
    ({"objectives": ["psnr"], "pruner": {"name": "median", "monitor": "val/loss"}},
     "improves the other way"),
    ({"sampler": {"name": "tpe"}}, "n_trials is required"),
    ({"sampler": {"name": "cmaes"}}, "sampler.name must be one of"),
    ({"eval": {"clip": "synthetic", "frames": 0}}, "frames must be a positive"),
    ({"eval": {"clip": "synthetic", "frames": 2, "coder": "zip"}}, "coder must be one of"),
    ({"arms": {"x": {"eval.frames": 3}}}, "cannot vary per trial"),
    ({"base": "nowhere.yaml"}, "base config not found"),
])
def test_invalid_sweeps_are_rejected(tmp_path, change, message):
    spec = sweep_spec(tmp_path / "train.yaml")
    spec.update(change)
    path = write_spec(tmp_path, spec)
    with pytest.raises(HelixError, match=message):
        C.load_sweep(path, "default", tmp_path / "runs")


def test_budget_and_name_checks(tmp_path):
    path = write_spec(tmp_path, sweep_spec(tmp_path / "train.yaml"))
    with pytest.raises(HelixError, match="unknown budget 'huge'.*default, smoke"):
        C.load_sweep(path, "huge")
    other = write_spec(tmp_path, dict(sweep_spec(tmp_path / "train.yaml")), name="other")
    other.write_text(other.read_text().replace("name: other", "name: tiny"))
    with pytest.raises(HelixError, match="must match the file name"):
        C.load_sweep(other)
    spec = sweep_spec(tmp_path / "train.yaml")
    spec["budgets"] = {"smoke": {"arms": ["none", "missing"]}}
    with pytest.raises(HelixError, match="unknown arm 'missing'"):
        C.load_sweep(write_spec(tmp_path, spec), "smoke")


def test_budget_patch_and_grid(tmp_path):
    spec = sweep_spec(tmp_path / "train.yaml")
    spec["space"] = {"loss.lambda_rate": [0.01, 0.03], "coder": ["fsm", "direct"]}
    spec["budgets"] = {"smoke": {"arms": ["learned"], "space": {"loss.lambda_rate": [0.03]},
                                 "trial": {"overrides": {"trainer.max_steps": 1}}}}
    path = write_spec(tmp_path, spec)
    full, smoke = C.load_sweep(path), C.load_sweep(path, "smoke")
    assert full.n_trials == 2 * 2 * 2 * 2 and smoke.n_trials == 1 * 1 * 2 * 2
    assert smoke.spec["trial"]["overrides"] == {"trainer.max_steps": 1,
                                                "trainer.val_check_interval": 1}
    points = C.grid_points(smoke.grid)
    assert points[0] == {"arm": "learned", "coder": "fsm", "loss.lambda_rate": 0.03, "seed": 0}
    cfg, ev = smoke.training_config("trial", smoke.settings(points[1]), seed=1)
    assert cfg["model"]["mixer"]["mode"] == "learned" and cfg["loss"]["lambda_rate"] == 0.03
    assert ev["coder"] == "fsm" and cfg["seed"] == 1 and cfg["trainer"]["max_steps"] == 1
    assert "--params" in smoke.command(points[1]) and "--budget smoke" in smoke.command()


def test_load_matching_reports_what_was_not_loaded(tmp_path):
    import torch

    from helix_lightning.model.checkpoint import load_matching
    from helix_lightning.model.module import HelixModule

    def module(block: int, mode: str = "learned", fact: str = "dense") -> HelixModule:
        cfg = json.loads(json.dumps(TRAIN_CONFIG))
        cfg["model"]["mixer"].update(block=block, mode=mode, factorisation=fact)
        return HelixModule({k: cfg[k] for k in ("model",)})

    src = module(4)
    torch.save({"state_dict": src.state_dict()}, tmp_path / "src.ckpt")
    other = module(2)
    info = load_matching(other, tmp_path / "src.ckpt")
    assert info["not_loaded"] and all(k.startswith("codec.mixer.") for k in info["not_loaded"])
    assert info["loaded"] == len(src.state_dict()) - len(info["not_loaded"])
    w = next(k for k in src.state_dict() if k.startswith("codec.tokenizer."))
    assert torch.equal(other.state_dict()[w], src.state_dict()[w])
    none = module(4, mode="none")
    info = load_matching(none, tmp_path / "src.ckpt")
    assert info["not_loaded"] == [] and all(k.startswith("codec.mixer.") for k in info["unexpected"])


def test_histograms():
    import numpy as np

    from helix_lightning.sweep.evaluate import gc_edges, gc_histogram, run_histogram

    seqs = [np.array([0, 0, 0, 1, 2, 2, 3]), np.array([3] * 10)]
    assert run_histogram(seqs, buckets=4) == [2, 1, 1, 1]
    gc = gc_histogram([np.array([0, 1, 2, 3, 1])], window=2)  # A C G T C: windows AC CG GT TC
    assert gc == [0, 3, 1] and len(gc_edges(2)) == 4


# ---------------------------------------------------------------- a study, for real

def _study(path: Path, runs: Path, budget: str = "smoke"):
    from helix_lightning.sweep.runner import open_study

    sweep = C.load_sweep(path, budget, runs)
    return sweep, open_study(sweep)


def _check_trial(t, sweep) -> None:
    ua = t.user_attrs
    for key in ("psnr", "ms_ssim", "bits_per_px", "nt_per_px", "coding_density",
                "net_density", "capacity", "share_of_capacity", "violations",
                "direct_violations", "mask_acc", "train_seconds", "params", "seed", "config",
                "command", "curve", "hist_runs_written", "hist_runs_direct",
                "hist_gc_written", "hist_gc_direct", "frame_image", "frame_npz"):
        assert key in ua, key
    assert 5 < ua["psnr"] < 60 and 0 < ua["ms_ssim"] <= 1
    assert ua["nt_per_px"] > 0 and ua["bits_per_px"] > 0
    assert 0 < ua["net_density"] <= ua["coding_density"] <= ua["capacity"] <= 2
    assert ua["share_of_capacity"] == pytest.approx(ua["coding_density"] / ua["capacity"])
    assert ua["violations"] == 0 and ua["direct_violations"] >= 0  # fsm writes none
    assert 0 <= ua["mask_acc"] <= 1 and ua["train_seconds"] > 0 and ua["params"] > 1000
    assert ua["seed"] == t.params["seed"] and ua["config"]["seed"] == t.params["seed"]
    assert ua["curve"] and all({"step", "psnr", "nt_per_px", "loss"} <= set(p)
                               for p in ua["curve"])
    assert "--params" in ua["command"] and json.dumps(t.params, sort_keys=True) in \
        ua["command"].replace("'", "")
    runs = ua["hist_runs_written"]
    assert sum(runs) > 0 and sum(runs[3:]) == 0  # standard: max_run 3
    gc = ua["hist_gc_written"]
    assert sum(gc) > 0 and sum(gc[:8]) == sum(gc[13:]) == 0  # GC 0.4-0.6 per 20 nt
    assert sum(ua["hist_runs_direct"]) > 0
    png = Path(ua["frame_image"])
    assert png.is_file() and png.parent == sweep.run_dir / f"trial_{t.number}"


def test_smoke_study_then_resume_after_a_kill(tiny):
    """Two trials on synthetic clips, then a worker 'killed' mid-trial: its RUNNING trial is
    failed, queued again and run, and --trials 3 gives exactly three complete trials."""
    from optuna.trial import TrialState

    from helix_lightning.sweep.objective import suggest
    from helix_lightning.sweep.runner import run_sweep

    path, runs = tiny
    sweep = C.load_sweep(path, "smoke", runs)
    summary = run_sweep(sweep, show_progress=False)
    assert summary["trials"]["complete"] == 2
    sweep, study = _study(path, runs)
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    assert sorted(t.params["seed"] for t in trials) == [0, 1]  # one configuration, 2 seeds
    for t in trials:
        _check_trial(t, sweep)
    assert len(trials[0].values) == 2 and study.best_trials
    assert (sweep.run_dir / "pretrained.ckpt").is_file()
    assert (sweep.run_dir / S.JOURNAL_NAME).is_file()
    assert study.user_attrs["pareto_front"] and study.user_attrs["pretrained"]["sha256"]
    saved = json.loads((sweep.run_dir / "summary.json").read_text())
    assert saved["trials"]["complete"] == 2 and saved["configs"][0]["psnr"]["std"] >= 0

    # a worker dies in the middle of trial 2: RUNNING, with a grid point and parameters
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    trial = study.ask()
    params = suggest(sweep, trial)
    study._storage.set_trial_system_attr(trial._trial_id, S.WORKER_ATTR,
                                         f"{socket.gethostname()}:{dead.pid}")
    assert study.get_trials()[-1].state == TrialState.RUNNING

    summary = run_sweep(sweep, n_trials=3, show_progress=False)
    trials = study.get_trials()
    states = [t.state for t in trials]
    assert states.count(TrialState.COMPLETE) == 3 and summary["trials"]["complete"] == 3
    assert trials[2].state == TrialState.FAIL
    rerun = [t for t in trials if t.system_attrs.get("failed_trial") == 2]
    assert len(rerun) == 1 and rerun[0].state == TrialState.COMPLETE
    assert rerun[0].params == params
    assert TrialState.RUNNING not in states and TrialState.WAITING not in states
    _check_trial(rerun[0], sweep)

    # n_trials respected: running again with the same target starts nothing
    run_sweep(sweep, n_trials=3, show_progress=False)
    assert len(study.get_trials()) == len(trials)


def test_worker_loop_queues_only_the_failures_it_made(tiny):
    """A FAIL trial another worker has just failed (and is about to queue) is left alone by
    a worker's recover; a stale trial it fails itself it queues, once; the full recover of a
    starting sweep queues every failed trial without a twin."""
    from optuna.trial import TrialState

    from helix_lightning.sweep.objective import suggest
    from helix_lightning.sweep.runner import recover

    path, runs = tiny
    sweep, study = _study(path, runs)
    other = study.ask()
    suggest(sweep, other)
    study.tell(other, state=TrialState.FAIL)  # failed elsewhere, not queued yet
    assert recover(study, sweep, only_mine=True) == ([], [])
    assert not study.get_trials(states=(TrialState.WAITING,))

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = study.ask()
    suggest(sweep, stale)
    study._storage.set_trial_system_attr(stale._trial_id, S.WORKER_ATTR,
                                         f"{socket.gethostname()}:{dead.pid}")
    assert recover(study, sweep, only_mine=True) == ([stale.number], [stale.number])
    assert recover(study, sweep, only_mine=True) == ([], [])  # queued once
    waiting = study.get_trials(states=(TrialState.WAITING,))
    assert [t.system_attrs["failed_trial"] for t in waiting] == [stale.number]

    assert recover(study, sweep) == ([], [other.number])  # a starting sweep's recover
    assert len(study.get_trials(states=(TrialState.WAITING,))) == 2


def test_two_trials_on_one_grid_point_the_later_gives_way(tiny):
    """grid_twin: a trial whose grid point is already COMPLETE, or RUNNING in a trial with a
    lower number, has a twin; the lower-numbered one runs; failed trials hold no point."""
    from optuna.trial import TrialState

    path, runs = tiny
    sweep, study = _study(path, runs)
    first, second = study.ask(), study.ask()
    grid = study._storage.get_trial_system_attrs(first._trial_id)["grid_id"]
    study._storage.set_trial_system_attr(second._trial_id, "grid_id", grid)  # same point
    assert S.grid_twin(study, second.number, grid) == first.number
    assert S.grid_twin(study, first.number, grid) is None  # the lower number runs
    assert S.grid_twin(study, first.number, None) is None  # not a grid trial
    study.tell(first, state=TrialState.FAIL)
    assert S.grid_twin(study, second.number, grid) is None  # a failed trial holds nothing
    third = study.ask()
    study._storage.set_trial_system_attr(third._trial_id, "grid_id", grid)
    assert S.grid_twin(study, third.number, grid) == second.number
    study.tell(second, [20.0, 0.05])
    assert S.grid_twin(study, third.number, grid) == second.number  # COMPLETE holds it


def test_pruning_single_objective(tmp_path, monkeypatch):
    """A single-objective study with a pruner: the first validation below the threshold
    prunes the trial, which still records its curve and config."""
    from optuna.trial import TrialState

    from helix_lightning.sweep.runner import run_sweep

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    spec = sweep_spec(tmp_path / "train.yaml", objectives=["psnr"],
                      pruner={"name": "threshold", "lower": 99.0, "monitor": "val/psnr"},
                      arms={}, budgets={"smoke": {"n_trials": 1}})
    path = write_spec(tmp_path, spec)
    sweep = C.load_sweep(path, "smoke", tmp_path / "runs")
    summary = run_sweep(sweep, show_progress=False)
    assert summary["trials"]["pruned"] == 1
    _, study = _study(path, tmp_path / "runs")
    (t,) = study.get_trials()
    assert t.state == TrialState.PRUNED and t.intermediate_values
    assert t.user_attrs["curve"][0]["step"] == 1 and "config" in t.user_attrs


def test_time_cap_record_and_message():
    """Lightning's max_time spellings in seconds; a run is capped only when it had a cap and
    ended before max_steps."""
    from helix_lightning.sweep.time_cap import max_time_seconds, message, time_capped

    assert max_time_seconds("00:00:01:30") == 90 and max_time_seconds("01:02:03:04") == 93784
    assert max_time_seconds({"minutes": 2}) == 120 and max_time_seconds(None) is None
    cfg = {"trainer": {"max_steps": 120, "max_time": "00:00:01:00"}}
    record = time_capped(cfg, {"steps": 57, "seconds": 61.2})
    assert record == {"steps": 57, "max_steps": 120, "max_time": "00:00:01:00",
                      "max_time_s": 60.0, "seconds": 61.2}
    assert message("pretraining", record) == ("pretraining stopped at 57 of 120 steps on its "
                                              "60 s time cap (after 61 s)")
    assert message("trial 3", {"steps": 57, "max_steps": 120, "max_time": "00:00:05:00"}) \
        == "trial 3 stopped at 57 of 120 steps on its 5 min time cap"
    assert time_capped(cfg, {"steps": 120, "seconds": 70.0}) is None
    assert time_capped({"trainer": {"max_steps": 120, "max_time": None}},
                       {"steps": 57, "seconds": 9.0}) is None


def test_time_cap_is_said_recorded_and_reported(tmp_path, monkeypatch, capsys):
    """A pretraining and two of four trials stopped by a (zero) time cap before max_steps:
    a line on stderr for each, the attributes `helix:pretrain_time_capped` (study) and
    `helix:time_capped` (trial, absent on the uncapped one), and the report's time-cap line."""
    from optuna.trial import TrialState

    from helix_lightning.report import make_reports
    from helix_lightning.sweep.runner import run_sweep
    from helix_lightning.sweep.time_cap import PRETRAIN_TIME_CAPPED_ATTR, TIME_CAPPED_ATTR

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    zero = "00:00:00:00"
    spec = sweep_spec(tmp_path / "train.yaml",
                      pretrain={"overrides": {"trainer.max_steps": 4, "trainer.max_time": zero}},
                      arms={"capped": {"model.mixer.mode": "none", "trainer.max_time": zero},
                            "free": {"model.mixer.mode": "learned"}},
                      trial={"overrides": {"trainer.max_steps": 3,
                                           "trainer.val_check_interval": 1}},
                      budgets={"smoke": {}})
    path = write_spec(tmp_path, spec)
    runs = tmp_path / "runs"
    summary = run_sweep(C.load_sweep(path, "smoke", runs), show_progress=False)
    err = capsys.readouterr().err
    assert summary["trials"]["complete"] == 4
    pre_line = re.search(r"pretraining stopped at (\d+) of 4 steps on its 0 s time cap", err)
    trial_lines = re.findall(r"trial_\d+: training stopped at (\d+) of 3 steps on its 0 s time "
                             r"cap", err)
    assert pre_line and len(trial_lines) == 2
    assert "time cap: 2 of 4 trials' training was cut short" in err
    sweep, study = _study(path, runs)
    pre = study.user_attrs[PRETRAIN_TIME_CAPPED_ATTR]
    assert pre["steps"] == int(pre_line[1]) < 4 and pre["max_steps"] == 4
    assert pre["max_time_s"] == 0 and pre["max_time"] == zero
    record = json.loads((sweep.run_dir / "pretrained.json").read_text())
    assert record["time_capped"] == pre and record["steps"] == pre["steps"]
    trials = sorted((t for t in study.get_trials() if t.state == TrialState.COMPLETE),
                    key=lambda t: t.number)
    capped = [t for t in trials if t.params["arm"] == "capped"]
    for t in trials:
        ua = t.user_attrs
        if t.params["arm"] == "capped":
            assert ua[TIME_CAPPED_ATTR]["steps"] == ua["steps"] < 3
            assert ua[TIME_CAPPED_ATTR]["max_steps"] == 3
        else:
            assert TIME_CAPPED_ATTR not in ua and ua["steps"] == 3
    assert summary["time_capped_trials"] == [t.number for t in capped]

    # resumed: the reused pretrained model says it was cut short
    run_sweep(C.load_sweep(path, "smoke", runs), show_progress=False)
    assert f"(reused; its pretraining stopped at {pre['steps']} of 4 steps" in \
        capsys.readouterr().err

    out = tmp_path / "reports"
    make_reports(["tiny-smoke"], sweeps=runs, out=out)
    text = (out / "tiny-smoke" / "report.md").read_text()
    line = next(ln for ln in text.splitlines() if ln.startswith("- **time cap**"))
    assert f"the shared pretraining stopped at {pre['steps']} of 4 steps on its 0 s time cap" \
        in line
    each = ", ".join(f"{t.number} at {t.user_attrs['steps']} of 3 steps on its 0 s time cap"
                     for t in capped)
    assert f"2 of 4 trials' training was cut by the time cap (trial {each})" in line


def test_trials_start_from_an_existing_checkpoint(tmp_path, monkeypatch, capsys):
    """`pretrain.from`: nothing is pretrained; every trial fine-tunes that checkpoint; an arm
    that keeps the model loads every tensor, one that changes the mixer's shape loads the rest
    and records the mixer as not loaded; a base config of another model is refused."""
    from helix_lightning.model.train import train
    from helix_lightning.report import make_reports
    from helix_lightning.sweep.runner import run_sweep

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    cfg = dict(TRAIN_CONFIG, runs_dir=str(tmp_path / "train"),
               checkpoint=str(tmp_path / "start.ckpt"))
    cfg["trainer"] = dict(TRAIN_CONFIG["trainer"], max_steps=1, val_check_interval=1)
    train(cfg)
    spec = sweep_spec(tmp_path / "train.yaml",
                      pretrain={"from": str(tmp_path / "start.ckpt")},
                      arms={"block2": {"model.mixer.block": 2},
                            "block4": {"model.mixer.block": 4}},
                      reference={"arm": "block2"}, budgets={"smoke": {}})
    path = write_spec(tmp_path, spec)
    runs = tmp_path / "runs"
    summary = run_sweep(C.load_sweep(path, "smoke", runs), show_progress=False)
    assert summary["trials"]["complete"] == 4
    assert "not trained here: every trial starts from it" in capsys.readouterr().err
    sweep, study = _study(path, runs)
    assert not (sweep.run_dir / "pretrained.ckpt").exists()
    record = study.user_attrs["pretrained"]
    assert record["from_checkpoint"] and record["path"] == str(tmp_path / "start.ckpt")
    assert len(record["model_hash"]) == 16
    for t in study.get_trials():
        init = t.user_attrs["init"]
        if t.params["arm"] == "block2":
            assert init["not_loaded"] == [] and init["loaded"] > 10
        else:
            assert init["not_loaded"] and all(".mixer." in k for k in init["not_loaded"])
        assert t.user_attrs["steps"] == 2

    out = tmp_path / "reports"
    make_reports(["tiny-smoke"], sweeps=runs, out=out)
    text = (out / "tiny-smoke" / "report.md").read_text()
    assert "every trial starts from" in text and record["model_hash"] in text
    assert "- `arm` = block4 instead of block2: PSNR" in text
    assert "not loaded (codec.mixer" in text or "not loaded (mixer" in text

    other = dict(TRAIN_CONFIG, model=dict(TRAIN_CONFIG["model"],
                                          masked={"dim": 8, "depth": 1, "heads": 2,
                                                  "max_tokens": 256}))
    (tmp_path / "other.yaml").write_text(yaml.safe_dump(other))
    bad = write_spec(tmp_path, dict(spec, base=str(tmp_path / "other.yaml")), name="bad")
    with pytest.raises(HelixError, match="model is not the one in .*model.masked.dim"):
        run_sweep(C.load_sweep(bad, "smoke", runs), show_progress=False)


@pytest.mark.parametrize("change, message", [
    ({"pretrain": {"from": "nowhere.ckpt"}}, "pretrain.from: checkpoint not found"),
    ({"reference": {"arm": "missing"}}, "reference.arm = 'missing' is not one of"),
    ({"reference": {"model.mixer.block": 2}}, "reference.model.mixer.block is not a searched"),
])
def test_pretrained_from_and_reference_are_checked(tmp_path, change, message):
    with pytest.raises(HelixError, match=message):
        C.load_sweep(write_spec(tmp_path, sweep_spec(tmp_path / "train.yaml", **change)))


def test_pretrained_from_takes_no_pretraining_settings(tmp_path):
    start = tmp_path / "start.ckpt"
    start.write_bytes(b"not read at load time")
    spec = sweep_spec(tmp_path / "train.yaml",
                      pretrain={"from": str(start), "overrides": {"trainer.max_steps": 4}})
    with pytest.raises(HelixError, match="pretrain.overrides and pretrain.seed must be unset"):
        C.load_sweep(write_spec(tmp_path, spec))


@pytest.mark.parametrize("sampler", ["tpe", "nsga2"])
def test_model_based_samplers_run_every_seed(tmp_path, monkeypatch, sampler):
    """TPE / NSGA-II sample a configuration with seeds[0] and queue its other seeds at once."""
    from optuna.trial import TrialState

    from helix_lightning.sweep.runner import run_sweep

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    spec = sweep_spec(tmp_path / "train.yaml", sampler={"name": sampler, "seed": 3},
                      space={"loss.lambda_rate": {"low": 0.001, "high": 0.1, "log": True}},
                      budgets={"smoke": {"n_trials": 4}})
    path = write_spec(tmp_path, spec)
    sweep = C.load_sweep(path, "smoke", tmp_path / "runs")
    assert run_sweep(sweep, show_progress=False)["trials"]["complete"] == 4
    _, study = _study(path, tmp_path / "runs")
    complete = [t for t in study.get_trials() if t.state == TrialState.COMPLETE]
    seeds: dict[str, list] = {}
    for t in complete:
        key = json.dumps({k: v for k, v in t.params.items() if k != "seed"}, sort_keys=True)
        seeds.setdefault(key, []).append(t.params["seed"])
    assert len(seeds) == 2 and all(sorted(v) == [0, 1] for v in seeds.values())


# ---------------------------------------------------------------- PostgreSQL, for real

@pytest.mark.slow
def test_two_workers_on_one_postgresql_study(tiny):
    """A real local PostgreSQL server (pgserver; `make test-slow` installs it): one trial,
    then a worker killed (SIGKILL) in the middle of a trial, then two worker processes on the
    same study. The dead worker's trial is failed by its stale heartbeat and run again;
    every grid point ends up recorded exactly once, none is lost."""
    import shutil
    import signal
    import tempfile
    import time

    pgserver = pytest.importorskip("pgserver")
    pytest.importorskip("psycopg")
    from optuna.trial import TrialState

    from helix_lightning.sweep.runner import open_study, run_sweep

    path, runs = tiny
    spec = yaml.safe_load(path.read_text())
    spec["budgets"]["smoke"] = {"n_trials": None}  # the whole grid: 2 arms x 2 seeds
    spec["storage"] = {"heartbeat_interval": 2, "grace_period": 20, "max_retry": 2}
    path.write_text(yaml.safe_dump(spec))
    # not under pytest's tmp_path: a later pytest run resets /tmp/pytest-of-<user> to 0700,
    # and the server runs as its own user (pgserver's `pgserver` when we are root)
    home = Path(tempfile.mkdtemp(prefix="helix-pgtest-"))
    server = pgserver.get_server(str(home / "data"), cleanup_mode="stop")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    try:
        url = server.get_uri()
        sweep = C.load_sweep(path, "smoke", runs)
        run_sweep(sweep, url, n_trials=1, show_progress=False)  # study + pretrained + trial 0
        study = open_study(sweep, url, create=False)
        assert [t.state for t in study.get_trials()] == [TrialState.COMPLETE]

        base = [sys.executable, "-m", "helix_lightning.sweep", str(path), "--budget", "smoke",
                "--runs-dir", str(runs), "--storage", url]
        doomed = subprocess.Popen(base + ["--worker"], env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        owner = f"{socket.gethostname()}:{doomed.pid}"
        deadline = time.monotonic() + 600
        while not any(t.state == TrialState.RUNNING and t.system_attrs.get(S.WORKER_ATTR)
                      == owner for t in study.get_trials()):
            assert doomed.poll() is None and time.monotonic() < deadline
            time.sleep(0.5)
        doomed.send_signal(signal.SIGKILL)
        doomed.wait()
        (killed,) = [t for t in study.get_trials() if t.state == TrialState.RUNNING]
        time.sleep(22)  # past the grace period

        proc = subprocess.run(base + ["--workers", "2", "--no-progress"], env=env,
                              capture_output=True, text=True, timeout=1200)
        assert proc.returncode == 0, proc.stderr[-3000:]
        trials = study.get_trials()
        complete = [t for t in trials if t.state == TrialState.COMPLETE]
        keys = sorted(json.dumps(t.params, sort_keys=True) for t in complete)
        grid = sorted(json.dumps(p, sort_keys=True) for p in C.grid_points(sweep.grid))
        assert keys == grid  # each point once, none lost
        # a trial that found its grid point taken by a twin started at the same moment gave
        # way (FAIL, marked); the only other failure is the killed one
        gave_way = [t for t in trials if S.DUPLICATE_ATTR in t.system_attrs]
        for t in gave_way:
            twin = trials[t.system_attrs[S.DUPLICATE_ATTR]]
            assert t.state == TrialState.FAIL and twin.state == TrialState.COMPLETE
            assert twin.params == t.params and twin.number < t.number
        assert [t.number for t in trials if t.state == TrialState.FAIL
                and t not in gave_way] == [killed.number]
        retry = [t for t in complete if t.system_attrs.get("failed_trial") == killed.number]
        assert len(retry) == 1 and retry[0].params == killed.params
        assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
        workers = {t.system_attrs[S.WORKER_ATTR] for t in complete[1:]}
        assert 1 <= len(workers) <= 2  # (one may start late and find nothing left)
        assert len(list((sweep.run_dir / "workers").glob("worker_*.log"))) == 2
        for t in complete:
            _check_trial(t, sweep)
    finally:
        server.cleanup()
        shutil.rmtree(home, ignore_errors=True)
