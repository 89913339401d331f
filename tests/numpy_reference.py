"""NumPy building blocks for the tests' independent reference implementations."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def npy(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().double().numpy()


def sigmoid(v: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-v))


def relu(v: np.ndarray) -> np.ndarray:
    return np.maximum(v, 0.0)


def randomise_bn(bn: nn.BatchNorm2d, generator: torch.Generator) -> None:
    """Random affine and running statistics, so eval-mode BN is not the identity."""
    n = bn.num_features
    with torch.no_grad():
        bn.weight.copy_(torch.rand(n, generator=generator, dtype=torch.float64) + 0.5)
        bn.bias.copy_(torch.randn(n, generator=generator, dtype=torch.float64) * 0.3)
        bn.running_mean.copy_(torch.randn(n, generator=generator, dtype=torch.float64) * 0.3)
        bn.running_var.copy_(torch.rand(n, generator=generator, dtype=torch.float64) + 0.5)


def bn_eval(v: np.ndarray, bn: nn.BatchNorm2d, axis: int = 1) -> np.ndarray:
    """Eval-mode batch norm written out: (v - mean) / sqrt(var + eps) * weight + bias along ``axis``."""
    shape = [1] * v.ndim
    shape[axis] = -1
    mean = npy(bn.running_mean).reshape(shape)
    var = npy(bn.running_var).reshape(shape)
    return (v - mean) / np.sqrt(var + bn.eps) * npy(bn.weight).reshape(shape) + npy(bn.bias).reshape(shape)
