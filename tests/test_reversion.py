"""Reversion: a phase that does not improve the validation loss is undone, and logged."""

from __future__ import annotations

import jax
import numpy as np

from hybrid_jax.data.store import load_or_generate
from hybrid_jax.physics import build_pde
from hybrid_jax.training.loop import build_experiment, initial_states, train_cycles


def test_a_phase_that_worsens_validation_is_reverted_to_the_pre_phase_state(tiny_config):
    cfg = tiny_config(trainer__physical={"epochs": 2, "learning_rate": 50.0},  # Adam steps of 50 in log ν
                      trainer__hybrid={"cycles": 1, "alpha": 0.5, "warmup_epochs": 0,
                                       "reversion": {"enabled": True, "synthetic": False}})
    pde = build_pde(cfg.physics)
    traj, _ = load_or_generate(cfg, pde)
    exp = build_experiment(cfg, pde, traj)
    start = initial_states(exp)
    (states, result), = list(train_cycles(exp, start, progress=False))
    assert result.reverted == {"synthetic": False, "physical": True}
    for a, b in zip(jax.tree.leaves(states["physical"]), jax.tree.leaves(start["physical"])):
        np.testing.assert_array_equal(a, b)  # parameters, optimiser state and failure count
    assert any(not np.array_equal(a, b) for a, b in zip(jax.tree.leaves(states["synthetic"].params),
                                                        jax.tree.leaves(start["synthetic"].params)))
    line = result.lines()[-1]
    assert line["reverted"] == {"synthetic": False, "physical": True}
    # the logged validation loss is the restored model's
    from hybrid_jax.training.loop import validate

    assert line["physical_val_loss"] == validate(exp, exp.physical, start["physical"].params)


def test_an_improving_phase_is_kept(tiny_config):
    cfg = tiny_config(trainer__physical={"epochs": 4, "learning_rate": 0.05},
                      trainer__hybrid={"cycles": 1, "alpha": 0.5, "warmup_epochs": 0,
                                       "reversion": {"enabled": True, "min_improvement": 0.01}})
    pde = build_pde(cfg.physics)
    traj, _ = load_or_generate(cfg, pde)
    exp = build_experiment(cfg, pde, traj)
    start = initial_states(exp)
    (states, result), = list(train_cycles(exp, start, progress=False))
    assert result.reverted["physical"] is False
    assert float(states["physical"].params["viscosity"]) != float(start["physical"].params["viscosity"])
