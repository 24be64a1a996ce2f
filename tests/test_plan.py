"""The run plan computed once from the config: alpha and horizon schedules, coupling weights and the
generated-rollout count, which the training loop and the preflight read alike."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hybrid_jax.footprint import generated_rollouts
from hybrid_jax.physics import build_pde
from hybrid_jax.training.loop import build_experiment
from hybrid_jax.training.plan import alpha_schedule, coupling_weights, generated_weights, num_generated


def test_alpha_schedule_is_linear_from_alpha_to_final_over_the_cycles(tiny_config):
    cfg = tiny_config(trainer__hybrid={"cycles": 5, "alpha": 0.1, "schedule": {"kind": "linear", "final": 0.5}})
    np.testing.assert_allclose([alpha_schedule(cfg)(c) for c in range(5)], [0.1, 0.2, 0.3, 0.4, 0.5], rtol=1e-12)
    assert generated_weights(cfg) == [0.1, 0.5, 0.1, 0.5]
    constant = tiny_config(trainer__hybrid={"cycles": 5, "alpha": 0.1, "schedule": {"final": 0.5}})
    assert {alpha_schedule(constant)(c) for c in range(5)} == {0.1} and generated_weights(constant) == [0.1, 0.1]


@pytest.mark.parametrize("weight", [None, 0.9])
def test_the_preflight_sizes_the_generated_set_the_loop_builds_including_coupling_weights(tiny_config, weight):
    """The physical model's coupling.generated_weight 0.9 raises the default generated fraction from
    alpha (0.25) to 0.9: the experiment and the preflight's estimate both follow (they once disagreed)."""
    cfg = tiny_config(trainer__hybrid={"cycles": 1, "alpha": 0.25, "warmup_epochs": 0},
                      trainer__physical={"coupling": {"generated_weight": weight}})
    assert coupling_weights(cfg, "physical", 0) == (1.0, 0.25 if weight is None else 0.9)
    traj = np.zeros((4, 6, 16, 1), np.float32)
    exp = build_experiment(cfg, build_pde(cfg.physics), traj)
    w = len(exp.train_windows)
    assert exp.num_generated == num_generated(cfg, w) == math.ceil((0.25 if weight is None else 0.9) * w)
    assert generated_rollouts(cfg) == exp.num_generated  # the preflight's count of what the loop builds
    assert num_generated(tiny_config(mode="synthetic"), w) == 0
