"""Rollout numerics (selected by `pytest -k rollout`): batching, scan, backends, dtypes, compilations."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from phiml.backend import NUMPY

from hybrid_jax.data.store import load_or_generate
from hybrid_jax.networks import ConvNet, UNet
from hybrid_jax.physics import build_pde
from hybrid_jax.physics.burgers import BurgersConfig, Viscosity
from hybrid_jax.rollout import batched_physics_step, network_step, rollout
from hybrid_jax.training.loop import build_experiment, initial_states, train_cycles


def _burgers(res=(32, 32), **kw):
    return build_pde(BurgersConfig(resolution=res, domain=(1.0,) * len(res), dt=0.01, substeps=2, **kw))


@pytest.mark.parametrize("res", [(64,), (16, 16)])
def test_rollout_vmapped_equals_per_sample_loop(res):
    pde = _burgers(res)
    params = pde.true_params()
    x0 = pde.sample_initial_state(jax.random.PRNGKey(0), 3)
    batched = jax.jit(lambda x: rollout(batched_physics_step(pde, params), x, 5))(x0)
    assert batched.shape == (3, 5, *res, len(res)) and batched.dtype == jnp.float32
    step = jax.jit(lambda x: pde.step(x, params))
    for i in range(3):
        x = x0[i]
        for t in range(5):
            x = step(x)
            # tolerance: identical arithmetic, only XLA fusion order may differ (float32 round-off)
            np.testing.assert_allclose(batched[i, t], x, rtol=0, atol=1e-6)


def test_rollout_scan_equals_unrolled_steps_for_a_network():
    net = UNet(2, 2, ndim=2, widths=(4, 8), rngs=nnx.Rngs(0))
    step = network_step(net, num_dynamic=2, residual=True)
    x0 = jax.random.normal(jax.random.PRNGKey(1), (2, 8, 8, 2), jnp.float32)
    traj = rollout(step, x0, 4)
    assert traj.shape == (2, 4, 8, 8, 2) and traj.dtype == jnp.float32
    x = x0
    for t in range(4):
        x = step(x)
        np.testing.assert_allclose(traj[:, t], x, rtol=0, atol=1e-6)  # float32 round-off
    np.testing.assert_allclose(rollout(step, x0, 4, remat=True), traj, rtol=0, atol=1e-6)
    np.testing.assert_allclose(rollout(step, x0, 4, unroll=False), traj, rtol=0, atol=1e-6)


def test_rollout_network_step_keeps_static_channels():
    net = ConvNet(3, 1, ndim=1, filters=4, layers=1, rngs=nnx.Rngs(0))
    x0 = jax.random.normal(jax.random.PRNGKey(2), (2, 16, 3), jnp.float32)
    traj = rollout(network_step(net, num_dynamic=1, residual=False), x0, 3)
    np.testing.assert_array_equal(traj[..., 1:], jnp.broadcast_to(x0[:, None, :, 1:], traj[..., 1:].shape))


@pytest.mark.parametrize("res, advection, learnable", [
    ((32, 32), "maccormack", "scalar"), ((32, 32), "semi_lagrangian", "field"), ((64,), "maccormack", "field"),
])
def test_rollout_jax_step_equals_numpy_backend_step(res, advection, learnable):
    pde = _burgers(res, advection=advection, viscosity=Viscosity(true=0.01, bump=1.0, learnable=learnable))
    params = pde.true_params()
    x = pde.sample_initial_state(jax.random.PRNGKey(3), 1)[0]
    jax_out = np.asarray(jax.jit(pde.step)(x, params))
    with NUMPY:
        np_out = pde.step(np.asarray(x), {k: np.asarray(v) for k, v in params.items()})
    assert isinstance(np_out, np.ndarray) and np_out.dtype == np.float32 and jax_out.dtype == np.float32
    scale = np.abs(np_out).max()
    # tolerance 1e-5 relative to the field's magnitude: float32 round-off of a few dozen operations
    assert np.abs(jax_out - np_out).max() / scale < 1e-5


def test_rollout_physics_gradient_and_dtypes_are_float32():
    pde = _burgers((32,))
    x0 = pde.sample_initial_state(jax.random.PRNGKey(4), 2)
    assert x0.dtype == jnp.float32

    def loss(nu):
        return jnp.mean(rollout(batched_physics_step(pde, {"viscosity": nu}), x0, 3) ** 2)

    value, grad = jax.value_and_grad(loss)(jnp.float32(0.01))
    assert value.dtype == jnp.float32 and grad.dtype == jnp.float32 and float(grad) < 0  # more viscosity, less energy


def test_rollout_steps_compile_once_across_epochs_and_cycles(tiny_config):
    cfg = tiny_config(trainer__hybrid={"cycles": 3, "alpha": 0.5, "warmup_epochs": 1,
                                       "schedule": {"kind": "linear", "final": 0.0}})
    pde = build_pde(cfg.physics)
    traj, _ = load_or_generate(cfg, pde)
    exp = build_experiment(cfg, pde, traj)
    counts = []
    for _ in train_cycles(exp, initial_states(exp), progress=False):
        counts.append({f"{m}.{f}": getattr(getattr(exp, m), f)._cache_size()
                       for m in ("synthetic", "physical") for f in ("train_step", "eval_step", "generate")})
        counts[-1]["generation_states"] = exp.generation_states._cache_size()
    # warm-up, then 3 cycles whose alpha goes 0.5 -> 0.25 -> 0 (the last one without generated data)
    assert len(counts) == 4
    assert all(n == 1 for n in counts[-1].values()), counts[-1]
