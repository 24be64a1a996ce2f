"""Reversion: a phase that does not improve the validation loss is undone, and logged."""

from __future__ import annotations

import jax
import numpy as np
import pytest

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


@pytest.mark.slow
def test_resume_is_exact_with_curriculum_generation_coupling_and_reversion(tmp_path, monkeypatch):
    """Everything new is a pure function of the config and the cycle/epoch index: a run killed after its
    first checkpoint and resumed equals an uninterrupted one (parameters and metrics lines)."""
    import json

    from helpers import tiny_dict
    from hybrid_jax.config import config_from_dict
    from hybrid_jax.lifecycle import restore_trained
    from hybrid_jax.run import run
    from hybrid_jax.rundir import prepare_run_dir
    from hybrid_jax.training import loop

    cfg = config_from_dict(tiny_dict(
        tmp_path, tasks=["generate", "train"], data__num_frames=8, data__rollout_steps=3,
        trainer__synthetic={"epochs": 2, "rollout_curriculum": {"kind": "linear"},
                            "coupling": {"proportional": True}},
        trainer__physical={"epochs": 2, "rollout_steps": 2, "coupling": {"generated_weight": 0.01}},
        trainer__hybrid={"cycles": 2, "alpha": 0.5, "warmup_epochs": 1, "reversion": {"enabled": True},
                         "generation": {"num_rollouts": 2, "physical_length": 4, "synthetic_length": 3}}))

    def lines(run_dir):
        out = [json.loads(ln) for ln in (run_dir / "metrics.jsonl").read_text().splitlines()]
        return [{k: v for k, v in ln.items() if k != "timings_s"} for ln in out]

    prepare_run_dir(cfg, tmp_path / "ref", overwrite=False)
    run(cfg, tmp_path / "ref")
    real_cycle = loop.hybrid_cycle

    def dies_in_cycle_1(exp, states, cycle, *args):
        if cycle == 1:
            raise KeyboardInterrupt
        return real_cycle(exp, states, cycle, *args)

    out = tmp_path / "killed"
    prepare_run_dir(cfg, out, overwrite=False)
    with monkeypatch.context() as m:
        m.setattr(loop, "hybrid_cycle", dies_in_cycle_1)
        with pytest.raises(KeyboardInterrupt):
            run(cfg, out)
    run(cfg, out)
    assert lines(out) == lines(tmp_path / "ref")
    assert any("reverted" in ln for ln in lines(out)) and {ln.get("horizon") for ln in lines(out)} >= {1, 3}
    from hybrid_jax.data.store import load_or_generate
    from hybrid_jax.physics import build_pde

    pde = build_pde(cfg.physics)
    exp = loop.build_experiment(cfg, pde, load_or_generate(cfg, pde)[0])
    a, b = (restore_trained(cfg, d, loop.initial_states(exp)) for d in (tmp_path / "ref", out))
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_array_equal(x, y)
