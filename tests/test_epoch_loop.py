"""The device epoch loop (trainer.epoch_loop: device) and the flat physical train step.

The device loop draws each epoch's permutation with `jax.random` and runs several epochs as one flat scan of
steps: it must train exactly what one `train_step` call per batch of those same permutations trains, draw real
permutations that depend on (seed, cycle, phase, epoch) only, split into calls without changing anything, keep
the NaN guard and its divergence stop; the physical model's unrolled ("flat") K-step rollout must train as the
rolled one does."""

from __future__ import annotations

from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from hybrid_jax.data.sources import REAL, WindowSource, full_batch, kept_windows
from hybrid_jax.data.store import load_or_generate
from hybrid_jax.errors import TrainingDiverged
from hybrid_jax.physics import build_pde
from hybrid_jax.training.loop import (PHASE_SYNTHETIC, build_experiment, device_loop, hybrid_cycle, initial_states,
                                     run_epochs)
from hybrid_jax.training.models import flat_physics, physical_model
from hybrid_jax.training.plan import first_epoch
from hybrid_jax.training.steps import device_epochs, epoch_key, epoch_order, init_state, make_train_step


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return tmp_path_factory.mktemp("store")  # one data store for the module: the data is generated once


@pytest.fixture
def tiny(tiny_config, store):
    return lambda **kw: tiny_config(data__store_dir=str(store), **kw)


def _leaves_close(a, b, rtol, atol=0.0):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)


def _experiment(cfg):
    pde = build_pde(cfg.physics)
    return build_experiment(cfg, pde, load_or_generate(cfg, pde)[0])


def test_epoch_order_is_a_permutation_of_the_kept_windows_and_a_function_of_seed_cycle_phase_epoch():
    sizes, b = ((10, 10), (6, 6)), 4
    rows = np.asarray(epoch_order(epoch_key(0, 3, 2, 1), sizes, b))
    assert rows.shape == (4, 4) and rows.dtype == np.int32
    assert sorted(rows.ravel().tolist()) == list(range(16))  # every window once
    assert not np.array_equal(rows.ravel(), np.arange(16))  # shuffled (real and generated mixed)
    partial = np.asarray(epoch_order(epoch_key(0, 3, 2, 1), ((10, 5), (6, 6)), 1)).ravel()
    assert len(set(partial.tolist())) == 11 and sum(r < 10 for r in partial) == 5  # 5 of the first, all of the second
    assert set(range(10, 16)) <= set(partial.tolist())
    again = np.asarray(epoch_order(epoch_key(0, 3, 2, 1), sizes, b))
    np.testing.assert_array_equal(rows, again)  # deterministic
    for where in [(1, 3, 2, 1), (0, 4, 2, 1), (0, -1, 2, 1), (0, 3, 4, 1), (0, 3, 2, 2)]:
        assert not np.array_equal(np.asarray(epoch_order(epoch_key(*where), sizes, b)), rows), where
    jitted = jax.jit(lambda c, e: epoch_order(epoch_key(0, c, 2, e), sizes, b))  # traced cycle and epoch
    np.testing.assert_array_equal(np.asarray(jitted(np.int32(3), np.int32(1))), rows)


