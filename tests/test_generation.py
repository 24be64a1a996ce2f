"""Generated trajectories: number and lengths of rollouts, all windows of each, both sources, two families."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from helpers import tiny_dict
from hybrid_jax.config import config_from_dict
from hybrid_jax.data.sources import GENERATED, materialize
from hybrid_jax.data.store import load_or_generate
from hybrid_jax.physics import build_pde
from hybrid_jax.training.loop import build_experiment, initial_states, train_cycles

FAMILIES = {"burgers": {"name": "burgers", "resolution": [16], "domain": [1.0], "dt": 0.01, "substeps": 2,
                        "viscosity": {"true": 0.01, "init": 0.02}},
            "advection_diffusion": {"name": "advection_diffusion", "resolution": [16], "domain": [1.0], "dt": 0.01,
                                    "velocity": {"kind": "constant", "value": [0.5]}}}


@pytest.mark.parametrize("family,source", [("burgers", "real"), ("burgers", "prior"),
                                           ("advection_diffusion", "real"), ("advection_diffusion", "prior")])
def test_generated_rollouts_of_each_length_are_cut_into_all_windows_and_train_compiling_once(tmp_path, family,
                                                                                            source):
    cfg = config_from_dict(tiny_dict(
        tmp_path, physics=FAMILIES[family], trainer__synthetic={"epochs": 1}, trainer__physical={"epochs": 1},
        trainer__hybrid={"cycles": 2, "alpha": 0.5, "warmup_epochs": 0, "generation_source": source,
                         "generation": {"num_rollouts": 3, "physical_length": 4, "synthetic_length": 3}}))
    pde = build_pde(cfg.physics)
    traj, _ = load_or_generate(cfg, pde)
    exp = build_experiment(cfg, pde, traj)
    assert exp.num_generated == 3
    # K = 2: a 4-step physical rollout has windows t = 0, 1, 2; a 3-step network rollout t = 0, 1
    assert exp.generated_windows["synthetic"].tolist() == [[m, t] for m in range(3) for t in range(3)]
    assert exp.generated_windows["physical"].tolist() == [[m, t] for m in range(3) for t in range(2)]
    states = initial_states(exp)
    x0 = exp.generation_states(exp.real, 0)
    assert exp.physical.generate(states["physical"].params, x0).shape == (3, 5) + traj.shape[2:]
    assert exp.synthetic.generate(states["synthetic"].params, x0).shape == (3, 4) + traj.shape[2:]
    results = [r for _, r in train_cycles(exp, states, progress=False)]
    assert all(np.isfinite(r.epoch_losses[m]).all() for r in results for m in ("synthetic", "physical"))
    for fns in (exp.synthetic, exp.physical):  # one call per step (CPU default) or chunks of steps (GPU default)
        step = fns.train_step if exp.steps_per_call == 1 or fns.full_batch else fns.train_steps
        assert step._cache_size() == 1 and fns.generate._cache_size() == 1
    assert exp.generation_states._cache_size() == 1


def test_materialize_gathers_a_generated_window_from_inside_a_rollout():
    gen = jnp.arange(2 * 5 * 3, dtype=jnp.float32).reshape(2, 5, 3, 1)  # 2 rollouts of 4 steps, 3 cells
    data = {"real": jnp.zeros((1, 4, 3, 1), jnp.float32), "real_mask": jnp.zeros((4, 3), jnp.float32), "generated": gen}
    batch = {"source": jnp.full(2, GENERATED, jnp.int32), "sim": jnp.array([1, 0]), "t": jnp.array([2, 1]),
             "weight": jnp.ones(2, jnp.float32)}
    out = materialize(data, batch, 2)
    np.testing.assert_array_equal(out["x0"], gen[jnp.array([1, 0]), jnp.array([2, 1])])
    np.testing.assert_array_equal(out["targets"][0], gen[1, 3:5])
    np.testing.assert_array_equal(out["targets"][1], gen[0, 2:4])
    assert float(out["mask"].min()) == 1.0  # generated data is fully observed


def test_generated_lengths_shorter_than_a_window_are_refused(tmp_path):
    from hybrid_jax.config import ConfigError

    with pytest.raises(ConfigError, match=r"trainer\.hybrid\.generation\.synthetic_length"):
        config_from_dict(tiny_dict(tmp_path, trainer__hybrid={"generation": {"synthetic_length": 1}}))


def test_save_generated_writes_each_cycles_rollouts_in_the_user_data_format(tmp_path):
    from hybrid_jax.data.store import load_files
    from hybrid_jax.run import run
    from hybrid_jax.rundir import prepare_run_dir

    cfg = config_from_dict(tiny_dict(
        tmp_path, tasks=["generate", "train"], output={"dir": str(tmp_path / "runs"), "progress": False,
                                                       "save_generated": True},
        trainer__hybrid={"cycles": 2, "alpha": 0.5, "warmup_epochs": 0,
                         "generation": {"num_rollouts": 2, "physical_length": 3, "synthetic_length": 2}}))
    run_dir = tmp_path / "run"
    prepare_run_dir(cfg, run_dir, overwrite=False)
    run(cfg, run_dir)
    folder = run_dir / "generated"
    assert sorted(p.name for p in folder.iterdir()) == [f"cycle_{c}_{g}.npz" for c in (0, 1)
                                                        for g in ("physical", "synthetic")]
    pde = build_pde(cfg.physics)
    for c in (0, 1):
        phys, syn = (load_files(folder / f"cycle_{c}_{g}.npz", pde, 2) for g in ("physical", "synthetic"))
        assert phys.shape == (2, 4, 16, 1) and syn.shape == (2, 3, 16, 1)
        np.testing.assert_array_equal(phys[:, 0], syn[:, 0])  # both roll out from the cycle's initial states
