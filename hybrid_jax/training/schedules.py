"""Learning-rate schedules of the Adam optimisers (`trainer.*.lr_schedule`).

A schedule maps the optimiser's update count n (int32, the `count` of optax's
`ScaleByScheduleState`, which lives in the optimiser state and so in every checkpoint) to
the learning rate of update n. The constant schedule without warm-up is the plain float, so
its optimiser state is the one Adam always had.
"""

from __future__ import annotations

import jax.numpy as jnp
import optax

from hybrid_jax.config import LRScheduleConfig


def learning_rate(peak: float, cfg: LRScheduleConfig) -> float | optax.Schedule:
    """The rate `peak` shaped by `cfg`: ``n -> lr`` (see `LRScheduleConfig` for the formulas)."""
    if cfg.kind == "constant" and not cfg.warmup_steps:
        return peak
    decay = {
        "constant": lambda s: jnp.asarray(peak, jnp.float32),
        "cosine": optax.cosine_decay_schedule(peak, cfg.decay_steps, alpha=cfg.final_fraction),
        "exponential": optax.exponential_decay(peak, cfg.decay_steps, cfg.decay_rate),
        # own formula: optax.piecewise_constant_schedule scales only after a boundary (count > b), not at it
        "step": lambda s: peak * cfg.factor ** jnp.sum(s >= jnp.asarray(cfg.boundaries, jnp.int32)),
    }[cfg.kind]
    if not cfg.warmup_steps:
        return decay
    w = cfg.warmup_steps
    warmup = lambda n: peak * jnp.minimum(n + 1, w) / w  # (no update is spent at rate 0)
    return optax.join_schedules([warmup, decay], [w])


def adam(peak: float, cfg: LRScheduleConfig) -> optax.GradientTransformation:
    """optax Adam whose rate follows the schedule (its position: the update count in the state)."""
    return optax.adam(learning_rate(peak, cfg))