def test_device_epochs_train_as_one_call_per_step_over_the_same_permutations(tiny):
    """run_epochs in device mode (3 epochs in calls of 2: the second padded; a curriculum K 1 -> 2, so the
    calls split where K changes) against `train_step` called per batch of `epoch_order`'s batches. Not
    bitwise: XLA fuses a step inside the loop body differently (as for trainer.steps_per_call,
    test_scan_steps); losses and parameters agree to rtol 1e-5."""
    cfg = tiny(trainer__epoch_loop="device", trainer__epochs_per_call=2,
                      trainer__synthetic={"epochs": 3, "rollout_curriculum": {"kind": "linear"}},
                      trainer__hybrid={"cycles": 1, "alpha": 0.5, "warmup_epochs": 0})
    exp = _experiment(cfg)
    fns = exp.synthetic
    assert fns.train_epochs is not None and device_loop(cfg, "synthetic")
    start = initial_states(exp)["synthetic"]
    sources = [WindowSource(exp.train_windows, REAL, 1.0, 0.75)]  # an epoch keeps 3/4 of the windows
    state, losses = run_epochs(exp, fns, start, exp.data(), sources, 3, 0, PHASE_SYNTHETIC, False)

    pool, sizes = full_batch(sources), ((len(sources[0]), kept_windows(len(sources[0]), 0.75)),)
    ks = [fns.horizon_at(first_epoch(cfg, 0) + e) for e in range(3)]
    assert ks == [1, 2, 2]  # the curriculum changes K within the phase: calls of epochs 0, 1-2
    ref, ref_losses = start, []
    for e in range(3):
        order = np.asarray(epoch_order(epoch_key(cfg.seed, 0, PHASE_SYNTHETIC, e), sizes, cfg.trainer.batch_size))
        step_losses = []
        for rows in order:
            ref, m = fns.train_step(ref, exp.data(), {k: jnp.asarray(v[rows]) for k, v in pool.items()},
                                    horizon=ks[e])
            step_losses.append(float(m["loss"]))
        ref_losses.append(np.mean(step_losses))
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-5)
    _leaves_close(state.params, ref.params, rtol=1e-5, atol=1e-7)
    assert int(state.step) == int(ref.step) == 3 * len(order)
    _leaves_close(start, initial_states(exp)["synthetic"], rtol=0)  # the caller's state survived the donation


def test_a_cycle_restarted_from_its_checkpointed_states_in_device_mode_is_bitwise_the_same(tiny):
    """What a resume does after an interruption mid-phase (between two calls of a phase): it restarts the
    cycle from the states saved after the previous one (here through host arrays, as a checkpoint holds them);
    it must train bitwise what the uninterrupted run trained. The slow form, a new process through checkpoints:
    test_reliability's resume test, device case (`-m slow`)."""
    cfg = tiny(mode="synthetic", trainer__epoch_loop="device", trainer__epochs_per_call=1,
                      trainer__synthetic={"epochs": 2}, trainer__hybrid={"cycles": 2, "alpha": 0.0})
    exp = _experiment(cfg)
    after0, r0 = hybrid_cycle(exp, initial_states(exp), 0, progress=False)
    saved = jax.tree.map(np.asarray, after0)
    after1, r1 = hybrid_cycle(exp, after0, 1, progress=False)
    resumed, r1_again = hybrid_cycle(exp, jax.tree.map(jnp.asarray, saved), 1, progress=False)
    _leaves_close(resumed, after1, rtol=0)
    assert r1_again.epoch_losses == r1.epoch_losses and r1.epoch_losses != r0.epoch_losses


def _nan_case():
    def predict(p, x0, k):
        return jnp.stack([x0 * p["a"]] * k, axis=1)

    tx = optax.adam(0.1)
    real = jnp.ones((3, 3, 4, 1)).at[2, 1].set(jnp.nan)  # windows of simulation 2 give a NaN loss
    data = {"real": real, "real_mask": jnp.ones((3, 4)), "generated": jnp.zeros((1, 2, 4, 1))}
    windows = np.array([[0, 0], [0, 1], [1, 0], [1, 1], [2, 0], [2, 1]], np.int32)
    pool = full_batch([WindowSource(windows, REAL, 1.0)])
    return make_train_step(predict, tx, num_dynamic=1, horizon=1), tx, data, pool


