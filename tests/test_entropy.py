"""TokenEntropyCoder, the package's one range-coding loop, and its integer tables."""

import numpy as np
import pytest
import torch

from helix_lightning.errors import HelixError
from helix_lightning.model.entropy import (
    PRECISION,
    TokenEntropyCoder,
    integer_frequencies,
)
from helix_lightning.model.masked import (
    MaskedTokenModel,
    fill_dropped,
    stage_masks,
    stage_probabilities,
)

from test_masked import small_model


def trained_model(tokens: torch.Tensor) -> MaskedTokenModel:
    """A briefly trained model (not the initial one): its tables are far from uniform."""
    m = small_model()
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    for _ in range(10):
        loss, _ = m.masking_loss(tokens, None, generator=torch.Generator().manual_seed(0))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return m.eval()


def random_clip(t: int, h: int, w: int, seed: int) -> torch.Tensor:
    return torch.randint(0, 16, (t, h, w), generator=torch.Generator().manual_seed(seed))


def repetitive_clip(t: int = 3, h: int = 16, w: int = 16) -> torch.Tensor:
    i, j = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    base = (i * 3 + j) % 16
    return torch.stack([(base + k) % 16 for k in range(t)])


def test_integer_frequencies_reproducible_across_threads():
    m = small_model()
    tok = torch.randint(0, 16, (8, 8), generator=torch.Generator().manual_seed(1))
    prev = torch.randint(0, 16, (8, 8), generator=torch.Generator().manual_seed(2))
    masks = stage_masks(8, 8, 2, 0.25)
    old = torch.get_num_threads()
    tables = []
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            p = stage_probabilities(m, tok, prev, masks, 1)
            tables.append(integer_frequencies(p, precision=16))
    finally:
        torch.set_num_threads(old)
    f = tables[0]
    assert f.dtype == np.int64 and f.shape[-1] == 16
    assert (f.sum(-1) == 2**16).all() and (f >= 1).all()
    assert np.array_equal(tables[0], tables[1])
    # extreme rows: one-hot and zeros still give valid tables
    edge = integer_frequencies(np.array([[1.0] + [0.0] * 15, [0.0] * 16]), precision=12)
    assert (edge.sum(-1) == 2**12).all() and (edge >= 1).all()
    assert edge[0, 0] == 2**12 - 15


@pytest.mark.parametrize("precision", [16, PRECISION])
@pytest.mark.parametrize("stages", [1, 2, 4])
@pytest.mark.parametrize("drop", [0.0, 0.25])
def test_round_trip(stages, drop, precision):
    """Stored tokens come back exactly; dropped ones are the model's prediction given the
    stored ones and the previous *decoded* frame."""
    m = small_model()
    clip = random_clip(3, 4, 4, seed=stages)
    coder = TokenEntropyCoder(m, 4, 4, stages, drop, precision)
    enc = coder.encode(iter(clip), 3)
    assert len(enc.strings) == 1 and len(enc.strings[0]) % 4 == 0
    assert enc.table_bits > 0 and enc.estimated_bits > 0
    masks = stage_masks(4, 4, stages, drop)
    kept = ~masks[-1]
    assert torch.equal(coder.stored_mask, kept)
    prev = None
    for t in range(3):
        assert torch.equal(enc.tokens[t][kept], clip[t][kept])
        assert torch.equal(enc.tokens[t], fill_dropped(m, clip[t], prev, masks))
        prev = enc.tokens[t]
    fresh = TokenEntropyCoder(m, 4, 4, stages, drop, precision)  # the decoder's own
    out = torch.stack(list(fresh.decode(enc.strings, 3)))
    assert torch.equal(out, enc.tokens)


def test_groups_streams_and_their_errors():
    m = small_model()
    clip = random_clip(5, 4, 6, seed=3)
    coder = TokenEntropyCoder(m, 4, 6, 2)
    calls = []
    enc = coder.encode(iter(clip), 5, group=2, progress=lambda *a: calls.append(a))
    assert calls == [("entropy-code", t, 5) for t in range(1, 6)]
    assert len(enc.strings) == 3  # frames 0-1, 2-3, 4
    assert torch.equal(enc.tokens, clip)  # no drop: every token stored
    assert torch.equal(torch.stack(list(coder.decode(enc.strings, 5, group=2))), clip)
    whole = coder.encode(iter(clip), 5)
    assert len(whole.strings) == 1 and whole.table_bits == pytest.approx(enc.table_bits)
    with pytest.raises(HelixError, match="expected 3 coded streams"):
        next(coder.decode(enc.strings[:2], 5, group=2))
    with pytest.raises(HelixError, match="32-bit words"):
        next(coder.decode([enc.strings[0][:-1], *enc.strings[1:]], 5, group=2))


def test_bits_are_the_tables_and_the_streams_stay_near_them():
    clip = repetitive_clip()
    m = trained_model(clip)
    masks = stage_masks(16, 16, 4, 0.25)
    for precision in (16, PRECISION):
        enc = TokenEntropyCoder(m, 16, 16, 4, 0.25, precision).encode(iter(clip), 3)
        est = table = 0.0
        prev = None
        for t in range(3):
            for s in range(4):
                p = stage_probabilities(m, clip[t], prev, masks, s)[0]
                sym = clip[t][masks[s] & ~masks[-1]].numpy()
                if not len(sym):  # the drop takes the whole last stage: nothing coded
                    continue
                at = np.arange(len(sym))
                est -= np.log2(p[at, sym]).sum()
                freq = integer_frequencies(p, precision)
                table -= np.log2(freq[at, sym] / 2**precision).sum()
            prev = enc.tokens[t]
        assert enc.estimated_bits == pytest.approx(est, rel=1e-9)
        assert enc.table_bits == pytest.approx(table, rel=1e-9)
        actual = 8 * len(enc.strings[0])
        assert table - 1 <= actual <= 1.03 * table + 32


def test_precision_is_checked_and_matters():
    m = small_model()
    for bad in (3, 30):  # 16 symbols do not fit 2**3; 30 bits exceed the range coder
        with pytest.raises(HelixError, match="precision"):
            TokenEntropyCoder(m, 4, 4, 2, 0.0, bad)
    clip = random_clip(2, 4, 4, seed=5)
    strings = TokenEntropyCoder(m, 4, 4, 2, 0.0, 16).encode(iter(clip), 2).strings
    assert strings != TokenEntropyCoder(m, 4, 4, 2, 0.0, 24).encode(iter(clip), 2).strings
    back = torch.stack(list(TokenEntropyCoder(m, 4, 4, 2, 0.0, 16).decode(strings, 2)))
    assert torch.equal(back, clip)
