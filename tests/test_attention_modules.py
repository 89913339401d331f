"""Each first-order attention module against an independent reference written out here.

References use numpy / scipy / explicit loops and only read the module's weights; nothing calls
the module's own helpers to produce an expected value.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.fft
import torch
from torch import nn

from srapp.attention import (
    BilinearAttention,
    ContextEncoding,
    EfficientChannelAttention,
    Encoding,
    FrequencyChannelAttention,
    GatedChannelTransform,
    RCANChannelAttention,
    SqueezeExcite,
    StyleRecalibration,
    create_attention,
    eca_kernel_size,
)
from srapp.attention.fca import dct_basis

# ---------------------------------------------------------------------------- helpers


from numpy_reference import bn_eval, npy, randomise_bn, relu, sigmoid


# ---------------------------------------------------------------------------- 3. ECA


@pytest.mark.parametrize("channels, kernel", [(64, 3), (128, 5), (256, 5), (512, 5), (2048, 7)])
def test_eca_kernel_table(channels, kernel):
    assert eca_kernel_size(channels) == kernel
    module = create_attention("eca", channels)
    assert module.conv.kernel_size == (kernel,)
    assert module.conv.padding == (kernel // 2,)
    assert sum(p.numel() for p in module.parameters()) == kernel


def test_eca_rejects_even_kernel():
    with pytest.raises(ValueError):
        EfficientChannelAttention(16, kernel_size=4)


@pytest.mark.parametrize("channels", [64, 128])
def test_eca_matches_naive_loop(channels):
    torch.manual_seed(10)
    module = EfficientChannelAttention(channels).double()
    with torch.no_grad():
        module.conv.weight.normal_(std=1.0)
    k = module.kernel_size
    x = torch.randn(2, channels, 3, 4, dtype=torch.float64)
    out = module(x)

    xs = npy(x)
    w = npy(module.conv.weight).reshape(-1)
    gap = xs.mean(axis=(2, 3))
    expected = np.empty_like(xs)
    for b in range(xs.shape[0]):
        for c in range(channels):
            s = 0.0
            for j in range(k):
                idx = c + j - k // 2
                if 0 <= idx < channels:
                    s += w[j] * gap[b, idx]
            expected[b, c] = xs[b, c] * sigmoid(s)
    np.testing.assert_allclose(npy(out), expected, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------- 4. GCT


@pytest.mark.parametrize("mode", ["l2", "l1"])
def test_gct_is_identity_at_init(mode):
    torch.manual_seed(11)
    module = GatedChannelTransform(16, mode=mode)
    x = torch.randn(2, 16, 5, 6) * 3
    assert torch.equal(module(x), x)


def _gct_reference(x: np.ndarray, alpha, gamma, beta, mode: str, eps: float) -> np.ndarray:
    alpha, gamma, beta = (a.reshape(1, -1, 1, 1) for a in (alpha, gamma, beta))
    if mode == "l2":
        emb = np.sqrt((x**2).sum(axis=(2, 3), keepdims=True) + eps) * alpha
        norm = gamma / np.sqrt((emb**2).mean(axis=1, keepdims=True) + eps)
    else:
        emb = np.abs(x).sum(axis=(2, 3), keepdims=True) * alpha
        norm = gamma / (np.abs(emb).mean(axis=1, keepdims=True) + eps)
    return x * (1.0 + np.tanh(emb * norm + beta))


@pytest.mark.parametrize("mode", ["l2", "l1"])
def test_gct_matches_formula(mode):
    torch.manual_seed(12)
    module = GatedChannelTransform(16, mode=mode).double()
    with torch.no_grad():
        module.alpha.normal_()
        module.gamma.normal_()
        module.beta.normal_()
    x = torch.randn(3, 16, 4, 5, dtype=torch.float64)
    out = module(x)
    expected = _gct_reference(
        npy(x), npy(module.alpha), npy(module.gamma), npy(module.beta), mode, module.eps
    )
    np.testing.assert_allclose(npy(out), expected, rtol=1e-12, atol=1e-12)
    assert not np.allclose(expected, npy(x))  # the random gate does something


def test_gct_rejects_unknown_mode():
    with pytest.raises(ValueError):
        GatedChannelTransform(8, mode="l3")


# ---------------------------------------------------------------------------- 5. SE / CA


def _se_reference(x: np.ndarray, w1, b1, w2, b2) -> np.ndarray:
    z = x.mean(axis=(2, 3))  # (B, C)
    h = relu(z @ w1.T + (0 if b1 is None else b1))
    s = sigmoid(h @ w2.T + (0 if b2 is None else b2))
    return x * s[:, :, None, None]


@pytest.mark.parametrize("cls, kwargs", [(SqueezeExcite, {}), (RCANChannelAttention, {}), (SqueezeExcite, {"bias": False})])
def test_se_and_ca_match_numpy(cls, kwargs):
    torch.manual_seed(13)
    channels = 32
    module = cls(channels, **kwargs).double()
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(std=0.5)
    x = torch.randn(2, channels, 5, 3, dtype=torch.float64)
    out = module(x)
    w1 = npy(module.fc_reduce.weight)[:, :, 0, 0]
    w2 = npy(module.fc_expand.weight)[:, :, 0, 0]
    assert w1.shape == (channels // 16, channels) and w2.shape == (channels, channels // 16)
    b1 = None if module.fc_reduce.bias is None else npy(module.fc_reduce.bias)
    b2 = None if module.fc_expand.bias is None else npy(module.fc_expand.bias)
    expected = _se_reference(npy(x), w1, b1, w2, b2)
    np.testing.assert_allclose(npy(out), expected, rtol=1e-12, atol=1e-12)


def test_ca_is_se_with_bias_and_r16():
    module = RCANChannelAttention(64)
    assert module.fc_reduce.bias is not None and module.fc_expand.bias is not None
    assert module.fc_reduce.out_channels == 4


# ---------------------------------------------------------------------------- 6. SRM


def test_srm_matches_numpy_in_eval_mode():
    torch.manual_seed(14)
    g = torch.Generator().manual_seed(14)
    channels = 16
    module = StyleRecalibration(channels).double()
    with torch.no_grad():
        module.style_weight.normal_()
    randomise_bn(module.norm, g)
    module.eval()
    x = torch.randn(3, channels, 4, 5, dtype=torch.float64) * 2 + 0.5
    out = module(x)

    xs = npy(x)
    flat = xs.reshape(3, channels, -1)
    mean = flat.mean(axis=2)
    std = np.sqrt(((flat - mean[:, :, None]) ** 2).mean(axis=2) + module.eps)  # population std
    w = npy(module.style_weight)
    z = mean * w[:, 0] + std * w[:, 1]
    gate = sigmoid(bn_eval(z, module.norm, axis=1))
    expected = xs * gate[:, :, None, None]
    np.testing.assert_allclose(npy(out), expected, rtol=1e-12, atol=1e-12)


def test_srm_constant_channels_give_finite_gradients():
    torch.manual_seed(15)
    channels = 8
    module = StyleRecalibration(channels).train()
    with torch.no_grad():
        module.style_weight.normal_()
        module.norm.weight.normal_()
        module.norm.bias.normal_()
    values = torch.randn(2, channels, 1, 1)
    values[1, 0] = values[0, 0]  # one channel identical across the batch: zero BN variance as well
    x = values.expand(2, channels, 4, 4).clone().requires_grad_(True)
    out = module(x)
    assert torch.isfinite(out).all()
    (out * torch.randn_like(out)).sum().backward()
    assert torch.isfinite(x.grad).all()
    for name, p in module.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert module.style_weight.grad.abs().sum() > 0


# ---------------------------------------------------------------------------- 7. FcaNet

# The official FcaNet table (get_freq_indices in layer.py), 7x7 grid; x is the row (height) index.
FCA_TOP_X = [0, 0, 6, 0, 0, 1, 1, 4, 5, 1, 3, 0, 0, 0, 3, 2, 4, 6, 3, 5, 5, 2, 6, 5, 5, 3, 3, 4, 2, 2, 6, 1]
FCA_TOP_Y = [0, 1, 0, 5, 2, 0, 2, 0, 0, 6, 0, 4, 6, 3, 5, 2, 6, 3, 3, 3, 5, 1, 1, 2, 4, 2, 1, 1, 3, 0, 5, 3]
FCA_LOW_X = [0, 0, 1, 1, 0, 2, 2, 1, 2, 0, 3, 4, 0, 1, 3, 0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5, 6, 1, 2, 3, 4]
FCA_LOW_Y = [0, 1, 0, 1, 2, 0, 1, 2, 2, 3, 0, 0, 4, 3, 1, 5, 4, 3, 2, 1, 0, 6, 5, 4, 3, 2, 1, 0, 6, 5, 4, 3]


@pytest.mark.parametrize("height, width", [(7, 7), (4, 6), (1, 1), (3, 5)])
def test_full_dct_basis_is_orthonormal(height, width):
    pairs = [(u, v) for u in range(height) for v in range(width)]
    basis = dct_basis(height, width, pairs)
    assert basis.dtype == torch.float64 and basis.shape == (height * width, height, width)
    flat = basis.reshape(height * width, -1).numpy()
    np.testing.assert_allclose(flat @ flat.T, np.eye(height * width), rtol=0, atol=1e-12)


@pytest.mark.parametrize("height, width", [(7, 7), (4, 6), (3, 5)])
def test_dct_dc_image_gives_scaled_mean(height, width):
    torch.manual_seed(16)
    x = torch.randn(height, width, dtype=torch.float64)
    dc = dct_basis(height, width, [(0, 0)])[0]
    np.testing.assert_allclose(float((x * dc).sum()), math.sqrt(height * width) * float(x.mean()), rtol=1e-12)
    # and every basis image agrees with scipy's orthonormal DCT-II of the map
    pairs = [(u, v) for u in range(height) for v in range(width)]
    coefficients = (dct_basis(height, width, pairs) * x).sum((1, 2)).numpy().reshape(height, width)
    np.testing.assert_allclose(coefficients, scipy.fft.dctn(x.numpy(), norm="ortho"), atol=1e-12)


def _assert_spectral_pool_matches_dctn(module: FrequencyChannelAttention, x: torch.Tensor, freqs) -> None:
    pooled = npy(module.spectral_pool(x))
    xs = npy(x)
    channels = x.shape[1]
    for b in range(x.shape[0]):
        for c in range(channels):
            u, v = freqs[c * len(freqs) // channels]
            expected = scipy.fft.dctn(xs[b, c], norm="ortho")[u, v]
            assert abs(pooled[b, c] - expected) < 1e-5 * (1 + abs(expected)), (b, c, u, v)


def test_fca_spectral_pool_matches_scipy_dct_on_7x7():
    torch.manual_seed(17)
    module = FrequencyChannelAttention(64)  # top16 on the 7x7 grid
    freqs = list(zip(FCA_TOP_X[:16], FCA_TOP_Y[:16]))
    assert module.frequencies == freqs
    x = torch.randn(2, 64, 7, 7)
    _assert_spectral_pool_matches_dctn(module, x, freqs)


def test_fca_uneven_channel_split_matches_scipy_dct():
    torch.manual_seed(18)
    module = FrequencyChannelAttention(24, frequencies="top16")  # 24 channels, 16 frequencies
    x = torch.randn(1, 24, 7, 7)
    _assert_spectral_pool_matches_dctn(module, x, list(zip(FCA_TOP_X[:16], FCA_TOP_Y[:16])))


def test_fca_14x14_grid_doubles_frequencies():
    torch.manual_seed(19)
    module = FrequencyChannelAttention(64, dct_size=14)
    freqs = [(2 * u, 2 * v) for u, v in zip(FCA_TOP_X[:16], FCA_TOP_Y[:16])]
    assert module.frequencies == freqs
    assert any(f != (0, 0) for f in module.frequencies)
    x = torch.randn(1, 64, 14, 14)
    _assert_spectral_pool_matches_dctn(module, x, freqs)


def test_fca_small_grid_keeps_distinct_low_frequencies():
    """On a 4x4 grid the reference's ``u * (4 // 7)`` turned every frequency into DC."""
    torch.manual_seed(20)
    module = FrequencyChannelAttention(16, dct_size=4, frequencies="low4")
    freqs = list(zip(FCA_LOW_X[:4], FCA_LOW_Y[:4]))
    assert module.frequencies == freqs
    assert len(set(module.frequencies)) == 4
    assert any(f != (0, 0) for f in module.frequencies)
    x = torch.randn(2, 16, 4, 4)
    _assert_spectral_pool_matches_dctn(module, x, freqs)


