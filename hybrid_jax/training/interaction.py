"""The HYCO interaction loss: two models pulled toward each other at ghost points, each by its own loss.

Each epoch samples ghost points (or ghost states) from the run's key; then

    J_P = λ_d^P · data_P + λ_m^P · mean |u_P − sg(u_S)|²
    J_S = λ_d^S · data_S + λ_m^S · mean |u_S − sg(u_P)|²

(sg: stop-gradient; u_X: model X's prediction at the ghosts). Each model is updated with the gradient of
its own J only: J_P does not depend on the synthetic parameters and J_S not on the physical ones (the
other model's parameters enter both only through `jax.lax.stop_gradient`). The update order is
``synthetic_first`` (S steps on J_S, then P on J_P against the updated S, as the papers' code does),
``physical_first`` (the converse) or ``simultaneous`` (both gradients at the epoch's old parameters).

A model is a `Coupled`: ``evaluate(params, other_params, ghosts) -> (data misfit, prediction at ghosts)``
plus its optimiser and its two weights; `hybrid_jax.training.sensor_models` builds them for sensor data
(a physical rollout, a neural field). Everything here is a pure function over `TrainState` pytrees;
`interaction_fit` is the driver, its step compiled once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from hybrid_jax.training.steps import Params, TrainState, init_state

Ghosts = Any  # a pytree the two models' `evaluate` understand, e.g. `GhostPoints`
Order = Literal["synthetic_first", "physical_first", "simultaneous"]
ORDERS = ("synthetic_first", "physical_first", "simultaneous")
Evaluate = Callable[[Params, Params, Ghosts], tuple[jax.Array, jax.Array]]
"""``evaluate(params, other_params, ghosts) -> (data misfit (float32 scalar), prediction at the ghosts)``;
`other_params` (the other model's, already stop-gradiented) is for models that read the other one, e.g. a
physical model whose initial state is the neural field's t = 0 field; most ignore it."""


@dataclass(frozen=True)
class Coupled:
    """One model of an interaction fit: `evaluate`, its optimiser `tx` and its weights λ_d, λ_m (static:
    a frozen dataclass, not a pytree, so the weights are Python floats inside jitted code)."""

    evaluate: Evaluate
    tx: optax.GradientTransformation
    data_weight: float = 1.0
    match_weight: float = 1.0


class GhostPoints(NamedTuple):
    """Ghost points ``points [G, d]`` (domain units), each read at every one of ``times [Tg]``."""

    points: jax.Array
    times: jax.Array


def sample_ghost_points(key: jax.Array, n: int, lower, upper, times) -> GhostPoints:
    """`n` points uniform in the box ``[lower, upper]`` (each ``[d]``), read at ``times [Tg]``; float32."""
    lower, upper = jnp.asarray(lower, jnp.float32), jnp.asarray(upper, jnp.float32)
    points = jax.random.uniform(key, (n, lower.shape[0]), jnp.float32, lower, upper)
    return GhostPoints(points, jnp.asarray(times, jnp.float32))


def prediction(model: Coupled, params: Params, other_params: Params, ghosts: Ghosts) -> jax.Array:
    """`model`'s prediction at the ghosts, stop-gradiented (the other model's target)."""
    sg = jax.lax.stop_gradient
    return sg(model.evaluate(sg(params), sg(other_params), ghosts)[1])


def objective(model: Coupled, other: Coupled, params: Params, other_params: Params, ghosts: Ghosts,
              target: jax.Array | None = None) -> tuple[jax.Array, dict[str, jax.Array]]:
    """``(J, {objective, data, match})`` of `model` against `other`: J = λ_d·data + λ_m·mean|u − sg(u_other)|².

    `target` is u_other at the ghosts (default: ``prediction(other, other_params, params, ghosts)``). The other
    model's parameters and prediction are stop-gradiented, so ``∂J/∂other_params`` is exactly zero. With
    λ_m = 0 the other model is not evaluated at all (J = λ_d·data: single-model training).
    """
    other_params = jax.lax.stop_gradient(other_params)
    data, own = model.evaluate(params, other_params, ghosts)
    if model.match_weight == 0:
        match = jnp.zeros((), jnp.float32)
    else:
        theirs = prediction(other, other_params, params, ghosts) if target is None else jax.lax.stop_gradient(target)
        match = jnp.mean((own - theirs) ** 2)
    j = (model.data_weight * data + model.match_weight * match).astype(jnp.float32)
    return j, {"objective": j, "data": data.astype(jnp.float32), "match": match.astype(jnp.float32)}


def update(model: Coupled, other: Coupled, state: TrainState, other_params: Params, ghosts: Ghosts,
           target: jax.Array | None = None, steps: int = 1) -> tuple[TrainState, dict[str, jax.Array]]:
    """`steps` optimiser steps of `model` on its own objective against one `target` (default: the other
    model's prediction, computed once); a non-finite step is rejected (parameters and optimiser state kept,
    `failures` counted up). The metrics are those of the first step (at the parameters before it)."""
    if target is None and model.match_weight != 0:
        target = prediction(other, other_params, state.params, ghosts)

    def one(state):
        (_, metrics), grads = jax.value_and_grad(objective, argnums=2, has_aux=True)(
            model, other, state.params, other_params, ghosts, target)
        updates, opt_state = model.tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        leaves = jax.tree.leaves((grads, params)) + [metrics["objective"]]
        ok = jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))
        keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(ok, a, b).astype(b.dtype), new, old)
        return TrainState(keep(params, state.params), keep(opt_state, state.opt_state),
                          jnp.where(ok, 0, state.failures + 1).astype(jnp.int32), state.step + 1), {**metrics, "ok": ok}

    state, first = one(state)
    for _ in range(steps - 1):
        state = one(state)[0]
    return state, first


