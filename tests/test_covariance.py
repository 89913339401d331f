"""Second-order pooling: covariance, Newton-Schulz square root, SoCA and GSoP against references."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from srapp.attention import GlobalSecondOrderPooling, SecondOrderChannelAttention
from srapp.attention.covariance import covariance_pool, newton_schulz_sqrt


from numpy_reference import bn_eval, npy, randomise_bn, relu, sigmoid


def centring_matrix(m: int) -> np.ndarray:
    """The reference code's I_hat = (-1/M/M) 1 1^T + (1/M) I."""
    return (-1.0 / m / m) * np.ones((m, m)) + (1.0 / m) * np.eye(m)


def random_spd(n: int, low: float, high: float, generator: torch.Generator) -> np.ndarray:
    q, _ = np.linalg.qr(torch.randn(n, n, generator=generator, dtype=torch.float64).numpy())
    eigenvalues = low + (high - low) * torch.rand(n, generator=generator, dtype=torch.float64).numpy()
    return (q * eigenvalues) @ q.T


# ---------------------------------------------------------------------------- covariance


@pytest.mark.parametrize("shape", [(2, 5, 3, 4), (1, 8, 1, 7), (3, 4, 2, 2)])
def test_covariance_pool_matches_centring_matrix(shape):
    torch.manual_seed(40)
    x = torch.randn(shape, dtype=torch.float64) * 2 + 1
    sigma = covariance_pool(x)
    assert sigma.shape == (shape[0], shape[1], shape[1]) and sigma.dtype == torch.float64
    m = shape[2] * shape[3]
    i_hat = centring_matrix(m)
    for b in range(shape[0]):
        features = npy(x[b]).reshape(shape[1], m)
        expected = features @ i_hat @ features.T
        np.testing.assert_allclose(npy(sigma[b]), expected, rtol=0, atol=1e-12)


