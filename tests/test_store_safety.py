"""Data stores: unstable generated data is refused and not stored, a store is locked while it is
written, a damaged meta.json regenerates the store."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from hybrid_jax.data.store import DataError, check_generated, load_or_generate, store_path
from hybrid_jax.errors import RunDirError
from hybrid_jax.files import FileLock
from hybrid_jax.physics import build_pde


def test_exploding_generated_data_is_refused_and_nothing_is_stored(tiny_config):
    cfg = tiny_config()
    pde = build_pde(cfg.physics)
    pde.step = lambda state, params: 10.0 * state  # unstable in a way no config bound catches (a user's family)
    with pytest.raises(DataError, match="grow to max |value| .* unstable .* not stored"):
        load_or_generate(cfg, pde)
    assert not (store_path(cfg) / "meta.json").exists() and not (store_path(cfg) / "trajectories.npy").exists()


@pytest.mark.parametrize("bad, message", [(np.nan, "NaN/inf"), (1e4, "grow to max")])
def test_check_generated(bad, message):
    traj = np.ones((2, 3, 4, 1), np.float32)
    check_generated(traj)
    traj[1, 2, 0, 0] = bad
    with pytest.raises(DataError, match=message):
        check_generated(traj)


def test_a_store_being_written_by_another_run_is_refused_naming_its_pid(tiny_config):
    cfg = tiny_config()
    folder = store_path(cfg)
    folder.mkdir(parents=True)
    with FileLock(folder / ".lock", "held"):
        with pytest.raises(RunDirError, match=f"data store .* is in use by another run \\(pid {os.getpid()}\\)"):
            load_or_generate(cfg, build_pde(cfg.physics))
    traj, _ = load_or_generate(cfg, build_pde(cfg.physics))
    assert traj.shape[0] == cfg.data.num_trajectories


@pytest.mark.parametrize("meta", ["[1, 2]", "\"text\"", "{", "\xff"])
def test_a_damaged_meta_json_regenerates_the_store(tiny_config, meta):
    cfg = tiny_config()
    pde = build_pde(cfg.physics)
    first, folder = load_or_generate(cfg, pde)
    (folder / "meta.json").write_bytes(meta.encode("latin-1"))
    again, _ = load_or_generate(cfg, pde)
    np.testing.assert_array_equal(first, again)
    assert json.loads((folder / "meta.json").read_text())["shape"] == list(first.shape)