def test_fca_small_grid_rejects_high_frequencies():
    with pytest.raises(ValueError):
        FrequencyChannelAttention(64, dct_size=4, frequencies="top16")
    with pytest.raises(ValueError):
        FrequencyChannelAttention(64, frequencies="top64")


def _adaptive_avg_pool_reference(x: np.ndarray, out: int) -> np.ndarray:
    """PyTorch's adaptive pooling bins: [floor(i H / out), ceil((i + 1) H / out))."""
    height, width = x.shape[-2:]
    result = np.empty(x.shape[:-2] + (out, out))
    for i in range(out):
        h0, h1 = (i * height) // out, -((-(i + 1) * height) // out)
        for j in range(out):
            w0, w1 = (j * width) // out, -((-(j + 1) * width) // out)
            result[..., i, j] = x[..., h0:h1, w0:w1].mean(axis=(-2, -1))
    return result


@pytest.mark.parametrize("height, width", [(1, 1), (3, 3), (10, 13)])
def test_fca_small_and_odd_inputs(height, width):
    torch.manual_seed(21)
    module = FrequencyChannelAttention(32)
    x = torch.randn(2, 32, height, width, dtype=torch.float64)
    out = module.double()(x)
    assert out.shape == x.shape and torch.isfinite(out).all()
    freqs = list(zip(FCA_TOP_X[:16], FCA_TOP_Y[:16]))
    pooled = npy(module.spectral_pool(x))
    grid = _adaptive_avg_pool_reference(npy(x), 7)
    for c in range(32):
        u, v = freqs[c * 16 // 32]
        expected = np.array([scipy.fft.dctn(grid[b, c], norm="ortho")[u, v] for b in range(2)])
        np.testing.assert_allclose(pooled[:, c], expected, atol=1e-5)


def test_fca_one_pixel_input_only_dc_channels_respond():
    torch.manual_seed(22)
    module = FrequencyChannelAttention(64)
    x = torch.randn(2, 64, 1, 1)
    pooled = module.spectral_pool(x)
    freqs = list(zip(FCA_TOP_X[:16], FCA_TOP_Y[:16]))
    dc = torch.tensor([freqs[c * 16 // 64] == (0, 0) for c in range(64)])
    assert dc.sum() == 4  # channels 0..3 take the first top frequency, (0, 0)
    torch.testing.assert_close(pooled[:, dc], 7.0 * x[:, dc, 0, 0], rtol=1e-5, atol=1e-5)
    assert pooled[:, ~dc].abs().max() < 1e-5


def test_fca_gate_matches_reference():
    torch.manual_seed(23)
    module = FrequencyChannelAttention(32).double()
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(std=0.3)
    x = torch.randn(2, 32, 7, 7, dtype=torch.float64)
    freqs = list(zip(FCA_TOP_X[:16], FCA_TOP_Y[:16]))
    xs = npy(x)
    freq = np.array([[scipy.fft.dctn(xs[b, c], norm="ortho")[freqs[c // 2]] for c in range(32)] for b in range(2)])
    w1, w2 = npy(module.fc_reduce.weight), npy(module.fc_expand.weight)
    gate = sigmoid(relu(freq @ w1.T) @ w2.T)
    np.testing.assert_allclose(npy(module(x)), xs * gate[:, :, None, None], atol=1e-6)


# ---------------------------------------------------------------------------- 8. Bilinear


def _conv1x1(v: np.ndarray, conv: nn.Conv2d) -> np.ndarray:
    """A 1x1 convolution on a (..., in) vector."""
    return v @ npy(conv.weight)[:, :, 0, 0].T + npy(conv.bias)


def test_bilinear_matches_pixel_loop_reference():
    torch.manual_seed(24)
    g = torch.Generator().manual_seed(24)
    channels = 64  # m = 4, P = 10 pairs
    module = BilinearAttention(channels).double()
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(std=0.3)
    for branch in (module.reduce, module.global_branch, module.local_branch):
        randomise_bn(branch[1], g)
    module.eval()
    x = torch.randn(2, channels, 3, 4, dtype=torch.float64)
    out = npy(module(x))

    xs = npy(x)
    batch, _, height, width = xs.shape
    m = channels // 16
    rows, cols = np.triu_indices(m)  # row-major upper triangle, same order as torch.triu_indices
    pairs_count = m * (m + 1) // 2
    assert len(rows) == pairs_count == 10
    expected = np.empty_like(xs)
    for b in range(batch):
        pair_maps = np.empty((height, width, pairs_count))
        for i in range(height):
            for j in range(width):
                z = relu(bn_eval(_conv1x1(xs[b, :, i, j], module.reduce[0]), module.reduce[1], axis=0))
                outer = np.outer(z, z)
                pair_maps[i, j] = outer[rows, cols]
        pooled = pair_maps.mean(axis=(0, 1))
        global_gate = relu(bn_eval(_conv1x1(pooled, module.global_branch[0]), module.global_branch[1], axis=0))
        for i in range(height):
            for j in range(width):
                local = relu(bn_eval(_conv1x1(pair_maps[i, j], module.local_branch[0]), module.local_branch[1], axis=0))
                expected[b, :, i, j] = xs[b, :, i, j] * sigmoid(global_gate * local)
    np.testing.assert_allclose(out, expected, rtol=1e-11, atol=1e-12)


def test_bilinear_pair_count():
    module = BilinearAttention(128)  # m = 8
    assert module.global_branch[0].in_channels == 8 * 9 // 2
    assert module.local_branch[0].in_channels == 36


# ---------------------------------------------------------------------------- 9. Encoding


def _encoding_reference(x: torch.Tensor, codewords: torch.Tensor, smoothing: torch.Tensor) -> torch.Tensor:
    features = x.flatten(2).transpose(1, 2)  # (B, N, C)
    residuals = features[:, :, None, :] - codewords[None, None, :, :]  # (B, N, K, C)
    distance = (residuals**2).sum(-1)  # (B, N, K)
    logits = -smoothing[None, None, :] * distance
    logits = logits - logits.max(dim=2, keepdim=True).values
    assignment = logits.exp() / logits.exp().sum(dim=2, keepdim=True)
    return (assignment[..., None] * residuals).sum(1)  # (B, K, C)


def test_encoding_matches_residual_broadcast_reference():
    torch.manual_seed(25)
    layer = Encoding(8, num_codes=6).double()
    with torch.no_grad():
        layer.codewords.normal_()
        layer.smoothing.uniform_(0.1, 1.0)
    x = torch.randn(3, 8, 4, 3, dtype=torch.float64)
    out = layer(x)
    assert out.shape == (3, 6, 8)
    expected = _encoding_reference(x, layer.codewords.detach(), layer.smoothing.detach())
    torch.testing.assert_close(out, expected, rtol=1e-10, atol=1e-12)


def test_encoding_gradcheck():
    torch.manual_seed(26)
    layer = Encoding(3, num_codes=4).double()
    with torch.no_grad():
        layer.codewords.normal_(std=0.5)
    x = torch.randn(2, 3, 2, 2, dtype=torch.float64, requires_grad=True)
    codewords = layer.codewords.detach().clone().requires_grad_(True)
    smoothing = layer.smoothing.detach().clone().requires_grad_(True)

    def f(x, codewords, smoothing):
        return torch.func.functional_call(layer, {"codewords": codewords, "smoothing": smoothing}, (x,))

    assert torch.autograd.gradcheck(f, (x, codewords, smoothing), eps=1e-6, atol=1e-6)


def test_encoding_float32_under_autocast():
    torch.manual_seed(27)
    layer = Encoding(8, num_codes=4)
    x = torch.randn(2, 8, 3, 3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = layer(x.bfloat16())
    assert out.dtype == torch.float32
    expected = _encoding_reference(x.bfloat16().double(), layer.codewords.detach().double(), layer.smoothing.detach().double())
    torch.testing.assert_close(out.double(), expected, rtol=1e-4, atol=1e-5)


def _randomised_context_encoding(channels: int, codes: int, num_classes=None) -> ContextEncoding:
    g = torch.Generator().manual_seed(28)
    module = ContextEncoding(channels, num_codes=codes, num_classes=num_classes).double()
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(std=0.4, generator=g)
        module.encoding.smoothing.uniform_(0.1, 1.0, generator=g)
    randomise_bn(module.project_norm, g)
    randomise_bn(module.code_norm, g)
    return module.eval()


def test_context_encoding_gates_with_its_context():
    torch.manual_seed(29)
    module = _randomised_context_encoding(16, 5)
    x = torch.randn(2, 16, 4, 4, dtype=torch.float64)
    out = module(x)
    gamma = torch.sigmoid(module.fc(module.context(x)))
    torch.testing.assert_close(out, torch.relu(x + x * gamma[:, :, None, None]), rtol=1e-12, atol=1e-12)
    assert (out == 0).any() and (out > 0).any()


def test_context_encoding_matches_full_reference():
    """The whole eval-mode EncModule written out: conv, BN, ReLU, encoding, BN over K, ReLU, mean."""
    torch.manual_seed(30)
    channels, codes = 16, 5
    module = _randomised_context_encoding(channels, codes)
    x = torch.randn(2, channels, 3, 4, dtype=torch.float64)
    out = npy(module(x))

    xs = npy(x)
    w = npy(module.project.weight)[:, :, 0, 0]
    projected = relu(bn_eval(np.einsum("oc,bchw->bohw", w, xs), module.project_norm, axis=1))
    codes_e = npy(
        _encoding_reference(
            torch.from_numpy(projected), module.encoding.codewords.detach(), module.encoding.smoothing.detach()
        )
    )  # (B, K, C)
    context = relu(bn_eval(codes_e, module.code_norm, axis=1)).mean(axis=1)  # (B, C)
    gamma = sigmoid(context @ npy(module.fc.weight).T + npy(module.fc.bias))
    expected = relu(xs + xs * gamma[:, :, None, None])
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12)


def test_context_encoding_se_logits():
    torch.manual_seed(31)
    module = _randomised_context_encoding(16, 4, num_classes=5)
    x = torch.randn(3, 16, 4, 4, dtype=torch.float64)
    out, logits = module.forward_with_se_logits(x)
    assert logits.shape == (3, 5)
    torch.testing.assert_close(out, module(x), rtol=0, atol=0)
    context = module.context(x)
    torch.testing.assert_close(logits, context @ module.se_head.weight.T + module.se_head.bias)

    plain = ContextEncoding(16, num_codes=4)
    assert plain.se_head is None
    with pytest.raises(RuntimeError):
        plain.forward_with_se_logits(torch.randn(2, 16, 4, 4))
