"""Local (window-attention) token model: shapes, exact locality, the coding pass, training
through HelixModule, range-coder round trips and thread-independent streams."""

import numpy as np
import pytest
import torch

from helix_lightning.errors import HelixError
from helix_lightning.model import MODELS
from helix_lightning.model.config import apply_overrides, resolve
from helix_lightning.model.entropy import TokenEntropyCoder
from helix_lightning.model.local_masked import LocalMaskedTokenModel
from helix_lightning.model.masked import StagePlan, coding_model, stage_masks

from test_masked import train_masking


def small_model(k: int = 16, window: int = 4, depth: int = 2, seed: int = 0
                ) -> LocalMaskedTokenModel:
    torch.manual_seed(seed)
    return LocalMaskedTokenModel(codebook_size=k, dim=32, depth=depth, heads=4,
                                 window=window).eval()


def random_grid(shape: tuple[int, ...], k: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, k, shape, generator=torch.Generator().manual_seed(seed))


def test_registered_and_shapes():
    assert MODELS["token_model"]["local"] is LocalMaskedTokenModel
    m = small_model()
    assert m.mask_id == m.codebook_size == 16
    for h, w in [(3, 4), (1, 12), (5, 7), (9, 9), (8, 16)]:
        tok = torch.randint(0, 17, (2, h * w))  # 16 = MASK
        prev = torch.randint(0, 16, (2, h * w))
        assert m(tok, prev, (h, w)).shape == (2, h * w, 16)
        assert m(tok.view(2, h, w), prev.view(2, h, w)).shape == (2, h * w, 16)
    assert m(torch.randint(0, 17, (2, 12))).shape == (2, 12, 16)  # (1, N) grid, no prev
    with pytest.raises(HelixError, match="does not hold"):
        m(torch.zeros(2, 12, dtype=torch.long), None, (5, 5))
    with pytest.raises(HelixError, match="prev shape"):
        m(torch.zeros(2, 12, dtype=torch.long), torch.zeros(2, 11, dtype=torch.long), (3, 4))
    with pytest.raises(HelixError, match="divisible"):
        LocalMaskedTokenModel(16, dim=30, heads=4)


def test_locality_is_exact_and_bounded_by_the_receptive_field():
    """Changing one token (current or previous frame) changes no prediction farther than
    depth * (window - 1) away, bit for bit; it does change predictions nearby."""
    m = coding_model(small_model(window=4, depth=2))  # float64
    h = w = 24
    tok = random_grid((1, h * w), 17, seed=1)
    prev = random_grid((1, h * w), 16, seed=2)
    base = m(tok, prev, (h, w))
    ii, jj = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    for i, j in [(2, 3), (12, 13), (23, 20)]:
        dist = torch.from_numpy(np.maximum(abs(ii - i), abs(jj - j)).ravel())
        far = dist > m.receptive_field
        for which in ("tokens", "prev"):
            t2, p2 = tok.clone(), prev.clone()
            target = t2 if which == "tokens" else p2
            target[0, i * w + j] = (target[0, i * w + j] + 5) % 16
            out = m(t2, p2, (h, w))
            assert torch.equal(out[0, far], base[0, far]), (i, j, which)
            near = (dist >= 1) & (dist <= 2)
            assert not torch.equal(out[0, near], base[0, near]), (i, j, which)


def test_coding_pass_matches_forward_and_the_plan():
    m = small_model(window=4, depth=3)
    twin = coding_model(m)
    h, w = 11, 13
    tok = random_grid((2, h * w), 17, seed=3)
    prev = random_grid((2, h * w), 16, seed=4)
    rows = torch.arange(1, h * w, 4)
    full = twin(tok, prev, (h, w))
    with torch.no_grad():
        part = twin.coding_logits(tok, prev, (h, w), rows)
    assert part.dtype == torch.float64 and part.shape == (2, len(rows), 16)
    torch.testing.assert_close(part, full[:, rows], rtol=0, atol=1e-12)
    plan = StagePlan(m, h, w, 4)
    grid = random_grid((h, w), seed=5)
    pgrid = random_grid((h, w), seed=6)
    for s in range(4):
        inp = torch.where(plan.visible[s], grid.flatten(), m.mask_id)[None]
        want = torch.softmax(twin(inp, pgrid.reshape(1, -1), (h, w)), -1)[:, plan.rows[s]]
        np.testing.assert_allclose(plan.probabilities(grid, pgrid, s), want.detach().numpy(),
                                   rtol=0, atol=1e-12)


def test_cached_attention_masks_follow_weight_updates():
    """The coding-time cache of the bias + padding masks never serves stale weights."""
    m = small_model(window=4)
    tok = random_grid((1, 30), 17, seed=7)
    with torch.no_grad():
        before = m(tok, None, (5, 6))
        m.blocks[0].rel_bias.add_(0.5)
        after = m(tok, None, (5, 6))
    fresh = small_model(window=4)
    fresh.load_state_dict(m.state_dict())
    with torch.no_grad():
        assert not torch.equal(before, after)
        assert torch.equal(after, fresh(tok, None, (5, 6)))


def test_masking_loss_trains():
    m = small_model().train()
    i, j = torch.meshgrid(torch.arange(6), torch.arange(6), indexing="ij")
    tok = torch.stack([((i * 3 + j) % 16 + t) % 16 for t in range(4)])
    losses = train_masking(m, tok)
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5])
    assert all(float(b.rel_bias.grad.abs().sum()) > 0 for b in m.blocks)


