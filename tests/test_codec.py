"""HelixCodec and its pipeline: compress/decompress, container, fsm and direct DNA coders, the
model hash (tiny untrained model)."""

import numpy as np
import pytest
import torch

from helix_lightning.dna.constraints import check_strands, get_constraints
from helix_lightning.errors import HelixError
from helix_lightning.metrics import direct_violations
from helix_lightning.dna.direct import read_direct_strands
from helix_lightning.model import pipeline
from helix_lightning.model.codec import HASH_NAMES, HelixCodec, state_hash
from helix_lightning.model.container import HEADER
from helix_lightning.model.pipeline import stored_digits
from helix_lightning.model.rates import RATE_POINTS, fit_stages, rate_name
from helix_lightning.model.fsq import FSQ
from helix_lightning.model.kronecker import KroneckerMixer
from helix_lightning.model.masked import (
    MaskedTokenModel,
    coding_logits,
    coding_model,
    stage_masks,
    stage_probabilities,
)
from helix_lightning.model.tokenizer import ConvTokenizer


def tiny_codec(seed: int = 0) -> HelixCodec:
    torch.manual_seed(seed)
    tok = ConvTokenizer(width=16, downsample=8, channels_latent=2)
    mixer = KroneckerMixer(2, mode="learned", block=(2, 2))
    fsq = FSQ(levels=4, channels=2)
    tm = MaskedTokenModel(codebook_size=16, dim=32, depth=1, max_tokens=256)
    return HelixCodec(tok, mixer, fsq, tm, {"stages": 2, "drop": 0.0}).eval()