def test_device_epochs_split_into_calls_train_bitwise_as_one_call():
    """Epochs 0-1 then 2-3 (calls of the same padded length) against 0-3 at once: the same program, the same
    keys (the phase's epoch index is an argument), bitwise the same state and losses, so that a phase's
    progress reports and stop checks between calls change nothing."""
    step, tx, data, pool = _nan_case()
    data = {**data, "real": jnp.nan_to_num(data["real"], nan=3.0)}
    loop, pool, sizes = device_epochs(step, 1, 2, 10), jax.tree.map(jnp.asarray, pool), ((6, 6),)
    start = init_state({"a": jnp.float32(2.0)}, tx)
    copy = lambda: jax.tree.map(jnp.copy, start)  # noqa: E731  (the loop donates its input)
    whole, m = loop(copy(), data, pool, np.int32(0), np.int32(4), np.int32(0), jnp.ones(4, bool), sizes=sizes)
    half, m1 = loop(copy(), data, pool, np.int32(0), np.int32(4), np.int32(0), jnp.arange(4) < 2, sizes=sizes)
    half, m2 = loop(half, data, pool, np.int32(0), np.int32(4), np.int32(2), jnp.arange(4) < 2, sizes=sizes)
    _leaves_close(half, whole, rtol=0)
    np.testing.assert_array_equal(np.concatenate([m1["loss"][:2], m2["loss"][:2]]), m["loss"])
    assert np.all(np.asarray(m1["loss"][2:]) == 0) and int(half.step) == int(whole.step) == 12  # padding skipped
    assert loop._cache_size() == 1


def test_device_loop_rejects_non_finite_steps_as_single_steps_do():
    step, tx, data, pool = _nan_case()
    sizes = ((6, 6),)
    state = init_state({"a": jnp.float32(2.0)}, tx)
    got, m = device_epochs(step, seed=5, batch_size=2, max_failures=10)(
        jax.tree.map(jnp.copy, state), data, jax.tree.map(jnp.asarray, pool), np.int32(0), np.int32(2),
        np.int32(0), jnp.ones(3, bool), sizes=sizes)
    expected, oks, losses = state, [], []
    for e in range(3):
        for rows in np.asarray(epoch_order(epoch_key(5, 0, 2, e), sizes, 2)):
            expected, mm = step(expected, data, {k: jnp.asarray(v[rows]) for k, v in pool.items()})
            oks.append(bool(mm["ok"]))
            losses.append(float(mm["loss"]))
    ok = np.asarray(m["ok"]).ravel()
    assert ok.tolist() == oks and not all(oks) and any(oks)  # some steps hit simulation 2, some did not
    np.testing.assert_allclose(np.asarray(m["loss"]).ravel()[ok], np.asarray(losses)[ok], rtol=1e-6)
    assert int(got.failures) == int(expected.failures) and int(got.step) == int(expected.step) == 9
    _leaves_close(got, expected, rtol=1e-6)
    assert np.all(np.isfinite(np.asarray(got.params["a"])))


def test_device_loop_stops_after_the_epoch_that_reaches_max_failures():
    step, tx, data, pool = _nan_case()
    data = {**data, "real": jnp.full_like(data["real"], jnp.nan)}  # every step fails
    state = init_state({"a": jnp.float32(2.0)}, tx)
    got, m = device_epochs(step, seed=0, batch_size=2, max_failures=5)(
        state, data, jax.tree.map(jnp.asarray, pool), np.int32(0), np.int32(2), np.int32(0), jnp.ones(3, bool),
        sizes=((6, 6),))
    assert np.asarray(m["failures"]).tolist() == [3, 6, 6]  # epoch 1 ends at 6 >= 5: epoch 2 is skipped
    assert int(got.step) == 6 and float(got.params["a"]) == 2.0  # the last good (initial) parameters


def test_run_epochs_in_device_mode_raises_on_divergence_as_the_host_loop_does(tiny):
    cfg = tiny(mode="synthetic", trainer={"batch_size": 2, "max_consecutive_failures": 3, "epoch_loop": "device",
                                          "synthetic": {"learning_rate": 1e30, "epochs": 3}})
    exp = _experiment(cfg)
    with pytest.raises(TrainingDiverged, match=r"synthetic model: \d+ consecutive steps with NaN/inf \(cycle 0, "
                                               r"epoch \d, step \d+\); stopping with the last good state"):
        run_epochs(exp, exp.synthetic, initial_states(exp)["synthetic"], exp.data(),
                   [WindowSource(exp.train_windows, REAL, 1.0)], 3, 0, PHASE_SYNTHETIC, False)


