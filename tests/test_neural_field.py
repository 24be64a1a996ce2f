"""The neural-field synthetic model: fits a decaying heat mode from sensor readings, on a grid."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from hybrid_jax.config import config_from_dict
from hybrid_jax.data.sensors import Grid, sensor_loss
from hybrid_jax.networks import build_network
from hybrid_jax.networks.neural_field import NeuralField, at_sensors, field_on_grid

KAPPA = 0.1


def heat_mode(x, t):
    """u = exp(-d·κπ²t)·Π sin(πx_i), the slowest Dirichlet heat mode on [0, 1]^d (x [..., d], t [...])."""
    d = x.shape[-1]
    return (jnp.exp(-d * KAPPA * jnp.pi**2 * t) * jnp.prod(jnp.sin(jnp.pi * x), axis=-1))[..., None].astype(jnp.float32)


def fit(model, positions, times, values, steps, lr):
    graphdef, params = nnx.split(model)
    tx = optax.adam(lr)

    @jax.jit
    def step(params, opt):
        loss, grads = jax.value_and_grad(
            lambda p: sensor_loss(at_sensors(nnx.merge(graphdef, p), positions, times), values))(params)
        updates, opt = tx.update(grads, opt, params)
        return optax.apply_updates(params, updates), opt, loss

    opt = tx.init(params)
    for _ in range(steps):
        params, opt, _ = step(params, opt)
    return nnx.merge(graphdef, params)


@pytest.mark.parametrize("encoding, option", [("fourier", {"scale": 0.25}), ("siren", {"omega0": 10.0})])
def test_neural_field_fits_a_2d_heat_mode_from_sensors(encoding, option):
    """300 Adam steps on 200 random sensors × 11 times: relative L2 error on a 16² grid (unseen points) < 5 %."""
    times = jnp.linspace(0.0, 1.0, 11, dtype=jnp.float32)
    positions = jax.random.uniform(jax.random.PRNGKey(0), (11, 200, 2), jnp.float32)
    values = heat_mode(positions, times[:, None])
    model = NeuralField(2, 1, width=64, depth=3, encoding=encoding, frequencies=16, **option,
                        bounds=((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)), rngs=nnx.Rngs(0))
    grid = Grid.cell_centred((1.0, 1.0), (16, 16), periodic=False)
    truth = heat_mode(grid.coords()[None], times[:, None, None])

    def error(m):
        pred = field_on_grid(m, grid.coords(), times)
        assert pred.shape == (11, 16, 16, 1) and pred.dtype == jnp.float32
        return float(jnp.linalg.norm(pred - truth) / jnp.linalg.norm(truth))

    before = error(model)
    basis = None if encoding != "fourier" else np.array(model.basis[...])
    model = fit(model, positions, times, values, 300, 3e-3 if encoding == "fourier" else 1e-3)
    assert before > 0.5 and error(model) < 0.05
    if basis is not None:
        np.testing.assert_array_equal(model.basis[...], basis)  # the Fourier frequencies are not trained


def test_neural_field_from_the_registry(tmp_path):
    cfg = config_from_dict({"network": {"architecture": "neural_field", "field": {"width": 8, "depth": 2,
                                                                                  "frequencies": 4}}})
    net = build_network(cfg.network, in_channels=3, out_channels=2, ndim=2, periodic=True, rngs=nnx.Rngs(0))
    assert isinstance(net, NeuralField)
    out = field_on_grid(net, Grid.cell_centred((1.0, 1.0), (4, 5), True).coords(), jnp.asarray([0.0, 0.5]))
    assert out.shape == (2, 4, 5, 2) and out.dtype == jnp.float32
    with pytest.raises(ValueError, match="bounds"):
        NeuralField(2, 1, bounds=((0.0, 0.0), (1.0, 1.0)), rngs=nnx.Rngs(0))
