"""Inverse problems: L-BFGS and its safeguards, smoothness penalties, parameter errors, plots, compare."""

from __future__ import annotations

import dataclasses
import json
import logging

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hybrid_jax.data.sources import REAL
from hybrid_jax.data.store import load_or_generate
from hybrid_jax.evaluate import parameter_errors, region_errors, resample_periodic
from hybrid_jax.physics import build_pde
from hybrid_jax.training.loop import build_experiment, hybrid_cycle, initial_states, train_cycles
from hybrid_jax.training.models import decode_physical, physical_optimizer, smoothness_penalty
from hybrid_jax.training.steps import init_state, make_train_step

LBFGS = {"optimizer": "lbfgs", "batching": "full", "epochs": 12}


def _experiment(cfg):
    pde = build_pde(cfg.physics)
    traj, _ = load_or_generate(cfg, pde)
    return build_experiment(cfg, pde, traj)


def test_full_batch_lbfgs_recovers_a_viscosity_five_times_off_and_compiles_once(tiny_config):
    cfg = tiny_config(mode="physical", physics__viscosity={"true": 0.01, "init": 0.002},
                      trainer__physical=LBFGS, trainer__hybrid={"cycles": 2})
    exp = _experiment(cfg)
    history = []
    for states, m in train_cycles(exp, initial_states(exp), progress=False):
        history.append(m)
    nu = float(decode_physical(exp.pde, states["physical"].params)["viscosity"])
    assert abs(nu - 0.01) / 0.01 < 1e-3, nu
    assert len(history[0].epoch_losses["physical"]) <= 12  # stops early once converged
    assert exp.physical.train_step._cache_size() == 1
    assert states["physical"].params["viscosity"].dtype == jnp.float32


def _toy_step(cfg):
    def predict(p, x0, k):
        return jnp.stack([x0 * p["a"]] * k, axis=1)

    tx = physical_optimizer(cfg.trainer.physical)
    f32 = jnp.float32
    data = {"real": jnp.ones((2, 3, 4, 1), f32), "real_mask": jnp.ones((3, 4), f32),
            "generated": jnp.zeros((1, 2, 4, 1), f32)}
    idx = {"source": jnp.full(2, REAL, jnp.int32), "sim": jnp.array([0, 1]), "t": jnp.array([0, 1]),
           "weight": jnp.ones(2, jnp.float32)}
    return make_train_step(predict, tx, num_dynamic=1, horizon=1, linesearch=True), tx, data, idx


def test_lbfgs_rejects_non_finite_steps_keeps_the_last_good_parameters_and_restarts(tiny_config):
    step, tx, data, idx = _toy_step(tiny_config(trainer__physical=LBFGS))
    state = init_state({"a": jnp.float32(2.0)}, tx)
    good, m = step(state, data, idx, True)
    assert bool(m["ok"]) and bool(m["progress"]) and abs(float(good.params["a"]) - 1.0) < 0.5
    bad = {**data, "real": data["real"].at[0, 1].set(jnp.nan)}
    kept, m = step(good, bad, idx, True)
    assert not bool(m["ok"]) and float(kept.params["a"]) == float(good.params["a"]) and int(kept.failures) == 1
    assert int(kept.opt_state[0].count) == 0  # the curvature memory restarted
    assert jax.tree.structure(kept.opt_state) == jax.tree.structure(state.opt_state)
    assert all(a.dtype == b.dtype for a, b in zip(jax.tree.leaves(kept.opt_state), jax.tree.leaves(state.opt_state)))


def test_a_rejected_step_is_logged_with_its_cycle_and_step(tiny_config, caplog):
    exp = _experiment(tiny_config(mode="physical", trainer__hybrid={"cycles": 1}))
    exp.real = exp.real.at[:].set(jnp.nan)
    with caplog.at_level(logging.WARNING):
        states, _ = hybrid_cycle(exp, initial_states(exp), 0, progress=False)
    assert any(r.getMessage().startswith("cycle 0, physical epoch 0: 3 step(s) with NaN/inf rejected")
               and r.getMessage().endswith("(step 0, 1, 2 of 0..2)") for r in caplog.records)
    np.testing.assert_array_equal(states["physical"].params["viscosity"], exp.init_params["physical"]["viscosity"])