def test_epoch_loop_auto_default_per_backend_and_model(tiny):
    auto = tiny()
    assert jax.default_backend() == "cpu"
    assert not device_loop(auto, "synthetic") and not device_loop(auto, "physical")  # CPU: measured, see docstring
    assert device_loop(tiny(trainer__epoch_loop="device"), "synthetic")
    assert not device_loop(tiny(trainer__epoch_loop="device"), "synthetic", on_device=False)  # streamed
    assert not device_loop(tiny(trainer__epoch_loop="device", trainer__physical={"batching": "full"}),
                           "physical")


def test_flat_physical_train_steps_match_the_rolled_rollout_to_float32_round_off(tiny):
    """The physical model's Adam steps with the K-step rollout (steps) and its substeps too (substeps)
    unrolled, against the rolled `lax.scan` / `fori_loop` form (none, the form before): 4 steps of 1D Burgers
    (16 cells, K 2, 2 substeps), losses and parameters to rtol 1e-5; the fully flat step has no while loop."""
    cfg = tiny()
    pde = build_pde(cfg.physics)
    traj = jnp.asarray(load_or_generate(cfg, pde)[0])
    data = {"real": traj, "real_mask": jnp.ones(traj.shape[1:-1]), "generated": jnp.zeros((1, 3) + traj.shape[2:])}
    idx = {"source": jnp.zeros(4, jnp.int32), "sim": jnp.arange(4, dtype=jnp.int32) % traj.shape[0],
           "t": jnp.array([0, 1, 2, 0], jnp.int32), "weight": jnp.ones(4)}
    out, loops = {}, {}
    for form in ("none", "steps", "substeps"):
        params, predict, tx = physical_model(pde, cfg.physics, cfg.trainer.physical, unroll=form)
        step, state, losses = make_train_step(predict, tx, pde.layout.num_dynamic, 2), init_state(params, tx), []
        loops[form] = step.lower(state, data, idx).as_text().count("stablehlo.while")  # K steps unrolled: the
        # substeps' loop is still there (in the jitted PDE step's function)
        for _ in range(4):
            state, m = step(state, data, idx)
            losses.append(float(m["loss"]))
        out[form] = state, losses
    assert loops["none"] and loops["steps"] and not loops["substeps"], loops  # substeps: straight-line code
    for form in ("steps", "substeps"):
        np.testing.assert_allclose(out[form][1], out["none"][1], rtol=1e-5)
        _leaves_close(out[form][0].params, out["none"][0].params, rtol=1e-5)
    assert out["none"][1][-1] < out["none"][1][0]  # it trained


def test_flat_physics_rule(tiny):
    cfg = tiny()
    phy = cfg.trainer.physical
    assert flat_physics(cfg.physics, phy, 4, "cpu") == "steps"
    assert flat_physics(cfg.physics, phy, 4, "gpu") == "substeps"  # 4 steps x 2 substeps <= 8
    assert flat_physics(cfg.physics, phy, 6, "gpu") == "steps"
    assert flat_physics(cfg.physics, phy, 9, "gpu") == "none"
    remat = tiny(trainer__physical={"checkpoint_rollout": True})
    assert flat_physics(remat.physics, remat.trainer.physical, 2, "gpu") == "none"
    smoke = tiny(physics={"name": "closed_smoke", "resolution": [8, 8], "dt": 0.05})
    assert flat_physics(smoke.physics, phy, 2, "cpu") == "none"  # PhiML's jitted pressure solve: rolled only
    auto = SimpleNamespace(name="my_pde", substeps="auto")  # a user family's (physics/stability.py)
    assert flat_physics(auto, phy, 2, "gpu") == "steps"  # substeps chosen at build time: kept rolled
