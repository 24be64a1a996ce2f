"""One contract over every registered network architecture (the built-in ones and the example plugin,
examples/custom_network.py): its own parameter count is exact, jit equals eager, a batch equals its
samples one by one, input gradients match central finite differences, float32 in and out, one
compilation for new inputs of the same shape."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from hybrid_jax._registry import architectures
from hybrid_jax.config import NetworkConfig, from_dict, load_plugins
from hybrid_jax.networks import build_network

ROOT = Path(__file__).resolve().parents[1]
load_plugins((str(ROOT / "examples" / "custom_network.py"),))
NAMES = [n for n in architectures.names() if n in ("unet", "convnet", "resnet", "stack")]
CIN, COUT = 3, 2


def _net(name: str, ndim: int, **keys):
    cfg = from_dict(NetworkConfig, {"architecture": name, **keys}, "network")
    return cfg, build_network(cfg, in_channels=CIN, out_channels=COUT, ndim=ndim, periodic=True, rngs=nnx.Rngs(0))


def _x(key: int, shape) -> jax.Array:
    return jax.random.normal(jax.random.key(key), shape, jnp.float32)


def test_every_builtin_network_and_the_plugin_are_covered():
    assert set(NAMES) == {"unet", "convnet", "resnet", "stack"}


@pytest.mark.parametrize("norm", ["none", "group"])
@pytest.mark.parametrize("ndim", [1, 2])
@pytest.mark.parametrize("name", NAMES)
def test_footprint_counts_the_parameters_the_network_has(name, ndim, norm):
    cfg = from_dict(NetworkConfig, {"architecture": name, "norm": norm, "norm_groups": 2}, "network")
    net = nnx.eval_shape(lambda: build_network(cfg, in_channels=CIN, out_channels=COUT, ndim=ndim, periodic=True,
                                               rngs=nnx.Rngs(0)))
    params = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(nnx.state(net, nnx.Param)))
    size = cfg.footprint(CIN, COUT, ndim)
    assert size.params == params and size.activations >= max(cfg.hidden_widths())


@pytest.mark.parametrize("name", NAMES)
def test_network_numerics_contract(name):
    _, net = _net(name, 1)
    graphdef, state = nnx.split(net)
    traces = []

    def apply(state, x):
        traces.append(1)
        return nnx.merge(graphdef, state)(x)

    fast = jax.jit(apply)
    x = _x(1, (3, 16, CIN))
    y = fast(state, x)
    assert y.shape == (3, 16, COUT) and y.dtype == jnp.float32
    np.testing.assert_allclose(y, net(x), rtol=1e-5, atol=1e-5)  # jit vs eager
    one_by_one = jnp.concatenate([fast(state, x[i:i + 1]) for i in range(3)])
    np.testing.assert_allclose(y, one_by_one, rtol=1e-5, atol=1e-5)  # a batch is its samples (per-sample norms)
    traces.clear()
    fast(state, _x(2, x.shape))
    assert traces == []  # new values, same shape: no new compilation

    # d/dε <g, f(x + ε v)> at 0 by autodiff vs a central difference (float32: ε 1e-2, 1 % tolerance)
    g, v = _x(3, y.shape), _x(4, x.shape)

    def objective(e):
        return jnp.sum(g * apply(state, x + e * v))

    exact = float(jax.jit(jax.grad(objective))(jnp.float32(0.0)))
    eps = jnp.float32(1e-2)
    fd = float((fast_objective := jax.jit(objective))(eps) - fast_objective(-eps)) / (2 * float(eps))
    assert abs(exact - fd) <= 1e-2 * abs(exact) + 1e-3, (exact, fd)
    assert abs(exact) > 1e-2  # a derivative that could differ
