"""Mixed precision (``network.dtype: bfloat16``): every architecture computes in bf16 through one
mechanism (`hybrid_jax.networks.precision`) while parameters, gradients, optimiser state, loss and the
rolled-out state stay float32; its forward matches float32 to bf16 accuracy and it trains as well."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from hybrid_jax.config import NetworkConfig, from_dict
from hybrid_jax.errors import ConfigError
from hybrid_jax.networks import build_network
from hybrid_jax.networks.precision import set_compute_dtype
from hybrid_jax.physics import build_pde
from hybrid_jax.training.models import synthetic_model
from helpers import train_run

# bf16 keeps 8 significant bits (unit round-off 2^-8): a forward pass of a few layers, each rounding its
# inputs, kernel and output, stays within a few 2^-7 of float32 in relative L2 (measured 0.5-1.4 %).
BF16_REL_TOL = 4 * 2.0**-7  # 3.1 %
# A short training run in bf16 ends within this factor of float32's final loss (measured ratio ~1.0).
TRAIN_LOSS_FACTOR = 1.5

NETWORKS = [
    {"architecture": "unet", "levels": 2, "widths": [8, 8], "norm": "group", "norm_groups": 2},
    {"architecture": "convnet", "filters": 8, "layers": 2, "norm": "layer"},
    {"architecture": "resnet", "filters": 8, "blocks": 1},
]
IDS = ["unet-group", "convnet-layer", "resnet"]


def _build(network: dict, dtype: str) -> nnx.Module:
    cfg = from_dict(NetworkConfig, {**network, "dtype": dtype}, "network")
    return build_network(cfg, in_channels=3, out_channels=2, ndim=2, periodic=True, rngs=nnx.Rngs(0))


def _jit_forward(net):
    graphdef, state = nnx.split(net)
    return jax.jit(lambda x: nnx.merge(graphdef, state)(x))


def _eqns(jaxpr):
    """Every equation of `jaxpr` and of the jaxprs nested in its equations (custom_vjp, pjit, ...)."""
    for e in jaxpr.eqns:
        yield e
        for p in e.params.values():
            for sub in p if isinstance(p, (list, tuple)) else [p]:
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns"):
                    yield from _eqns(inner)


def _conv_operand_dtypes(net, x) -> set:
    """Dtypes of the operands of every convolution in the traced forward pass (nested ones included: the
    periodic convolution is a custom_vjp)."""
    jaxpr = jax.make_jaxpr(net)(x).jaxpr
    return {v.aval.dtype for e in _eqns(jaxpr) if e.primitive.name == "conv_general_dilated" for v in e.invars}


@pytest.mark.parametrize("network", NETWORKS, ids=IDS)
def test_bf16_forward_matches_float32_with_float32_parameters(network):
    x = jax.random.normal(jax.random.PRNGKey(1), (2, 16, 16, 3), jnp.float32)
    net32, net16 = _build(network, "float32"), _build(network, "bfloat16")
    p32, p16 = jax.tree.leaves(nnx.state(net32, nnx.Param)), jax.tree.leaves(nnx.state(net16, nnx.Param))
    assert all(p.dtype == jnp.float32 for p in p16)
    for a, b in zip(p32, p16):  # same seed, same float32 parameters: only the compute dtype differs
        np.testing.assert_array_equal(a, b)
    assert _conv_operand_dtypes(net32, x) == {jnp.dtype(jnp.float32)}
    assert _conv_operand_dtypes(net16, x) == {jnp.dtype(jnp.bfloat16)}
    y32, y16 = _jit_forward(net32)(x), _jit_forward(net16)(x)
    assert y32.dtype == jnp.float32 and y16.dtype == jnp.bfloat16
    rel = float(jnp.linalg.norm(y16.astype(jnp.float32) - y32) / jnp.linalg.norm(y32))
    assert 0 < rel <= BF16_REL_TOL, rel


def test_bf16_rollout_loss_and_gradients_stay_float32(tiny_config):
    cfg = tiny_config(network={"architecture": "unet", "levels": 2, "widths": [4, 4], "dtype": "bfloat16"})
    _, params, predict, tx = synthetic_model(build_pde(cfg.physics), cfg)
    x0 = jax.random.normal(jax.random.PRNGKey(0), (4, 16, 1), jnp.float32)
    traj = predict(params, x0, 3)
    assert traj.dtype == jnp.float32  # the state carried through the rollout

    def loss(p):
        return jnp.mean((predict(p, x0, 3) - x0[:, None]) ** 2)

    value, grads = jax.value_and_grad(loss)(params)
    assert value.dtype == jnp.float32 and np.isfinite(value)
    assert all(g.dtype == jnp.float32 and np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))
    assert all(s.dtype == jnp.float32 for s in jax.tree.leaves(tx.init(params))
               if jnp.issubdtype(s.dtype, jnp.floating))


def test_bf16_trains_to_float32_loss_and_keeps_float32_state(tiny_config):
    def run(dtype):
        cfg = tiny_config(mode="synthetic", network={"architecture": "convnet", "filters": 8, "layers": 2,
                                                     "dtype": dtype},
                          trainer__synthetic={"epochs": 8, "learning_rate": 3e-3}, trainer__hybrid__cycles=1)
        _, _, states, (metrics,) = train_run(cfg)
        return states["synthetic"], metrics.epoch_losses["synthetic"]

    (_, l32), (s16, l16) = run("float32"), run("bfloat16")
    floats = [x for x in jax.tree.leaves((s16.params, s16.opt_state)) if jnp.issubdtype(x.dtype, jnp.floating)]
    assert floats and all(x.dtype == jnp.float32 for x in floats)
    assert l16[-1] < 0.5 * l16[0]  # it learns
    assert l16[-1] <= TRAIN_LOSS_FACTOR * l32[-1], (l16, l32)
    assert not np.allclose(l16, l32, rtol=1e-6)  # the bf16 run really computed in another precision


def test_compute_dtype_errors(tiny_config):
    class NoLayers(nnx.Module):
        def __call__(self, x):
            return x

    assert set_compute_dtype(NoLayers(), "float32") is not None
    with pytest.raises(ConfigError, match="network.dtype = bfloat16"):
        set_compute_dtype(NoLayers(), "bfloat16")
    with pytest.raises(ConfigError, match="network.dtype"):
        tiny_config(network={"dtype": "float16"})
