"""Bounded memory (issue 24): the separable Fourier prior, chunked generation, the preflight's
estimates against measured peaks, and training from host-streamed data."""

from __future__ import annotations

import numpy as np
import pytest

from hybrid_jax.physics.operators import FourierBasis


def dense_fourier_basis(shape, modes):
    """The basis ``[2·M, *shape]`` written out (float64): cos and sin of each wavevector / |k|²."""
    grids = np.meshgrid(*[np.arange(n) / n for n in shape], indexing="ij")
    ks = np.stack(np.meshgrid(*[np.arange(-modes, modes + 1)] * len(shape), indexing="ij"), -1).reshape(-1, len(shape))
    ks = ks[np.abs(ks).max(1) > 0]
    phase = 2 * np.pi * np.einsum("kd,d...->k...", ks, np.stack(grids))
    scale = (1.0 / (ks**2).sum(1)).reshape((-1,) + (1,) * len(shape))
    return np.concatenate([np.cos(phase) * scale, np.sin(phase) * scale])


@pytest.mark.parametrize("shape,modes", [((12,), 3), ((8, 6), 2), ((6, 4, 5), 2)])
def test_separable_fourier_basis_equals_the_dense_sum(shape, modes):
    basis = FourierBasis(shape, modes)
    dense = dense_fourier_basis(shape, modes)
    assert basis.size == dense.shape[0]
    coeffs = np.random.default_rng(0).standard_normal((3, 2, basis.size)).astype(np.float32)
    got = np.asarray(basis.combine(coeffs))
    want = np.einsum("ncm,m...->nc...", coeffs.astype(np.float64), dense)
    assert got.dtype == np.float32 and got.shape == (3, 2) + shape
    np.testing.assert_allclose(got, want, atol=1e-5 * np.abs(want).max())  # float32 round-off