def clip(t: int = 3, h: int = 24, w: int = 40, seed: int = 0) -> np.ndarray:
    """Smooth moving gradient + a little noise: uint8 (T, H, W, 3), sides not multiples of 8."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    frames = []
    for i in range(t):
        base = np.stack([(x * 5 + i * 7) % 256, (y * 9 + i * 3) % 256, (x + y) * 3 % 256], -1)
        frames.append(np.clip(base + rng.integers(-8, 9, base.shape), 0, 255))
    return np.asarray(frames, dtype=np.uint8)


@pytest.fixture(scope="module")
def codec():
    return tiny_codec()


@pytest.fixture(scope="module")
def frames():
    return clip()


def forward_on_tokens(codec: HelixCodec, digits: torch.Tensor, shape) -> np.ndarray:
    """The model's own decoder on the stored digits, independent of the codec's helpers: at
    the coding size, then bicubic resampling to the input size."""
    with torch.no_grad():
        z = codec.mixer.inverse(codec.fsq.digits_to_latent(digits), size=(shape.h, shape.w))
        x = codec.tokenizer.decode(z, shape.coded_size).clamp(0, 1)
        if shape.coded_size != (shape.height, shape.width):
            x = torch.nn.functional.interpolate(x, size=(shape.height, shape.width),
                                                mode="bicubic", antialias=True,
                                                align_corners=False)
    return (x.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


@pytest.mark.parametrize("drop,group", [(0.0, None), (0.25, 1)])
def test_round_trip_matches_forward(codec, frames, drop, group):
    out = codec.compress(frames, stages=2, drop=drop, group=group)
    s = out["shape"]
    assert (s.frames, s.height, s.width, s.h, s.w) == (3, 24, 40, 3, 5)
    assert (s.hp, s.wp) == (4, 6)  # mixer blocks of 2x2
    assert len(out["strings"]) == (1 if group is None else 3)
    rec = codec.decompress(out["strings"], s)
    assert rec.shape == frames.shape and rec.dtype == np.uint8
    ref = forward_on_tokens(codec, out["digits"], s)
    assert np.abs(rec.astype(int) - ref.astype(int)).max() <= 1
    tokens = codec.decompress_tokens(out["strings"], s)
    assert torch.equal(tokens, out["tokens"])
    # stored tokens are the encoder's tokens; dropped ones the model's prediction
    ids, _ = codec.tokenize(frames)
    mask = out["stored_mask"]
    assert torch.equal(tokens[:, mask], ids[:, mask])
    if drop:
        assert int((~mask).sum()) == round(drop * s.hp * s.wp)


def test_actual_bits_near_estimate(codec, frames):
    out = codec.compress(frames, stages=2)
    est, act = out["estimated_bits"], out["actual_bits"]
    assert est > 0
    assert act <= est * 1.03 + 64


def test_container_and_model_hash(codec, frames):
    out = codec.compress(frames, stages=2)
    data = codec.to_bytes(out)
    strings, shape, meta = HelixCodec.from_bytes(data)
    assert strings == out["strings"] and shape == out["shape"]
    assert meta["model_hash"] == codec.model_hash() and meta["coder"] == "fsm"
    assert np.array_equal(codec.decode_bytes(data), codec.decompress(out["strings"], shape))
    assert codec.model_hash() == codec.model_hash()
    other = tiny_codec(seed=1)
    assert other.model_hash() != codec.model_hash()
    with pytest.raises(HelixError, match="archive was written by model"):
        other.decode_bytes(data)
    with pytest.raises(HelixError):
        HelixCodec.from_bytes(b"nope" + data[4:])


def test_fsm_coder_round_trip(codec, frames):
    strands, stats = codec.encode_video(frames, "standard", coder="fsm", stages=2)
    cs = get_constraints("standard")
    assert check_strands(strands, cs).total == 0 and stats.violations == 0
    for key in ("frames", "nt", "nt_per_px", "bits_per_px", "net_density", "coding_density",
                "direct_violations", "estimated_bits", "actual_bits"):
        assert key in stats.to_dict()
    assert stats.frames == 3 and 0 < stats.net_density <= stats.coding_density < 2
    dec = codec.decode_video(strands, constraints="standard")
    ref = codec.decompress(*codec.from_bytes(codec.to_bytes(codec.compress(frames, 2)))[:2])
    assert np.array_equal(dec, ref)
    assert np.array_equal(codec.decode_video(strands[::-1]), ref)  # auto coder + constraints
    with pytest.raises(HelixError, match="archive was written by model"):
        tiny_codec(seed=1).decode_video(strands)


def test_direct_coder_round_trip(codec, frames):
    strands, stats = codec.encode_video(frames, "standard", coder="direct", stages=2, drop=0.25)
    cs = get_constraints("standard")
    viol = check_strands(strands, cs).total
    assert stats.violations == viol  # reported, not hidden
    out = codec.compress(frames, stages=2, drop=0.25)
    assert stats.direct_violations == direct_violations(stored_digits(out), cs, 160)
    assert stats.coding_density == 2.0
    assert all(s.startswith("TAAGCCACGCTTGTGATGAC") for s in strands)
    dec = codec.decode_video(strands[::-1], coder="direct")
    assert np.array_equal(dec, codec.decompress(out["strings"], out["shape"]))
    assert np.array_equal(codec.decode_video(strands), dec)  # auto detects direct
    # a set named by a FASTA tag that does not resolve (a YAML set's name) is not needed
    assert np.array_equal(codec.decode_video(strands, constraints="my_yaml_set"), dec)
    digits = read_direct_strands(strands)
    head = 4 * HEADER.size  # header digits
    n = stored_digits(out).size
    assert np.array_equal(digits[head:head + n], stored_digits(out).reshape(-1))
    with pytest.raises(HelixError, match="missing"):
        codec.decode_video(strands[1:], coder="direct")


def test_thread_count_does_not_change_tokens(codec, frames):
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)  # a helper thread runs the tokenizer
        out = codec.compress(frames, stages=2, drop=0.25)
        assert torch.get_num_threads() == 2  # the coder's one-thread context is undone
        rec2 = codec.decompress(out["strings"], out["shape"])
        torch.set_num_threads(1)  # everything inline
        tokens = codec.decompress_tokens(out["strings"], out["shape"])
        rec1 = codec.decompress(out["strings"], out["shape"])
        again = codec.compress(frames, stages=2, drop=0.25)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(tokens, out["tokens"])
    assert np.array_equal(rec1, rec2)
    assert again["strings"] == out["strings"] and torch.equal(again["tokens"], out["tokens"])


@pytest.mark.parametrize("norm_first", [True, False])
def test_coding_logits_match_module_forward(norm_first):
    torch.manual_seed(0)
    tm = MaskedTokenModel(codebook_size=16, dim=32, depth=2, heads=4, max_tokens=256)
    for layer in tm.blocks.layers:
        layer.norm_first = norm_first
    net = coding_model(tm.eval())
    gen = torch.Generator().manual_seed(1)
    tok = torch.randint(0, 17, (3, 30), generator=gen)  # 16 = MASK
    prev = torch.randint(0, 16, (3, 30), generator=gen)
    rows = torch.tensor([0, 4, 5, 17, 29])
    with torch.no_grad():
        ref = net(tok, prev, (5, 6))
        for p in (prev, None):
            full = net(tok, p, (5, 6))
            assert torch.allclose(coding_logits(net, tok, p, (5, 6)), full, rtol=0, atol=1e-10)
        assert torch.allclose(coding_logits(net, tok, prev, (5, 6), rows), ref[:, rows],
                              rtol=0, atol=1e-10)


def test_estimated_bits_are_the_float_models(codec, frames):
    out = codec.compress(frames, stages=2, drop=0.25)
    s = out["shape"]
    masks = stage_masks(s.hp, s.wp, s.stages, s.drop)
    est, prev = 0.0, None
    for t in range(s.frames):
        ids, _ = codec.tokenize(frames[t:t + 1])
        for st in range(s.stages):
            p = stage_probabilities(codec.token_model, ids[0], prev, masks, st)[0]
            sym = ids[0][masks[st] & ~masks[-1]].numpy()
            est -= np.log2(p[np.arange(len(sym)), sym]).sum()
        prev = out["tokens"][t]
    assert out["estimated_bits"] == pytest.approx(est, rel=1e-9)
    # the integer tables cost next to nothing more; the coder adds at most its flush
    assert abs(out["table_bits"] - est) <= 0.01 * est
    assert out["actual_bits"] <= 1.03 * est + 64 and out["actual_bits"] % 32 == 0


def test_progress_callback(codec, frames):
    calls = []
    out = codec.compress(frames, stages=2, progress=lambda *a: calls.append(a))
    steps = {st: [(d, t) for s_, d, t in calls if s_ == st] for st in ("tokenise", "entropy-code")}
    assert steps["tokenise"][-1] == (3, 3)
    assert steps["entropy-code"] == [(1, 3), (2, 3), (3, 3)]
    calls.clear()
    codec.decompress(out["strings"], out["shape"], progress=lambda *a: calls.append(a))
    assert [c for c in calls if c[0] == "entropy-decode"] == [("entropy-decode", i, 3)
                                                              for i in (1, 2, 3)]
    assert calls[-1] == ("reconstruct", 3, 3)
    calls.clear()
    strands, _ = codec.encode_video(frames, stages=2, progress=lambda *a: calls.append(a))
    assert {c[0] for c in calls} == {"tokenise", "entropy-code", "encode"}
    calls.clear()
    codec.decode_video(strands, progress=lambda *a: calls.append(a))
    assert {c[0] for c in calls} == {"decode", "entropy-decode", "reconstruct"}


def test_rate_points(codec, frames):
    assert list(RATE_POINTS) == ["high", "mid", "low"]
    assert [tuple(RATE_POINTS[k]) for k in RATE_POINTS] == [(1.25, 0.0, 1), (1.0, 0.0, 2),
                                                             (0.75, 0.0, 2)]
    assert rate_name(1.0, 0.0, 2) == "mid" and rate_name(1.0, 0.1, 2) == "custom"
    assert rate_name(1.25, 0.0, 4) == "custom" and rate_name(None, 0.0, 4) == "native"
    # 24x40 frames, tiles of 8 x 2 = 16 px: scale x size rounded up to whole tiles
    coded = {"high": (32, 64), "mid": (32, 48), "low": (32, 32)}
    sizes = []
    for rate in RATE_POINTS:
        out = codec.compress(frames, rate=rate)
        shape = out["shape"]
        assert shape.drop == 0.0 and shape.coded_size == coded[rate]
        assert shape.stages == RATE_POINTS[rate].stages
        grid = (coded[rate][0] // 8, coded[rate][1] // 8)
        tokens = codec.decompress_tokens(out["strings"], shape)
        assert tokens.shape == (3, *grid)
        assert codec.decompress(out["strings"], shape).shape == frames.shape  # input size
        sizes.append(out["estimated_bits"])
    assert sizes[0] > sizes[1] > sizes[2]
    assert codec.compress(frames)["shape"].coded_size == (24, 40)  # no rate: input size
    assert codec.compress(frames, rate="low", drop=0.5)["shape"].drop == 0.5  # drop wins
    assert codec.compress(frames, rate="high", stages=2)["shape"].stages == 2  # stages win
    assert codec.compress(frames, rate="low", scale=2.0)["shape"].coded_size == (48, 80)
    with pytest.raises(HelixError, match="rate point"):
        codec.compress(frames, rate="best")
    for bad in (0.0, -1.0, float("nan"), 100.0):
        with pytest.raises(HelixError, match="coding scale"):
            codec.compress(frames, scale=bad)


def test_scaled_container_round_trip_matches_forward(codec, frames):
    """The coding size travels in the header; decoding resamples back to the input size
    and equals the model's decoder at the coding size, resampled (within 1 level)."""
    out = codec.compress(frames, rate="high", stages=2)
    data = codec.to_bytes(out)
    strings, shape, _ = HelixCodec.from_bytes(data)
    assert shape == out["shape"] and shape.coded_size == (32, 64)
    rec = codec.decode_bytes(data).astype(int)
    want = forward_on_tokens(codec, out["digits"], shape).astype(int)
    assert rec.shape == (3, 24, 40, 3) and np.abs(rec - want).max() <= 1


