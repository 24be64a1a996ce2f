"""Sparse observations: the real-data mask, its effect on losses and gradients, its determinism."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hybrid_jax.config import ConfigError, ObservationConfig
from hybrid_jax.data.masks import observation_mask, observed_windows, spatial_mask, time_mask
from hybrid_jax.data.sources import GENERATED, REAL, materialize
from hybrid_jax.data.windows import window_index
from hybrid_jax.losses import per_sample_loss
from hybrid_jax.training.steps import batch_loss


def _rand(shape, seed):
    return jnp.asarray(np.random.default_rng(seed).normal(size=shape), jnp.float32)


def test_box_centre_and_full_masks_select_the_configured_cells():
    box = spatial_mask(ObservationConfig(spatial="box", box=((0.0, 0.5), (0.25, 1.0))), (8, 4))
    assert box.dtype == np.float32 and box.shape == (8, 4)
    np.testing.assert_array_equal(box, np.outer(np.arange(8) < 4, np.arange(4) >= 1))
    centre = spatial_mask(ObservationConfig(spatial="centre", fraction=0.25), (16, 16))
    assert centre.sum() == 64 and centre[6:10, 6:10].all() and not centre[0].any()  # an 8x8 centred block
    assert spatial_mask(ObservationConfig(), (5, 3)).all()


def test_masked_loss_equals_unmasked_loss_on_the_observed_subset():
    obs = ObservationConfig(spatial="box", box=((0.25, 0.75), (0.0, 0.5)))
    mask = spatial_mask(obs, (8, 6))  # rows 2..5, columns 0..2
    pred, target = _rand((3, 2, 8, 6, 2), 0), _rand((3, 2, 8, 6, 2), 1)
    masked = per_sample_loss(pred, target, jnp.broadcast_to(mask, (3, 2, 8, 6)))
    sub = (slice(None), slice(None), slice(2, 6), slice(0, 3))
    np.testing.assert_allclose(masked, jnp.mean((pred[sub] - target[sub]) ** 2, axis=(1, 2, 3, 4)), rtol=1e-6)


def _data(mask_t):
    """Real data [2 sims, 6 frames, 4x4, 1 channel] with a [T, 4, 4] mask; one generated window."""
    real = _rand((2, 6, 4, 4, 1), 2)
    return {"real": real, "real_mask": jnp.asarray(mask_t), "generated": _rand((1, 3, 4, 4, 1), 3)}


def test_unobserved_targets_contribute_no_gradient():
    obs = ObservationConfig(spatial="box", box=((0.0, 0.5), (0.0, 1.0)), time_stride=2)
    mask = observation_mask(obs, (4, 4), 6)
    data = _data(mask)
    idx = {"source": jnp.array([REAL, REAL]), "sim": jnp.array([0, 1]), "t": jnp.array([0, 2]),
           "weight": jnp.ones(2, jnp.float32)}

    def predict(field, x0, k):  # a prediction independent of x0: gradients w.r.t. data are target gradients
        return jnp.broadcast_to(field[None, None, :, :, None], (x0.shape[0], k) + field.shape + (1,))

    def loss(field, real):
        return batch_loss(predict, field, materialize({**data, "real": real}, idx, 2), 1, 2)

    field = _rand((4, 4), 4)
    g_field, g_real = jax.grad(loss, argnums=(0, 1))(field, data["real"])
    assert np.all(np.asarray(g_field)[2:] == 0) and np.any(np.asarray(g_field)[:2] != 0)  # cells x >= 0.5 unseen
    observed = np.broadcast_to(mask[None, :, :, :, None] > 0, g_real.shape)
    assert np.all(np.asarray(g_real)[~observed] == 0)  # no unobserved (cell, frame) is ever a target
    garbage = data["real"].at[:, :, 2:].set(1e6).at[:, 1].set(-1e6)  # unobserved cells, and frame 1 (odd)
    np.testing.assert_allclose(loss(field, garbage), loss(field, data["real"]), rtol=1e-6)


def test_generated_windows_are_fully_observed_whatever_the_real_mask():
    mask = observation_mask(ObservationConfig(spatial="random_points", fraction=0.1, seed=3), (4, 4), 6)
    idx = {"source": jnp.array([GENERATED, REAL]), "sim": jnp.array([0, 1]), "t": jnp.array([0, 1]),
           "weight": jnp.array([0.5, 1.0], jnp.float32)}
    batch = materialize(_data(mask), idx, 2)
    assert np.all(np.asarray(batch["mask"][0]) == 1)
    np.testing.assert_array_equal(batch["mask"][1], mask[2:4])


def test_masks_are_deterministic_in_the_seed():
    def draw(seed):
        return spatial_mask(ObservationConfig(spatial="random_points", fraction=0.3, seed=seed), (16, 8))

    a, b, c = draw(7), draw(7), draw(8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.sum() == round(0.3 * 128) == c.sum()


def test_time_mask_and_windows_start_at_observed_frames_with_an_observed_target():
    obs = ObservationConfig(time_stride=3)
    seen = time_mask(obs, 10)
    np.testing.assert_array_equal(np.flatnonzero(seen), [0, 3, 6, 9])
    assert len(observed_windows(window_index(np.array([0, 1]), 10, 2, 1), seen, 2)) == 0  # no target seen
    w = observed_windows(window_index(np.array([0, 1]), 10, 3, 1), seen, 3)
    assert w.tolist() == [[0, 0], [0, 3], [0, 6], [1, 0], [1, 3], [1, 6]]
    explicit = time_mask(ObservationConfig(observed_steps=(0, 2, 5)), 6)
    np.testing.assert_array_equal(explicit, [1, 0, 1, 0, 0, 1])
    with pytest.raises(ValueError, match="observed_steps"):
        time_mask(ObservationConfig(observed_steps=(7,)), 6)


def test_observation_config_errors_name_the_key(tiny_config):
    with pytest.raises(ConfigError, match=r"data\.observation\.box"):
        tiny_config(data__observation={"spatial": "box", "box": [[0.0, 0.5], [0.0, 0.5]]})  # 1D grid
    with pytest.raises(ConfigError, match=r"data\.observation\.box\[0\]"):
        tiny_config(data__observation={"spatial": "box", "box": [[0.6, 0.5]]})
    with pytest.raises(ConfigError, match=r"data\.observation\.fraction"):
        tiny_config(data__observation={"spatial": "centre", "fraction": 0.0})
