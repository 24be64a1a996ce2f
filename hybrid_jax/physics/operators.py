"""Finite-volume operators shared by the PDE families, written with PhiML tensors.

PhiFlow's staggered divergence fails on 1D periodic grids (3.4), so the variable-coefficient
diffusion is assembled here from forward/backward differences with periodic padding.
"""

from __future__ import annotations

import numpy as np
from phi import math
from phi.math import extrapolation

SPATIAL_NAMES = ("x", "y", "z")


def div_k_grad(c: math.Tensor, k: math.Tensor | float, dx: tuple[float, ...], dims: tuple[str, ...]) -> math.Tensor:
    """∇·(k∇c) on a periodic centred grid; second order, conservative.

    `c` has spatial dims `dims` (and any channel dims); `k` is a scalar or a tensor on the same
    cells, averaged to the faces. Units: [k]·[c]/length².
    """
    out = 0
    for d, h in zip(dims, dx):
        grad = math.spatial_gradient(c, h, "forward", padding=extrapolation.PERIODIC, dims=d, stack_dim=None)
        if isinstance(k, math.Tensor):
            k_next = math.spatial_gradient(k, 1.0, "forward", padding=extrapolation.PERIODIC, dims=d, stack_dim=None)
            grad = (k + 0.5 * k_next) * grad  # k at the face i+1/2 times the face gradient
        else:
            grad = k * grad
        out = out + math.spatial_gradient(grad, h, "backward", padding=extrapolation.PERIODIC, dims=d, stack_dim=None)
    return out


def fourier_basis(shape: tuple[int, ...], modes: int) -> np.ndarray:
    """Real Fourier basis ``[2·M, *shape]`` (cos and sin of every wavevector 0 < |k|_∞ ≤ modes),
    each scaled by 1/|k|² so that random combinations are smooth."""
    grids = np.meshgrid(*[np.arange(n) / n for n in shape], indexing="ij")
    ks = np.stack(np.meshgrid(*[np.arange(-modes, modes + 1)] * len(shape), indexing="ij"), -1).reshape(-1, len(shape))
    ks = ks[np.abs(ks).max(1) > 0]
    phase = 2 * np.pi * np.einsum("kd,d...->k...", ks, np.stack(grids))
    scale = (1.0 / (ks**2).sum(1)).reshape((-1,) + (1,) * len(shape))
    return np.concatenate([np.cos(phase) * scale, np.sin(phase) * scale]).astype(np.float32)
