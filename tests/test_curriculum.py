"""Rollout-horizon curriculum of the synthetic model and the physical model's own horizon:
schedules over all synthetic epochs (warm-up included), one compilation, masked steps."""

from __future__ import annotations

import json

import jax.numpy as jnp
import numpy as np
import optax

from conftest import tiny_dict
from hybrid_jax.config import config_from_dict
from hybrid_jax.data.sources import REAL
from hybrid_jax.training.loop import rollout_horizon
from hybrid_jax.training.steps import init_state, make_train_step


def _cfg(tmp_path, kind="linear", warmup=2, cycles=2, epochs=3, mode="hybrid", **cur):
    return config_from_dict(tiny_dict(
        tmp_path, mode=mode, data__num_frames=8, data__rollout_steps=4,
        trainer__synthetic={"epochs": epochs, "rollout_curriculum": {"kind": kind, "start": 1, **cur}},
        trainer__hybrid={"cycles": cycles, "alpha": 0.5, "warmup_epochs": warmup}))


def test_curriculum_runs_over_all_synthetic_epochs_warmup_included(tmp_path):
    cfg = _cfg(tmp_path)  # 2 warm-up + 2 cycles x 3 epochs = 8 epochs from K=1 to K=4
    assert [rollout_horizon(cfg, e) for e in range(8)] == [1, 1, 2, 2, 3, 3, 4, 4]
    exp = _cfg(tmp_path, kind="exponential", exponent=2.0)
    ks = [rollout_horizon(exp, e) for e in range(8)]
    assert ks == sorted(ks) and ks[0] == 1 and ks[-1] == 4 and sum(ks) < 20  # stays short longer than linear
    # synthetic mode has no warm-up: its 6 epochs span the whole schedule
    single = _cfg(tmp_path, mode="synthetic")
    assert [rollout_horizon(single, e) for e in range(6)] == [1, 1, 2, 3, 4, 4]


def test_curriculum_and_physical_horizon_compile_once_and_are_logged(tmp_path, monkeypatch):
    from hybrid_jax.run import run
    from hybrid_jax.rundir import prepare_run_dir
    from hybrid_jax.training import loop

    d = tiny_dict(tmp_path, tasks=["generate", "train"], data__num_frames=8, data__rollout_steps=3,
                  trainer__synthetic={"epochs": 2, "rollout_curriculum": {"kind": "linear", "start": 1}},
                  trainer__physical={"epochs": 2, "rollout_steps": 1},
                  trainer__hybrid={"cycles": 2, "alpha": 0.5, "warmup_epochs": 1})
    cfg = config_from_dict(d)
    built = []
    real_build = loop.build_experiment

    def build(*args):
        built.append(real_build(*args))
        return built[-1]

    monkeypatch.setattr("hybrid_jax.run.build_experiment", build)
    prepare_run_dir(cfg, tmp_path / "run", overwrite=False)
    run(cfg, tmp_path / "run")
    exp = built[0]
    assert exp.synthetic.train_step._cache_size() == 1 and exp.physical.train_step._cache_size() == 1
    lines = [json.loads(ln) for ln in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    epochs = [ln for ln in lines if ln["kind"] == "epoch"]
    assert [ln["horizon"] for ln in epochs if ln["model"] in ("warmup", "synthetic")] == [1, 1, 2, 3, 3]
    assert {ln["horizon"] for ln in epochs if ln["model"] == "physical"} == {1}


def test_masked_steps_train_like_a_shorter_rollout():
    def predict(p, x0, k):
        xs, x = [], x0
        for _ in range(k):
            x = x * p["a"]
            xs.append(x)
        return jnp.stack(xs, axis=1)

    rng = np.random.default_rng(0)
    data = {"real": jnp.asarray(rng.normal(size=(2, 6, 5, 1)), jnp.float32), "real_mask": jnp.ones((6, 5)),
            "generated": jnp.zeros((1, 4, 5, 1))}
    idx = {"source": jnp.full(2, REAL, jnp.int32), "sim": jnp.array([0, 1]), "t": jnp.array([0, 2]),
           "weight": jnp.ones(2, jnp.float32)}
    tx = optax.sgd(0.1)
    state = init_state({"a": jnp.float32(0.9)}, tx)
    short, m_short = make_train_step(predict, tx, 1, horizon=2)(state, data, idx)
    masked, m_masked = make_train_step(predict, tx, 1, horizon=3)(state, data, {**idx, "steps": jnp.array([2, 2])})
    np.testing.assert_allclose(m_masked["loss"], m_short["loss"], rtol=1e-6)
    np.testing.assert_allclose(masked.params["a"], short.params["a"], rtol=1e-6)
    _, m_full = make_train_step(predict, tx, 1, horizon=3)(state, data, idx)
    assert abs(float(m_full["loss"]) - float(m_short["loss"])) > 1e-3  # the mask did remove the third step


def test_horizons_beyond_the_windows_are_refused_naming_the_key(tmp_path):
    import pytest

    from hybrid_jax.config import ConfigError

    for sections, key in [({"trainer__synthetic": {"rollout_curriculum": {"kind": "linear", "end": 3}}},
                           "trainer.synthetic.rollout_curriculum.end"),
                          ({"trainer__synthetic": {"rollout_curriculum": {"kind": "linear", "start": 3, "end": 2}}},
                           "trainer.synthetic.rollout_curriculum.start"),
                          ({"trainer__physical": {"rollout_steps": 3}}, "trainer.physical.rollout_steps")]:
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            config_from_dict(tiny_dict(tmp_path, **sections))  # data.rollout_steps = 2
