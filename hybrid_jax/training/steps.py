"""Jitted train, evaluation and generation steps, shared by both models.

A model is a `predict(params, x0 [B, *spatial, C], K) -> [B, K, *spatial, C]` function; the
synthetic and the physical model differ only in it and in their optimiser. Every step takes
the data arrays as arguments (not closures), so new generated data of the same shape never
re-traces, and gathers the windows of an index batch on the device.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from hybrid_jax.data.sources import materialize
from hybrid_jax.losses import per_sample_loss, weighted_loss

Predict = Callable[[object, jax.Array, int], jax.Array]


class TrainState(NamedTuple):
    """Parameters and optimiser state of one model, plus its count of consecutive failed steps."""

    params: object
    opt_state: object
    failures: jax.Array  # int32 scalar


def init_state(params, tx: optax.GradientTransformation) -> TrainState:
    return TrainState(params, tx.init(params), jnp.zeros((), jnp.int32))


def _all_finite(tree) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.inexact)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)


def _select(ok, new, old):
    return jax.tree.map(lambda a, b: jnp.where(ok, a, b), new, old)


def batch_loss(predict: Predict, params, batch: dict, num_dynamic: int, horizon: int) -> jax.Array:
    """Weighted, masked K-step rollout loss of a materialized batch, on the dynamic channels."""
    pred = predict(params, batch["x0"], horizon)
    return weighted_loss(pred[..., :num_dynamic], batch["targets"][..., :num_dynamic], batch["mask"], batch["weight"])


def make_train_step(predict: Predict, tx: optax.GradientTransformation, num_dynamic: int, horizon: int):
    """``step(state, data, index_batch) -> (state, {loss, ok})``, jitted.

    A step whose loss, gradients or new parameters are not finite is rejected: the previous
    parameters and optimiser state are kept and `failures` counts up (reset by a good step).
    """

    def step(state: TrainState, data: dict, index_batch: dict):
        batch = materialize(data, index_batch, horizon)
        loss, grads = jax.value_and_grad(lambda p: batch_loss(predict, p, batch, num_dynamic, horizon))(state.params)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        ok = jnp.isfinite(loss) & _all_finite(grads) & _all_finite(params)
        new = TrainState(_select(ok, params, state.params), _select(ok, opt_state, state.opt_state),
                         jnp.where(ok, 0, state.failures + 1).astype(jnp.int32))
        return new, {"loss": loss, "ok": ok}

    return jax.jit(step)


def make_eval_step(predict: Predict, num_dynamic: int, horizon: int):
    """``eval(params, data, index_batch) -> per-sample loss [B]``, jitted (no gradient)."""

    def evaluate(params, data: dict, index_batch: dict):
        batch = materialize(data, index_batch, horizon)
        pred = predict(params, batch["x0"], horizon)
        return per_sample_loss(pred[..., :num_dynamic], batch["targets"][..., :num_dynamic], batch["mask"])

    return jax.jit(evaluate)


def make_generate(predict: Predict, horizon: int):
    """``generate(params, x0 [M, *spatial, C]) -> [M, K+1, *spatial, C]`` (x0 first), jitted."""

    def generate(params, x0):
        return jnp.concatenate([x0[:, None], predict(params, x0, horizon)], axis=1)

    return jax.jit(generate)
