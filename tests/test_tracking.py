"""Experiment tracking: TensorBoard events read back with TensorBoard's own loader; MLflow and W&B."""

from __future__ import annotations

import json
import sys
import types

import jax
import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from hybrid_jax.config import ConfigError
from hybrid_jax.tracking import Tracker, field_image, record_step, rollout_image


def _train(cfg, run_dir):
    from hybrid_jax.run import run
    from hybrid_jax.rundir import prepare_run_dir

    prepare_run_dir(cfg, run_dir, overwrite=False)
    return run(cfg, run_dir)


def _events(run_dir) -> EventAccumulator:
    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return acc


def test_tensorboard_events_hold_the_runs_scalars_parameters_and_images(tiny_config, tmp_path):
    cfg = tiny_config(physics__viscosity__learnable="field", trainer__hybrid__warmup_epochs=1)
    run_dir = tmp_path / "run"
    summary = _train(cfg, run_dir)
    acc = _events(run_dir)
    tags = acc.Tags()
    cycles = [json.loads(ln) for ln in (run_dir / "metrics.jsonl").read_text().splitlines()]
    cycles = [r for r in cycles if r["kind"] == "cycle"]
    val = acc.Scalars("cycle/synthetic_val_loss")
    # one point per cycle, at "epochs trained" steps (1 warm-up epoch, then 2 per cycle), equal to metrics.jsonl
    assert [e.step for e in val] == [3, 5]
    np.testing.assert_allclose([e.value for e in val], [c["synthetic_val_loss"] for c in cycles], rtol=1e-6)
    assert [e.step for e in acc.Scalars("epoch_loss/warmup")] == [1]
    assert [e.step for e in acc.Scalars("epoch_loss/physical")] == [2, 3, 4, 5]
    err = acc.Scalars("parameters/viscosity/relative_error")
    assert len(err) == 2 and err[-1].value == pytest.approx(summary["parameters"]["relative_error"]["viscosity"],
                                                            rel=1e-5)
    assert "timings_s/cycle" in tags["scalars"]
    assert {"rollout/validation", "parameters/viscosity"} <= set(tags["images"])
    rollout = acc.Images("rollout/validation")
    assert len(rollout) == 2 and rollout[0].width >= 3 * 16 and rollout[0].height >= 3  # real | synthetic | physical


def test_a_field_learned_at_reduced_resolution_is_imaged_on_the_true_grid(tiny_config, tmp_path):
    cfg = tiny_config(physics__viscosity__learnable="field", trainer__physical__downsample_factor=1)
    run_dir = tmp_path / "run"
    _train(cfg, run_dir)  # raised a broadcast error (learned 8² against true 16²) before
    image = _events(run_dir).Images("parameters/viscosity")
    assert len(image) == 2 and image[0].width >= 3 * 16  # learned | true | difference, each on the true grid


def test_resume_hides_the_events_of_cycles_not_checkpointed(tiny_config, tmp_path):
    cfg = tiny_config(trainer__hybrid__warmup_epochs=0, output__track_images=False)
    run_dir = tmp_path / "run"
    tracker = Tracker(cfg, run_dir, start_cycle=0)  # a first invocation that got to cycle 1, then died
    for c in (0, 1):
        tracker.write({"kind": "cycle", "cycle": c, "synthetic_val_loss": 10.0 + c})
    tracker.close()
    tracker = Tracker(cfg, run_dir, start_cycle=1)  # resumed from the checkpoint after cycle 0
    tracker.write({"kind": "cycle", "cycle": 1, "synthetic_val_loss": 20.0})
    tracker.close()
    points = [(e.step, e.value) for e in _events(run_dir).Scalars("cycle/synthetic_val_loss")]
    assert points == [(2, 10.0), (4, 20.0)]


def test_record_steps_follow_epochs_trained(tiny_config):
    cfg = tiny_config(trainer__physical__epochs=5, trainer__hybrid__warmup_epochs=2)  # E = 5 per cycle, W = 2
    assert record_step(cfg, {"kind": "epoch", "cycle": -1, "epoch": 1}) == 2
    assert record_step(cfg, {"kind": "warmup", "cycle": -1}) == 2
    assert record_step(cfg, {"kind": "epoch", "cycle": 1, "epoch": 0}) == 8
    assert record_step(cfg, {"kind": "cycle", "cycle": 1}) == 12


