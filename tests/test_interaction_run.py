"""Interaction coupling from a config: a PDE family's physical model and a neural field on sensors."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hybrid_jax.config import config_from_dict
from hybrid_jax.data.sensors import SensorData, observe
from hybrid_jax.errors import ConfigError
from hybrid_jax.physics import build_pde
from hybrid_jax.training.interaction_run import build_interaction, model_grid, run_interaction
from hybrid_jax.physics.base import decode_physical
from hybrid_jax.training.sensor_models import frame_times


def _config(mode="physical", initial_state="data", epochs=60, **hybrid):
    return config_from_dict({
        "mode": mode, "seed": 1,
        "physics": {"name": "burgers", "resolution": [32], "domain": [1.0], "dt": 0.01, "substeps": 2,
                    "viscosity": {"true": 0.01, "init": 0.02}},
        "network": {"architecture": "neural_field", "field": {"width": 32, "depth": 3, "frequencies": 8}},
        "trainer": {"physical": {"learning_rate": 5e-2, "initial_state": initial_state},
                    "synthetic": {"learning_rate": 1e-2},
                    "hybrid": {"coupling": "interaction", "interaction": {"epochs": epochs, "ghost_points": 16,
                                                                          "steps_per_frame": 2, **hybrid}}},
    })


def _truth(cfg):
    """Burgers from a prior sample at the true ν, read by 8 sensors drifting at unit speed (periodic)."""
    cfg = _config()  # the truth: rolled out from a given initial state
    pde = build_pde(cfg.physics)
    grid = model_grid(cfg, pde)
    u0 = pde.sample_initial_state(jax.random.PRNGKey(5), 1)[0].astype(jnp.float32)
    times = jnp.arange(11, dtype=jnp.float32) * 0.02
    pos = jnp.mod(jnp.linspace(0.0, 1.0, 8, endpoint=False)[None, :, None] + times[:, None, None], 1.0)
    setup = build_interaction(cfg, pde, SensorData(pos, times, jnp.zeros((11, 8, 1))), u0=u0)
    true = {"coefficients": {k: jnp.log(v) for k, v in pde.true_params().items()}}
    traj = setup.trajectory(true, None)
    values = observe(traj, frame_times(SensorData(pos, times, None), 0.02), grid, pos, times)
    return pde, u0, SensorData(np.asarray(pos), np.asarray(times), np.asarray(values, np.float32))


def test_physical_mode_recovers_the_viscosity_from_sensors():
    cfg = _config()
    pde, u0, sensors = _truth(cfg)
    states, hist, _ = run_interaction(cfg, pde, sensors, u0=u0)
    nu = float(decode_physical(pde, states["physical"].params["coefficients"])["viscosity"])
    assert hist["physical_data"].shape == (60,) and hist["physical_data"][-1] < hist["physical_data"][0] / 10
    assert abs(nu - 0.01) < 0.2 * abs(0.02 - 0.01)
    assert float(np.abs(hist["physical_match"]).max()) == 0  # physical mode: no coupling term


def test_hybrid_mode_with_the_field_as_initial_state_trains_both():
    cfg = _config("hybrid", "synthetic", epochs=80, order="simultaneous")
    pde, _, sensors = _truth(cfg)
    states, hist, setup = run_interaction(cfg, pde, sensors)
    for name in ("physical", "synthetic"):
        assert hist[f"{name}_data"][-1] < hist[f"{name}_data"][0] / 3
        assert hist[f"{name}_match"].max() > 0
    assert setup.trajectory(states["physical"].params, states["synthetic"].params).dtype == jnp.float32


def test_config_refusals():
    with pytest.raises(ConfigError, match="initial state"):
        cfg = _config()
        build_interaction(cfg, build_pde(cfg.physics), SensorData(np.zeros((2, 1, 1)), np.arange(2.0),
                                                                  np.zeros((2, 1, 1))))
    with pytest.raises(ConfigError, match="needs network.architecture = neural_field"):
        config_from_dict({"trainer": {"physical": {"initial_state": "synthetic"},
                                      "hybrid": {"coupling": "interaction"}}})
    from hybrid_jax.training.loop import build_experiment

    with pytest.raises(ConfigError, match="windowed cycle"):  # a neural field has no state -> state rollout
        build_experiment(config_from_dict({"network": {"architecture": "neural_field"}}), None, None)
    physical_only = _config("physical", "synthetic")  # no trained field: the baseline learns its initial state
    assert "u0" in build_interaction(physical_only, build_pde(physical_only.physics), _truth(physical_only)[2]).states[
        "physical"].params
    with pytest.raises(ConfigError, match="optimizer"):
        config_from_dict({"network": {"architecture": "neural_field"},
                          "trainer": {"physical": {"optimizer": "lbfgs"}, "hybrid": {"coupling": "interaction"}}})


def test_run_experiment_with_interaction_coupling(tmp_path):
    """The run path: a config with coupling = interaction and data.sensor_file trains from the sensor file and
    writes one metrics line per epoch and a summary with the learned viscosity."""
    import json

    import jsonschema

    from hybrid_jax.api import run_experiment
    from hybrid_jax.schemas import schema
    from hybrid_jax.data.sensors import save_sensors
    from hybrid_jax.typed_config import to_dict

    cfg = _config("hybrid", "learnable", epochs=30)
    _, _, sensors = _truth(cfg)
    save_sensors(tmp_path / "sensors.npz", sensors)
    d = to_dict(cfg)
    d["data"].update(sensor_file=str(tmp_path / "sensors.npz"), store_dir=str(tmp_path / "store"))
    d["output"].update(dir=str(tmp_path / "runs"), progress=False, plots=False, tensorboard=False)
    result = run_experiment(d)
    lines = [json.loads(ln) for ln in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert len(lines) == 30 and lines[0]["kind"] == "interaction" and "physical_match" in lines[0]
    summary = json.loads((result.run_dir / "summary.json").read_text())
    jsonschema.validate(summary, schema("summary"), cls=jsonschema.Draft202012Validator)  # the output contract
    assert "viscosity" in summary["parameters"]["relative_error"]
    assert summary["final"]["physical_train_loss"] < lines[0]["physical_data"]
    with np.load(result.run_dir / "fields.npz", allow_pickle=False) as f:
        assert f["physical"].shape == f["synthetic"].shape == (11, 32, 1) and f["times"].shape == (11,)
        assert f["physical"].dtype == np.float32
    d["data"]["sensor_file"] = None
    with pytest.raises(ConfigError, match="data.sensor_file"):
        run_experiment(d, tmp_path / "runs" / "other")


@pytest.mark.slow  # three runs end to end (110 s on the loaded 2-core machine)
def test_compare_runs_the_interaction_baselines_at_equal_steps(tmp_path):
    """`compare` on an interaction config: physical, synthetic and hybrid runs of equal epochs, a parameter
    error per seed for the physical model of the physical-only and the hybrid run."""
    from hybrid_jax.compare import compare
    from hybrid_jax.data.sensors import save_sensors
    from hybrid_jax.typed_config import to_dict

    cfg = _config("hybrid", "learnable", epochs=10)
    _, _, sensors = _truth(cfg)
    save_sensors(tmp_path / "sensors.npz", sensors)
    d = to_dict(cfg)
    d["data"].update(sensor_file=str(tmp_path / "sensors.npz"), store_dir=str(tmp_path / "store"))
    d["output"].update(dir=str(tmp_path / "runs"), progress=False, plots=False, tensorboard=False)
    result = compare(config_from_dict(d), tmp_path / "cmp")
    rows = {(r["run"], r["model"]): r for r in result["rows"]}
    assert set(rows) == {("physical", "physical"), ("synthetic", "synthetic"), ("hybrid", "synthetic"),
                         ("hybrid", "physical")}
    assert all(r["steps"] == r["planned_steps"] == 10 for r in rows.values())
    assert rows["hybrid", "physical"]["parameter_error"]["viscosity"] >= 0
    assert any(p["metric"] == "parameter_error.viscosity" for p in result["paired"])


@pytest.fixture(scope="module")
def sensor_file(tmp_path_factory):
    from hybrid_jax.data.sensors import save_sensors

    path = tmp_path_factory.mktemp("sensors") / "sensors.npz"
    save_sensors(path, _truth(None)[2])
    return path


def _run_dict(tmp_path, sensor_file, epochs=6, **output):
    from hybrid_jax.typed_config import to_dict

    d = to_dict(_config("hybrid", "learnable", epochs=epochs, checkpoint_every=2))
    d["data"].update(sensor_file=str(sensor_file), store_dir=str(tmp_path / "store"))
    d["output"].update({"dir": str(tmp_path / "runs"), "progress": False, "plots": False, "tensorboard": False,
                        **output})
    return d


def test_interaction_run_resumes_bitwise_after_a_crash(tmp_path, sensor_file, monkeypatch, caplog):
    """Checkpoints every 2 epochs; a run that crashes after writing epoch 4's metrics line (checkpoints 2 and 4
    saved) and is restarted in its directory drops that line, resumes from epoch 4 and ends with the same
    train states (bitwise) and metrics lines (timings aside) as a run never stopped."""
    import json
    import logging

    from helpers import assert_same_run, run_metrics
    from hybrid_jax import run as run_module
    from hybrid_jax.api import run_experiment
    from hybrid_jax.lifecycle import checkpoint_steps

    d = _run_dict(tmp_path, sensor_file)
    ref = run_experiment(d, tmp_path / "ref")
    assert checkpoint_steps(ref.run_dir) == [2, 4, 6] and not (ref.run_dir / "plots").exists()  # plots off
    write = run_module.MetricsLog.write

    def crash(self, record):
        write(self, record)
        if record.get("epoch") == 4:
            raise RuntimeError("simulated crash")

    monkeypatch.setattr(run_module.MetricsLog, "write", crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_experiment(d, tmp_path / "resumed")
    monkeypatch.undo()
    assert checkpoint_steps(tmp_path / "resumed") == [2, 4] and len(run_metrics(tmp_path / "resumed")) == 5
    with caplog.at_level(logging.INFO, logger="hybrid_jax"):
        resumed = run_experiment(d, tmp_path / "resumed")
    assert "resuming from checkpoint 4: 4 of 6 epochs done" in caplog.text
    assert_same_run(ref.run_dir, resumed.run_dir)
    assert [r["epoch"] for r in run_metrics(resumed.run_dir)] == list(range(6))
    assert resumed.summary["epochs"] == resumed.summary["steps"] == {"physical": 6, "synthetic": 6}
    assert (json.loads((ref.run_dir / "evaluation.json").read_text())
            == json.loads((resumed.run_dir / "evaluation.json").read_text()))
    with np.load(ref.run_dir / "fields.npz") as a, np.load(resumed.run_dir / "fields.npz") as b:
        np.testing.assert_array_equal(a["physical"], b["physical"])


def test_interaction_run_outputs_match_the_schemas_and_plots_are_pngs(tmp_path, sensor_file):
    """A real interaction run's summary.json, evaluation.json (its interaction form) and every metrics line
    validate against the strict schemas, which refuse an unknown key; with output.plots its figures are PNGs."""
    import json

    import jsonschema
    import matplotlib.image

    from helpers import assert_valid_outputs
    from hybrid_jax.api import run_experiment
    from hybrid_jax.schemas import schema

    result = run_experiment(_run_dict(tmp_path, sensor_file, epochs=3, plots=True), tmp_path / "run")
    assert_valid_outputs(result.run_dir)
    evaluation = json.loads((result.run_dir / "evaluation.json").read_text())
    assert evaluation["coupling"] == "interaction" and evaluation["epochs"] == 3
    assert set(evaluation["models"]) == {"physical", "synthetic"} and "viscosity" in evaluation["parameters"]["learned"]
    line = json.loads((result.run_dir / "metrics.jsonl").read_text().splitlines()[-1])
    assert line["kind"] == "interaction" and line["epoch"] == 2 and set(line["parameter_error"]) == {"viscosity"}
    for doc, name in ((evaluation, "evaluation"), (line, "metrics_line")):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({**doc, "unknown_key": 1.0}, schema(name), cls=jsonschema.Draft202012Validator)
    for name in ("interaction_fields.png", "interaction_losses.png"):
        path = result.run_dir / "plots" / name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        image = matplotlib.image.imread(path)
        assert image.ndim == 3 and min(image.shape[:2]) > 100 and image.std() > 0  # drawn, not blank


def test_interaction_plots_of_a_2d_grid(tmp_path):
    """The 2D form of the fields figure: frames of both models with the sensors, a PNG; a 3D grid is skipped."""
    from hybrid_jax.plots_interaction import write_interaction_plots

    x, y = np.meshgrid(np.linspace(0, 1, 12), np.linspace(0, 1, 10), indexing="ij")
    times = np.linspace(0, 1, 5, dtype=np.float32)
    field = np.sin(3 * x)[None, ..., None] * np.cos(times)[:, None, None, None]
    np.savez(tmp_path / "fields.npz", times=times, coords=np.stack([x, y], -1), physical=field, synthetic=field + 0.1)
    sensors = SensorData(np.random.default_rng(0).uniform(size=(3, 6, 2)), np.array([0.0, 0.5, 1.0]), None)
    written = write_interaction_plots(tmp_path / "plots", tmp_path / "fields.npz", sensors, [], num_frames=3)
    assert [p.name for p in written] == ["interaction_fields.png"]
    assert written[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    np.savez(tmp_path / "f3.npz", times=times, coords=np.zeros((2, 2, 2, 3)), physical=np.zeros((5, 2, 2, 2, 1)),
             synthetic=np.zeros((5, 2, 2, 2, 1)))
    assert write_interaction_plots(tmp_path / "p3", tmp_path / "f3.npz", sensors, []) == []
