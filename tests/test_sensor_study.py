"""The sensor study (data.sensors, trainer.sensors): the truth read by moving sensors, the four methods
at equal steps, their independence where the coupling weights are zero, and the compare table."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest

from hybrid_jax.config import ConfigError, apply_overrides, config_from_dict, load_config, to_dict
from hybrid_jax.physics import build_pde


def tiny(tmp_path, **over):
    """configs/study/hyco_heat.yaml shrunk: an 8² model grid, a 16² truth, 10 frames, 20 epochs."""
    return shrunk("configs/study/hyco_heat.yaml", [
        "physics.resolution=[8,8]", "data.sensors.truth_resolution=[16,16]", "data.sensors.truth_dt=0.005",
        "physics.dt=0.05", "data.sensors.frames=10", "data.sensors.lattice=4", "data.sensors.count=10",
        "trainer.sensors.epochs=20", "trainer.sensors.refresh=10", "network.field.width=16"], tmp_path, over)


def shrunk(path: str, overrides: list[str], tmp_path, over: dict):
    """The config at `path` with `overrides`, its outputs under `tmp_path`, then the test's own `over`."""
    d = apply_overrides(to_dict(load_config(path)), [*overrides, f"output.dir={tmp_path}",
                                                     *[f"{k}={v}" for k, v in over.items()]])
    return config_from_dict(d)


def test_sensor_setup_reads_the_truth_inside_the_window(tmp_path):
    from hybrid_jax.data.sensor_truth import sensor_setup

    cfg = tiny(tmp_path)
    pde = build_pde(cfg.physics)
    s = sensor_setup(cfg, pde, 0)
    pos, times, values = s.data
    assert pos.shape == (11, 10, 2) and times.shape == (11,) and values.shape == (11, 10, 1)
    assert pos.dtype == values.dtype == np.float32
    assert pos.min() >= 0.0 and pos.max() <= 3.0  # held in the window [0, 3]²
    assert np.ptp(pos[:, 0], axis=0).max() > 0.1  # and moving
    np.testing.assert_allclose(times, np.arange(11) * 0.1, atol=1e-6)
    # t = 0: the analytic u0 at the sensors, up to bilinear interpolation on the 16² truth grid (h = 0.4:
    # error ≤ h²/8·max|u''| ≈ 0.04)
    z = pos[0].astype(np.float64)
    u0 = -np.exp(-np.sum((z + 1) ** 2, -1)) + np.exp(-np.sum((z - 1) ** 2, -1))
    assert np.max(np.abs(values[0, :, 0] - u0)) < 0.05
    # the field evolves (sensors held on the domain's edge x = 3 read the Dirichlet value 0)
    assert np.mean(np.abs(np.diff(values[:, :, 0], axis=0)).max(axis=0) > 1e-3) >= 0.5
    other = sensor_setup(cfg, pde, 1)
    assert not np.array_equal(other.data.positions[0], pos[0])  # the seed picks the sensors


def test_sensor_times_must_fit_the_time_step(tmp_path):
    from hybrid_jax.data.sensor_truth import sensor_setup

    cfg = tiny(tmp_path, **{"data.sensors.truth_dt": 0.003})
    with pytest.raises(ConfigError, match="data.sensors.truth_dt"):
        sensor_setup(cfg, build_pde(cfg.physics), 0)


def coefficients(result):
    """The raw learned coefficients of a `fit` result."""
    return result["states"]["physical"].params["coefficients"]


def fitted(cfg, method):
    from hybrid_jax.data.sensor_truth import initial_key, sensor_setup
    from hybrid_jax.training.sensor_fit import fit

    pde = build_pde(cfg.physics)
    setup = sensor_setup(cfg, pde, 0)
    return fit(cfg, method, pde, setup, pde.sample_initial_state(initial_key(0), 1)[0], 0)


