"""Rollout-horizon curriculum of the synthetic model and the physical model's own horizon:
schedules over all synthetic epochs (warm-up included), each epoch a K-step program (one compilation per
distinct K) whose loss is the full window's with the steps beyond K masked out."""

from __future__ import annotations

import itertools
import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from helpers import tiny_dict
from hybrid_jax.config import config_from_dict
from hybrid_jax.data.sources import REAL
from hybrid_jax.training.plan import rollout_horizon
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


@pytest.mark.parametrize("steps_per_call", [None, 2])  # one call per step (CPU default), chunks of 2 scanned steps
def test_curriculum_runs_each_epoch_at_its_k_compiles_once_per_k_and_is_logged(tmp_path, monkeypatch, steps_per_call):
    from hybrid_jax.run import run
    from hybrid_jax.rundir import prepare_run_dir
    from hybrid_jax.training import loop

    d = tiny_dict(tmp_path, tasks=["generate", "train"], data__num_frames=8, data__rollout_steps=3,
                  trainer__synthetic={"epochs": 2, "rollout_curriculum": {"kind": "linear", "start": 1}},
                  trainer__physical={"epochs": 2, "rollout_steps": 1},
                  trainer__hybrid={"cycles": 2, "alpha": 0.5, "warmup_epochs": 1},
                  trainer__steps_per_call=steps_per_call)
    cfg = config_from_dict(d)
    built, calls = [], []
    real_build = loop.build_experiment
    name = "train_step" if steps_per_call is None else "train_steps"

    def build(*args):
        exp = real_build(*args)
        jitted = getattr(exp.synthetic, name)

        def spy(*a, horizon):  # the K each synthetic train call rolls out
            calls.append(horizon)
            return jitted(*a, horizon=horizon)

        built.append((exp, jitted))
        setattr(exp.synthetic, name, spy)
        return exp

    monkeypatch.setattr("hybrid_jax.run.build_experiment", build)
    prepare_run_dir(cfg, tmp_path / "run", overwrite=False)
    run(cfg, tmp_path / "run")
    (exp, jitted), = built
    lines = [json.loads(ln) for ln in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    epochs = [ln for ln in lines if ln["kind"] == "epoch"]
    ks = [ln["horizon"] for ln in epochs if ln["model"] in ("warmup", "synthetic")]
    assert ks == [1, 1, 2, 3, 3]
    assert {ln["horizon"] for ln in epochs if ln["model"] == "physical"} == {1}
    # the calls run the epochs' K in order (warm-up and hybrid epochs differ in length)
    assert [k for k, _ in itertools.groupby(calls)] == [k for k, _ in itertools.groupby(ks)]
    assert jitted._cache_size() == 3 and getattr(exp.physical, name)._cache_size() == 1  # one program per distinct K


def test_a_k_1_train_step_costs_a_fraction_of_the_full_window(tiny_config):
    from hybrid_jax.data.store import load_or_generate
    from hybrid_jax.physics import build_pde
    from hybrid_jax.training.loop import build_experiment, initial_states

    cfg = tiny_config(data__num_frames=8, data__rollout_steps=4,
                      trainer__synthetic={"rollout_curriculum": {"kind": "linear", "start": 1}})
    pde = build_pde(cfg.physics)
    exp = build_experiment(cfg, pde, load_or_generate(cfg, pde)[0])
    idx = {"source": np.full(4, REAL, np.int32), "sim": exp.train_windows[:4, 0], "t": exp.train_windows[:4, 1],
           "weight": np.ones(4, np.float32)}
    state = initial_states(exp)["synthetic"]
    flops = {k: exp.synthetic.train_step.lower(state, exp.data(), idx, horizon=k).compile().cost_analysis()["flops"]
             for k in (1, 2, 4)}
    # the network dominates: its K applications (forward and backward) scale the step's cost with K
    assert flops[1] < flops[2] < flops[4] and flops[4] / flops[1] > 3.0, flops


def _masked_reference(predict, params, real, real_mask, idx, window, k, nd, key):
    """The loss as the curriculum computed it before one program per K: the full `window`-step rollout,
    every step from k on masked out, mask-normalised per sample, weighted batch mean (written out here)."""
    sims, ts, w = np.asarray(idx["sim"]), np.asarray(idx["t"]), jnp.asarray(idx["weight"])
    x0 = real[sims, ts]
    targets = jnp.stack([real[sims, ts + 1 + j] for j in range(window)], axis=1)[..., :nd]
    mask = jnp.stack([real_mask[ts + 1 + j] * (j < k) for j in range(window)], axis=1)  # [B, window, *spatial]
    pred = predict(params, x0, window, key)[..., :nd]
    err = jnp.sum((pred - targets) ** 2, axis=-1) * mask
    axes = tuple(range(1, err.ndim))
    per_sample = jnp.sum(err, axis=axes) / jnp.maximum(jnp.sum(mask, axis=axes) * nd, 1.0)
    return jnp.mean(w * per_sample)


def test_the_k_step_program_matches_the_masked_full_window_loss_and_gradient(tiny_config):
    """A small network with input noise on a partly observed grid: at K = 1 and 2 of a 3-step window, loss (rtol 1e-5)
    and gradient (rtol 1e-4, atol 1e-6 of the largest) of the K-step program equal those of the full
    window with the steps from K on masked out."""
    from hybrid_jax.physics import build_pde
    from hybrid_jax.training.models import input_noise_key, synthetic_model

    window = 3
    cfg = tiny_config(data__rollout_steps=window, network={"architecture": "convnet", "layers": 2, "filters": 4,
                                                           "input_noise": 0.05})
    _, params, predict, _ = synthetic_model(build_pde(cfg.physics), cfg)
    rng = np.random.default_rng(0)
    real = jnp.asarray(rng.normal(size=(3, 7, 16, 1)), jnp.float32)
    real_mask = jnp.asarray(rng.random((7, 16)) < 0.6, jnp.float32)
    data = {"real": real, "real_mask": real_mask, "generated": jnp.zeros((1, window + 1, 16, 1), jnp.float32)}
    idx = {"source": jnp.full(3, REAL, jnp.int32), "sim": jnp.array([0, 1, 2]), "t": jnp.array([0, 3, 2]),
           "weight": jnp.array([1.0, 0.5, 2.0], jnp.float32)}
    noise_key = input_noise_key(cfg.seed, cfg.network.input_noise)
    tx = optax.sgd(1.0)  # new params = params - gradient
    state = init_state(params, tx)
    step = make_train_step(predict, tx, 1, window, noise_key=noise_key)
    key = jax.random.fold_in(noise_key, state.step)
    reference = jax.jit(jax.value_and_grad(
        lambda p, k: _masked_reference(predict, p, real, real_mask, idx, window, k, 1, key)), static_argnums=1)
    full, _ = reference(params, window)
    for k in (1, 2):
        new, m = step(state, data, idx, horizon=k)
        ref_loss, ref_grad = reference(params, k)
        np.testing.assert_allclose(m["loss"], ref_loss, rtol=1e-5)
        grad = jax.tree.map(lambda a, b: a - b, state.params, new.params)
        scale = max(float(jnp.max(jnp.abs(g))) for g in jax.tree.leaves(ref_grad))
        for g, r in zip(jax.tree.leaves(grad), jax.tree.leaves(ref_grad)):
            np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-6 * scale)
        assert abs(float(full) - float(ref_loss)) > 1e-3 * float(ref_loss)  # the mask does remove steps


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