def test_images_put_series_side_by_side():
    rng = np.random.default_rng(0)
    one_d = {k: rng.normal(size=(5, 16)) for k in ("real", "synthetic")}  # [T, X]: space-time panels
    img = rollout_image(one_d)
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3 and img.shape[1] > 2 * img.shape[0]
    two_d = {k: rng.normal(size=(3, 8, 8)) for k in ("real", "physical")}  # two rows of three frames
    img = rollout_image(two_d)
    assert img.shape[1] > img.shape[0]
    field = field_image(np.ones((8, 8)), np.full((8, 8), 2.0))
    assert field.shape[1] > 2 * field.shape[0]


def test_enabled_tracker_that_is_not_installed_is_a_clear_config_error(tiny_config, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # import wandb raises ImportError
    with pytest.raises(ConfigError, match=r"output.tracker: wandb is not installed \(pip install wandb\)"):
        Tracker(tiny_config(output__tracker="wandb"), tmp_path, 0)


def test_wandb_backend_logs_scalars_on_the_epochs_axis(tiny_config, tmp_path, monkeypatch):
    calls = []

    class Run:
        def define_metric(self, name, step_metric):
            calls.append(("define", name, step_metric))

        def log(self, values):
            calls.append(("log", values))

        def finish(self):
            calls.append(("finish",))

    fake = types.SimpleNamespace(util=types.SimpleNamespace(generate_id=lambda: "abc123"), Image=lambda a: a.shape,
                                 init=lambda **kw: calls.append(("init", kw)) or Run())
    monkeypatch.setitem(sys.modules, "wandb", fake)
    cfg = tiny_config(output__tracker="wandb", output__tensorboard=False, output__project="proj")
    tracker = Tracker(cfg, tmp_path, 0)
    tracker.write({"kind": "epoch", "cycle": 0, "model": "synthetic", "epoch": 1, "loss": 0.5})
    tracker.close()
    init = calls[0][1]
    assert init["project"] == "proj" and init["id"] == "abc123" and init["resume"] == "allow"
    assert init["config"]["trainer"]["batch_size"] == 4
    assert ("log", {"epoch_loss/synthetic": 0.5, "epochs": 2}) in calls and calls[-1] == ("finish",)
    assert (tmp_path / "wandb_run_id").read_text().strip() == "abc123"


def test_mlflow_run_gets_metrics_params_and_resumes_the_same_run(tiny_config, tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    uri = (tmp_path / "mlruns").as_uri()
    cfg = tiny_config(output__tracker="mlflow", output__tensorboard=False, output__tracking_uri=uri)
    for start, loss in ((0, 0.5), (1, 0.25)):
        tracker = Tracker(cfg, tmp_path, start)
        tracker.write({"kind": "cycle", "cycle": start, "physical_val_loss": loss})
        tracker.backends[0].image("rollout/validation", np.zeros((4, 4, 3), np.uint8), 1)
        tracker.close()
    client = mlflow.tracking.MlflowClient(uri)
    run_id = (tmp_path / "mlflow_run_id").read_text().strip()
    history = client.get_metric_history(run_id, "cycle/physical_val_loss")
    assert [(m.step, m.value) for m in history] == [(2, 0.5), (4, 0.25)]
    run = client.get_run(run_id)
    assert run.data.params["trainer.batch_size"] == "4" and run.info.run_name == "tiny"


def test_the_rollout_image_reuses_the_trainings_generate_program(tiny_config, tmp_path):
    from hybrid_jax.physics import build_pde
    from hybrid_jax.training.loop import build_experiment, initial_states

    cfg = tiny_config()
    pde = build_pde(cfg.physics)
    traj = np.asarray(pde.sample_initial_state(jax.random.PRNGKey(0), cfg.data.num_trajectories))[:, None]
    traj = np.repeat(traj, cfg.data.num_frames, axis=1)  # any trajectories of the right shape
    exp = build_experiment(cfg, pde, traj)
    states = initial_states(exp)
    x0 = exp.generation_states(exp.real, 0)
    for name in ("synthetic", "physical"):
        exp.model(name).generate(states[name].params, x0)  # what a cycle runs
    tracker = Tracker(cfg, tmp_path, 0)
    tracker.cycle(0, exp, states)
    tracker.close()
    assert "rollout/validation" in _events(tmp_path).Tags()["images"]
    assert exp.synthetic.generate._cache_size() == 1 and exp.physical.generate._cache_size() == 1
