"""Training both models on sensor readings (``data.sensors``), by four methods at equal optimiser steps.

The physical model rolls out from the known initial state ``x0`` and is read at the sensors; the synthetic
model is a neural field (x, t) → u read at the same points (both `training.sensor_models`). Their objectives
are the one interaction loss of `training.interaction`, J = λ_d·data + λ_m·mean|u − sg(u_other)|² at ghost
points, with λ_d = ``trainer.sensors.lambda_data`` (λ_d^P = ``lambda_data_physical`` in the coupled methods
if set), λ_m^P = ``lambda_physical``, λ_m^S = ``lambda_synthetic``; the physical misfit is over the readings
at t > 0 (its t = 0 is given) and ghost points are read at every frame t > 0:

- ``physical``: the physics alone (λ_m^P = 0);   ``synthetic``: the field alone (λ_m^S = 0);
- ``interaction`` (the HYCO papers): each epoch G ghost points are drawn in ``ghost_window``, and the two
  models step in the order ``order`` (`interaction.interaction_step`; the second model's target is the
  first's updated prediction) or simultaneously;
- ``augmentation`` (the seed design): every ``refresh`` epochs each model generates its field at a fresh
  draw of ghost points, and for the next ``refresh`` epochs the other fits those frozen values with the
  same weights (generated data beside real data).

Every method takes one full-batch Adam step of the physical model and ``synthetic_steps`` of the synthetic
model per epoch, after ``warmup_epochs`` steps of the synthetic model on its data alone (one-cycle cosine
learning rates over each model's steps), so all compare at equal steps per model. Epochs run ``refresh``
at a time inside one jitted ``lax.scan``, compiled once per method; a step that is not finite is rejected
(`interaction.update`) and ``trainer.max_consecutive_failures`` of them in a row stop the fit.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from hybrid_jax.config import Config
from hybrid_jax.data.sensor_truth import SensorSetup, sample_grid, steps_per_frame, window_of
from hybrid_jax.errors import TrainingDiverged
from hybrid_jax.networks import neural_field
from hybrid_jax.physics.base import decode_physical, encode_physical
from hybrid_jax.training.interaction import (Coupled, GhostPoints, init_states, interaction_step, prediction,
                                             sample_ghost_points, update)
from hybrid_jax.training.sensor_models import field_of, field_sensor_model, physical_sensor_model

METHODS = ("physical", "synthetic", "augmentation", "interaction")
TRAINS = {"physical": ("physical",), "synthetic": ("synthetic",), "augmentation": ("physical", "synthetic"),
          "interaction": ("physical", "synthetic")}
"""The models each method trains."""
F32 = jnp.float32


class SensorModels(NamedTuple):
    """The two `Coupled` models of a method, their initial states ``{physical, synthetic}`` (`TrainState`s;
    physical params ``{"coefficients": raw}``), `phys_traj(params) -> [F+1, *spatial, C]` and
    `net_grid(params) -> [F+1, *spatial, C]` (both on the model grid at the reading times)."""

    physical: Coupled
    synthetic: Coupled
    init: dict
    phys_traj: Callable
    net_grid: Callable


def synthetic_steps(t) -> int:
    """Steps of the synthetic model in a fit of ``trainer.sensors`` `t`: the warm-up and every epoch's."""
    return t.warmup_epochs + t.epochs * t.synthetic_steps


def build_models(cfg: Config, pde, setup: SensorSetup, x0: jax.Array, seed: int,
                 method: str = "interaction") -> SensorModels:
    """Both models of `method` (its weights: λ_m = 0 where it does not couple them)."""
    t, s = cfg.trainer.sensors, cfg.data.sensors
    times = jnp.asarray(setup.data.times)
    grid = sample_grid(pde)
    per_frame = steps_per_frame(s.duration, s.frames, cfg.physics.dt, "physics.dt")
    upper = tuple(o + L for o, L in zip(setup.origin, setup.size))
    net = neural_field.build(cfg.network, in_channels=0, out_channels=pde.layout.num_dynamic, ndim=len(upper),
                             periodic=pde.periodic, rngs=nnx.Rngs(seed),
                             bounds=(setup.origin + (0.0,), upper + (s.duration,)))
    graphdef, net_params, *rest = nnx.split(net, nnx.Param, ...)
    net_params = jax.tree.map(lambda v: v.astype(F32), net_params)
    coupled = len(TRAINS[method]) == 2
    lambda_dp = t.lambda_data if not coupled or t.lambda_data_physical is None else t.lambda_data_physical
    phys_tx = optax.adam(optax.cosine_onecycle_schedule(t.epochs, t.physical_lr), b1=t.physical_b1, b2=t.physical_b2)
    net_tx = optax.adam(optax.cosine_onecycle_schedule(synthetic_steps(t), t.synthetic_lr))
    physical, trajectory = physical_sensor_model(
        pde.step, grid, setup.data, frame_dt=s.duration / s.frames, steps_per_frame=per_frame, initial="given",
        u0=x0, decode=lambda raw: decode_physical(pde, raw), tx=phys_tx, data_weight=lambda_dp,
        match_weight=t.lambda_physical if coupled else 0.0)
    synthetic = field_sensor_model(graphdef, setup.data, tx=net_tx, data_weight=t.lambda_data,
                                   match_weight=t.lambda_synthetic if coupled else 0.0, rest=tuple(rest))
    field = field_of(graphdef, tuple(rest))
    init = init_states(physical, synthetic, {"coefficients": encode_physical(pde, pde.init_params())}, net_params)
    return SensorModels(physical, synthetic, init, lambda params: trajectory(params, None),
                        lambda params: neural_field.field_on_grid(field(params), grid.coords(), times))


