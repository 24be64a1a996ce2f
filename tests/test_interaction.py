"""The interaction loss: stop-gradients, each model's gradient is its own loss's, update orders, the driver,
and the physical model's learnable / synthetic-filled initial state on sensor data."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from hybrid_jax.data.sensors import Grid, SensorData, observe
from hybrid_jax.networks.neural_field import NeuralField, field_on_grid
from hybrid_jax.training.interaction import (Coupled, GhostPoints, init_states, interaction_fit, interaction_step,
                                             objective, sample_ghost_points)
from hybrid_jax.training.sensor_models import field_of, field_sensor_model, frame_times, physical_sensor_model

# ----------------------------------------------------------------------------- toy linear models

X = jnp.asarray(np.random.default_rng(0).normal(size=(5, 3)), jnp.float32)  # ghosts: 5 points, 3 features
A_P, B_P = jnp.asarray(np.random.default_rng(1).normal(size=(4, 3)), jnp.float32), jnp.ones(4, jnp.float32)
A_S, B_S = jnp.asarray(np.random.default_rng(2).normal(size=(6, 3)), jnp.float32), -jnp.ones(6, jnp.float32)


def toy(a, b, weights, lr=0.1):
    """A linear model θ: data misfit mean (Aθ − b)², prediction Xθ at the ghosts X."""
    return Coupled(lambda th, other, x: (jnp.mean((a @ th - b) ** 2), x @ th), optax.sgd(lr), *weights)


PHY, SYN = toy(A_P, B_P, (1.0, 0.7)), toy(A_S, B_S, (2.0, 0.3))
TH_P, TH_S = jnp.asarray([0.5, -1.0, 2.0], jnp.float32), jnp.asarray([1.0, 0.2, -0.3], jnp.float32)


def own_loss(a, b, lam_d, lam_m, other_prediction):
    """Each model's loss alone, with the other model's prediction a constant."""
    return lambda th: lam_d * jnp.mean((a @ th - b) ** 2) + lam_m * jnp.mean((X @ th - other_prediction) ** 2)


def test_gradients_see_only_the_models_own_loss():
    g_p = jax.grad(lambda p, s: objective(PHY, SYN, p, s, X)[0], argnums=(0, 1))(TH_P, TH_S)
    g_s = jax.grad(lambda s, p: objective(SYN, PHY, s, p, X)[0], argnums=(0, 1))(TH_S, TH_P)
    assert jnp.all(g_p[1] == 0) and jnp.all(g_s[1] == 0)  # exactly zero on the other model
    np.testing.assert_allclose(g_p[0], jax.grad(own_loss(A_P, B_P, 1.0, 0.7, X @ TH_S))(TH_P), rtol=1e-6)
    np.testing.assert_allclose(g_s[0], jax.grad(own_loss(A_S, B_S, 2.0, 0.3, X @ TH_P))(TH_S), rtol=1e-6)
    # without the stop-gradient the coupling term would push the other model too
    assert float(jnp.abs(jax.grad(lambda s: jnp.mean((X @ TH_P - X @ s) ** 2))(TH_S)).max()) > 1e-2


def test_match_weight_zero_is_single_model_training():
    never = Coupled(lambda *a: (_ for _ in ()).throw(AssertionError("evaluated")), optax.sgd(0.1))
    alone = toy(A_P, B_P, (1.0, 0.0))
    j, m = objective(alone, never, TH_P, TH_S, X)
    assert float(m["match"]) == 0 and float(j) == pytest.approx(float(jnp.mean((A_P @ TH_P - B_P) ** 2)))


def test_update_orders():
    """SGD: synthetic_first updates P against the new S, physical_first S against the new P, simultaneous
    both against the old parameters."""
    lr = 0.1
    gp = lambda p, s: jax.grad(own_loss(A_P, B_P, 1.0, 0.7, X @ s))(p)
    gs = lambda s, p: jax.grad(own_loss(A_S, B_S, 2.0, 0.3, X @ p))(s)
    s1 = TH_S - lr * gs(TH_S, TH_P)
    p1 = TH_P - lr * gp(TH_P, TH_S)
    expected = {"synthetic_first": (TH_P - lr * gp(TH_P, s1), s1),
                "physical_first": (p1, TH_S - lr * gs(TH_S, p1)),
                "simultaneous": (p1, s1)}
    got = {}
    for order, (p, s) in expected.items():
        states, metrics = interaction_step(PHY, SYN, init_states(PHY, SYN, TH_P, TH_S), X, order)
        np.testing.assert_allclose(states["physical"].params, p, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(states["synthetic"].params, s, rtol=1e-5, atol=1e-6)
        assert bool(metrics["physical_ok"]) and int(states["physical"].step) == 1
        got[order] = jnp.concatenate([states["physical"].params, states["synthetic"].params])
    for a, b in [("synthetic_first", "physical_first"), ("synthetic_first", "simultaneous"),
                 ("physical_first", "simultaneous")]:
        assert float(jnp.abs(got[a] - got[b]).max()) > 1e-3
    with pytest.raises(ValueError, match="order"):
        interaction_step(PHY, SYN, init_states(PHY, SYN, TH_P, TH_S), X, "random")


def test_fit_samples_ghosts_from_the_key_and_resumes():
    sample = lambda key: jax.random.normal(key, (5, 3), jnp.float32)
    states = init_states(PHY, SYN, TH_P, TH_S)
    seen = []
    fit = lambda st, n, first=0: interaction_fit(PHY, SYN, st, sample_ghosts=sample, key=jax.random.PRNGKey(3),
                                                 epochs=n, first_epoch=first,
                                                 on_epoch=lambda e, s, m: seen.append(e))
    whole, hist = fit(states, 4)
    half, _ = fit(fit(states, 2)[0], 2, first=2)
    assert hist["physical_objective"].shape == (4,) and seen[:4] == [0, 1, 2, 3]
    np.testing.assert_allclose(half["physical"].params, whole["physical"].params, rtol=1e-6)
    np.testing.assert_allclose(half["synthetic"].params, whole["synthetic"].params, rtol=1e-6)
    other_key, _ = interaction_fit(PHY, SYN, states, sample_ghosts=sample, key=jax.random.PRNGKey(4), epochs=4)
    assert float(jnp.abs(other_key["physical"].params - whole["physical"].params).max()) > 1e-4
    g = sample_ghost_points(jax.random.PRNGKey(0), 100, (-3.0, 0.0), (3.0, 1.0), jnp.linspace(0, 1, 4))
    assert g.points.dtype == jnp.float32 and g.points.shape == (100, 2)
    assert bool(jnp.all((g.points >= jnp.asarray([-3.0, 0.0])) & (g.points <= jnp.asarray([3.0, 1.0]))))


# ----------------------------------------------------------------------------- sensors, initial states

N, KAPPA, DT, SPF = 32, 0.02, 0.005, 4  # 1D periodic heat: cells, κ, solver dt, solver steps per frame
GRID = Grid.cell_centred((1.0,), (N,), periodic=True)


def heat_step(u, kappa):
    """Explicit periodic heat step u += κ·dt/dx²·Δu (κ·dt/dx² = 0.1 at the truth: stable)."""
    return u + kappa * DT * N**2 * (jnp.roll(u, 1, 0) + jnp.roll(u, -1, 0) - 2 * u)


def u0_true():
    x = GRID.coords()
    return (jnp.sin(2 * jnp.pi * x) + 0.5 * jnp.cos(4 * jnp.pi * x)).astype(jnp.float32)  # [N, 1]


def sensor_record(num=8, readings=26):
    """`num` sensors drifting at unit speed (periodic positions) read the true trajectory at every frame."""
    times = jnp.arange(readings, dtype=jnp.float32) * DT * SPF
    pos = jnp.mod(jnp.linspace(0.0, 1.0, num, endpoint=False)[None, :, None] + times[:, None, None], 1.0)
    _, traj = physical_sensor_model(heat_step, GRID, SensorData(pos, times, jnp.zeros((readings, num, 1))),
                                    frame_dt=DT * SPF, steps_per_frame=SPF, u0=u0_true(), tx=optax.sgd(0))
    traj = traj({"coefficients": jnp.asarray(KAPPA, jnp.float32)}, None)
    return SensorData(pos, times, observe(traj, frame_times(SensorData(pos, times, None), DT * SPF), GRID, pos,
                                          times))


def test_learnable_initial_state_is_recovered_from_sensors():
    """Only 8 moving sensors observe the field (t = 0 included); u0 (from zero) and log κ (from 2κ) are
    trained together: the loss falls 100-fold, u0 comes within 10 % of the truth (relative L2)."""
    sensors = sensor_record()
    model, _ = physical_sensor_model(heat_step, GRID, sensors, frame_dt=DT * SPF, steps_per_frame=SPF,
                                     initial="learnable", decode=jnp.exp, tx=optax.adam(3e-2))
    params = {"coefficients": jnp.log(jnp.asarray(2 * KAPPA, jnp.float32)), "u0": jnp.zeros((N, 1), jnp.float32)}
    ghosts = GhostPoints(jnp.zeros((1, 1), jnp.float32), sensors.times[:1])
    loss = jax.jit(lambda p: model.evaluate(p, None, ghosts)[0])
    grad = jax.jit(jax.grad(lambda p: model.evaluate(p, None, ghosts)[0]))
    opt, first = model.tx.init(params), float(loss(params))
    for _ in range(400):
        updates, opt = model.tx.update(grad(params), opt, params)
        params = optax.apply_updates(params, updates)
    err = float(jnp.linalg.norm(params["u0"] - u0_true()) / jnp.linalg.norm(u0_true()))
    assert params["u0"].dtype == jnp.float32
    assert float(loss(params)) < first / 100 and err < 0.1
    assert abs(float(jnp.exp(params["coefficients"])) - KAPPA) < 0.5 * KAPPA


def _field(seed=0):
    return NeuralField(1, 1, width=32, depth=3, frequencies=8, scale=1.0, bounds=((0.0, 0.0), (1.0, 0.5)),
                       rngs=nnx.Rngs(seed))


def test_synthetic_initial_state_and_its_stop_gradient():
    """initial = synthetic: the physics starts from the field at t = 0; J_P has zero gradient on the field's
    parameters (its u0 included) and J_S zero gradient on the physical ones."""
    sensors = sensor_record()
    graphdef, field_params = nnx.split(_field())
    phy, traj = physical_sensor_model(heat_step, GRID, sensors, frame_dt=DT * SPF, steps_per_frame=SPF,
                                      initial="synthetic", field_of=field_of(graphdef), decode=jnp.exp,
                                      tx=optax.adam(1e-2), match_weight=1.0)
    syn = field_sensor_model(graphdef, sensors, tx=optax.adam(1e-2), match_weight=1.0)
    p_params = {"coefficients": jnp.log(jnp.asarray(KAPPA, jnp.float32))}
    np.testing.assert_allclose(traj(p_params, field_params)[0],
                               field_on_grid(nnx.merge(graphdef, field_params), GRID.coords(), jnp.zeros(1))[0],
                               atol=1e-6)
    ghosts = sample_ghost_points(jax.random.PRNGKey(0), 16, (0.0,), (1.0,), sensors.times)
    gp = jax.grad(lambda p, s: objective(phy, syn, p, s, ghosts)[0], argnums=(0, 1))(p_params, field_params)
    gs = jax.grad(lambda s, p: objective(syn, phy, s, p, ghosts)[0], argnums=(0, 1))(field_params, p_params)
    assert all(bool(jnp.all(g == 0)) for g in jax.tree.leaves(gp[1]) + jax.tree.leaves(gs[1]))
    assert float(jnp.abs(gp[0]["coefficients"])) > 0
    assert max(float(jnp.abs(g).max()) for g in jax.tree.leaves(gs[0])) > 0


def test_interaction_fit_trains_with_only_sensors_observed():
    """No initial field is given: the physics starts from the neural field's t = 0 field while both train
    on 8 moving sensors; both data misfits fall 10-fold and κ (from 2κ) comes within 10 % of the truth."""
    sensors = sensor_record()
    graphdef, field_params = nnx.split(_field())
    phy, _ = physical_sensor_model(heat_step, GRID, sensors, frame_dt=DT * SPF, steps_per_frame=SPF,
                                   initial="synthetic", field_of=field_of(graphdef), decode=jnp.exp,
                                   tx=optax.adam(2e-2), data_weight=1.0, match_weight=1.0)
    syn = field_sensor_model(graphdef, sensors, tx=optax.adam(1e-2), data_weight=1.0, match_weight=0.1)
    states = init_states(phy, syn, {"coefficients": jnp.log(jnp.asarray(2 * KAPPA, jnp.float32))}, field_params)
    states, hist = interaction_fit(phy, syn, states, key=jax.random.PRNGKey(0), epochs=300,
                                   sample_ghosts=lambda k: sample_ghost_points(k, 32, (0.0,), (1.0,), sensors.times))
    assert hist["physical_data"][-1] < hist["physical_data"][0] / 10
    assert hist["synthetic_data"][-1] < hist["synthetic_data"][0] / 10
    kappa = float(jnp.exp(states["physical"].params["coefficients"]))
    assert abs(kappa - KAPPA) < 0.1 * KAPPA
