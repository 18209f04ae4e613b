"""Checkpoints: weights-only loading (a pickle payload never runs), old part names remapped,
the released-model registry."""

import subprocess
from pathlib import Path

import pytest
import torch

from helix_lightning.errors import HelixError
from helix_lightning.model import checkpoint as ck
from helix_lightning.model.module import HelixModule
from helix_lightning.model.registry import RELEASED_MODELS, resolve_model

ROOT = Path(__file__).resolve().parents[1]
SMALL = {"model": {"tokenizer": {"width": 16}, "masked": {"dim": 16, "depth": 1, "heads": 2},
                   "rate": {"stages": 2}}}


class Payload:
    """Unpickling this writes a marker file: proof that code ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (Path(self.marker), "payload ran"))


def _module() -> HelixModule:
    torch.manual_seed(0)
    return HelixModule(SMALL)


def _save(path: Path, state: dict, **extra) -> Path:
    torch.save({"state_dict": state, "hyper_parameters": {"config": SMALL}, **extra}, path)
    return path


def test_a_pickle_payload_is_refused_in_one_line_and_never_runs(tmp_path):
    from helix_lightning.model.train import halve_checkpoint

    marker = tmp_path / "marker"
    evil = _save(tmp_path / "evil.ckpt", _module().state_dict(), extra=Payload(str(marker)))
    loaders = {"load_codec": lambda: ck.load_codec(evil),
               "load_module": lambda: ck.load_module(evil),
               "load_matching": lambda: ck.load_matching(_module(), evil),
               "halve_checkpoint": lambda: halve_checkpoint(evil)}
    for name, load in loaders.items():
        with pytest.raises(HelixError) as info:
            load()
        message = str(info.value)
        assert "\n" not in message and "refused to load: it would unpickle code" in message, name
        assert not marker.exists(), name
    # the same file does run its payload under a plain unpickling load: the test is real
    torch.load(evil, weights_only=False)
    assert marker.read_text() == "payload ran"


def test_cli_refuses_a_payload_checkpoint_with_one_line(tmp_path, capsys):
    from helix_lightning import cli

    marker = tmp_path / "marker"
    evil = _save(tmp_path / "evil.ckpt", _module().state_dict(), extra=Payload(str(marker)))
    code = cli.main(["decode", str(evil), "-o", str(tmp_path / "x.mkv"),
                     "--checkpoint", str(evil)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "refused to load" in err
    assert not marker.exists()


def test_old_part_names_load_and_new_ones_round_trip(tmp_path):
    src = _module()
    with torch.no_grad():
        for p in src.parameters():
            p.add_(0.01)
    state = src.state_dict()
    assert all(k.startswith(("codec.", "prior_logits")) for k in state)
    old = {k.removeprefix("codec."): v for k, v in state.items()}
    for path in (_save(tmp_path / "old.ckpt", old), _save(tmp_path / "new.ckpt", state)):
        loaded = ck.load_module(path)
        assert loaded.state_dict().keys() == state.keys()
        assert all(torch.equal(loaded.state_dict()[k], v) for k, v in state.items())
        codec = ck.load_codec(path)
        assert codec is not None and codec.model_hash() == src.codec.model_hash()
    fresh = _module()
    info = ck.load_matching(fresh, tmp_path / "old.ckpt")
    assert info["loaded"] == len(state) and info["not_loaded"] == info["unexpected"] == []


def test_the_committed_default_loads_weights_only():
    ckpt = torch.load(ck.DEFAULT_CHECKPOINT, map_location="cpu", weights_only=True)
    assert any(k.startswith("tokenizer.") for k in ckpt["state_dict"])  # old names: remapped
    assert ck.DEFAULT_CHECKPOINT.stat().st_size < 5_000_000
    codec = ck.load_codec()
    assert codec.model_hash() == "c18f1bd6c519d619"


def test_registry_resolves_the_packaged_model_and_names_the_others():
    assert resolve_model("c18f1bd6c519d619").model_hash() == "c18f1bd6c519d619"
    assert all(len(h) == 16 and int(h, 16) >= 0 for h in RELEASED_MODELS)
    older = next(m for m in RELEASED_MODELS.values() if m.packaged is None)
    with pytest.raises(HelixError) as info:
        resolve_model(older.model_hash)
    assert older.model_hash in str(info.value) and older.released in str(info.value)
    with pytest.raises(HelixError, match="model 0123456789abcdef is not a released model"):
        resolve_model("0123456789abcdef")


def test_released_commits_hold_the_models_they_claim(tmp_path):
    """Every unpackaged release can be fetched from git and has the recorded hash."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    for entry in RELEASED_MODELS.values():
        spec = entry.released.removeprefix("git ")
        out = tmp_path / f"{entry.model_hash}.ckpt"
        blob = subprocess.run(["git", "-C", str(ROOT), "show", spec], capture_output=True,
                              timeout=60)
        if blob.returncode != 0:
            pytest.skip(f"git history without {spec} (shallow clone?)")
        out.write_bytes(blob.stdout)
        assert ck.load_codec(out).model_hash() == entry.model_hash


@pytest.mark.parametrize("model_hash, needle", [
    ("fcbaa1b3f621d471", "git 30e7d497460abbdc2d770fa682b0753b69927324"),
    ("00000000deadbeef", "is not a released model"),
])
def test_a_container_of_another_model_names_the_model_it_needs(model_hash, needle):
    from helix_lightning.model.pipeline import check_meta

    codec = ck.load_codec()
    meta = {"model_hash": model_hash, "channels": codec.fsq.channels,
            "levels": codec.fsq.levels, "precision": 24}
    with pytest.raises(HelixError) as err:
        check_meta(codec, meta)
    message = str(err.value)
    assert model_hash in message and needle in message and "\n" not in message
