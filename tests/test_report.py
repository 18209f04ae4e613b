"""`helix report`: studies built in temporary journal files -> markdown + PNG, byte-identical.

The studies are made with Optuna directly (create_study + add_trial of create_trial), holding
the sweep writer's data contract: values [psnr, nt_per_px], the user attrs listed in the
issue, study attrs sweep/budget/command/objectives. A small deterministic function makes the
numbers; nothing is trained.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import pytest

optuna = pytest.importorskip("optuna")
pytest.importorskip("tabulate")

from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState, create_trial

from helix_lightning.cli import main
from helix_lightning.report import find_sources, load_study

optuna.logging.set_verbosity(optuna.logging.WARNING)

CAPACITY = {"standard": 1.9145, "strict": 1.7978, "rl3": 1.9824}
MODES = ("none", "kron")
DIST = {
    "model.mixer.mode": CategoricalDistribution(list(MODES)),
    "model.mixer.block": CategoricalDistribution([4, 8]),
    "constraints": CategoricalDistribution(["standard", "strict"]),
    "loss.lambda_rate": FloatDistribution(0.01, 1.0, log=True),
    "seed": IntDistribution(0, 2),
}


def _frame_png(path: Path, shade: int) -> None:
    """A tiny original|decoded image (what the sweep writer saves per trial)."""
    import matplotlib.image as mpimg

    img = np.zeros((16, 32, 3), dtype=np.uint8)
    img[:, :16] = (np.arange(16)[:, None, None] * 15).astype(np.uint8)
    img[:, 16:] = np.clip(img[:, :16].astype(int) + shade, 0, 255).astype(np.uint8)
    mpimg.imsave(path, img, metadata={"Software": None})


def trial_data(i: int, mode: str, block: int, cs: str, lam: float, seed: int,
               frames_dir: Path | None) -> tuple[dict, list[float], dict]:
    """One trial's params, values and user attrs: a smooth function of the params."""
    params = {"model.mixer.mode": mode, "model.mixer.block": block, "constraints": cs,
              "loss.lambda_rate": lam, "seed": seed}
    rate = 0.02 + 0.08 * (1.0 - lam) + 0.005 * seed + (0.01 if block == 8 else 0.0)
    psnr = 18.0 + 30.0 * rate + (1.5 if mode == "kron" else 0.0) - 0.2 * seed
    cap = CAPACITY[cs]
    coding = cap * (0.99 - 0.01 * (cs == "strict"))
    # as sweep/evaluate.py writes them: 8 run-length buckets (the last: 8 and longer), GC
    # counts of 10-nt windows holding k = 0..10 G/C, bin edges (k -+ 0.5)/10
    runs_w = [1000, 400, 120, 0, 0, 0, 0, 0]
    runs_d = ([900, 420, 160, 60, 20, 4, 1, 1] if mode == "none" else
              [950, 410, 130, 30, 5, 0, 0, 0])
    gc_w = [0, 0, 0, 5, 60, 120, 60, 5, 0, 0, 0]
    gc_d = ([1, 1, 4, 12, 40, 70, 45, 18, 6, 3, 1] if mode == "none" else
            [0, 0, 2, 9, 50, 90, 50, 9, 2, 0, 0])
    curve = [{"step": s, "psnr": psnr - 6.0 * math.exp(-s / 40),
              "nt_per_px": rate * (1 + 1 / (1 + s)), "loss": 1.0 / (1 + s / 20) + 0.01 * seed}
             for s in range(0, 121, 20)]
    attrs = {
        "psnr": psnr, "ms_ssim": 0.5 + 0.4 * rate / 0.12, "bits_per_px": rate * 0.95 * coding,
        "nt_per_px": rate, "coding_density": coding, "net_density": coding * 0.82,
        "capacity": cap, "share_of_capacity": coding / cap, "violations": 0,
        "direct_violations": 100 + 50 * (mode == "none") + seed, "mask_acc": 0.3 + 0.1 * lam,
        "train_seconds": 60.0 + i, "params": 123456, "seed": seed,
        "config": {"model": {"mixer": {"mode": mode, "block": block}}, "constraints": cs,
                   "loss": {"lambda_rate": lam}, "seed": seed},
        "command": f"helix train --config experiments/tiny.yaml --set model.mixer.mode={mode} "
                   f"--set model.mixer.block={block} --set constraints={cs} "
                   f"--set loss.lambda_rate={lam} --set seed={seed}",
        "curve": curve, "hist_runs_written": runs_w, "hist_runs_direct": runs_d,
        "hist_gc_written": gc_w, "hist_gc_direct": gc_d,
        "hist_gc_window": 10, "hist_gc_edges": [(k - 0.5) / 10 for k in range(12)],
    }
    if frames_dir is not None:
        path = frames_dir / f"trial_{i:03d}.png"
        _frame_png(path, shade=int(40 * (1 - rate / 0.12)))
        attrs["frame_image"] = str(path)
    return params, [psnr, rate], attrs


