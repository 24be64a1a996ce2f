"""The training loop's typed results and their metrics lines, resume after a kill right after the
warm-up, the learned-parameter summary of untrained models, and the generation-state selection."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from helpers import tiny_dict
from hybrid_jax.config import config_from_dict
from hybrid_jax.data.sources import GENERATED, REAL, materialize
from hybrid_jax.data.store import load_or_generate
from hybrid_jax.lifecycle import has_checkpoints
from hybrid_jax.physics import build_pde
from hybrid_jax.training import loop
from hybrid_jax.training.records import CycleResult, WarmupResult


def test_results_write_the_metrics_lines_their_readers_expect():
    warm = WarmupResult([0.5, 0.25], 1.5)
    assert warm.lines() == [
        {"kind": "epoch", "cycle": -1, "model": "warmup", "epoch": 0, "loss": 0.5},
        {"kind": "epoch", "cycle": -1, "model": "warmup", "epoch": 1, "loss": 0.25},
        {"kind": "warmup", "cycle": -1, "timings_s": {"warmup": 1.5}, "warmup_train_loss": 0.25}]
    cycle = CycleResult(2, 0.1, {"synthetic": [3.0, 2.0], "physical": []}, {"synthetic": 1.0, "physical": 4.0},
                        {"cycle": 7.0})
    assert cycle.train_loss("synthetic") == 2.0 and cycle.train_loss("physical") is None
    assert cycle.lines() == [
        {"kind": "epoch", "cycle": 2, "model": "synthetic", "epoch": 0, "loss": 3.0},
        {"kind": "epoch", "cycle": 2, "model": "synthetic", "epoch": 1, "loss": 2.0},
        {"kind": "cycle", "cycle": 2, "alpha": 0.1, "timings_s": {"cycle": 7.0}, "synthetic_val_loss": 1.0,
         "physical_val_loss": 4.0, "synthetic_train_loss": 2.0}]


def _lines(run_dir) -> list[dict]:
    lines = [json.loads(ln) for ln in (run_dir / "metrics.jsonl").read_text().splitlines()]
    for ln in lines:
        ln.pop("timings_s", None)
    return lines


class _Killed(BaseException):
    """Stands for a SIGKILL: nothing after it runs, except `finally` blocks that save nothing."""


def test_resume_after_a_kill_between_warmup_and_first_checkpoint_writes_the_warmup_once(tmp_path, monkeypatch):
    from hybrid_jax.run import run
    from hybrid_jax.rundir import prepare_run_dir

    cfg = config_from_dict(tiny_dict(tmp_path, tasks=["generate", "train"],
                                     trainer__hybrid={"cycles": 1, "alpha": 0.5, "warmup_epochs": 1}))
    prepare_run_dir(cfg, tmp_path / "ref", overwrite=False)
    run(cfg, tmp_path / "ref")

    def killed(*args, **kwargs):
        raise _Killed

    out = tmp_path / "killed"
    prepare_run_dir(cfg, out, overwrite=False)
    with monkeypatch.context() as m:
        m.setattr(loop, "hybrid_cycle", killed)  # dies in cycle 0, after the warm-up's lines were written
        with pytest.raises(_Killed):
            run(cfg, out)
    assert [ln["kind"] for ln in _lines(out)] == ["epoch", "warmup"]
    assert (out / "checkpoints").is_dir() and not has_checkpoints(out)
    run(cfg, out)
    lines = _lines(out)
    assert [ln["kind"] for ln in lines].count("warmup") == 1
    assert len({json.dumps(ln, sort_keys=True) for ln in lines}) == len(lines)  # no line twice
    assert lines == _lines(tmp_path / "ref")


def test_a_synthetic_only_run_reports_no_learned_physical_parameters(tmp_path):
    from hybrid_jax.run import run
    from hybrid_jax.rundir import prepare_run_dir
    from hybrid_jax.train import _final_report

    cfg = config_from_dict(tiny_dict(tmp_path, mode="synthetic", trainer__hybrid={"cycles": 1}))
    run_dir = tmp_path / "run"
    prepare_run_dir(cfg, run_dir, overwrite=False)
    summary = run(cfg, run_dir)
    evaluation = json.loads((run_dir / "evaluation.json").read_text())
    assert "parameters" not in summary and "parameters" not in evaluation
    assert "synthetic" in evaluation["models"] and (run_dir / "plots" / "frames.png").is_file()
    assert not (run_dir / "plots" / "parameters.png").exists()
    report = _final_report(summary, run_dir)
    assert "synthetic_val_loss" in report and "viscosity" not in report and "learned" not in report


@pytest.mark.parametrize("source", ["real", "prior"])
def test_generation_states_compile_once_and_draw_the_cycle_keys_windows(tiny_config, source):
    cfg = tiny_config(trainer__hybrid={"cycles": 3, "alpha": 0.5, "generation_source": source})
    pde = build_pde(cfg.physics)
    traj, _ = load_or_generate(cfg, pde)
    exp = loop.build_experiment(cfg, pde, traj)
    m, w = exp.num_generated, exp.train_windows
    for cycle in range(3):
        x0 = exp.generation_states(exp.real, cycle)
        key = jax.random.fold_in(jax.random.PRNGKey(cfg.seed), 1000 + cycle)
        if source == "prior":
            expected = pde.sample_initial_state(key, m)
        else:
            sel = w[np.asarray(jax.random.choice(key, len(w), (m,), replace=m > len(w)))]
            expected = traj[sel[:, 0], sel[:, 1]]
        assert x0.shape == (m,) + traj.shape[2:] and x0.dtype == jnp.float32
        # real frames are gathered bitwise; the prior's samples are jitted vs eager arithmetic (round-off)
        np.testing.assert_allclose(np.asarray(x0), np.asarray(expected), rtol=0 if source == "real" else 1e-5,
                                   atol=0 if source == "real" else 1e-6)
    assert exp.generation_states._cache_size() == 1


def test_materialize_gathers_one_window_per_sample():
    f32 = jnp.float32
    data = {"real": jnp.zeros((3, 6, 8, 2), f32), "real_mask": jnp.ones((6, 8), f32),
            "generated": jnp.zeros((2, 3, 8, 2), f32)}
    batch = {"source": jnp.array([REAL, GENERATED, REAL, GENERATED], jnp.int32), "sim": jnp.array([0, 1, 2, 0]),
             "t": jnp.array([1, 0, 3, 0]), "weight": jnp.ones(4, f32)}
    jaxpr = jax.make_jaxpr(lambda d, b: materialize(d, b, 2))(data, batch)
    window_gathers = [e for e in jaxpr.eqns if e.primitive.name == "gather" and e.outvars[0].aval.ndim == 4]
    assert len(window_gathers) == 1, jaxpr  # [B, K+1, 8, 2]: one window per sample, not one per source
