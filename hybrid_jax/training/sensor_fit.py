"""Training both models on sensor readings (``data.sensors``), by four methods at equal optimiser steps.

The physical model rolls out from the known initial state ``x0`` and is read at the sensors
(`data.sensors.observe`); the synthetic model is a neural field (x, t) → u read at the same points.
With λ_d = ``trainer.sensors.lambda_data`` (λ_d^P = ``lambda_data_physical`` in the coupled methods if set) and data_M the mean squared sensor misfit of model M
(the physical model's over t > 0: its t = 0 is given):

- ``physical``:  J_P = λ_d·data_P;   ``synthetic``: J_S = λ_d·data_S;
- ``interaction`` (the HYCO papers): each epoch G ghost points are drawn in ``ghost_window`` and read at
  every frame t > 0; J_P = λ_d·data_P + λ_m^P·|u_P − sg(u_S)|², J_S = λ_d·data_S + λ_m^S·|u_S − sg(u_P)|²
  at the ghost points (sg: stop-gradient: each model's gradient ignores the other's loss), in the order
  ``order`` (the second model's target is the first's updated prediction) or simultaneously;
- ``augmentation`` (the seed design): every ``refresh`` epochs each model generates its field at a fresh
  draw of ghost points, and for the next ``refresh`` epochs the other fits those frozen values with the
  same weights (generated data beside real data).

Every method takes one full-batch Adam step of the physical model and ``synthetic_steps`` of the synthetic
model per epoch, after ``warmup_epochs`` steps of the synthetic model on its data alone (one-cycle cosine
learning rates over each model's steps), so all compare at equal steps per model. Epochs run ``refresh``
at a time inside one jitted ``lax.scan``, compiled once per method.
"""

from __future__ import annotations

import time
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from hybrid_jax.config import Config
from hybrid_jax.data.sensor_truth import SensorSetup, sample_grid, steps_per_frame, trajectory, window_of
from hybrid_jax.data.sensors import observe
from hybrid_jax.networks import neural_field
from hybrid_jax.physics.base import decode_physical, encode_physical

METHODS = ("physical", "synthetic", "augmentation", "interaction")
TRAINS = {"physical": ("physical",), "synthetic": ("synthetic",), "augmentation": ("physical", "synthetic"),
          "interaction": ("physical", "synthetic")}
"""The models each method trains."""
F32 = jnp.float32


def mse(a: jax.Array, b: jax.Array) -> jax.Array:
    return jnp.mean((a - b) ** 2).astype(F32)


class State(NamedTuple):
    phys: dict
    phys_opt: optax.OptState
    net: nnx.State
    net_opt: optax.OptState


class SensorModels(NamedTuple):
    """The two models as functions of their parameters: `phys_traj(raw) -> [F+1, *spatial, C]`,
    `phys_at(traj, positions [F+1, P, d]) -> [F+1, P, C]`, `net_at(params, positions) -> [F+1, P, C]`,
    the initial state and the optimisers."""

    init: State
    phys_traj: Callable
    phys_at: Callable
    net_at: Callable
    net_grid: Callable
    phys_tx: optax.GradientTransformation
    net_tx: optax.GradientTransformation