def interaction_step(physical: Coupled, synthetic: Coupled, states: dict[str, TrainState], ghosts: Ghosts,
                     order: Order = "synthetic_first", synthetic_steps: int = 1,
                     ) -> tuple[dict[str, TrainState], dict[str, jax.Array]]:
    """Both models' updates of one epoch in `order` (the synthetic model takes `synthetic_steps` steps against
    one target); returns the new states ``{physical, synthetic}`` and the metrics ``{physical_objective,
    physical_data, physical_match, physical_ok, synthetic_...}`` (each model's objective at its parameters
    before its update)."""
    if order not in ORDERS:
        raise ValueError(f"order must be one of {', '.join(ORDERS)}, got {order!r}")
    p, s = states["physical"], states["synthetic"]
    if order == "synthetic_first":
        s, ms = update(synthetic, physical, s, p.params, ghosts, steps=synthetic_steps)
        p, mp = update(physical, synthetic, p, s.params, ghosts)
    elif order == "physical_first":
        p, mp = update(physical, synthetic, p, s.params, ghosts)
        s, ms = update(synthetic, physical, s, p.params, ghosts, steps=synthetic_steps)
    else:
        p_new, mp = update(physical, synthetic, p, s.params, ghosts)
        s, ms = update(synthetic, physical, s, p.params, ghosts, steps=synthetic_steps)
        p = p_new
    metrics = {f"physical_{k}": v for k, v in mp.items()} | {f"synthetic_{k}": v for k, v in ms.items()}
    return {"physical": p, "synthetic": s}, metrics


def init_states(physical: Coupled, synthetic: Coupled, physical_params: Params,
                synthetic_params: Params) -> dict[str, TrainState]:
    """Fresh train states ``{physical, synthetic}`` of the two models' initial parameters."""
    return {"physical": init_state(physical_params, physical.tx),
            "synthetic": init_state(synthetic_params, synthetic.tx)}


def interaction_fit(physical: Coupled, synthetic: Coupled, states: dict[str, TrainState], *,
                    sample_ghosts: Callable[[jax.Array], Ghosts], key: jax.Array, epochs: int,
                    order: Order = "synthetic_first", first_epoch: int = 0, max_consecutive_failures: int = 10,
                    on_epoch: Callable[[int, dict[str, TrainState], dict[str, float]], None] | None = None,
                    ) -> tuple[dict[str, TrainState], dict[str, np.ndarray]]:
    """Train both models `epochs` epochs of one `interaction_step` each; epoch e's ghosts are
    ``sample_ghosts(fold_in(key, e))`` (e counted from `first_epoch`, so a resumed fit draws the same ghosts).

    Returns the final states and the history: each metric of `interaction_step` as an array ``[epochs]``.
    `on_epoch(epoch, states, metrics)` is called after each epoch (e.g. to record parameter errors).
    Raises `TrainingDiverged` after `max_consecutive_failures` rejected (non-finite) steps of one model.
    """
    from hybrid_jax.errors import TrainingDiverged

    @jax.jit
    def epoch_step(states, epoch):
        return interaction_step(physical, synthetic, states, sample_ghosts(jax.random.fold_in(key, epoch)), order)

    history: dict[str, list] = {}
    for e in range(first_epoch, first_epoch + epochs):
        states, metrics = epoch_step(states, jnp.asarray(e, jnp.int32))
        metrics = {k: float(v) for k, v in jax.device_get(metrics).items()}  # one transfer per epoch
        for k, v in metrics.items():
            history.setdefault(k, []).append(v)
        for name in ("physical", "synthetic"):
            if int(states[name].failures) >= max_consecutive_failures:
                raise TrainingDiverged(f"interaction fit: {name} model had {int(states[name].failures)} "
                                       f"consecutive steps with NaN/inf (epoch {e})")
        if on_epoch is not None:
            on_epoch(e, states, metrics)
    return states, {k: np.asarray(v, np.float32) for k, v in history.items()}
