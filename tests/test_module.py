"""HelixModule and train(): shapes, gradients, loss weights, a 5-step run, config errors."""

import numpy as np
import pytest
import torch

from helix_lightning.errors import HelixError
from helix_lightning.model.module import HelixModule
from helix_lightning.model.train import load_config, resolve_config, train

TINY = {
    "model": {
        "tokenizer": {"downsample": 8, "channels_latent": 4, "width": 16},
        "mixer": {"mode": "learned", "block": 4, "factorisation": "separable"},
        "masked": {"dim": 32, "depth": 1, "heads": 2},
        "rate": {"prior": "staged", "stages": 4, "drop": 0.0},
        "constraints": "rl3",
    },
    "loss": {"lambda_rate": 0.5, "mask": 1.0, "synthesis": 0.3, "ms_ssim": 0.2},
}


@pytest.fixture(scope="module")
def module():
    torch.manual_seed(0)
    return HelixModule(TINY)


@pytest.fixture(scope="module")
def clips():
    torch.manual_seed(1)
    return torch.rand(2, 3, 3, 32, 32)


def test_forward_shapes(module, clips):
    with torch.no_grad():
        out = module(clips)
    assert out["x_hat"].shape == clips.shape
    assert out["digits"].shape == (6, 4, 4, 4)
    assert out["tokens"].shape == (6, 4, 4)
    assert int(out["digits"].min()) >= 0 and int(out["digits"].max()) <= 3
    assert 0.0 <= float(out["x_hat"].min()) and float(out["x_hat"].max()) <= 1.0


def test_loss_finite_and_gradients_reach_every_part(module, clips):
    module.zero_grad()
    terms = module.losses(clips)
    assert torch.isfinite(terms["loss"])
    # 16 tokens of 8 bits at most-uniform start: the estimate is near 8 bits per token
    assert 0.05 < float(terms["bits_per_px"]) < 0.2
    terms["loss"].backward()
    parts = {
        "tokenizer encoder": module.tokenizer.encoder[0].weight,
        "tokenizer decoder": module.tokenizer.decoder[-1].weight,
        "mixer factor A_h": module.mixer.learned[0].skew,
        "mixer factor A_w": module.mixer.learned[1].skew,
        "masked model": module.token_model.head.weight,
    }
    for name, p in parts.items():
        assert p.grad is not None and float(p.grad.abs().sum()) > 0, name


@pytest.mark.parametrize("weight,term", [("lambda_rate", "rate_nt_per_px"), ("mask", "mask"),
                                         ("synthesis", "synthesis"), ("ms_ssim", "ms_ssim")])
def test_each_weight_controls_its_term(module, clips, weight, term):
    def total(w):
        module.weights[weight] = w
        torch.manual_seed(5)  # same random masks for the masking loss
        with torch.no_grad():
            return module.losses(clips)

    saved = module.weights[weight]
    try:
        on, off = total(saved), total(0.0)
    finally:
        module.weights[weight] = saved
    assert term not in off  # weight 0: the term is not even computed
    value = (1 - on[term]) if weight == "ms_ssim" else on[term]
    assert float(value) > 0
    assert float(on["loss"] - off["loss"]) == pytest.approx(saved * float(value), rel=1e-4)


def test_factorised_prior_gives_a_rate():
    cfg = {**TINY, "model": {**TINY["model"], "rate": {"prior": "factorised"}}}
    m = HelixModule(cfg)
    terms = m.losses(torch.rand(1, 2, 3, 32, 32))
    assert float(terms["bits_per_px"]) == pytest.approx(16 * 8 / 1024, rel=1e-4)
    terms["loss"].backward()
    assert m.prior_logits.grad is not None


@pytest.fixture(scope="module")
def video_dir(tmp_path_factory):
    from helix_lightning.video.io import write_video

    d = tmp_path_factory.mktemp("clips")
    rng = np.random.default_rng(0)
    for i in range(3):
        frames = rng.integers(0, 256, (12, 32, 32, 3), dtype=np.uint8)
        frames[:, 8:20, 8:20] = 200  # a little structure
        write_video(d / f"clip{i}.mkv", frames)
    return d


def test_train_returns_metrics_and_writes_checkpoint(video_dir, tmp_path):
    ckpt = tmp_path / "model.ckpt"
    cfg = {
        **TINY,
        "name": "test",
        "runs_dir": str(tmp_path / "runs"),
        "logger": False,
        "checkpoint": str(ckpt),
        "data": {"paths": str(video_dir), "clip_frames": 4, "crop": 32, "val_size": 32,
                 "batch_size": 2, "clips_per_epoch": 4, "clips_per_file": 1},
        "trainer": {"max_steps": 5, "val_check_interval": 5, "progress_bar": False},
    }
    result = train(cfg)
    for key in ("val/psnr", "val/ms_ssim", "val/bits_per_px", "val/nt_per_px", "val/mask_acc",
                "val/direct_violations", "val/loss", "best"):
        assert key in result and np.isfinite(result[key]), key
    assert result["steps"] == 5
    assert result["val/nt_per_px"] == pytest.approx(result["val/bits_per_px"] / 1.98125, rel=1e-3)
    assert ckpt.exists()
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    assert "helix_best" in state and "state_dict" in state