def test_covariance_pool_float32_under_autocast():
    x = torch.randn(2, 6, 3, 3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert covariance_pool(x).dtype == torch.float32
        assert covariance_pool(x.bfloat16()).dtype == torch.float32


# ---------------------------------------------------------------------------- Newton-Schulz


def test_newton_schulz_many_iterations_is_the_square_root():
    g = torch.Generator().manual_seed(41)
    matrices = np.stack([random_spd(8, 0.5, 2.0, g) for _ in range(3)])
    root = npy(newton_schulz_sqrt(torch.from_numpy(matrices), iterations=40))
    for a, y in zip(matrices, root):
        np.testing.assert_allclose(y @ y, a, rtol=0, atol=1e-10)
        np.testing.assert_allclose(y, np.real(scipy.linalg.sqrtm(a)), rtol=0, atol=1e-10)


def _ns_eigen_reference(a: np.ndarray, iterations: int) -> np.ndarray:
    """The coupled NS iteration is a polynomial in A: run the scalar recursion on every eigenvalue."""
    eigenvalues, vectors = np.linalg.eigh(a)
    trace = np.trace(a)
    y = eigenvalues / trace
    z = np.ones_like(y)
    for _ in range(iterations):
        t = (3.0 - z * y) / 2.0
        y = y * t
        z = t * z
    return (vectors * (y * np.sqrt(trace))) @ vectors.T


@pytest.mark.parametrize("iterations", [5, 1, 2])
def test_newton_schulz_truncated_matches_eigen_reference(iterations):
    g = torch.Generator().manual_seed(42)
    # a covariance with a wide spectrum, so 5 steps are far from converged
    features = torch.randn(2, 6, 20, generator=g, dtype=torch.float64) * torch.tensor([4.0, 2, 1, 0.5, 0.2, 0.05])[:, None].double()
    sigma = features @ features.transpose(1, 2) / 20
    root = npy(newton_schulz_sqrt(sigma, iterations=iterations))
    for b in range(2):
        expected = _ns_eigen_reference(npy(sigma[b]), iterations)
        np.testing.assert_allclose(root[b], expected, rtol=0, atol=1e-12 * np.abs(expected).max() + 1e-13)
        if iterations == 5:  # truncation error is real: it is not the exact root
            assert np.abs(root[b] - np.real(scipy.linalg.sqrtm(npy(sigma[b])))).max() > 1e-4


def test_newton_schulz_rejects_zero_iterations():
    with pytest.raises(ValueError):
        newton_schulz_sqrt(torch.eye(3)[None], iterations=0)


def test_zero_covariance_gives_zero_root_and_finite_gradients():
    zero = torch.zeros(2, 5, 5, dtype=torch.float64, requires_grad=True)
    root = newton_schulz_sqrt(zero)
    assert torch.equal(root.detach(), torch.zeros(2, 5, 5, dtype=torch.float64))
    root.sum().backward()
    assert torch.isfinite(zero.grad).all()

    # the same through covariance pooling of a constant map
    constant = torch.full((2, 5, 3, 3), 1.7, dtype=torch.float64, requires_grad=True)
    root = newton_schulz_sqrt(covariance_pool(constant))
    assert root.detach().abs().max() < 1e-12  # 1.7 is inexact: the centred map is ~1e-16, not 0
    (root * torch.randn_like(root)).sum().backward()
    assert torch.isfinite(constant.grad).all()


def test_soca_constant_map_finite_gradients():
    torch.manual_seed(43)
    module = SecondOrderChannelAttention(16).double()
    x = torch.full((2, 16, 4, 4), 0.3, dtype=torch.float64, requires_grad=True)
    out = module(x)
    assert torch.isfinite(out).all()
    (out * torch.randn_like(out)).sum().backward()
    assert torch.isfinite(x.grad).all()
    for name, p in module.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_newton_schulz_float32_under_autocast():
    g = torch.Generator().manual_seed(44)
    a = torch.from_numpy(random_spd(6, 0.5, 2.0, g))[None]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert newton_schulz_sqrt(a.float()).dtype == torch.float32
        assert newton_schulz_sqrt(a.bfloat16()).dtype == torch.float32
        module = SecondOrderChannelAttention(16)
        assert module.descriptor(torch.randn(2, 16, 3, 3).bfloat16()).dtype == torch.float32


# ---------------------------------------------------------------------------- SoCA


def _soca_reference(module: SecondOrderChannelAttention, x: np.ndarray) -> np.ndarray:
    batch, channels, height, width = x.shape
    m = height * width
    i_hat = centring_matrix(m)
    w_down = npy(module.fc_reduce.weight)[:, :, 0, 0]
    b_down = npy(module.fc_reduce.bias)
    w_up = npy(module.fc_expand.weight)[:, :, 0, 0]
    b_up = npy(module.fc_expand.bias)
    out = np.empty_like(x)
    for b in range(batch):
        features = x[b].reshape(channels, m)
        sigma = features @ i_hat @ features.T
        trace = np.trace(sigma)
        y = sigma / trace
        z = np.eye(channels)
        for _ in range(module.iterations):
            t = 0.5 * (3.0 * np.eye(channels) - z @ y)
            y = y @ t
            z = t @ z
        root = y * np.sqrt(trace)
        descriptor = root.mean(axis=0)  # mean over rows, as SAN's torch.mean(cov_mat_sqrt, 1)
        gate = sigmoid(w_up @ relu(w_down @ descriptor + b_down) + b_up)
        out[b] = x[b] * gate[:, None, None]
    return out


@pytest.mark.parametrize("shape", [(2, 32, 4, 5), (1, 16, 6, 6)])
def test_soca_matches_centring_matrix_reference(shape):
    torch.manual_seed(45)
    module = SecondOrderChannelAttention(shape[1]).double()
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(std=0.5)
    x = torch.randn(shape, dtype=torch.float64)
    out = npy(module(x))
    np.testing.assert_allclose(out, _soca_reference(module, npy(x)), rtol=1e-10, atol=1e-12)


def test_soca_gradcheck():
    torch.manual_seed(46)
    module = SecondOrderChannelAttention(4, reduction=2).double()
    x = torch.randn(2, 4, 3, 3, dtype=torch.float64, requires_grad=True)
    params = {n: p.detach().clone().requires_grad_(True) for n, p in module.named_parameters()}
    names = list(params)

    def f(x, *tensors):
        return torch.func.functional_call(module, dict(zip(names, tensors)), (x,))

    # full Jacobian for the input, the fast (random-projection) check for the weights as well
    assert torch.autograd.gradcheck(lambda t: f(t, *params.values()), (x,), eps=1e-6, atol=1e-6)
    assert torch.autograd.gradcheck(f, (x, *params.values()), eps=1e-6, atol=1e-6, fast_mode=True)


def test_covariance_sqrt_gradcheck():
    torch.manual_seed(47)
    x = torch.randn(2, 3, 2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: newton_schulz_sqrt(covariance_pool(t)), (x,), eps=1e-6, atol=1e-6)


# ---------------------------------------------------------------------------- GSoP


def _gsop_reference(module: GlobalSecondOrderPooling, x: np.ndarray) -> np.ndarray:
    batch, channels, height, width = x.shape
    d = module.dim
    filters = module.row_conv.out_channels // d
    m = height * width
    w_reduce = npy(module.reduce.weight)[:, :, 0, 0]
    b_reduce = npy(module.reduce.bias)
    w_row = npy(module.row_conv.weight)  # (filters * d, 1, d, 1)
    b_row = npy(module.row_conv.bias)
    w_expand = npy(module.expand.weight)[:, :, 0, 0]
    b_expand = npy(module.expand.bias)
    out = np.empty_like(x)
    for b in range(batch):
        features = x[b].reshape(channels, m)
        reduced = w_reduce @ features + b_reduce[:, None]  # (d, M)
        reduced = relu(bn_eval(reduced.T, module.reduce_norm, axis=-1).T)
        mean = reduced.mean(axis=1, keepdims=True)
        sigma = (reduced - mean) @ (reduced - mean).T / m  # (d, d)
        # BN over rows: row i of sigma is normalised with channel i's statistics
        rows = (sigma - npy(module.row_norm.running_mean)[:, None]) / np.sqrt(
            npy(module.row_norm.running_var)[:, None] + module.row_norm.eps
        ) * npy(module.row_norm.weight)[:, None] + npy(module.row_norm.bias)[:, None]
        # row-wise convolution: output o reads only row o // filters, one dot product each
        row_features = np.empty(filters * d)
        for o in range(filters * d):
            row_features[o] = np.dot(w_row[o, 0, :, 0], rows[o // filters]) + b_row[o]
        gate = sigmoid(w_expand @ relu(row_features) + b_expand)
        out[b] = x[b] * gate[:, None, None]
    return out


@pytest.mark.parametrize("channels, dim", [(16, None), (24, 8)])
def test_gsop_matches_reference_in_eval_mode(channels, dim):
    torch.manual_seed(48)
    g = torch.Generator().manual_seed(48)
    module = GlobalSecondOrderPooling(channels, dim=dim).double()
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(std=0.4)
    randomise_bn(module.reduce_norm, g)
    randomise_bn(module.row_norm, g)
    module.eval()
    assert module.dim == (min(128, channels) if dim is None else dim)
    x = torch.randn(2, channels, 4, 5, dtype=torch.float64)
    out = npy(module(x))
    np.testing.assert_allclose(out, _gsop_reference(module, npy(x)), rtol=1e-10, atol=1e-12)
