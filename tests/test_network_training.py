"""Network options in training: input noise only in training and deterministic per seed; every
architecture (and normalisation) trains and lowers its loss."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from helpers import train_run

from hybrid_jax.physics import build_pde
from hybrid_jax.rollout import network_step
from hybrid_jax.training.loop import validate
from hybrid_jax.training.models import input_noise_key, synthetic_model


def test_network_step_adds_the_noise_to_the_dynamic_channels_only():
    step = network_step(lambda x: jnp.zeros(x.shape[:-1] + (1,), x.dtype), num_dynamic=1, residual=True)
    x = jax.random.normal(jax.random.PRNGKey(0), (2, 8, 2), jnp.float32)
    noise = jax.random.normal(jax.random.PRNGKey(1), (2, 8, 1), jnp.float32)
    np.testing.assert_array_equal(step(x), x)
    np.testing.assert_array_equal(step(x, noise), jnp.concatenate([x[..., :1] + noise, x[..., 1:]], axis=-1))


def _noise_key(cfg):
    return input_noise_key(cfg.seed, cfg.network.input_noise)


def test_input_noise_has_sigma_is_fresh_per_step_and_deterministic_per_seed(tiny_config):
    cfg = tiny_config(network={"architecture": "convnet", "filters": 4, "layers": 1, "input_noise": 0.1})
    _, params, predict, _ = synthetic_model(build_pde(cfg.physics), cfg)
    zero = jax.tree.map(jnp.zeros_like, params)  # f = 0: a residual step returns the state it starts from
    x0 = jax.random.normal(jax.random.PRNGKey(0), (8, 16, 1), jnp.float32)
    np.testing.assert_array_equal(predict(zero, x0, 3), jnp.broadcast_to(x0[:, None], (8, 3, 16, 1)))  # no key
    key = _noise_key(cfg)
    traj = predict(zero, x0, 3, key)
    noise = np.diff(np.concatenate([x0[:, None], traj], axis=1), axis=1)  # [8, 3, 16, 1], one draw per step
    assert abs(noise.std() - 0.1) < 0.015 and abs(noise.mean()) < 0.02
    assert not np.allclose(noise[:, 0], noise[:, 1])
    np.testing.assert_array_equal(predict(zero, x0, 3, _noise_key(cfg)), traj)  # same seed, same noise
    other = _noise_key(tiny_config(seed=1, network={"architecture": "convnet", "input_noise": 0.1}))
    assert not np.array_equal(predict(zero, x0, 3, other), traj)
    assert _noise_key(tiny_config()) is None  # off by default


def test_input_noise_changes_training_only_and_repeats_exactly(tiny_config):
    net = {"architecture": "convnet", "filters": 4, "layers": 1}
    exp, _, noisy, _ = train_run(tiny_config(mode="synthetic", network={**net, "input_noise": 0.05}))
    _, _, again, _ = train_run(tiny_config(mode="synthetic", network={**net, "input_noise": 0.05}))
    clean_exp, _, clean, _ = train_run(tiny_config(mode="synthetic", network=net))
    p_noisy, p_again, p_clean = (jax.tree.leaves(s["synthetic"].params) for s in (noisy, again, clean))
    for a, b in zip(p_noisy, p_again):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(p_noisy, p_clean))
    # evaluation and generation draw no noise: the noisy config's functions equal the clean config's
    params = noisy["synthetic"].params
    assert validate(exp, exp.synthetic, params) == validate(clean_exp, clean_exp.synthetic, params)
    x0 = exp.real[:, 0]
    np.testing.assert_array_equal(exp.synthetic.generate(params, x0), clean_exp.synthetic.generate(params, x0))


@pytest.mark.parametrize("network", [
    {"architecture": "unet", "levels": 2, "widths": [6, 4], "norm": "group", "norm_groups": 2},
    {"architecture": "convnet", "filters": 4, "layers": 2, "norm": "layer"},
    {"architecture": "resnet", "filters": 4, "blocks": 2},
    {"architecture": "resnet", "filters": 4, "blocks": 1, "norm": "group", "norm_groups": 2, "input_noise": 0.02},
], ids=["unet-widths-group", "convnet-layer", "resnet", "resnet-group-noise"])
def test_each_architecture_trains_and_lowers_its_loss(tiny_config, network):
    cfg = tiny_config(mode="synthetic", network=network, trainer__synthetic={"epochs": 4, "learning_rate": 3e-3},
                      trainer__hybrid__cycles=1)
    _, _, states, (metrics,) = train_run(cfg)
    losses = metrics.epoch_losses["synthetic"]
    assert len(losses) == 4 and np.all(np.isfinite(losses))
    assert losses[-1] < 0.8 * losses[0], losses