def test_interaction_with_zero_coupling_is_each_model_alone(tmp_path):
    """λ_m^P = λ_m^S = 0: interaction must train each model exactly as it trains alone (a leak of one
    model's loss into the other's gradient, or a shared optimiser state, would change the result)."""
    cfg = tiny(tmp_path, **{"trainer.sensors.lambda_physical": 0.0, "trainer.sensors.lambda_synthetic": 0.0})
    both = fitted(cfg, "interaction")
    phys, syn = fitted(cfg, "physical"), fitted(cfg, "synthetic")
    for k, v in coefficients(phys).items():
        np.testing.assert_allclose(np.asarray(coefficients(both)[k]), np.asarray(v), rtol=1e-6, atol=1e-7)
    for a, b in zip(jax.tree.leaves(both["states"]["synthetic"].params),
                    jax.tree.leaves(syn["states"]["synthetic"].params)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)
    assert both["steps"] == {"physical": 20, "synthetic": 20} and phys["steps"] == {"physical": 20}
    coupled = fitted(tiny(tmp_path), "interaction")  # with the coupling on, the physics does change
    learned = coefficients(coupled)
    assert any(not np.allclose(np.asarray(learned[k]), np.asarray(v)) for k, v in coefficients(phys).items())


@pytest.mark.slow  # 8 small fits, about 1.5 min on a loaded 2-core machine
def test_compare_runs_the_four_methods_and_reports_parameter_errors(tmp_path):
    from hybrid_jax.compare import compare

    cfg = tiny(tmp_path)
    result = compare(cfg, tmp_path / "cmp", seeds=(0,))
    rows = {(r["seed"], r["method"]): r for r in result["rows"]}
    assert set(rows) == {(s, m) for s in (0,) for m in ("physical", "synthetic", "augmentation", "interaction")}
    for (s, m), r in rows.items():
        assert all(n == 20 for n in r["steps"].values())  # equal optimiser steps
        assert (r["parameter_error"] is None) == (m == "synthetic")
        if r["parameter_error"]:
            e = r["parameter_error"]
            assert e["summed"] == pytest.approx(e["conductivity.amplitude"] + e["conductivity.centre"])
    assert set(result["targets"]["interaction_over_physical"]) == {"0"}
    md = (tmp_path / "cmp" / "comparison.md").read_text()
    assert "hybrid (interaction)" in md and "physical-only" in md
    ev = json.loads((tmp_path / "cmp" / "seed0" / "interaction" / "evaluation.json").read_text())
    assert set(ev["models"]) == {"physical", "synthetic"}
    lines = (tmp_path / "cmp" / "seed0" / "physical" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2 and "summed" in json.loads(lines[-1])["parameter_error"]
    again = compare(cfg, tmp_path / "cmp", seeds=(0,))  # finished runs are skipped: same numbers
    assert again["rows"] == result["rows"]


def test_compare_dispatches_a_sensor_config_and_refuses_unknown_methods(tmp_path):
    """The default suite's check of compare's sensor branch (the full run is the slow test above)."""
    from hybrid_jax.compare import compare

    with pytest.raises(ConfigError, match="--modes: a sensor config"):
        compare(tiny(tmp_path), tmp_path / "cmp", modes=("physical", "hybrid"), seeds=(0,))


def tiny_gray_scott(tmp_path, **over):
    """configs/study/hyco_gray_scott.yaml shrunk: a 16² model on [0, 25]², 4 frames of 40 time units."""
    return shrunk("configs/study/hyco_gray_scott.yaml", [
        "physics.resolution=[16,16]", "physics.domain=[25.0,25.0]", "physics.initial_state.square_size=0.4",
        "data.sensors.frames=4", "data.sensors.duration=160.0", "data.sensors.count=12",
        "trainer.sensors.epochs=6", "trainer.sensors.refresh=3", "trainer.sensors.warmup_epochs=4",
        "trainer.sensors.synthetic_steps=2", "trainer.sensors.ghost_points=8", "network.field.width=16"],
        tmp_path, over)


def test_scattered_sensors_are_fresh_points_at_every_reading(tmp_path):
    from hybrid_jax.data.sensor_truth import sensor_setup

    cfg = tiny_gray_scott(tmp_path)
    pde = build_pde(cfg.physics)
    s = sensor_setup(cfg, pde, 0)
    pos, times, values = s.data
    assert pos.shape == (5, 12, 2) and values.shape == (5, 12, 2)
    assert pos.min() >= 0.0 and pos.max() <= 25.0
    assert all(not np.allclose(pos[k], pos[k + 1]) for k in range(4))  # drawn anew per reading
    np.testing.assert_array_equal(sensor_setup(cfg, pde, 0).data.positions, pos)  # from the seed
    assert not np.allclose(sensor_setup(cfg, pde, 1).data.positions, pos)
    # same grid, same step (the papers' setting): the readings are the model's own trajectory at the points
    from hybrid_jax.data.sensors import observe
    from hybrid_jax.data.sensor_truth import initial_key, sample_grid, steps_per_frame, trajectory

    x0 = pde.sample_initial_state(initial_key(0), 1)[0]
    traj = trajectory(pde, x0, pde.true_params(), 4, steps_per_frame(160.0, 4, cfg.physics.dt, "dt"))
    np.testing.assert_allclose(np.asarray(observe(traj, times, sample_grid(pde), pos, times)), values, atol=1e-6)


def test_the_physics_data_weight_zero_learns_only_from_the_field(tmp_path):
    """λ_d^P = 0 and λ_m^P = 0: the coupled physics has no loss left, so D stays at its guess exactly; with
    λ_m^P > 0 it moves (toward the field). The warm-up and the steps per epoch count in the steps."""
    still = fitted(tiny_gray_scott(tmp_path, **{"trainer.sensors.lambda_data_physical": 0.0,
                                                "trainer.sensors.lambda_physical": 0.0}), "interaction")
    init = build_pde(tiny_gray_scott(tmp_path).physics).init_params()
    from hybrid_jax.physics.base import decode_physical

    pde = build_pde(tiny_gray_scott(tmp_path).physics)
    learned = decode_physical(pde, coefficients(still))
    for k in ("diffusivity_u", "diffusivity_v"):
        np.testing.assert_allclose(float(learned[k]), float(init[k]), rtol=1e-6)
    only_field = tiny_gray_scott(tmp_path, **{"trainer.sensors.lambda_data_physical": 0.0})
    moved = decode_physical(pde, coefficients(fitted(only_field, "interaction")))
    assert abs(float(moved["diffusivity_u"]) - float(init["diffusivity_u"])) > 1e-4
    assert still["steps"] == {"physical": 6, "synthetic": 4 + 6 * 2}


def test_the_warm_up_fits_the_field_to_its_data(tmp_path):
    """Synthetic-only with a warm-up of W steps equals W + E·k steps: its data loss after the warm-up is
    below the untrained field's."""
    from hybrid_jax.data.sensor_truth import sensor_setup
    from hybrid_jax.training.interaction import GhostPoints
    from hybrid_jax.training.sensor_fit import build_models, make_cycle

    cfg = tiny_gray_scott(tmp_path, **{"trainer.sensors.warmup_epochs": 30})
    pde = build_pde(cfg.physics)
    setup = sensor_setup(cfg, pde, 0)
    m = build_models(cfg, pde, setup, pde.sample_initial_state(jax.random.PRNGKey(0), 1)[0], 0, "synthetic")
    _, warmup = make_cycle(cfg, "synthetic", m, setup)
    states, losses = warmup(m.init)
    none = GhostPoints(np.zeros((1, 2), np.float32), np.zeros(1, np.float32))

    def misfit(s):
        return float(m.synthetic.evaluate(s.params, None, none)[0])

    assert losses.shape == (30,) and np.isclose(losses[0], misfit(m.init["synthetic"]), rtol=1e-5)
    assert misfit(states["synthetic"]) < 0.5 * misfit(m.init["synthetic"])
    for a, b in zip(jax.tree.leaves(states["physical"]), jax.tree.leaves(m.init["physical"])):  # untouched
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_the_papers_gray_scott_start_is_a_central_disc():
    """configs/study/hyco_gray_scott.yaml: u = v = 0.5 in the disc of radius 10 about the centre of [0, 100]²
    (64², h = 1.5625: π r²/h² = 128.7 cells; the lattice count within 8 %), u = 1, v = 0 outside, the same for
    every key (fixed centre, no noise)."""
    cfg = load_config("configs/study/hyco_gray_scott.yaml")
    pde = build_pde(cfg.physics)
    a, b = (np.asarray(pde.sample_initial_state(jax.random.PRNGKey(k), 1)[0]) for k in (0, 1))
    np.testing.assert_array_equal(a, b)
    inside = a[..., 1] > 0.25
    assert abs(inside.sum() / (np.pi * 10.0 ** 2 / 1.5625 ** 2) - 1) < 0.08
    np.testing.assert_array_equal(a[inside], 0.5)
    np.testing.assert_array_equal(a[~inside], np.broadcast_to([1.0, 0.0], a[~inside].shape))
    x = (np.arange(64) + 0.5) * 1.5625
    r = np.hypot(*np.meshgrid(x - 50, x - 50, indexing="ij"))
    np.testing.assert_array_equal(inside, r <= 10.0)