def make_study(sweeps: Path, name: str, n: int = 12, failed: int = 1, running: int = 1,
               strip: tuple[str, ...] = (), frames: bool = True,
               extra: dict[int, dict] | None = None) -> Path:
    """A study in sweeps/NAME/study.journal: n complete trials plus failed and running ones;
    `extra` = more user attrs of trial i."""
    folder = sweeps / name
    folder.mkdir(parents=True, exist_ok=True)
    frames_dir = None
    if frames:
        frames_dir = folder / "frames"
        frames_dir.mkdir(exist_ok=True)
    path = folder / "study.journal"
    storage = JournalStorage(JournalFileBackend(str(path)))
    study = optuna.create_study(study_name=name, storage=storage,
                                directions=["maximize", "minimize"])
    study.set_user_attr("sweep", name)
    study.set_user_attr("budget", {"trials": n, "steps": 120})
    study.set_user_attr("command", f"make sweep NAME={name}")
    study.set_user_attr("objectives", ["psnr", "nt_per_px"])
    study.set_user_attr("spec", {"sampler": {"name": "tpe", "seed": 0},
                                 "params": {k: str(v) for k, v in sorted(DIST.items())}})
    for i in range(n):
        mode = MODES[i % 2]
        block = (4, 8)[(i // 2) % 2]
        cs = ("standard", "strict")[(i // 4) % 2]
        lam = round(0.02 * (1.7 ** (i % 7)), 4)
        seed = i % 3
        params, values, attrs = trial_data(i, mode, block, cs, lam, seed, frames_dir)
        for key in strip:
            attrs.pop(key, None)
        attrs.update((extra or {}).get(i, {}))
        study.add_trial(create_trial(params=params, distributions=DIST, values=values,
                                     user_attrs=attrs))
    for _ in range(failed):
        study.add_trial(create_trial(state=TrialState.FAIL))
    for _ in range(running):
        study.add_trial(create_trial(state=TrialState.RUNNING))
    return path


def _digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sweeps")
    make_study(root, "kron_ablation", n=14)
    make_study(root, "empty", n=0, failed=2, running=1, frames=False)
    make_study(root, "sparse", n=3, failed=0, running=0, frames=False,
               strip=("curve", "hist_runs_written", "hist_runs_direct", "hist_gc_written",
                      "hist_gc_direct", "hist_gc_edges", "ms_ssim", "bits_per_px",
                      "coding_density", "command", "config", "capacity"))
    return root


@pytest.fixture(scope="module")
def reports(sweeps, tmp_path_factory) -> tuple[Path, dict[str, str]]:
    out = tmp_path_factory.mktemp("reports")
    (out / "dna").mkdir()
    (out / "dna" / "README.md").write_text("# DNA storage layer: measured results\n")
    (out / "index.md").write_text("# Reports\n\n- [DNA layer](dna/README.md)\n")
    (out / "rd").mkdir()  # another tool's report.md (helix bench rd): linked, not a study
    (out / "rd" / "report.md").write_text("# Rate-distortion in DNA\n\nfigures\n")
    assert main(["report", "--sweeps", str(sweeps), "--out", str(out), "-q"]) == 0
    return out, _digest(out)


def test_full_report_names_every_figure_and_the_table(reports):
    out, _ = reports
    folder = out / "kron_ablation"
    text = (folder / "report.md").read_text()
    expected = ["rate_distortion.png", "ablation_model_mixer_mode.png",
                "ablation_model_mixer_block.png", "ablation_constraints.png",
                "ablation_loss_lambda_rate.png", "density_capacity.png",
                "strand_histograms.png", "training_curves.png", "frames.png", "history.png",
                "importances.png"]
    for name in expected:
        assert (folder / name).is_file(), name
        assert (folder / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({name})" in text, name
    assert sorted(p.name for p in folder.glob("*.png")) == sorted(expected)
    # every figure has its caption naming the data and the command
    assert text.count("Data: study kron_ablation, ") == len(expected)
    assert "made by `helix report kron_ablation --sweeps" in text
    assert "## Best trials (Pareto front)" in text
    best = text.split("## Best trials (Pareto front)")[1].split("### Reproduce")[0]
    header = [ln for ln in best.splitlines() if ln.startswith("|")][0]
    assert [c.strip() for c in header.strip("|").split("|")][:4] == ["trial", "psnr", "ms_ssim",
                                                                      "nt_per_px"]
    assert "model.mixer.mode" in best
    assert "```bash\nhelix train --config experiments/tiny.yaml" in text
    assert "14 complete" in text and "1 FAIL" in text and "1 RUNNING" in text
    assert "optuna-dashboard " in text
    assert "<details><summary>more study attributes: spec</summary>" in text
    assert (folder / "trials.csv").read_text().count("\n") == 15
    # PNGs carry no Software/date metadata
    for name in expected:
        data = (folder / name).read_bytes()
        assert b"Software" not in data and b"matplotlib" not in data.lower()


def test_index_links_reports_and_keeps_other_links(reports):
    out, _ = reports
    index = (out / "index.md").read_text()
    for name in ("kron_ablation", "empty", "sparse"):
        assert f"]({name}/report.md)" in index
    assert "](dna/README.md)" in index
    assert "- [Rate-distortion in DNA](rd/report.md)" in index
    assert "[rd](rd/report.md)" not in index  # not in the table of studies


def test_empty_and_sparse_studies_still_report(reports):
    out, _ = reports
    empty = (out / "empty" / "report.md").read_text()
    assert "No complete trials" in empty and "2 FAIL" in empty
    assert not list((out / "empty").glob("*.png"))
    sparse = (out / "sparse" / "report.md").read_text()
    assert "No training curves" in sparse
    assert "No histogram figure" in sparse
    assert "No density figure" in sparse
    assert "No importances" in sparse
    assert "No frame grid" in sparse
    assert "no `command` recorded" in sparse
    assert (out / "sparse" / "rate_distortion.png").is_file()


def test_time_cap_named_beside_the_budget(reports, tmp_path):
    """A study whose pretraining and some trials were cut by the time cap says so on the line
    after its budget; one that was never cut (kron_ablation here) has no such line."""
    from helix_lightning.sweep.time_cap import PRETRAIN_TIME_CAPPED_ATTR, TIME_CAPPED_ATTR

    out, _ = reports
    assert "- **time cap**" not in (out / "kron_ablation" / "report.md").read_text()
    capped = {i: {TIME_CAPPED_ATTR: {"steps": 20 + i, "max_steps": 30}} for i in (1, 2)}
    path = make_study(tmp_path / "sweeps", "capped", n=4, failed=0, running=0, frames=False,
                      extra=capped)
    study = optuna.load_study(study_name="capped",
                              storage=JournalStorage(JournalFileBackend(str(path))))
    study.set_user_attr(PRETRAIN_TIME_CAPPED_ATTR, {"steps": 57, "max_steps": 120,
                                                    "max_time": "00:00:01:00"})
    assert main(["report", "capped", "--sweeps", str(tmp_path / "sweeps"), "--out",
                 str(tmp_path / "r"), "-q"]) == 0
    lines = (tmp_path / "r" / "capped" / "report.md").read_text().splitlines()
    at = next(i for i, ln in enumerate(lines) if ln.startswith("- **budget**"))
    assert lines[at + 1] == (
        "- **time cap**: the shared pretraining stopped at 57 of 120 steps on its 60 s time "
        "cap; 2 of 4 trials' "
        "training was cut by the time cap (trial 1 at 21 of 30 steps, 2 at 22 of 30 steps) "
        "(the results are those of shorter training than planned)")
    assert not any(PRETRAIN_TIME_CAPPED_ATTR in ln for ln in lines)  # not listed twice


def test_second_run_is_byte_identical(reports, sweeps):
    out, first = reports
    assert main(["report", "--sweeps", str(sweeps), "--out", str(out), "-q"]) == 0
    assert _digest(out) == first


def test_unknown_study_exits_1(sweeps, tmp_path, capsys):
    code = main(["report", "nope", "--sweeps", str(sweeps), "--out", str(tmp_path / "r")])
    assert code == 1
    err = capsys.readouterr().err
    assert "unknown study 'nope'" in err and "kron_ablation" in err
    assert not (tmp_path / "r").exists()
    assert main(["report", "--sweeps", str(tmp_path / "none"), "--out",
                 str(tmp_path / "r")]) == 1


def test_storage_url_sqlite(tmp_path):
    db = tmp_path / "s.db"
    url = f"sqlite:///{db}"
    study = optuna.create_study(study_name="sq", storage=url, directions=["maximize", "minimize"])
    for i in range(3):
        params, values, attrs = trial_data(i, MODES[i % 2], 4, "standard", 0.1 * (i + 1), 0, None)
        study.add_trial(create_trial(params=params, distributions=DIST, values=values,
                                     user_attrs=attrs))
    out = tmp_path / "out"
    assert main(["report", "--storage", url, "--out", str(out), "-q"]) == 0
    text = (out / "sq" / "report.md").read_text()
    assert "Optuna RDB storage" in text and f"--storage {url}" in text
    assert main(["report", "other", "--storage", url, "--out", str(out), "-q"]) == 1
    assert main(["report", "--storage", f"sqlite:///{tmp_path / 'missing.db'}", "--out",
                 str(out), "-q"]) == 1
    assert not (tmp_path / "missing.db").exists()


def test_loader_frame(sweeps):
    (source,) = find_sources(["kron_ablation"], sweeps=sweeps)
    data = load_study(source)
    assert data.n_complete == 14 and data.counts == {"COMPLETE": 14, "FAIL": 1, "RUNNING": 1}
    df = data.frame()
    assert list(df["number"]) == list(range(14))
    assert {"psnr", "nt_per_px", "model.mixer.mode", "seed"} <= set(df.columns)
    assert "curve" not in df.columns
    assert data.varying_params() == ["constraints", "loss.lambda_rate", "model.mixer.block",
                                     "model.mixer.mode"]
    assert data.best_numbers



def test_histograms_split_direct_mapping_by_mixer_set_through_arms(tmp_path, monkeypatch):
    """Studies that search an `arm` (kron_ablation) carry the mixer mode in the trial's
    `settings` attr: the direct mapping is still shown with and without the mixer."""
    from helix_lightning.report import figures

    path = tmp_path / "arms" / "study.journal"
    path.parent.mkdir()
    study = optuna.create_study(study_name="arms", directions=["maximize", "minimize"],
                                storage=JournalStorage(JournalFileBackend(str(path))))
    arms = CategoricalDistribution(["none", "learned-4"])
    for i in range(4):
        arm = ("none", "learned-4")[i % 2]
        mode = "none" if arm == "none" else "kron"
        _, values, attrs = trial_data(i, mode, 4, "standard", 0.1, i // 2, None)
        attrs["settings"] = {"model.mixer.mode": "none" if arm == "none" else "learned"}
        study.add_trial(create_trial(params={"arm": arm}, distributions={"arm": arms},
                                     values=values, user_attrs=attrs))
    (source,) = find_sources(["arms"], sweeps=tmp_path)
    saved = []
    monkeypatch.setattr(figures, "save", lambda fig, out: saved.append(fig))
    figures.strand_histograms(load_study(source), tmp_path)
    legend = [t.get_text() for t in saved[0].axes[0].get_legend().get_texts()]
    assert "direct mapping, with Kronecker mixer" in legend
    assert "direct mapping, no mixer (mode none)" in legend


def _arm_study(sweeps: Path, name: str, rows: list[tuple[str, int, float, float]],
               spec: dict | None) -> None:
    """A study of (arm, seed, psnr, nt_per_px) trials, as a sweep with arms writes them."""
    folder = sweeps / name
    folder.mkdir(parents=True, exist_ok=True)
    storage = JournalStorage(JournalFileBackend(str(folder / "study.journal")))
    study = optuna.create_study(study_name=name, storage=storage,
                                directions=["maximize", "minimize"])
    study.set_user_attr("objectives", ["psnr", "nt_per_px"])
    if spec is not None:
        study.set_user_attr("spec", spec)
    arms = sorted({r[0] for r in rows})
    dist = {"arm": CategoricalDistribution(arms), "seed": IntDistribution(0, 1)}
    for arm, seed, psnr, rate in rows:
        attrs = {"psnr": psnr, "nt_per_px": rate, "violations": 0, "seed": seed,
                 "steps": 500, "init": {"loaded": 100, "not_loaded": [], "unexpected": []}}
        if arm == "wide":
            attrs["init"] = {"loaded": 96, "unexpected": [],
                             "not_loaded": ["codec.mixer.learned.0.base",
                                            "codec.mixer.learned.0.skew"]}
            if seed == 1:
                attrs["steps"] = 321
                attrs["helix:time_capped"] = {"steps": 321, "max_steps": 500,
                                              "max_time": "00:00:05:00", "max_time_s": 300.0,
                                              "seconds": 301.0}
        study.add_trial(create_trial(params={"arm": arm, "seed": seed}, distributions=dist,
                                     values=[psnr, rate], user_attrs=attrs))


def test_report_opens_with_one_finding_per_ablation(tmp_path):
    """Each arm against the reference, paired by seed: mean difference, each seed's, sd;
    `clear` only when both seeds agree and beat the reference's own spread; the capped
    trial named with its cap; the per-configuration table gives mean ± sd over seeds."""
    rows = [("base", 0, 30.0, 0.050), ("base", 1, 30.2, 0.050),
            ("worse", 0, 29.0, 0.055), ("worse", 1, 29.1, 0.0545),
            ("wide", 0, 30.3, 0.050), ("wide", 1, 30.0, 0.051)]
    _arm_study(tmp_path / "sweeps", "arms", rows,
               {"arms": {"worse": {}, "base": {}, "wide": {}}, "reference": {"arm": "base"}})
    assert main(["report", "arms", "--sweeps", str(tmp_path / "sweeps"), "--out",
                 str(tmp_path / "r"), "-q"]) == 0
    text = (tmp_path / "r" / "arms" / "report.md").read_text()
    lines = text.splitlines()
    title = lines.index("# Sweep report: arms")
    first_bullet = next(i for i, ln in enumerate(lines) if ln.startswith("- **study**"))
    findings = [ln for ln in lines[title:first_bullet] if ln.startswith("- `arm`")]
    assert findings == [
        "- `arm` = wide instead of base: PSNR +0.05 dB (seeds +0.30, -0.20; sd 0.35), nt/px "
        "+1.0% (seeds ±0.0, +2.0; sd 1.4): within seed noise over 2 seeds; trial 5 stopped "
        "at 321 of 500 steps on its 5 min time cap (after 301 s).",
        "- `arm` = worse instead of base: PSNR -1.05 dB (seeds -1.00, -1.10; sd 0.07), nt/px "
        "+9.5% (seeds +10.0, +9.0; sd 0.7): PSNR and nt/px clear (every seed the same way, "
        "more than the reference's own spread over seeds).",
    ]
    assert "reference configuration `arm` = base, paired by seed over 2 seed(s)" in text
    table = text[text.index("## Per configuration"):text.index("## Best trials")]
    assert "30.1 ± 0.14" in table and "29.05 ± 0.071" in table
    assert "500, 321/500 (time cap)" in table
    assert "2 not loaded (codec.mixer.learned: initial values)" in table
    assert "all loaded" in table


def test_findings_without_spec_or_seeds(tmp_path):
    """A study without a stored spec compares against the smallest value; one seed (no
    training) says it has no spread instead of inventing one."""
    rows = [("a", 0, 30.0, 0.05), ("b", 0, 30.0, 0.06)]
    _arm_study(tmp_path / "sweeps", "single", rows, None)
    assert main(["report", "single", "--sweeps", str(tmp_path / "sweeps"), "--out",
                 str(tmp_path / "r"), "-q"]) == 0
    text = (tmp_path / "r" / "single" / "report.md").read_text()
    assert ("- `arm` = b instead of a: PSNR ±0.00 dB, nt/px +20.0%: one run each "
            "(deterministic: no training, so no spread over seeds).") in text
