"""Finite-volume operators shared by the PDE families, written with PhiML tensors.

PhiFlow's staggered divergence fails on 1D periodic grids (3.4), so the variable-coefficient
diffusion is assembled here from forward/backward differences with periodic padding.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
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


class FourierBasis:
    """Real Fourier basis of ``size = 2·M`` functions on a periodic grid `shape`: cos and sin of every
    wavevector 0 < |k|_∞ ≤ modes (M of them), each scaled by 1/|k|² so that random combinations are smooth.

    The basis is never stored as ``[2·M, *shape]`` (at 128³ with modes 4 that is 12 GiB): `combine`
    places the coefficients on the (2·modes+1)^d wavevector grid and contracts one axis at a time with
    the 1D exponentials exp(2πi·k·x/n), so its memory is that of the result.
    """

    def __init__(self, shape: tuple[int, ...], modes: int):
        self.shape = tuple(shape)
        ks = np.stack(np.meshgrid(*[np.arange(-modes, modes + 1)] * len(shape), indexing="ij"), -1)
        ks = ks.reshape(-1, len(shape))
        self.wavevectors = ks[np.abs(ks).max(1) > 0]  # [M, d]
        self.size = 2 * len(self.wavevectors)
        self._modes = modes
        self._scale = (1.0 / (self.wavevectors**2).sum(1)).astype(np.float32)  # [M]
        self._exp = [np.exp(2j * np.pi * np.outer(np.arange(-modes, modes + 1), np.arange(n) / n)).astype(np.complex64)
                     for n in shape]  # per axis [2·modes+1, n]

    def combine(self, coeffs: jax.Array) -> jax.Array:
        """Σ_m coeffs[..., m] · basis_m: ``coeffs [..., size]`` -> ``[..., *shape]`` float32 (the first M
        coefficients weight the cosines, the last M the sines)."""
        m = self.size // 2
        lead = coeffs.shape[:-1]
        # a cos θ + b sin θ = Re((a - ib) e^iθ)
        amp = (coeffs[..., :m] - 1j * coeffs[..., m:]).astype(jnp.complex64) * self._scale
        dense = jnp.zeros(lead + (2 * self._modes + 1,) * len(self.shape), jnp.complex64)
        x = dense.at[(...,) + tuple(self.wavevectors.T + self._modes)].set(amp)
        for e in self._exp:  # contract the first remaining wavenumber axis; the grid axis goes last
            x = jnp.tensordot(x, jnp.asarray(e), axes=([len(lead)], [0]))
        return jnp.real(x).astype(jnp.float32)