def build_models(cfg: Config, pde, setup: SensorSetup, x0: jax.Array, seed: int) -> SensorModels:
    t, s = cfg.trainer.sensors, cfg.data.sensors
    times = jnp.asarray(setup.data.times)
    grid = sample_grid(pde)
    per_frame = steps_per_frame(s.duration, s.frames, cfg.physics.dt, "physics.dt")
    upper = tuple(o + L for o, L in zip(setup.origin, setup.size))
    net = neural_field.build(cfg.network, in_channels=0, out_channels=pde.layout.num_dynamic, ndim=len(upper),
                             periodic=pde.periodic, rngs=nnx.Rngs(seed),
                             bounds=(setup.origin + (0.0,), upper + (s.duration,)))
    graphdef, net_params, rest = nnx.split(net, nnx.Param, ...)
    net_params = jax.tree.map(lambda v: v.astype(F32), net_params)

    def phys_traj(raw):
        return trajectory(pde, x0, decode_physical(pde, raw), s.frames, per_frame)

    def phys_at(traj, positions):
        return observe(traj, times, grid, positions, times)

    def net_at(params, positions):
        return neural_field.at_sensors(nnx.merge(graphdef, params, rest), positions, times)

    def net_grid(params):
        return neural_field.field_on_grid(nnx.merge(graphdef, params, rest), grid.coords(), times)

    phys_tx = optax.adam(optax.cosine_onecycle_schedule(t.epochs, t.physical_lr), b1=t.physical_b1, b2=t.physical_b2)
    net_tx = optax.adam(optax.cosine_onecycle_schedule(synthetic_steps(t), t.synthetic_lr))
    raw = encode_physical(pde, pde.init_params())
    init = State(raw, phys_tx.init(raw), net_params, net_tx.init(net_params))
    return SensorModels(init, phys_traj, phys_at, net_at, net_grid, phys_tx, net_tx)


def synthetic_steps(t) -> int:
    """Steps of the synthetic model in a fit of ``trainer.sensors`` `t`: the warm-up and every epoch's."""
    return t.warmup_epochs + t.epochs * t.synthetic_steps


def ghost_positions(key: jax.Array, n: int, window, frames: int) -> jax.Array:
    """`n` points uniform in the window ``(lower, upper)``, the same at every frame: ``[frames, n, d]``."""
    lo, hi = (jnp.asarray(w, F32) for w in window)
    pts = lo + (hi - lo) * jax.random.uniform(key, (n, lo.shape[0]), F32)
    return jnp.broadcast_to(pts, (frames,) + pts.shape)