def test_explicit_stages_are_kept_and_refused_when_the_drop_needs_fewer(codec, frames):
    with pytest.raises(HelixError, match="drop"):
        codec.compress(frames, drop=0.5, stages=4)
    assert codec.compress(frames, drop=0.5, stages=None)["shape"].stages == 2


@pytest.mark.parametrize("h,w", [(4, 6), (5, 5), (18, 22), (20, 24), (1, 3)])
@pytest.mark.parametrize("drop", [0.0, 0.1, 0.25, 0.4, 0.5, 0.75])
def test_fit_stages(h, w, drop):
    for stages in (1, 2, 4, 6):
        fit = fit_stages(h, w, stages, drop)
        assert 1 <= fit <= stages
        if fit < stages:  # one stage more would not hold the drop
            with pytest.raises(HelixError):
                stage_masks(h, w, fit + 1, drop)
        try:
            stage_masks(h, w, fit, drop)
        except HelixError:
            assert fit == 1  # only a single stage can be too small (drop near 1)


def test_containers_of_16_bit_tables_still_decode(codec, frames):
    out = codec.compress(frames, stages=2, drop=0.25, precision=16)
    data = codec.to_bytes(out)
    assert HelixCodec.from_bytes(data)[2]["precision"] == 16
    rec = codec.decode_bytes(data).astype(int)
    assert np.abs(rec - forward_on_tokens(codec, out["digits"], out["shape"])).max() <= 1
    today = codec.compress(frames, stages=2, drop=0.25)
    assert today["precision"] == 24 and codec.to_bytes(today) != data
    assert torch.equal(today["tokens"], out["tokens"])
    bad = bytearray(data)
    bad[45] = 30  # precision field (offset 45 in every version): more than the coder takes
    with pytest.raises(HelixError, match="precision"):
        codec.decode_bytes(bytes(bad))


