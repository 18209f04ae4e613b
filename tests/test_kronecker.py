"""KroneckerMixer: exact inverses, orthogonality, DCT start, Kronecker structure, permute spread."""

import pytest
import torch

from helix_lightning.errors import HelixError
from helix_lightning.model import MIXERS, build
from helix_lightning.model.kronecker import KroneckerMixer, dct_matrix, riffle

BLOCKS = [(2, 2), (4, 4), (8, 8)]
LEARNED = ["dense", "separable", "factored"]
CASES = [("none", None), ("permute", None)] + [("learned", f) for f in LEARNED]


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _mixer(mode, fact, block, channels=3, per_channel=False):
    return KroneckerMixer(channels, mode=mode, block=block, factorisation=fact or "separable",
                          per_channel=per_channel)


def _perturb(mixer):
    """Move learned factors off their DCT start, so tests cover a trained map too."""
    with torch.no_grad():
        for p in mixer.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    return mixer


def _vec_blocks(z, bh, bw):
    """(B, C, H, W) -> (B, C, nH, nW, bh*bw): each block read row-major."""
    b, c, h, w = z.shape
    return z.reshape(b, c, h // bh, bh, w // bw, bw).permute(0, 1, 2, 4, 3, 5).flatten(-2)


@pytest.mark.parametrize("block", BLOCKS)
@pytest.mark.parametrize("mode,fact", CASES)
@pytest.mark.parametrize("per_channel", [False, True])
def test_inverse_undoes_forward(mode, fact, block, per_channel):
    mixer = _perturb(_mixer(mode, fact, block, per_channel=per_channel))
    z = torch.randn(2, 3, 2 * block[0], 3 * block[1])
    zm = mixer(z)
    assert zm.shape == z.shape
    back = mixer.inverse(zm)
    if mode in ("none", "permute"):
        assert torch.equal(back, z)
    else:
        torch.testing.assert_close(back, z, atol=1e-5, rtol=0)
        assert not torch.allclose(zm, z)


@pytest.mark.parametrize("block", BLOCKS + [(2, 8), (8, 4)])
@pytest.mark.parametrize("fact", LEARNED)
def test_learned_maps_are_orthogonal_and_forward_is_their_kron(fact, block):
    mixer = _perturb(_mixer("learned", fact, block, channels=2, per_channel=True))
    n = block[0] * block[1]
    for f in mixer.factors():
        eye = torch.eye(f.shape[-1]).expand_as(f)
        torch.testing.assert_close(f @ f.transpose(-1, -2), eye, atol=1e-6, rtol=0)
    z = torch.randn(1, 2, 2 * block[0], block[1])
    got = _vec_blocks(mixer(z), *block)
    for c in range(2):
        m = torch.eye(1)
        for f in mixer.factors():
            m = torch.kron(m, f[c])
        assert m.shape == (n, n)
        want = _vec_blocks(z, *block)[:, c] @ m.T
        torch.testing.assert_close(got[:, c], want, atol=1e-5, rtol=0)


@pytest.mark.parametrize("block", BLOCKS + [(4, 8)])
@pytest.mark.parametrize("fact", ["dense", "separable"])
def test_dct_init_is_the_2d_dct(fact, block):
    bh, bw = block
    mixer = _mixer("learned", fact, block, channels=1)
    x = torch.randn(bh, bw, dtype=torch.float64)
    # direct 2-D DCT-II (orthonormal) from its definition
    def basis(n):
        k, j = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
        c = torch.cos(torch.pi * (2 * j + 1) * k / (2 * n)) * (2 / n) ** 0.5
        c[0] /= 2**0.5
        return c.double()
    want = basis(bh) @ x @ basis(bw).T
    assert torch.allclose(dct_matrix(bh, torch.float64), basis(bh))
    got = mixer(x.float().view(1, 1, bh, bw))[0, 0]
    torch.testing.assert_close(got.double(), want, atol=1e-5, rtol=0)


def test_separable_equals_kron_of_factors_on_a_small_block():
    mixer = _perturb(_mixer("learned", "separable", (2, 4), channels=1))
    a_h, a_w = mixer.factors()
    x = torch.randn(2, 4)
    want = (torch.kron(a_h, a_w) @ x.reshape(-1)).reshape(2, 4)
    torch.testing.assert_close(mixer(x.view(1, 1, 2, 4))[0, 0], want, atol=1e-6, rtol=0)


def test_factored_4x4_is_kron_of_four_2x2_factors():
    mixer = _perturb(_mixer("learned", "factored", (4, 4), channels=1))
    fs = mixer.factors()
    assert len(fs) == 4 and all(f.shape == (2, 2) for f in fs)
    m = torch.kron(torch.kron(fs[0], fs[1]), torch.kron(fs[2], fs[3]))
    x = torch.randn(4, 4)
    want = (m @ x.reshape(-1)).reshape(4, 4)
    torch.testing.assert_close(mixer(x.view(1, 1, 4, 4))[0, 0], want, atol=1e-6, rtol=0)
    # unperturbed, the start is the 2-D Walsh-Hadamard transform (kron of 2-point DCTs)
    h2 = dct_matrix(2)
    wht = torch.kron(torch.kron(h2, h2), torch.kron(h2, h2))
    torch.testing.assert_close(_mixer("learned", "factored", (4, 4), 1).matrix(), wht)


def test_riffle_gap_is_half_the_side():
    for n in (2, 4, 6, 8, 16):
        s = riffle(n)
        assert sorted(s.tolist()) == list(range(n))
        gaps = (s[1:] - s[:-1]).abs()
        assert gaps.min() == n // 2 and gaps.max() <= n // 2 + 1


@pytest.mark.parametrize("block", BLOCKS + [(2, 8), (4, 2)])
def test_permute_spreads_neighbours(block):
    """Guarantee: in the row-major order of the mixed grid, input horizontal neighbours sit in
    one row >= bw/2 columns apart; vertical ones in one column >= bh/2 rows apart, i.e.
    >= (bh/2) * W positions apart (seams between blocks included)."""
    bh, bw = block
    h, w = 3 * bh, 3 * bw
    mixer = _mixer("permute", None, block, channels=1)
    ids = torch.arange(h * w, dtype=torch.float32).view(1, 1, h, w)
    out = mixer(ids)[0, 0].long()
    assert sorted(out.flatten().tolist()) == list(range(h * w))  # a permutation
    where = torch.empty(h * w, dtype=torch.long)
    where[out.flatten()] = torch.arange(h * w)  # raster position of each input token
    row, col = where.view(h, w) // w, where.view(h, w) % w
    assert (row[:, 1:] == row[:, :-1]).all()
    assert (col[:, 1:] - col[:, :-1]).abs().min() >= bw // 2
    assert (col[1:] == col[:-1]).all()
    assert (row[1:] - row[:-1]).abs().min() >= bh // 2
    assert (where[w:] - where[:-w]).abs().min() >= (bh // 2) * w
    # and it is the Kronecker product of the two riffle permutation matrices
    p_h, p_w = mixer.factors()
    x = torch.randn(bh, bw)
    want = (torch.kron(p_h, p_w) @ x.reshape(-1)).reshape(bh, bw)
    assert torch.equal(mixer(x.view(1, 1, bh, bw))[0, 0], want)


@pytest.mark.parametrize("mode,fact", CASES)
def test_padding_for_non_tiling_grids_then_crop(mode, fact):
    mixer = _perturb(_mixer(mode, fact, (4, 8), channels=2))
    z = torch.randn(2, 2, 5, 11)
    assert mixer.padded_size(5, 11) == (8, 16)
    zm = mixer(z)
    assert zm.shape == (2, 2, 8, 16)
    back = mixer.inverse(zm, size=(5, 11))
    assert back.shape == z.shape
    torch.testing.assert_close(back, z, atol=1e-5, rtol=0)
    full = mixer.inverse(zm)  # replicate padding: the pad holds copies of the edge tokens
    torch.testing.assert_close(full[..., 7, :11], z[..., 4, :], atol=1e-5, rtol=0)
    torch.testing.assert_close(mixer.crop(full, (5, 11)), back)


@pytest.mark.parametrize("fact", LEARNED)
@pytest.mark.parametrize("per_channel", [False, True])
def test_gradients_reach_the_factors(fact, per_channel):
    mixer = _mixer("learned", fact, (4, 4), channels=2, per_channel=per_channel)
    z = torch.randn(2, 2, 8, 8)
    (mixer(z) ** 3).sum().backward()
    params = list(mixer.parameters())
    assert params and all(p.grad is not None and p.grad.abs().sum() > 0 for p in params)


def test_registry_and_bad_configs():
    assert MIXERS["kronecker"] is KroneckerMixer
    for name in ("none", "permute", "dense", "separable", "factored"):
        m = build("mixer", name, channels=2, block=4)
        assert m.block == (4, 4)
    assert MIXERS["separable"](channels=1).factorisation == "separable"
    for kw in ({"mode": "shuffle"}, {"factorisation": "tucker"},
               {"factorisation": "factored", "block": (4, 6)},
               {"mode": "permute", "block": (3, 4)}):
        with pytest.raises(HelixError):
            KroneckerMixer(2, **kw)
    with pytest.raises(HelixError):
        build("mixer", "wavelet", channels=2)


def test_no_parameters_for_fixed_modes_and_shared_by_default():
    assert not list(_mixer("permute", None, (4, 4)).parameters())
    assert not list(_mixer("none", None, (4, 4)).parameters())
    shared = _mixer("learned", "separable", (4, 4), channels=3)
    own = _mixer("learned", "separable", (4, 4), channels=3, per_channel=True)
    assert [p.shape for p in shared.parameters()] == [(4, 4), (4, 4)]
    assert [p.shape for p in own.parameters()] == [(3, 4, 4), (3, 4, 4)]
    assert [f.shape for f in own.factors()] == [(3, 4, 4), (3, 4, 4)]
