"""Windows, Grain sources, mixing, the trajectory store and user-supplied files."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from hybrid_jax.data.sources import GENERATED, REAL, WindowSource, materialize, mixed_batches
from hybrid_jax.data.store import DataError, load_files, load_or_generate, store_path
from hybrid_jax.data.windows import gather_windows, split_simulations, window_index
from hybrid_jax.physics import build_pde


def test_window_index_enumerates_every_window_inside_the_trajectory():
    w = window_index(np.array([3, 5]), num_frames=6, horizon=2, stride=1)
    assert w.dtype == np.int32 and w.shape == (8, 2)
    assert set(map(tuple, w)) == {(s, t) for s in (3, 5) for t in range(4)}
    assert window_index(np.array([0]), 10, 3, stride=3).tolist() == [[0, 0], [0, 3], [0, 6]]
    with pytest.raises(ValueError, match="no window"):
        window_index(np.array([0]), 3, 3)


def test_gather_windows_equals_slicing():
    traj = np.random.default_rng(0).normal(size=(4, 7, 5, 2)).astype(np.float32)
    sims, ts = np.array([0, 3, 2]), np.array([0, 4, 2])
    x0, targets = gather_windows(jnp.asarray(traj), jnp.asarray(sims), jnp.asarray(ts), 2)
    for i, (s, t) in enumerate(zip(sims, ts)):
        np.testing.assert_array_equal(x0[i], traj[s, t])
        np.testing.assert_array_equal(targets[i], traj[s, t + 1:t + 3])


def test_split_is_by_simulation_deterministic_and_disjoint():
    tr, va = split_simulations(10, 0.25, seed=1)
    assert len(va) == 2 and len(tr) == 8 and not set(tr) & set(va)
    assert np.array_equal(tr, split_simulations(10, 0.25, seed=1)[0])
    assert len(split_simulations(2, 0.9, 0)[0]) == 1  # training keeps at least one simulation


def test_mixed_batches_carry_weights_and_cover_both_sources_once_per_epoch():
    real = WindowSource(window_index(np.arange(3), 5, 1), REAL, 1.0)  # 12 windows
    gen = WindowSource(np.stack([np.arange(4), np.zeros(4)], 1), GENERATED, 0.3)
    batches = list(mixed_batches([real, gen], batch_size=4, seed=0))
    assert len(batches) == 4
    src = np.concatenate([b["source"] for b in batches])
    w = np.concatenate([b["weight"] for b in batches])
    assert (src == GENERATED).sum() == 4 and np.allclose(w[src == GENERATED], 0.3) and np.all(w[src == REAL] == 1)
    first = [b["source"].tolist() for b in batches]
    assert first != [b["source"].tolist() for b in mixed_batches([real, gen], 4, seed=1)]  # reshuffled per seed
    with pytest.raises(ValueError, match="batch_size"):
        mixed_batches([real], batch_size=13, seed=0)


def test_materialize_gathers_real_and_generated_windows_with_masks():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(3, 6, 8, 1)).astype(np.float32)
    gen = rng.normal(size=(2, 3, 8, 1)).astype(np.float32)
    mask = (rng.uniform(size=(6, 8)) > 0.5).astype(np.float32)
    batch = {"source": np.array([REAL, GENERATED, REAL], np.int32), "sim": np.array([2, 1, 0], np.int32),
             "t": np.array([3, 0, 1], np.int32), "weight": np.array([1, 0.2, 1], np.float32)}
    out = materialize({"real": jnp.asarray(real), "real_mask": jnp.asarray(mask), "generated": jnp.asarray(gen)},
                      {k: jnp.asarray(v) for k, v in batch.items()}, horizon=2)
    np.testing.assert_array_equal(out["x0"][0], real[2, 3])
    np.testing.assert_array_equal(out["targets"][0], real[2, 4:6])
    np.testing.assert_array_equal(out["mask"][0], mask[4:6])
    np.testing.assert_array_equal(out["x0"][1], gen[1, 0])
    np.testing.assert_array_equal(out["targets"][1], gen[1, 1:3])
    assert np.all(np.asarray(out["mask"][1]) == 1)  # generated data is fully observed
    np.testing.assert_array_equal(out["weight"], batch["weight"])


def test_store_is_reused_for_the_same_config_and_regenerated_when_stale(tiny_config):
    cfg = tiny_config()
    pde = build_pde(cfg.physics)
    traj, folder = load_or_generate(cfg, pde)
    assert traj.shape == (4, 6, 16, 1) and traj.dtype == np.float32 and np.all(np.isfinite(traj))
    mtime = (folder / "trajectories.npy").stat().st_mtime_ns
    again, _ = load_or_generate(cfg, pde)
    assert (folder / "trajectories.npy").stat().st_mtime_ns == mtime
    np.testing.assert_array_equal(again, traj)
    # a changed physics config gets another store
    other = tiny_config(physics__viscosity={"true": 0.02, "init": 0.02})
    assert store_path(other) != folder
    # a corrupted file is detected by its checksum and regenerated, identically
    traj = np.array(traj)  # the store is memory-mapped: keep a copy of what it held before the corruption
    with open(folder / "trajectories.npy", "r+b") as f:
        f.seek(-8, 2)
        f.write(b"\x00" * 8)
    regenerated, _ = load_or_generate(cfg, pde)
    np.testing.assert_array_equal(regenerated, traj)


def _write_npz(path, traj, fields=("vel_x",)):
    np.savez(path, trajectories=traj, fields=np.array(fields))
    return path


def test_user_files_are_validated(tiny_config, tmp_path):
    pde = build_pde(tiny_config().physics)
    good = np.zeros((3, 5, 16, 1), np.float32)
    np.testing.assert_array_equal(load_files(_write_npz(tmp_path / "ok.npz", good), pde, 2), good)
    bad_nan = good.copy()
    bad_nan[0, 1, 2] = np.nan
    cases = {
        "shape": (_write_npz(tmp_path / "a.npz", np.zeros((3, 5, 8, 1), np.float32)), "must have shape"),
        "fields": (_write_npz(tmp_path / "b.npz", good, ("u",)), "fields must be ['vel_x']"),
        "dtype": (_write_npz(tmp_path / "c.npz", good.astype(np.float64)), "must be float32"),
        "nan": (_write_npz(tmp_path / "d.npz", bad_nan), "NaN or inf"),
        "short": (_write_npz(tmp_path / "e.npz", good[:, :2]), ">= 3 frames"),
        "missing": (tmp_path / "nope.npz", "file not found"),
    }
    (tmp_path / "garbage.npz").write_bytes(b"not a zip")
    cases["corrupt"] = (tmp_path / "garbage.npz", "not a readable .npz")
    for name, (path, message) in cases.items():
        with pytest.raises(DataError, match=message.replace("[", r"\[").replace("]", r"\]")):
            load_files(path, pde, 2)
