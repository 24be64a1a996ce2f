"""Learning-rate schedules: their values against independent formulas, Adam applying them at its
update count, and that count restored from a checkpoint driving them on."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hybrid_jax.checkpoint import Checkpoints
from hybrid_jax.config import ConfigError, LRScheduleConfig, config_from_dict
from hybrid_jax.physics import build_pde
from hybrid_jax.training.models import physical_optimizer, synthetic_model
from hybrid_jax.training.schedules import learning_rate
from hybrid_jax.training.steps import init_optimizer

LR = 0.01


def expected(cfg: LRScheduleConfig, n: int) -> float:
    """The rate of update n, written out (linear warm-up to LR, then the decay in s = n - warmup)."""
    w = cfg.warmup_steps
    if n < w:
        return LR * (n + 1) / w
    s = n - w
    if cfg.kind == "cosine":
        f, d = cfg.final_fraction, cfg.decay_steps
        return LR * (f + (1 - f) * 0.5 * (1 + math.cos(math.pi * min(s, d) / d)))
    if cfg.kind == "step":
        return LR * cfg.factor ** sum(s >= b for b in cfg.boundaries)
    if cfg.kind == "exponential":
        return LR * cfg.decay_rate ** (s / cfg.decay_steps)
    return LR


CASES = {
    "constant+warmup": LRScheduleConfig(warmup_steps=4),
    "cosine": LRScheduleConfig(kind="cosine", decay_steps=10, final_fraction=0.1),
    "cosine+warmup": LRScheduleConfig(kind="cosine", warmup_steps=3, decay_steps=10),
    "step": LRScheduleConfig(kind="step", boundaries=(2, 5, 9), factor=0.5),
    "step+warmup": LRScheduleConfig(kind="step", warmup_steps=2, boundaries=(3,), factor=0.1),
    "exponential": LRScheduleConfig(kind="exponential", decay_steps=4, decay_rate=0.3),
    "exponential+warmup": LRScheduleConfig(kind="exponential", warmup_steps=5, decay_steps=2, decay_rate=0.5),
}


@pytest.mark.parametrize("name", list(CASES))
def test_schedule_values_follow_their_formula(name):
    cfg = CASES[name]
    sched = learning_rate(LR, cfg)
    got = [float(sched(jnp.int32(n))) for n in range(25)]
    np.testing.assert_allclose(got, [expected(cfg, n) for n in range(25)], rtol=1e-6)
    assert len(set(np.round(got, 12))) > 1  # really a schedule


def test_constant_schedule_without_warmup_is_plain_adam():
    assert learning_rate(LR, LRScheduleConfig()) == LR  # a float: the optimiser state Adam always had


def _updates(tx, opt_state, n):
    """n Adam updates of a constant gradient g: each is -lr(count)·g/(|g|+eps), so it reads off the rate."""
    params = {"w": jnp.zeros(3, jnp.float32)}
    g = {"w": jnp.array([1.0, -2.0, 0.5], jnp.float32)}
    update = jax.jit(tx.update)
    rates = []
    for _ in range(n):
        u, opt_state = update(g, opt_state, params)
        rates.append(np.asarray(-u["w"] / jnp.sign(g["w"])))
    return np.stack(rates), opt_state


def _optimizer(which, sched: dict):
    cfg = config_from_dict({"physics": {"name": "burgers", "resolution": [8], "domain": [1.0]},
                            "network": {"architecture": "convnet", "filters": 2, "layers": 1},
                            "trainer": {which: {"learning_rate": LR, "lr_schedule": sched}}})
    if which == "physical":
        return physical_optimizer(cfg.trainer.physical)
    return synthetic_model(build_pde(cfg.physics), cfg)[3]


@pytest.mark.parametrize("which", ["synthetic", "physical"])
def test_adam_applies_the_rate_of_its_count_and_a_restored_count_drives_it(tmp_path, which):
    sched = {"kind": "step", "warmup_steps": 3, "boundaries": [2, 4], "factor": 0.3}
    tx = _optimizer(which, sched)
    cfg = LRScheduleConfig(kind="step", warmup_steps=3, boundaries=(2, 4), factor=0.3)
    init = init_optimizer(tx, {"w": jnp.zeros(3, jnp.float32)})
    rates, _ = _updates(tx, init, 12)
    want = np.array([expected(cfg, n) for n in range(12)])
    np.testing.assert_allclose(rates, np.repeat(want[:, None], 3, axis=1), rtol=1e-5)
    # stop after 5 updates, checkpoint the optimiser state, restore it into a fresh one, go on
    first, state = _updates(tx, init, 5)
    ckpts = Checkpoints(tmp_path / "ckpt", max_to_keep=1)
    ckpts.save(5, {"opt_state": state}, {})
    ckpts.close()
    restored, _ = Checkpoints(tmp_path / "ckpt", max_to_keep=1).restore(5, {"opt_state": init})
    rest, _ = _updates(tx, restored["opt_state"], 7)
    np.testing.assert_array_equal(np.concatenate([first, rest]), rates)  # bitwise the uninterrupted updates


def test_bad_schedules_name_the_key():
    with pytest.raises(ConfigError, match=r"trainer\.synthetic\.lr_schedule\.boundaries: must be strictly increasing"):
        config_from_dict({"trainer": {"synthetic": {"lr_schedule": {"kind": "step", "boundaries": [5, 3]}}}})
    with pytest.raises(ConfigError, match=r"trainer\.physical\.lr_schedule\.kind: must be one of"):
        config_from_dict({"trainer": {"physical": {"lr_schedule": {"kind": "linear"}}}})
    with pytest.raises(ConfigError, match=r"trainer\.synthetic\.lr_schedule\.final_fraction: must be in \[0, 1\]"):
        config_from_dict({"trainer": {"synthetic": {"lr_schedule": {"kind": "cosine", "final_fraction": 2}}}})