def test_config_names_the_local_model_and_leaves_old_configs_as_they_were():
    assert "name" not in resolve({})["model"]["masked"]  # resolved configs unchanged
    local = resolve({"model": {"masked": {"name": "local", "window": 4}}})["model"]["masked"]
    assert local == {"name": "local", "dim": 64, "depth": 2, "heads": 4, "window": 4,
                     "dropout": 0.0, "temporal": 0}  # temporal: 0, no prior (temporal_prior)
    assert resolve({"model": {"masked": {"name": "masked"}}})["model"]["masked"]["name"] \
        == "masked"
    with pytest.raises(HelixError, match="unknown config key 'model.masked.window'"):
        resolve({"model": {"masked": {"window": 4}}})
    with pytest.raises(HelixError, match="model.masked.name: unknown token_model 'nope'"):
        resolve({"model": {"masked": {"name": "nope"}}})
    cfg = resolve({})
    apply_overrides(cfg, ["model.masked.name=local", "model.masked.window=2"])
    assert cfg["model"]["masked"]["window"] == 2 and "max_tokens" not in cfg["model"]["masked"]
    apply_overrides(cfg, ["model.masked.name=masked"])
    assert "window" not in cfg["model"]["masked"] and cfg == resolve(cfg)


def test_trains_two_steps_through_helix_module_and_codes(tmp_path):
    from helix_lightning.model.checkpoint import load_module
    from helix_lightning.model.train import train

    cfg = {"name": "local", "runs_dir": str(tmp_path), "logger": False,
           "checkpoint": str(tmp_path / "local.ckpt"), "codec_metrics": {"every": 0},
           "data": {"paths": "synthetic", "clip_frames": 2, "crop": 32, "val_size": 32,
                    "batch_size": 2, "clips_per_epoch": 4, "clips_per_file": 1,
                    "synthetic": {"videos": 4, "frames": 6, "height": 32, "width": 32}},
           "model": {"tokenizer": {"width": 16}, "rate": {"stages": 2},
                     "masked": {"name": "local", "dim": 16, "depth": 2, "heads": 2,
                                "window": 2}},
           "trainer": {"max_steps": 2, "val_check_interval": 2, "progress_bar": False}}
    result = train(cfg)
    assert result["steps"] == 2 and np.isfinite(result["val/loss"])
    module = load_module(tmp_path / "local.ckpt")
    net = module.token_model
    assert isinstance(net, LocalMaskedTokenModel) and net.window == 2
    assert module.cfg["model"]["masked"]["name"] == "local"
    module.train().zero_grad()
    module.losses(torch.rand(2, 2, 3, 32, 32))["loss"].backward()  # mask loss + staged prior
    for p in (net.tok_emb.weight, net.head.weight, *(b.rel_bias for b in net.blocks)):
        assert p.grad is not None and float(p.grad.abs().sum()) > 0
    module.eval()
    frames = (torch.rand(2, 40, 56, 3) * 255).to(torch.uint8).numpy()
    codec = module.codec
    out = codec.compress(frames)
    tokens = codec.decompress_tokens(out["strings"], out["shape"])
    assert torch.equal(tokens, out["tokens"])


@pytest.mark.parametrize("stages,drop", [(4, 0.0), (4, 0.2), (2, 0.0)])
def test_round_trip_at_a_grid_that_is_no_multiple_of_the_window(stages, drop):
    m = small_model(window=4, depth=3)
    h, w = 11, 13
    clip = random_grid((3, h, w), seed=stages)
    enc = TokenEntropyCoder(m, h, w, stages, drop).encode(iter(clip), 3)
    kept = ~stage_masks(h, w, stages, drop)[-1]
    for t in range(3):
        assert torch.equal(enc.tokens[t][kept], clip[t][kept])
    out = torch.stack(list(TokenEntropyCoder(m, h, w, stages, drop).decode(enc.strings, 3)))
    assert torch.equal(out, enc.tokens)
    assert enc.table_bits > 0 and 8 * sum(map(len, enc.strings)) >= enc.table_bits - 64


def test_streams_are_identical_with_one_and_two_threads():
    m = small_model(window=4, depth=2)
    clip = random_grid((2, 10, 18), seed=9)
    old = torch.get_num_threads()
    streams = []
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            enc = TokenEntropyCoder(small_model(window=4, depth=2), 10, 18, 4, 0.1).encode(
                iter(clip), 2)
            streams.append(enc.strings)
    finally:
        torch.set_num_threads(old)
    assert streams[0] == streams[1] and len(streams[0][0]) > 0
    dec = TokenEntropyCoder(m, 10, 18, 4, 0.1).decode(streams[1], 2)
    assert torch.equal(next(dec)[~stage_masks(10, 18, 4, 0.1)[-1]],
                       clip[0][~stage_masks(10, 18, 4, 0.1)[-1]])


def test_benchmark_measures_both_models_in_one_run(tmp_path, monkeypatch):
    import csv
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_token_model.py"
    spec = importlib.util.spec_from_file_location("bench_token_model", script)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    monkeypatch.chdir(tmp_path)
    assert bench.main(["--sizes", "64x48", "--frames", "1", "--dim", "16", "--depth", "2",
                       "--heads", "2", "--window", "4"]) == 0
    rows = list(csv.DictReader((tmp_path / "bench-out" / "token_model.csv").open()))
    assert [r["model"] for r in rows] == ["masked", "local"]
    assert all(r["round_trip"] == "True" and float(r["enc_s_cpu"]) > 0 for r in rows)
    assert float(rows[1]["x_vs_masked"]) > 0 and rows[0]["grid"] == rows[1]["grid"]
