"""Training configs: parts own their keys (a toy mixer plugged in from this file trains),
experiment YAMLs extend each other, one --set parser."""

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from helix_lightning.errors import HelixError
from helix_lightning.model import MODELS, PART_DEFAULTS, register
from helix_lightning.model.config import (apply_overrides, defaults_for, load_config,
                                          parse_override, resolve, set_key)

ROOT = Path(__file__).resolve().parents[1]
RESOLVED = ROOT / "tests" / "fixtures" / "resolved_configs"


class ToyMixer(nn.Module):
    """A mixer with a parameter of its own (`rank`): z -> (I + A B) z over the channels."""

    def __init__(self, channels: int, rank: int = 2) -> None:
        super().__init__()
        self.rank = rank
        self.a = nn.Parameter(torch.randn(channels, rank) * 0.1)
        self.b = nn.Parameter(torch.zeros(rank, channels))

    def matrix(self) -> torch.Tensor:
        return torch.eye(self.a.shape[0]) + self.a @ self.b

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.einsum("oc,nchw->nohw", self.matrix(), z)

    def inverse(self, z: torch.Tensor, size=None) -> torch.Tensor:
        return torch.einsum("oc,nchw->nohw", torch.linalg.inv(self.matrix()), z)


@pytest.fixture
def toy_mixer():
    register("mixer", "toy", defaults={"rank": 2})(ToyMixer)
    yield ToyMixer
    del MODELS["mixer"]["toy"], PART_DEFAULTS["mixer"]["toy"]


SMALL_MODEL = {"tokenizer": {"width": 16}, "masked": {"dim": 16, "depth": 1, "heads": 2},
               "rate": {"stages": 2}}


def test_toy_mixer_with_its_own_parameter_trains_two_steps(toy_mixer, tmp_path):
    from helix_lightning.model.checkpoint import load_module
    from helix_lightning.model.train import train

    cfg = {"name": "toy", "runs_dir": str(tmp_path), "logger": False,
           "checkpoint": str(tmp_path / "toy.ckpt"), "codec_metrics": {"every": 0},
           "data": {"paths": "synthetic", "clip_frames": 2, "crop": 32, "val_size": 32,
                    "batch_size": 2, "clips_per_epoch": 4, "clips_per_file": 1,
                    "synthetic": {"videos": 4, "frames": 6, "height": 32, "width": 32}},
           "model": {**SMALL_MODEL, "mixer": {"name": "toy", "rank": 3}},
           "trainer": {"max_steps": 2, "val_check_interval": 2, "progress_bar": False}}
    result = train(cfg)
    assert result["steps"] == 2 and torch.isfinite(torch.tensor(result["val/loss"]))
    module = load_module(tmp_path / "toy.ckpt")
    assert isinstance(module.mixer, ToyMixer) and module.mixer.rank == 3
    assert module.cfg["model"]["mixer"] == {"name": "toy", "rank": 3}
    assert float(module.mixer.b.detach().abs().sum()) > 0  # trained away from its zero init


def test_part_keys_are_checked_against_the_named_part(toy_mixer):
    assert resolve({"model": {"mixer": {"name": "toy"}}})["model"]["mixer"] == {
        "name": "toy", "rank": 2}
    with pytest.raises(HelixError, match=r"'model.mixer.mode' \(known here: name, rank\)"):
        resolve({"model": {"mixer": {"name": "toy", "mode": "learned"}}})
    with pytest.raises(HelixError, match=r"'model.mixer.rank' \(known here: block, "
                                         r"factorisation, mode, name, per_channel\)"):
        resolve({"model": {"mixer": {"rank": 2}}})
    with pytest.raises(HelixError, match=r"model.mixer.name: unknown mixer 'toy2' \(known: "):
        resolve({"model": {"mixer": {"name": "toy2"}}})
    with pytest.raises(HelixError, match="model.rate.prior: unknown prior 'gauss'"):
        resolve({"model": {"rate": {"prior": "gauss"}}})


def test_named_kronecker_variants_take_only_their_free_keys():
    from helix_lightning.model.module import HelixModule

    assert defaults_for({"model": {"mixer": {"name": "none"}}})["model"]["mixer"] == {
        "name": "none", "block": 4}
    m = HelixModule({"model": {**SMALL_MODEL, "mixer": {"name": "permute", "block": 2}}})
    assert m.mixer.mode == "permute" and m.mixer.block == (2, 2)
    with pytest.raises(HelixError, match="model.mixer.mode"):
        resolve({"model": {"mixer": {"name": "separable", "mode": "none"}}})


@pytest.mark.parametrize("name", ["tiny", "base", "finetune", "gpu", "gpu_finetune"])
def test_experiments_resolve_to_the_configs_captured_before_extends(name):
    cfg = load_config(ROOT / "experiments" / f"{name}.yaml")
    assert cfg == json.loads((RESOLVED / f"{name}.json").read_text())


