"""What a config plans for a run, computed once from the config and read by the training loop, the
step budget and the preflight: the alpha and rollout-horizon schedules (optax-style ``count -> value``
functions of the cycle or of the run-wide synthetic epoch, pure: a resumed run gets the same values),
the coupling weights and the number of generated rollouts. Pure Python: importing it starts no JAX.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Callable

from hybrid_jax.config import Config

if TYPE_CHECKING:
    from hybrid_jax.experiment import ModelName

Schedule = Callable[[int], float]
"""``count -> value`` (as `optax.Schedule`, on host integers)."""


def alpha_schedule(cfg: Config) -> Schedule:
    """``cycle -> alpha``: constant, or linear from `alpha` (cycle 0) to `schedule.final` (last cycle)."""
    h = cfg.trainer.hybrid
    if h.schedule.kind == "constant" or h.cycles == 1:
        return lambda cycle: h.alpha
    return lambda cycle: h.alpha + (h.schedule.final - h.alpha) * cycle / (h.cycles - 1)


def synthetic_epochs(cfg: Config) -> int:
    """All synthetic epochs of the run: the warm-up's (hybrid mode) and every cycle's."""
    return _warmup_epochs(cfg) + cfg.trainer.hybrid.cycles * cfg.trainer.synthetic.epochs


def first_epoch(cfg: Config, cycle: int | None) -> int:
    """Index among all of the run's synthetic epochs of the first one of `cycle` (None: the warm-up)."""
    return 0 if cycle is None else _warmup_epochs(cfg) + cycle * cfg.trainer.synthetic.epochs


def _warmup_epochs(cfg: Config) -> int:
    return cfg.trainer.hybrid.warmup_epochs if cfg.mode == "hybrid" else 0


def horizon_schedule(cfg: Config) -> Callable[[int], int] | None:
    """``epoch -> K`` of the synthetic model's run-wide `epoch` (trainer.synthetic.rollout_curriculum),
    reaching `end` at the run's last synthetic epoch; None without a curriculum (K = data.rollout_steps)."""
    c = cfg.trainer.synthetic.rollout_curriculum
    if c.kind == "none":
        return None
    end = cfg.data.rollout_steps if c.end is None else c.end
    total = synthetic_epochs(cfg)

    def horizon(epoch: int) -> int:
        p = min(epoch / (total - 1), 1.0) if total > 1 else 1.0
        if c.kind == "exponential":
            p = p**c.exponent
        return min(c.start + math.floor(p * (end - c.start + 1)), end)

    return horizon


def rollout_horizon(cfg: Config, epoch: int) -> int:
    """K of the synthetic model's `epoch`-th epoch of the run (`horizon_schedule`; data.rollout_steps without one)."""
    schedule = horizon_schedule(cfg)
    return cfg.data.rollout_steps if schedule is None else schedule(epoch)


def coupling_weights(cfg: Config, name: ModelName, cycle: int) -> tuple[float, float]:
    """(real weight, generated weight) of model `name`'s samples in `cycle` (hybrid mode)."""
    c = getattr(cfg.trainer, name).coupling
    return c.real_weight, alpha_schedule(cfg)(cycle) if c.generated_weight is None else c.generated_weight


def generated_weights(cfg: Config) -> list[float]:
    """Every weight the generated samples of either model may get in the run: a model's
    coupling.generated_weight, or else alpha (and the linear schedule's final alpha)."""
    h = cfg.trainer.hybrid
    alphas = [h.alpha] + ([h.schedule.final] if h.schedule.kind == "linear" and h.cycles > 1 else [])
    explicit = [getattr(cfg.trainer, m).coupling.generated_weight for m in ("synthetic", "physical")]
    return [a for w in explicit for a in ([w] if w is not None else alphas)]


def num_generated(cfg: Config, train_windows: int) -> int:
    """M: generated rollouts per cycle and direction (before rounding up to a multiple of the device count):
    trainer.hybrid.generation.num_rollouts, or ⌈generated_fraction × `train_windows`⌉ with the fraction's
    default the largest generated weight of the run; 0 outside hybrid mode."""
    h = cfg.trainer.hybrid
    if cfg.mode != "hybrid":
        return 0
    fraction = h.generated_fraction if h.generated_fraction is not None else max(generated_weights(cfg))
    return h.generation.num_rollouts or math.ceil(fraction * train_windows)
