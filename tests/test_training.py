"""Loss weights and masks, the guarded train step, and alpha = 0 reducing to single-model training."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from helpers import train_run

from hybrid_jax.data.sources import REAL
from hybrid_jax.losses import per_sample_loss, weighted_loss
from hybrid_jax.training.steps import init_state, make_train_step


def _rand(shape, seed):
    return jnp.asarray(np.random.default_rng(seed).normal(size=shape), jnp.float32)


def test_mask_normalised_loss_equals_unmasked_loss_on_observed_cells():
    pred, target = _rand((3, 2, 6, 5, 2), 0), _rand((3, 2, 6, 5, 2), 1)
    full = per_sample_loss(pred, target, jnp.ones((3, 2, 6, 5)))
    np.testing.assert_allclose(full, jnp.mean((pred - target) ** 2, axis=(1, 2, 3, 4)), rtol=1e-6)
    mask = jnp.zeros((3, 2, 6, 5)).at[:, :, 1:4, 2:].set(1.0)
    sub = per_sample_loss(pred[:, :, 1:4, 2:], target[:, :, 1:4, 2:], jnp.ones((3, 2, 3, 3)))
    np.testing.assert_allclose(per_sample_loss(pred, target, mask), sub, rtol=1e-6)
    assert float(per_sample_loss(pred, target, jnp.zeros_like(mask))[0]) == 0.0  # nothing observed: no loss


def test_zero_weight_sample_contributes_no_gradient():
    x = _rand((4, 8), 2)
    target = _rand((4, 8), 3)
    w = jnp.array([1.0, 0.0, 0.5, 1.0])

    def loss(theta, target):
        pred = (x * theta)[:, None, :, None]
        return weighted_loss(pred, target[:, None, :, None], jnp.ones((4, 1, 8)), w)

    g = jax.grad(loss)(jnp.float32(0.7), target)
    g_changed = jax.grad(loss)(jnp.float32(0.7), target.at[1].set(1e3))  # garbage in the zero-weight sample
    assert g == g_changed


def test_train_step_rejects_non_finite_steps_and_keeps_the_last_good_state():
    def predict(p, x0, k):
        return jnp.stack([x0 * p["a"]] * k, axis=1)

    tx = optax.sgd(0.1)
    step = make_train_step(predict, tx, num_dynamic=1, horizon=1)
    data = {"real": jnp.ones((2, 3, 4, 1)), "real_mask": jnp.ones((3, 4)), "generated": jnp.zeros((1, 2, 4, 1))}
    idx = {"source": jnp.full(2, REAL, jnp.int32), "sim": jnp.array([0, 1]), "t": jnp.array([0, 1]),
           "weight": jnp.ones(2, jnp.float32)}
    state = init_state({"a": jnp.float32(2.0)}, tx)
    good, m = step(state, data, idx)
    assert bool(m["ok"]) and float(good.params["a"]) < 2.0 and int(good.failures) == 0
    bad_data = {**data, "real": data["real"].at[0, 1].set(jnp.nan)}
    kept, m = step(good, bad_data, idx)
    assert not bool(m["ok"]) and float(kept.params["a"]) == float(good.params["a"]) and int(kept.failures) == 1


def test_alpha_zero_hybrid_equals_synthetic_only_training(tiny_config):
    _, _, hybrid, h_hist = train_run(tiny_config(trainer__hybrid__alpha=0.0))
    _, _, single, s_hist = train_run(tiny_config(mode="synthetic"))
    for a, b in zip(jax.tree.leaves(hybrid["synthetic"].params), jax.tree.leaves(single["synthetic"].params)):
        np.testing.assert_array_equal(a, b)
    assert [m.epoch_losses["synthetic"] for m in h_hist] == [m.epoch_losses["synthetic"] for m in s_hist]
    # and alpha > 0 does change the synthetic model (the generated data reaches it)
    _, _, mixed, _ = train_run(tiny_config(trainer__hybrid__alpha=0.5))
    assert any(not np.array_equal(a, b) for a, b in zip(jax.tree.leaves(mixed["synthetic"].params),
                                                        jax.tree.leaves(single["synthetic"].params)))


def test_physical_training_moves_viscosity_towards_truth(tiny_config):
    cfg = tiny_config(mode="physical", trainer__physical={"epochs": 10, "learning_rate": 0.05})
    exp, _, states, hist = train_run(cfg)
    nu = float(jnp.exp(states["physical"].params["viscosity"]))
    assert abs(nu - 0.01) < 0.2 * abs(0.02 - 0.01)  # from 100% off to within 20% of the initial error
    assert hist[-1].val_losses["physical"] < hist[0].val_losses["physical"]