def test_the_derived_experiments_extend_and_state_less():
    for name in ("base", "finetune", "gpu", "gpu_finetune"):
        text = (ROOT / "experiments" / f"{name}.yaml").read_text()
        assert "\nextends: " in text and len(text.splitlines()) < 40, name


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_extends_chains_and_overrides(tmp_path):
    _write(tmp_path / "a.yaml", "name: a\nseed: 3\noptim: {lr: 0.5, schedule: cosine}\n"
                                "model: {mixer: {block: 8}}\n")
    (tmp_path / "sub").mkdir()
    _write(tmp_path / "sub" / "b.yaml", "extends: ../a.yaml\noptim: {lr: 0.25}\n")
    c = _write(tmp_path / "sub" / "c.yaml", "extends: b.yaml\nname: cee\nseed: 4\n")
    cfg = load_config(c)
    assert cfg["name"] == "cee" and cfg["seed"] == 4
    assert cfg["optim"]["lr"] == 0.25 and cfg["optim"]["schedule"] == "cosine"
    assert cfg["model"]["mixer"]["block"] == 8
    assert load_config(tmp_path / "sub" / "b.yaml")["name"] == "b"  # a name is not inherited


def test_extends_switching_a_part_drops_the_old_parts_keys(toy_mixer, tmp_path):
    _write(tmp_path / "a.yaml", "model: {mixer: {name: kronecker, mode: none, block: 2}}\n")
    b = _write(tmp_path / "b.yaml", "extends: a.yaml\nmodel: {mixer: {name: toy, rank: 5}}\n")
    assert load_config(b)["model"]["mixer"] == {"name": "toy", "rank": 5}


def test_extends_refuses_cycles_and_missing_files(tmp_path):
    _write(tmp_path / "a.yaml", "extends: b.yaml\n")
    _write(tmp_path / "b.yaml", "extends: a.yaml\n")
    with pytest.raises(HelixError, match=r"extends makes a cycle \(a.yaml -> b.yaml -> a.yaml\)"):
        load_config(tmp_path / "a.yaml")
    _write(tmp_path / "self.yaml", "extends: ./self.yaml\n")
    with pytest.raises(HelixError, match="cycle"):
        load_config(tmp_path / "self.yaml")
    _write(tmp_path / "lost.yaml", "extends: nowhere.yaml\n")
    with pytest.raises(HelixError, match="extends nowhere.yaml: no such file"):
        load_config(tmp_path / "lost.yaml")
    _write(tmp_path / "ok.yaml", "seed: 1\n")
    _write(tmp_path / "bad.yaml", "extends: ok.yaml\nepochs: 3\n")
    with pytest.raises(HelixError, match="unknown config key 'epochs'"):
        load_config(tmp_path / "bad.yaml")


def test_set_parser_and_part_switch(toy_mixer):
    assert parse_override("trainer.max_steps=20") == ("trainer.max_steps", 20)
    assert parse_override("optim.betas=[0.8, 0.9]") == ("optim.betas", [0.8, 0.9])
    with pytest.raises(HelixError, match="--set needs KEY=VALUE"):
        parse_override("trainer.max_steps")
    with pytest.raises(HelixError, match="cannot parse value"):
        parse_override("optim.betas=[0.8")
    cfg = resolve({})
    apply_overrides(cfg, ["model.mixer.block=8", "model.mixer.name=toy", "model.mixer.rank=4"])
    assert cfg["model"]["mixer"] == {"name": "toy", "rank": 4}
    assert cfg == resolve(cfg)  # still a resolved config
    with pytest.raises(HelixError, match="unknown config key 'model.mixer.block'"):
        set_key(cfg, "model.mixer.block", 4)
    with pytest.raises(HelixError, match="unknown config key 'trainer.nope'"):
        set_key(cfg, "trainer.nope", 1)


def test_cli_train_uses_the_one_set_parser(monkeypatch, tmp_path):
    from helix_lightning import cli
    from helix_lightning.model import train as train_mod

    seen = {}
    monkeypatch.setattr(train_mod, "train", lambda cfg: seen.setdefault("cfg", cfg) and {})
    cfg_file = _write(tmp_path / "c.yaml", "extends: " + str(ROOT / "experiments" / "tiny.yaml")
                      + "\n")
    assert cli.main(["train", "--config", str(cfg_file), "--set", "trainer.max_steps=7",
                     "--set", "model.mixer.block=2"]) == 0
    assert seen["cfg"]["trainer"]["max_steps"] == 7 and seen["cfg"]["name"] == "c"
    assert seen["cfg"]["model"]["mixer"]["block"] == 2
    assert cli.main(["train", "--config", str(cfg_file), "--set", "model.mixer.rank=2"]) == 2