def make_cycle(cfg: Config, method: str, m: SensorModels, setup: SensorSetup):
    """Jitted ``(cycle(state, key) -> (state, losses [refresh, 2]), warmup(state) -> (state, losses))``:
    `refresh` epochs of `method`, and the synthetic model's warm-up on its data alone."""
    t = cfg.trainer.sensors
    pos, values = jnp.asarray(setup.data.positions), jnp.asarray(setup.data.values)
    window = window_of(t.ghost_window, setup.origin, setup.size)
    trains = TRAINS[method]
    coupled = len(trains) == 2

    lambda_dp = t.lambda_data if not coupled or t.lambda_data_physical is None else t.lambda_data_physical

    def loss_p(raw, ghost, target):  # target: the synthetic model's values at the ghost points (constant)
        traj = m.phys_traj(raw)
        loss = lambda_dp * mse(m.phys_at(traj, pos)[1:], values[1:]) if lambda_dp else jnp.zeros((), F32)
        if coupled:
            loss = loss + t.lambda_physical * mse(m.phys_at(traj, ghost)[1:], target[1:])
        return loss

    def loss_s(params, ghost, target):  # target: the physical model's values at the ghost points (constant)
        loss = t.lambda_data * mse(m.net_at(params, pos), values)
        if coupled:
            loss = loss + t.lambda_synthetic * mse(m.net_at(params, ghost)[1:], target[1:])
        return loss

    def step_p(state, ghost, target):
        loss, g = jax.value_and_grad(loss_p)(state.phys, ghost, jax.lax.stop_gradient(target))
        upd, opt = m.phys_tx.update(g, state.phys_opt, state.phys)
        return state._replace(phys=optax.apply_updates(state.phys, upd), phys_opt=opt), loss

    def step_s(state, ghost, target):
        loss, g = jax.value_and_grad(loss_s)(state.net, ghost, jax.lax.stop_gradient(target))
        upd, opt = m.net_tx.update(g, state.net_opt, state.net)
        return state._replace(net=optax.apply_updates(state.net, upd), net_opt=opt), loss

    def steps_s(state, ghost, target):  # `synthetic_steps` steps against one target; the first step's loss
        state, loss = step_s(state, ghost, target)
        for _ in range(t.synthetic_steps - 1):
            state = step_s(state, ghost, target)[0]
        return state, loss

    def u_p(state, ghost):
        return m.phys_at(m.phys_traj(state.phys), ghost)

    def u_s(state, ghost):
        return m.net_at(state.net, ghost)

    def epoch(carry, key):
        state, ghost, gen_p, gen_s = carry
        zero = jnp.zeros((), F32)
        if method == "physical":
            state, lp = step_p(state, ghost, gen_s)
            return (state, ghost, gen_p, gen_s), jnp.stack([lp, zero])
        if method == "synthetic":
            state, ls = steps_s(state, ghost, gen_p)
            return (state, ghost, gen_p, gen_s), jnp.stack([zero, ls])
        if method == "augmentation":  # frozen generated values of this cycle
            new, lp = step_p(state, ghost, gen_s)
            new, ls = steps_s(new, ghost, gen_p)
            return (new, ghost, gen_p, gen_s), jnp.stack([lp, ls])
        ghost = ghost_positions(key, t.ghost_points, window, pos.shape[0])
        if t.order == "synthetic_first":
            state, ls = steps_s(state, ghost, u_p(state, ghost))
            state, lp = step_p(state, ghost, u_s(state, ghost))
        elif t.order == "physical_first":
            state, lp = step_p(state, ghost, u_s(state, ghost))
            state, ls = steps_s(state, ghost, u_p(state, ghost))
        else:
            target_p, target_s = u_p(state, ghost), u_s(state, ghost)
            new, lp = step_p(state, ghost, target_s)
            new, ls = steps_s(new, ghost, target_p)
            state = new
        return (state, ghost, gen_p, gen_s), jnp.stack([lp, ls])

    def cycle(state, key):
        key, sub = jax.random.split(key)
        ghost = ghost_positions(sub, t.ghost_points, window, pos.shape[0])
        gen_p, gen_s = (u_p(state, ghost), u_s(state, ghost)) if coupled else (
            jnp.zeros(ghost.shape[:-1] + values.shape[-1:], F32),) * 2
        (state, *_), losses = jax.lax.scan(epoch, (state, ghost, gen_p, gen_s), jax.random.split(key, t.refresh))
        return state, losses

    def warmup(state):  # the synthetic model on its data alone: `warmup_epochs` steps, losses [warmup_epochs]
        def body(state, _):
            loss, g = jax.value_and_grad(lambda p: t.lambda_data * mse(m.net_at(p, pos), values))(state.net)
            upd, opt = m.net_tx.update(g, state.net_opt, state.net)
            return state._replace(net=optax.apply_updates(state.net, upd), net_opt=opt), loss

        return jax.lax.scan(body, state, None, length=t.warmup_epochs)

    return jax.jit(cycle), jax.jit(warmup)


def fit(cfg: Config, method: str, pde, setup: SensorSetup, x0: jax.Array, seed: int,
        on_cycle: Callable[[int, State, np.ndarray], None] | None = None) -> dict:
    """Train by `method` for ``trainer.sensors.epochs`` epochs: ``{state, models, losses [epochs, 2]
    (physical, synthetic; 0 where not trained), steps {model: n}, train_s}``. `on_cycle(c, state, losses)`
    is called after every cycle of `refresh` epochs."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    t = cfg.trainer.sensors
    m = build_models(cfg, pde, setup, x0, seed)
    cycle, warmup = make_cycle(cfg, method, m, setup)
    state, key, losses = m.init, jax.random.fold_in(jax.random.PRNGKey(seed), 23), []
    start = time.perf_counter()
    if t.warmup_epochs and "synthetic" in TRAINS[method]:
        state = warmup(state)[0]
    for c in range(t.epochs // t.refresh):
        state, chunk = cycle(state, jax.random.fold_in(key, c))
        losses.append(np.asarray(chunk))
        if on_cycle is not None:
            on_cycle(c, state, losses[-1])
    return {"state": state, "models": m, "losses": np.concatenate(losses), "train_s": time.perf_counter() - start,
            "steps": {name: synthetic_steps(t) if name == "synthetic" else t.epochs for name in TRAINS[method]}}
