"""Jitted train, evaluation and generation steps, shared by both models.

A model is a `predict(params, x0 [B, *spatial, C], K) -> [B, K, *spatial, C]` function; the
synthetic and the physical model differ only in it and in their optimiser. Every step takes
the data arrays as arguments (not closures), so new generated data of the same shape never
re-traces, and gathers the windows of an index batch on the device.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import optax

from hybrid_jax.data.sources import materialize
from hybrid_jax.experiment import (Data, EpochLoop, EvalStep, Generate, IndexBatch, ModelFns, Params, Predict,
                                   TrainState, TrainStep, TrainSteps)
from hybrid_jax.losses import per_sample_loss, proportional_loss, weighted_loss

def _narrow(x):
    """float64 -> float32 and int64 -> int32 (optax makes some state leaves 64-bit under JAX x64)."""
    x = jnp.asarray(x)
    if x.dtype == jnp.float64:
        return x.astype(jnp.float32)
    return x.astype(jnp.int32) if x.dtype == jnp.int64 else x


def init_optimizer(tx: optax.GradientTransformation, params):
    """`tx.init(params)` with 32-bit leaves, so that every step sees the same state dtypes."""
    return jax.tree.map(_narrow, tx.init(params))


def init_state(params, tx: optax.GradientTransformation) -> TrainState:
    return TrainState(params, init_optimizer(tx, params), jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))


def _all_finite(tree) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.inexact)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)


def _select(ok, new, old):
    return jax.tree.map(lambda a, b: jnp.where(ok, a, b), new, old)


def guarded(state: TrainState, value: jax.Array, grads, params, opt_state, kept_opt_state,
            linesearch: bool = False) -> tuple[TrainState, jax.Array, jax.Array]:
    """The NaN/inf guard of every train step, gradient or L-BFGS: ``(new state, ok, progress)`` from the
    step's objective `value`, `grads`, new `params` and `opt_state` (with `linesearch`, the optimiser state
    holds the objective's new value).

    Not `ok` (anything non-finite): the previous parameters are kept and `failures` counts up (a good step
    resets it). The new optimiser state is kept only on `progress`, else `kept_opt_state` (the old one, or a
    line search's fresh one). With `linesearch`, a step that raises the objective is undone without counting
    as a failure, and one that lowers it by less than a relative 1e-6 is kept but is no `progress`.
    """
    opt_state = jax.tree.map(lambda new, old: new.astype(old.dtype), opt_state, state.opt_state)
    ok = jnp.isfinite(value) & _all_finite(grads) & _all_finite(params)
    accept = progress = ok
    if linesearch:
        new_value = optax.tree.get(opt_state, "value")
        ok = ok & jnp.isfinite(new_value)
        accept = ok & (new_value <= value)
        progress = ok & (new_value < value - 1e-6 * jnp.abs(value))
    new = TrainState(_select(accept, params, state.params), _select(progress, opt_state, kept_opt_state),
                     jnp.where(ok, 0, state.failures + 1).astype(jnp.int32), state.step + 1)
    return new, ok, progress


def window_batch(data: Data, index_batch: IndexBatch, window: int, horizon: int) -> dict:
    """`materialize` windows of `window` targets, keeping the first `horizon` (<= window) of them."""
    batch = materialize(data, index_batch, window)
    if horizon == window:
        return batch
    return {**batch, "targets": batch["targets"][:, :horizon], "mask": batch["mask"][:, :horizon]}


def batch_loss(predict: Predict, params: Params, batch: dict, num_dynamic: int, horizon: int,
               proportional: bool = False, key: jax.Array | None = None) -> jax.Array:
    """Weighted, masked K-step rollout loss of a materialized batch, on the dynamic channels;
    with `proportional`, the generated samples' term is rescaled to the real one (`proportional_loss`);
    `key`, if given, goes to ``predict(params, x0, K, key)`` (training input noise)."""
    pred = predict(params, batch["x0"], horizon) if key is None else predict(params, batch["x0"], horizon, key)
    pred, targets = pred[..., :num_dynamic], batch["targets"][..., :num_dynamic]
    if proportional:
        return proportional_loss(per_sample_loss(pred, targets, batch["mask"]), batch["weight"], batch["generated"])
    return weighted_loss(pred, targets, batch["mask"], batch["weight"])


def make_train_step(predict: Predict, tx: optax.GradientTransformation, num_dynamic: int, horizon: int, *,
                    penalty: Callable[[Params], jax.Array] | None = None, linesearch: bool = False,
                    noise_key: jax.Array | None = None, proportional: bool = False,
                    window: int | None = None) -> TrainStep:
    """``step(state, data, index_batch, fresh=True, *, horizon=horizon) -> (state, {loss, ok, progress})``, jitted.

    `horizon` (static, at most `window`) is the rollout's K: the loss rolls out K steps against the
    window's first K targets. Each distinct K is its own compiled program, so a rollout curriculum
    compiles once per K it reaches (and its short epochs cost what their K costs).

    With a `noise_key`, the step calls ``predict(params, x0, K, key)`` with the key
    ``fold_in(noise_key, state.step)``: a pure function of the step count, so a resumed run draws
    the same noise.

    The objective is the batch loss plus ``penalty(params)`` (if given); the reported `loss` is the
    data term alone. With `linesearch` (optax L-BFGS and its zoom line search), `update` gets the
    objective's value, gradient and the objective itself; ``fresh=False`` reuses the value and
    gradient the line search stored in the optimiser state, which is valid only when the batch is
    the one of the previous step (full-batch training), so per-batch training passes True.
    `proportional`: the data term is `proportional_loss` (generated term rescaled to the real one).
    `window` (default `horizon`): targets per gathered window, of which the loss uses the first K.

    A step whose loss, gradients or new parameters (and, with a line search, new objective value)
    are not finite is rejected: the previous parameters are kept and `failures` counts up (reset by
    a good step). The optimiser state is kept too, except that a line-search optimiser restarts its
    curvature memory from the kept parameters, so a deterministic full-batch step is not retried as is.
    A line-search step that raises the objective (the search ran out of iterations, or the memory
    held a negative-curvature pair) is undone the same way without counting as a failure; one that
    lowers it by less than a relative 1e-6 (float32 round-off) is kept but also restarts the memory.
    `progress` says whether the step lowered the objective (always `ok` without a line search).
    """

    window = window or horizon

    def step(state: TrainState, data: Data, index_batch: IndexBatch, fresh=True, *, horizon=horizon):
        batch = window_batch(data, index_batch, window, horizon)
        key = None if noise_key is None else jax.random.fold_in(noise_key, state.step)

        def objective(p):
            loss = batch_loss(predict, p, batch, num_dynamic, horizon, proportional, key)
            return (loss if penalty is None else loss + penalty(p)).astype(jnp.float32)

        if linesearch:
            from_state = optax.value_and_grad_from_state(objective)
            value, grads = jax.lax.cond(jnp.asarray(fresh), jax.value_and_grad(objective),
                                        lambda p: from_state(p, state=state.opt_state), state.params)
            updates, opt_state = tx.update(grads, state.opt_state, state.params, value=value, grad=grads,
                                           value_fn=objective)
            kept_opt_state = init_optimizer(tx, state.params)
        else:
            value, grads = jax.value_and_grad(objective)(state.params)
            updates, opt_state = tx.update(grads, state.opt_state, state.params)
            kept_opt_state = state.opt_state
        new, ok, progress = guarded(state, value, grads, optax.apply_updates(state.params, updates), opt_state,
                                    kept_opt_state, linesearch)
        loss = value if penalty is None else value - penalty(state.params)
        return new, {"loss": loss, "ok": ok, "progress": progress}

    return jax.jit(step, static_argnames="horizon")


def scan_steps(step: TrainStep) -> TrainSteps:
    """`step` over S index batches (leaves ``[S, B]``) in one jitted `lax.scan`:
    ``steps(state, data, index_batches, active [S] bool, *, horizon=None) -> (state, {loss [S], ok [S]})``;
    every step of a call rolls out `horizon` steps (static: one program per K; None: `step`'s default).

    A step whose `active` entry is False is skipped (state unchanged, loss 0, ok True), so a short
    last chunk padded to S reuses the one compilation. The incoming state's buffers are donated:
    callers pass a state they no longer need. Each step computes what `step` does alone, to float32
    round-off (XLA fuses the loop body differently).
    """

    def steps(state: TrainState, data: Data, index_batches: IndexBatch, active: jax.Array, *, horizon=None):
        k = {} if horizon is None else {"horizon": horizon}
        skipped = {"loss": jnp.zeros((), jnp.float32), "ok": jnp.array(True), "progress": jnp.array(False)}

        def body(state, xs):
            idx, on = xs
            state, m = jax.lax.cond(on, lambda s: step(s, data, idx, **k), lambda s: (s, skipped), state)
            return state, {"loss": m["loss"], "ok": m["ok"]}

        return jax.lax.scan(body, state, (index_batches, active))

    return jax.jit(steps, donate_argnums=0, static_argnames="horizon")


SHUFFLE_STREAM = 11  # folded into the seed's key: the device epoch loop's permutations draw from their own stream

Sizes = tuple[tuple[int, int], ...]
"""Per source of a pool, in its order: (windows, windows one epoch keeps)."""


def epoch_key(seed: int, cycle, phase, epoch) -> jax.Array:
    """Key of one epoch's permutation in the device epoch loop (trainer.epoch_loop): a pure function of where
    the epoch is in the run (`cycle` -1: the warm-up), as `training.loop.epoch_seed` is for the host's Grain
    shuffle, so that a resumed run draws the same batches. `cycle`, `phase`, `epoch` may be traced."""
    key = jax.random.fold_in(jax.random.PRNGKey(seed), SHUFFLE_STREAM)
    for x in (jnp.asarray(cycle, jnp.int32) + 1, phase, epoch):
        key = jax.random.fold_in(key, jnp.asarray(x, jnp.int32))
    return key


def epoch_order(key: jax.Array, sizes: Sizes, batch_size: int) -> jax.Array:
    """``[S, B]`` int32 rows of a pool (its sources' windows concatenated, `sizes` static) that one epoch trains
    on, as `data.sources.mixed_batches` draws them but with `jax.random`: each source's kept windows drawn
    without replacement (all if it keeps all), then all shuffled together; S = ⌊Σ kept / B⌋ batches of
    B = `batch_size` (the last partial batch dropped)."""
    parts, offset = [], 0
    for i, (n, kept) in enumerate(sizes):
        rows = jnp.arange(n, dtype=jnp.int32) if kept >= n else \
            jax.random.permutation(jax.random.fold_in(key, i), n)[:kept].astype(jnp.int32)
        parts.append(rows + offset)
        offset += n
    rows = jnp.concatenate(parts)
    steps = len(rows) // batch_size
    order = jax.random.permutation(jax.random.fold_in(key, len(sizes)), len(rows))[:steps * batch_size]
    return rows[order].reshape(steps, batch_size)


def device_epochs(step: TrainStep, seed: int, batch_size: int, max_failures: int,
                  batch_sharding: jax.sharding.Sharding | None = None) -> EpochLoop:
    """E epochs of `step` in one jitted call, their index batches drawn on the device (trainer.epoch_loop device):
    ``epochs(state, data, pool, cycle, phase, first, active [E] bool, *, sizes, horizon=None)
    -> (state, {loss [E, S], ok [E, S], failures [E]})``.

    `pool` holds the index arrays ``{source, sim, t, weight}`` of every window of the phase's sources
    (`data.sources.full_batch`), `sizes` (static) how many each source has and keeps per epoch. Epoch e of the
    call is the phase's epoch ``first + e``; its batches are `epoch_order` of ``epoch_key(seed, cycle, phase,
    first + e)``. All E·S steps run as one flat `lax.scan` (no loop per epoch), each a `step` at `horizon`
    (static; None: its default). An epoch whose `active` entry is False is skipped (a short last call, padded,
    reuses the compilation). The NaN guard is `step`'s; as the host loop stops after an epoch ending with
    `max_failures` consecutive failed steps, the scan skips every step after such an epoch, and `failures`
    reports the count at each epoch's end. The incoming state's buffers are donated.
    """

    def epochs(state: TrainState, data: Data, pool: IndexBatch, cycle, phase, first, active: jax.Array, *,
               sizes: Sizes, horizon=None):
        k = {} if horizon is None else {"horizon": horizon}
        n = active.shape[0]
        keys = jax.vmap(lambda e: epoch_key(seed, cycle, phase, first + e))(jnp.arange(n, dtype=jnp.int32))
        order = jax.vmap(lambda key: epoch_order(key, sizes, batch_size))(keys)  # [E, S, B]
        s = order.shape[1]
        batches = jax.tree.map(lambda a: a[order.reshape(n * s, batch_size)], pool)
        if batch_sharding is not None:
            batches = jax.lax.with_sharding_constraint(batches, batch_sharding)
        on, last = jnp.repeat(active, s), jnp.tile(jnp.arange(s) == s - 1, n)
        skipped = {"loss": jnp.zeros((), jnp.float32), "ok": jnp.array(True), "progress": jnp.array(False)}

        def body(carry, xs):
            state, halted = carry
            idx, go, end = xs
            go = go & ~halted
            state, m = jax.lax.cond(go, lambda st: step(st, data, idx, **k), lambda st: (st, skipped), state)
            halted = halted | (go & end & (state.failures >= max_failures))
            return (state, halted), {"loss": m["loss"], "ok": m["ok"], "failures": state.failures}

        (state, _), m = jax.lax.scan(body, (state, jnp.array(False)), (batches, on, last))
        return state, {"loss": m["loss"].reshape(n, s), "ok": m["ok"].reshape(n, s),
                       "failures": m["failures"].reshape(n, s)[:, -1]}

    return jax.jit(epochs, donate_argnums=0, static_argnames=("sizes", "horizon"))


def make_eval_step(predict: Predict, num_dynamic: int, horizon: int, window: int | None = None) -> EvalStep:
    """``eval(params, data, index_batch) -> per-sample loss [B]`` of the first `horizon` targets of windows
    of `window` (default `horizon`), jitted (no gradient)."""

    def evaluate(params, data: Data, index_batch: IndexBatch):
        batch = window_batch(data, index_batch, window or horizon, horizon)
        pred = predict(params, batch["x0"], horizon)
        return per_sample_loss(pred[..., :num_dynamic], batch["targets"][..., :num_dynamic], batch["mask"])

    return jax.jit(evaluate)


def map_chunks(eval_step: EvalStep) -> Callable[[Params, Data, IndexBatch], jax.Array]:
    """``evaluate(params, data, index_batches [C, B]) -> per-sample loss [C, B]``: `eval_step` over C
    chunks in one jitted `lax.map` (memory of one chunk)."""
    return jax.jit(lambda params, data, chunks: jax.lax.map(lambda idx: eval_step(params, data, idx), chunks))


def make_generate(predict: Predict, horizon: int) -> Generate:
    """``generate(params, x0 [M, *spatial, C]) -> [M, K+1, *spatial, C]`` (x0 first), jitted."""

    def generate(params, x0):
        return jnp.concatenate([x0[:, None], predict(params, x0, horizon)], axis=1)

    return jax.jit(generate)


def model_fns(name, predict: Predict, train_step: TrainStep, eval_step: EvalStep, generate: Generate, horizon: int,
              horizon_at: Callable[[int], int] | None = None, **options) -> ModelFns:
    """A model's `ModelFns`, with its chunked forms of `train_step` (`scan_steps`) and `eval_step` (`map_chunks`);
    `options`: the other fields with defaults (full_batch, restart)."""
    return ModelFns(name, predict, train_step, eval_step, generate, horizon, scan_steps(train_step),
                    map_chunks(eval_step), horizon_at, **options)