def test_load_config_rejects_unknown_keys(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  tokenizer:\n    widht: 32\n")
    with pytest.raises(HelixError, match="model.tokenizer.widht"):
        load_config(bad)
    top = tmp_path / "top.yaml"
    top.write_text("epochs: 3\n")
    with pytest.raises(HelixError, match="epochs"):
        load_config(top)
    good = tmp_path / "good.yaml"
    good.write_text("loss:\n  lambda_rate: 0.2\n")
    cfg = load_config(good)
    assert cfg["loss"]["lambda_rate"] == 0.2 and cfg["name"] == "good"


def test_experiment_configs_load():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "experiments"
    for name in ("tiny", "base"):
        cfg = load_config(root / f"{name}.yaml")
        assert cfg["name"] == name
        assert cfg == resolve_config(cfg)


def test_cosine_schedule_warms_up_then_decays():
    from helix_lightning.model.module import cosine_factor

    f = [cosine_factor(s, warmup=10, total=110) for s in range(0, 130, 1)]
    assert f[0] == pytest.approx(0.1) and f[9] == pytest.approx(1.0)
    assert f[10] == pytest.approx(1.0) and f[60] == pytest.approx(0.51)
    assert f[110] == pytest.approx(0.02) and f[129] == pytest.approx(0.02)
    assert all(a >= b for a, b in zip(f[10:], f[11:]))


def test_timed_cosine_ends_its_decay_by_the_time_budget(monkeypatch):
    from helix_lightning.model import module as module_mod

    clock = [100.0]
    monkeypatch.setattr(module_mod.time, "monotonic", lambda: clock[0])
    untimed, timed = module_mod.TimedCosine(10, 1000), module_mod.TimedCosine(10, 1000, 60.0)
    assert untimed(0) == timed(0) == pytest.approx(0.1)  # warm-up is by steps alone
    clock[0] += 30.0  # half the time budget, 2% of the steps
    assert untimed(30) == pytest.approx(module_mod.cosine_factor(30, 10, 1000))
    assert timed(30) == pytest.approx(0.51)
    clock[0] += 60.0  # past the budget: at the floor however few steps ran
    assert timed(40) == pytest.approx(0.02) and untimed(40) > 0.99


def test_cosine_run_with_float16_checkpoint_loads_as_codec(video_dir, tmp_path):
    from helix_lightning.model.checkpoint import load_codec

    ckpt = tmp_path / "half.ckpt"
    cfg = {
        **TINY,
        "name": "half", "runs_dir": str(tmp_path / "runs"), "logger": False,
        "checkpoint": str(ckpt), "checkpoint_dtype": "float16",
        "optim": {"schedule": "cosine", "warmup_steps": 1, "total_seconds": 600},
        "data": {"paths": str(video_dir), "cache": True, "clip_frames": 2, "crop": 32, "val_size": 32,
                 "batch_size": 2, "clips_per_epoch": 4, "clips_per_file": 1},
        "trainer": {"max_steps": 3, "val_check_interval": 3, "progress_bar": False},
    }
    cfg["model"] = {**TINY["model"], "tokenizer": {"downsample": 8, "channels_latent": 4,
                                                   "width": [16, 16, 24], "stem": "shuffle"}}
    assert train(cfg)["steps"] == 3
    state = torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]
    assert all(v.dtype == torch.float16 for v in state.values() if v.is_floating_point())
    codec = load_codec(ckpt)
    assert all(p.dtype == torch.float32 for p in codec.parameters())


def test_the_module_holds_one_codec_and_forwards_through_it(module, clips):
    from helix_lightning.model.codec import HelixCodec

    assert isinstance(module.codec, HelixCodec)
    assert module.tokenizer is module.codec.tokenizer and module.mixer is module.codec.mixer
    names = set(module.state_dict())
    assert "prior_logits" in names and all(n.startswith("codec.") or n == "prior_logits"
                                           for n in names)
    assert "prior_logits" not in module.codec.state_dict()  # the hashed names stay the codec's
    with torch.no_grad():
        mine = module(clips, rate=True)
        codecs = module.codec(clips, prior=module.prior, temperature=0.5)
    assert torch.equal(mine["x_hat"], codecs["x_hat"])
    lik = mine["likelihoods"]["tokens"]
    assert lik.shape == (6, 16) and torch.equal(lik, codecs["likelihoods"]["tokens"])
    assert bool((lik <= 1e-6).all())  # log2 of probabilities
    # first frame of each clip has no previous frame, the others see the one before
    mask_id = module.token_model.mask_id
    assert bool((mine["prev"][0] == mask_id).all()) and bool((mine["prev"][3] == mask_id).all())
    assert torch.equal(mine["prev"][1], mine["tokens"][0])