def test_model_hash_is_over_frozen_parameter_names(codec, monkeypatch):
    state = codec.state_dict()
    assert state_hash(state) == codec.model_hash()
    name = next(iter(state))
    renamed = {("renamed." + n if n == name else n): t for n, t in state.items()}
    assert state_hash(renamed) != codec.model_hash()  # names are hashed
    monkeypatch.setitem(HASH_NAMES, "renamed." + name, name)  # a rename records the old name
    assert state_hash(renamed) == codec.model_hash()
    changed = dict(state)
    changed[name] = state[name] + 1
    assert state_hash(changed) != codec.model_hash()  # and so are the values


def test_pipeline_takes_a_resolved_constraint_set(codec, frames):
    cs = get_constraints("rl3")
    strands, stats = pipeline.encode_video(codec, frames, cs, stages=2)
    assert (strands, stats) == codec.encode_video(frames, "rl3", stages=2)
    assert stats.constraints == "rl3" and check_strands(strands, cs).total == 0
    ref = codec.decompress(*codec.from_bytes(codec.to_bytes(codec.compress(frames, 2)))[:2])
    assert np.array_equal(pipeline.decode_video(codec, strands, cs), ref)
    assert np.array_equal(pipeline.decode_video(codec, strands), ref)  # set found from strands
    with pytest.raises(HelixError, match="unknown coder"):
        codec.encode_video(frames, coder="raw")
    with pytest.raises(HelixError, match="unknown constraint set"):
        codec.decode_video(strands, constraints="nonesuch", coder="fsm")
