"""The physical model at reduced resolution (trainer.physical.downsample_factor)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from hybrid_jax.data.store import load_or_generate
from hybrid_jax.evaluate import resample_periodic
from hybrid_jax.physics import build_pde
from hybrid_jax.training.loop import build_experiment, initial_states, train_cycles
from hybrid_jax.training.models import block_average, physical_model, upsample


def test_linear_upsampling_is_periodic_linear_interpolation_and_nearest_inverts_block_averaging():
    x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 6, 4, 3)), jnp.float32)  # [B, 6, 4, C]
    up = upsample(x, 1, 1, 2, "linear", periodic=True)
    assert up.shape == (2, 12, 8, 3)
    for b in range(2):
        for c in range(3):
            np.testing.assert_allclose(up[b, ..., c], resample_periodic(np.asarray(x[b, ..., c]), (12, 8)),
                                       rtol=1e-5, atol=1e-6)
    ramp = jnp.arange(4, dtype=jnp.float32)[None, :, None]  # [1, 4, 1]: beyond a wall the edge value repeats
    np.testing.assert_allclose(upsample(ramp, 1, 1, 1, "linear", periodic=False)[0, :, 0],
                               [0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3])
    assert upsample(x, 2, 1, 2, "nearest", periodic=True).shape == (2, 24, 16, 3)
    np.testing.assert_allclose(block_average(upsample(x, 2, 1, 2, "nearest", True), 4, 1, 2), x, rtol=1e-6)


def test_physical_model_trains_at_half_resolution_towards_the_truth(tiny_config):
    cfg = tiny_config(mode="physical", trainer__physical={"epochs": 10, "learning_rate": 0.05,
                                                          "downsample_factor": 1})
    pde = build_pde(cfg.physics)
    traj, _ = load_or_generate(cfg, pde)
    exp = build_experiment(cfg, pde, traj)
    states = initial_states(exp)
    x0 = exp.real[:2, 0]
    assert exp.physical.predict(states["physical"].params, x0, 3).shape == (2, 3) + traj.shape[2:]
    assert exp.physical.generate(states["physical"].params, x0).shape == (2, 3) + traj.shape[2:]
    results = []
    for states, result in train_cycles(exp, states, progress=False):
        results.append(result)
    nu = float(jnp.exp(states["physical"].params["viscosity"]))
    # the coarse grid cannot reproduce the data exactly, but the fit moves from 0.02 towards the true 0.01
    assert abs(nu - 0.01) < 0.5 * abs(0.02 - 0.01), nu
    assert results[-1].val_losses["physical"] < results[0].val_losses["physical"]
    assert exp.physical.train_step._cache_size() == 1


def test_field_parameters_live_on_the_reduced_grid(tiny_config):
    cfg = tiny_config(trainer__physical={"downsample_factor": 2},
                      physics={"name": "burgers", "resolution": [16], "domain": [1.0], "dt": 0.01,
                               "viscosity": {"true": 0.01, "init": 0.02, "learnable": "field"}})
    params, _, _ = physical_model(build_pde(cfg.physics), cfg.physics, cfg.trainer.physical)
    assert params["viscosity"].shape == (4,)


def test_loss_of_the_block_constant_upsampling_has_the_gradient_of_the_loss_on_block_averaged_targets():
    import jax

    rng = np.random.default_rng(1)
    coarse = jnp.asarray(rng.normal(size=(2, 4, 4, 1)), jnp.float32)
    target = jnp.asarray(rng.normal(size=(2, 8, 8, 1)), jnp.float32)

    def fine_loss(c):
        return jnp.mean((upsample(c, 1, 1, 2, "nearest", True) - target) ** 2)

    def coarse_loss(c):
        return jnp.mean((c - block_average(target, 2, 1, 2)) ** 2)

    np.testing.assert_allclose(jax.grad(fine_loss)(coarse), jax.grad(coarse_loss)(coarse), rtol=1e-5, atol=1e-7)
    assert float(fine_loss(coarse)) > float(coarse_loss(coarse))  # plus the within-block variance


def test_a_non_periodic_family_refuses_downsampling():
    import pytest

    from hybrid_jax.config import ConfigError, config_from_dict
    from hybrid_jax.training.models import reduced_physics

    cfg = config_from_dict({"physics": {"name": "closed_smoke", "resolution": [16, 16]},
                            "trainer": {"physical": {"downsample_factor": 1}}})
    with pytest.raises(ConfigError, match="trainer.physical.downsample_factor: physics.name closed_smoke is not"):
        reduced_physics(build_pde(cfg.physics), cfg.physics, cfg.trainer.physical.downsample_factor)