def test_smoothness_penalties(tiny_config):
    def penalty(kind, weight=2.0, **kw):
        cfg = tiny_config(physics__resolution=[16], physics__viscosity={"learnable": "field"},
                          trainer__physical={"regularization": {"kind": kind, "weight": weight}}, **kw)
        return smoothness_penalty(build_pde(cfg.physics), cfg.physics, cfg.trainer.physical.regularization)

    assert penalty("none") is None and penalty("gradient_l2", weight=0.0) is None
    x = (np.arange(16) + 0.5) / 16
    field = jnp.asarray(np.sin(2 * np.pi * x), jnp.float32)
    # forward differences of sin(2πx) on 16 cells: mean |Δθ/h|² = (2 sin(π h)/h)² / 2, h = 1/16
    expected = 2.0 * (2 * np.sin(np.pi / 16) * 16) ** 2 / 2
    np.testing.assert_allclose(penalty("gradient_l2")({"viscosity": field}), expected, rtol=1e-5)
    assert float(penalty("gradient_l2")({"viscosity": jnp.zeros(16, jnp.float32)})) == 0.0
    tv = penalty("total_variation")
    np.testing.assert_allclose(tv({"viscosity": jnp.zeros(16, jnp.float32)}), 2.0 * 1e-3, rtol=1e-4)
    assert np.isfinite(jax.grad(lambda f: tv({"viscosity": f}))(jnp.zeros(16, jnp.float32))).all()
    assert float(penalty("gradient_l2")({"viscosity": jnp.float32(3.0)})) == 0.0  # scalars are not penalised


def test_the_stability_clip_keeps_a_gradient_pointing_back(tiny_config):
    pde = build_pde(tiny_config().physics)
    raw = {"viscosity": jnp.log(jnp.float32(10 * pde.viscosity_bound))}
    assert float(decode_physical(pde, raw)["viscosity"]) == pytest.approx(pde.viscosity_bound, rel=1e-6)
    g = jax.grad(lambda r: decode_physical(pde, r)["viscosity"])(raw)["viscosity"]
    assert float(g) > 0  # straight-through, not the zero gradient of a flat clip


def test_parameter_errors_resample_learned_fields_to_the_true_grid():
    def f(n):
        x = (np.arange(n) + 0.5) / n
        return 1.0 + 0.5 * np.sin(2 * np.pi * x)[:, None] * np.cos(2 * np.pi * x)[None, :]

    assert resample_periodic(f(64), (32, 32)).shape == (32, 32)
    err = parameter_errors({"nu": f(64)}, {"nu": f(32)})["nu"]
    assert err < 5e-3
    assert parameter_errors({"nu": f(32)}, {"nu": f(32)})["nu"] == 0.0
    assert parameter_errors({"nu": np.float32(1.1)}, {"nu": np.float32(1.0)})["nu"] == pytest.approx(0.1, rel=1e-5)


def test_region_errors_split_observed_and_unobserved_cells():
    truth = np.zeros((1, 2, 4, 1))
    pred = truth.copy()
    pred[..., 2:, 0] = 3.0
    mask = np.array([[1, 1, 0, 0]] * 2, np.float32)
    assert region_errors(pred, truth, mask) == {"mean_rmse_observed": 0.0, "mean_rmse_unobserved": 3.0}


@pytest.mark.parametrize("shape", [(16,), (8, 8)])
def test_plots_are_written(tmp_path, shape):
    from hybrid_jax.plots import write_plots

    rng = np.random.default_rng(0)
    truth = rng.normal(size=(2, 5) + shape + (len(shape),)).astype(np.float32)
    rollouts = {"horizon": 4, "sims": np.array([0, 1]), "truth": truth, "mask": np.ones((5,) + shape, np.float32),
                "physical": truth + 0.01, "synthetic": truth - 0.1}
    evaluation = {"models": {m: {"rel_l2": [0.1, 0.2, 0.3, 0.4], "nrmse": [0.1, 0.2, 0.3, 0.4]}
                             for m in ("physical", "synthetic")}}
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text("".join(json.dumps({"kind": "cycle", "cycle": c, "synthetic_train_loss": 1.0 / (c + 1),
                                           "synthetic_val_loss": 2.0, "physical_val_loss": None}) + "\n"
                               for c in range(3)))
    written = write_plots(tmp_path / "plots", rollouts, evaluation,
                          {"viscosity": np.full(shape, 0.011, np.float32), "b": np.float32(1.0)},
                          {"viscosity": np.full(shape, 0.01, np.float32), "b": np.float32(1.2)},
                          ("synthetic", "physical"), metrics)
    names = {p.name for p in written}
    assert {"frames.png", "rollout_error.png", "parameters.png", "losses.png"} <= names
    assert all(p.stat().st_size > 0 for p in written)


@pytest.mark.slow
def test_compare_runs_three_baselines_end_to_end(tiny_config, tmp_path):
    from hybrid_jax.compare import compare

    cfg = tiny_config(data__observation={"spatial": "box", "box": [[0.0, 0.5]]}, trainer__physical=LBFGS,
                      output={"dir": str(tmp_path / "runs"), "progress": False, "plots": False})
    result = compare(cfg, tmp_path / "cmp", overwrite=True)
    assert len(result["rows"]) == 4 and (tmp_path / "cmp" / "comparison.md").is_file()
    assert all(r["mean_rmse_unobserved"] is not None for r in result["rows"])
    assert dataclasses.asdict(cfg.data.observation)["spatial"] == "box"
