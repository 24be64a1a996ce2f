"""Optimiser-step budgets: how many steps a run's models are allowed, from its config and window counts.

A step is one call of a model's train step: one minibatch (Adam), or one L-BFGS iteration (with its
line search) on all windows in full-batch mode. An epoch over ``W`` windows takes ``⌊W / batch_size⌋``
steps (the last partial batch is dropped), or 1 in full-batch mode. In hybrid mode a model's epochs
also cover the other model's generated windows (in every cycle whose generated weight is > 0), and
the synthetic model's warm-up epochs (real windows only) come on top. These are the steps a run is
*allowed*; the steps it *took* are counted on the device (`TrainState.step`, in ``summary.json``) and
are fewer where full-batch L-BFGS stops early on convergence, or a reverted phase (trainer.hybrid.reversion)
rolled its counter back with its state.
"""

from __future__ import annotations

import math

from hybrid_jax.config import Config
from hybrid_jax.data.sources import kept_windows
from hybrid_jax.experiment import ModelName, trained_models
from hybrid_jax.training.plan import coupling_weights


def steps_per_epoch(num_windows: int, batch_size: int, full_batch: bool = False) -> int:
    """Optimiser steps of one epoch over `num_windows` windows."""
    return 1 if full_batch else num_windows // batch_size


def full_batch(cfg: Config, model: ModelName) -> bool:
    return model == "physical" and cfg.trainer.physical.batching == "full"


def planned_steps(cfg: Config, train_windows: int, generated_windows: dict[str, int]) -> dict[ModelName, int]:
    """Steps each trained model of a run of `cfg` is allowed: ``{model: steps}``.

    train_windows: real training windows; generated_windows: per model, the windows of the other
    model's generated rollouts it trains on each cycle (0 outside hybrid mode). Interaction coupling:
    one step per epoch of trainer.hybrid.interaction.
    """
    t, out = cfg.trainer, {}
    if t.hybrid.coupling == "interaction":
        return {model: t.hybrid.interaction.epochs for model in trained_models(cfg)}
    for model in trained_models(cfg):
        fb, epochs = full_batch(cfg, model), getattr(t, model).epochs
        steps = 0
        for cycle in range(t.hybrid.cycles):
            generated = generated_windows.get(model, 0) if cfg.mode == "hybrid" else 0
            if generated and coupling_weights(cfg, model, cycle)[1] <= 0:
                generated = 0
            real = kept_windows(train_windows, t.hybrid.real_fraction) if generated and not fb else train_windows
            steps += epochs * steps_per_epoch(real + generated, t.batch_size, fb)
        if model == "synthetic" and cfg.mode == "hybrid":
            steps += t.hybrid.warmup_epochs * steps_per_epoch(train_windows, t.batch_size)
        out[model] = steps
    return out


def epochs_for_steps(steps: int, cycles: int, per_epoch: int) -> int:
    """Epochs per cycle that reach at least `steps` steps in `cycles` cycles of `per_epoch` steps each
    (fewer than one extra epoch per cycle)."""
    return math.ceil(steps / (cycles * per_epoch)) if steps else 0
