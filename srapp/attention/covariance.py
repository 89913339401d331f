"""Second-order pooling shared by GSoP and SoCA: covariance and Newton-Schulz matrix square root.

Both run in float32 (float64 stays float64) with autocast disabled: the Newton-Schulz iteration
and the centring subtract nearly equal numbers, which half precision cannot represent.
"""

from __future__ import annotations

import torch


def full_precision(x: torch.Tensor) -> torch.Tensor:
    """float64 stays float64; every other floating type becomes float32."""
    return x if x.dtype == torch.float64 else x.float()


def covariance_pool(x: torch.Tensor) -> torch.Tensor:
    """Per-sample channel covariance of a ``(B, C, H, W)`` map, shape ``(B, C, C)``.

    ``Sigma = X I_bar X^T`` with ``X`` the ``C x M`` matrix of the map (``M = H W``) and
    ``I_bar = (I - 1 1^T / M) / M`` the centring matrix of the reference code. Centring the
    features first gives the same matrix, ``(X - mu)(X - mu)^T / M``, in ``O(C M + C^2)`` memory
    instead of the ``M x M`` matrix (17 GB at 256x256).
    """
    with torch.autocast(device_type=x.device.type, enabled=False):
        features = full_precision(x).flatten(2)
        centred = features - features.mean(2, keepdim=True)
        return torch.bmm(centred, centred.transpose(1, 2)) / features.shape[2]


def newton_schulz_sqrt(matrix: torch.Tensor, iterations: int = 5, eps: float = 1e-12) -> torch.Tensor:
    """Approximate square root of a batch of SPD matrices ``(B, C, C)`` by coupled Newton-Schulz.

    As in MPN-COV / SAN: normalise by the trace, ``A = Sigma / tr(Sigma)``; iterate
    ``Y_0 = A, Z_0 = I``, ``T_k = (3 I - Z_k Y_k) / 2``, ``Y_{k+1} = Y_k T_k``,
    ``Z_{k+1} = T_k Z_k`` for ``iterations`` steps; return ``Y_N sqrt(tr(Sigma))``. The trace is
    clamped at ``eps`` so an all-zero covariance (a constant map) gives a zero root, not NaN.
    Gradients come from autograd through the iteration itself.
    """
    if iterations < 1:
        raise ValueError(f"iterations must be >= 1, got {iterations}")
    with torch.autocast(device_type=matrix.device.type, enabled=False):
        matrix = full_precision(matrix)
        identity = torch.eye(matrix.shape[1], dtype=matrix.dtype, device=matrix.device).expand_as(matrix)
        # tr(A) as sum(A * I): the same sum of the diagonal, in operations that graph converters
        # (OpenVINO, ONNX) know, unlike aten::diagonal.
        trace = (matrix * identity).sum((1, 2)).clamp_min(eps)[:, None, None]
        y = matrix / trace
        z = identity
        for step in range(iterations):
            t = 0.5 * (3.0 * identity - torch.bmm(z, y))
            y = torch.bmm(y, t)
            if step < iterations - 1:  # the last Z is never used
                z = torch.bmm(t, z)
        return y * trace.sqrt()