def make_cycle(cfg: Config, method: str, m: SensorModels, setup: SensorSetup):
    """Jitted ``(cycle(states, key) -> (states, losses [refresh, 2]), warmup(states) -> (states, losses))``:
    `refresh` epochs of `method` (losses: each model's objective before its epoch's update, 0 where not
    trained), and the synthetic model's warm-up on its data alone."""
    t = cfg.trainer.sensors
    lower, upper = window_of(t.ghost_window, setup.origin, setup.size)
    times = jnp.asarray(setup.data.times)[1:]
    phy, syn = m.physical, m.synthetic
    alone = dataclasses.replace(syn, match_weight=0.0)
    k = t.synthetic_steps

    def ghosts_of(key) -> GhostPoints:
        return sample_ghost_points(key, t.ghost_points, lower, upper, times)

    def epoch(carry, key):
        states, ghosts, gen_p, gen_s = carry
        p, s = states["physical"], states["synthetic"]
        zero = jnp.zeros((), F32)
        if method == "physical":
            p, mp = update(phy, syn, p, s.params, ghosts)
            losses = (mp["objective"], zero)
        elif method == "synthetic":
            s, ms = update(syn, phy, s, p.params, ghosts, steps=k)
            losses = (zero, ms["objective"])
        elif method == "augmentation":  # frozen generated values of this cycle
            p, mp = update(phy, syn, p, s.params, ghosts, target=gen_s)
            s, ms = update(syn, phy, s, p.params, ghosts, target=gen_p, steps=k)
            losses = (mp["objective"], ms["objective"])
        else:
            new, metrics = interaction_step(phy, syn, states, ghosts_of(key), t.order, synthetic_steps=k)
            p, s = new["physical"], new["synthetic"]
            losses = (metrics["physical_objective"], metrics["synthetic_objective"])
        return ({"physical": p, "synthetic": s}, ghosts, gen_p, gen_s), jnp.stack(losses)

    def cycle(states, key):
        key, sub = jax.random.split(key)
        ghosts = ghosts_of(sub)
        p, s = states["physical"].params, states["synthetic"].params
        gen_p, gen_s = (prediction(phy, p, s, ghosts), prediction(syn, s, p, ghosts)) if method == "augmentation" \
            else (jnp.zeros((), F32),) * 2
        (states, *_), losses = jax.lax.scan(epoch, (states, ghosts, gen_p, gen_s), jax.random.split(key, t.refresh))
        return states, losses

    def warmup(states):
        ghosts = ghosts_of(jax.random.PRNGKey(0))  # unused: the field alone has no match term

        def body(s, _):
            s, ms = update(alone, phy, s, states["physical"].params, ghosts)
            return s, ms["objective"]

        s, losses = jax.lax.scan(body, states["synthetic"], None, length=t.warmup_epochs)
        return {**states, "synthetic": s}, losses

    return jax.jit(cycle), jax.jit(warmup)


def fit(cfg: Config, method: str, pde, setup: SensorSetup, x0: jax.Array, seed: int,
        on_cycle: Callable[[int, dict, np.ndarray], None] | None = None) -> dict:
    """Train by `method` for ``trainer.sensors.epochs`` epochs: ``{states, models, losses [epochs, 2]
    (physical, synthetic; 0 where not trained), steps {model: n}, train_s}``. `on_cycle(c, states, losses)`
    is called after every cycle of `refresh` epochs."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    t = cfg.trainer.sensors
    m = build_models(cfg, pde, setup, x0, seed, method)
    cycle, warmup = make_cycle(cfg, method, m, setup)
    states, key, losses = m.init, jax.random.fold_in(jax.random.PRNGKey(seed), 23), []
    start = time.perf_counter()
    if t.warmup_epochs and "synthetic" in TRAINS[method]:
        states = warmup(states)[0]
    for c in range(t.epochs // t.refresh):
        states, chunk = cycle(states, jax.random.fold_in(key, c))
        losses.append(np.asarray(chunk))
        for name in TRAINS[method]:
            if int(states[name].failures) >= cfg.trainer.max_consecutive_failures:
                raise TrainingDiverged(f"sensor fit ({method}): the {name} model had {int(states[name].failures)} "
                                       f"consecutive steps with NaN/inf (cycle {c})")
        if on_cycle is not None:
            on_cycle(c, states, losses[-1])
    return {"states": states, "models": m, "losses": np.concatenate(losses), "train_s": time.perf_counter() - start,
            "steps": {name: synthetic_steps(t) if name == "synthetic" else t.epochs for name in TRAINS[method]}}
