"""Bounded memory (issue 24): the separable Fourier prior, chunked generation, the preflight's
estimates against measured peaks, and training from host-streamed data."""

from __future__ import annotations

import numpy as np
import pytest

from hybrid_jax.physics.operators import FourierBasis


def dense_fourier_basis(shape, modes):
    """The basis ``[2·M, *shape]`` written out (float64): cos and sin of each wavevector / |k|²."""
    grids = np.meshgrid(*[np.arange(n) / n for n in shape], indexing="ij")
    ks = np.stack(np.meshgrid(*[np.arange(-modes, modes + 1)] * len(shape), indexing="ij"), -1).reshape(-1, len(shape))
    ks = ks[np.abs(ks).max(1) > 0]
    phase = 2 * np.pi * np.einsum("kd,d...->k...", ks, np.stack(grids))
    scale = (1.0 / (ks**2).sum(1)).reshape((-1,) + (1,) * len(shape))
    return np.concatenate([np.cos(phase) * scale, np.sin(phase) * scale])


@pytest.mark.parametrize("shape,modes", [((12,), 3), ((8, 6), 2), ((6, 4, 5), 2)])
def test_separable_fourier_basis_equals_the_dense_sum(shape, modes):
    basis = FourierBasis(shape, modes)
    dense = dense_fourier_basis(shape, modes)
    assert basis.size == dense.shape[0]
    coeffs = np.random.default_rng(0).standard_normal((3, 2, basis.size)).astype(np.float32)
    got = np.asarray(basis.combine(coeffs))
    want = np.einsum("ncm,m...->nc...", coeffs.astype(np.float64), dense)
    assert got.dtype == np.float32 and got.shape == (3, 2) + shape
    np.testing.assert_allclose(got, want, atol=1e-5 * np.abs(want).max())  # float32 round-off


def _chunk_config(tmp_path, chunk, **sections):
    from helpers import tiny_dict
    from hybrid_jax.config import config_from_dict

    return config_from_dict(tiny_dict(
        tmp_path, physics={"name": "burgers", "resolution": [8, 8], "domain": [1.0, 1.0], "dt": 0.01,
                           "viscosity": {"true": 0.01, "init": 0.02}},
        data={"store_dir": str(tmp_path / f"store-{chunk}"), "num_trajectories": 7, "num_frames": 5,
              "rollout_steps": 2, "generation_chunk": chunk, "truth": {"refine": {"space": 2}}}, **sections))


def test_generated_store_is_bitwise_the_same_whatever_the_chunk_size(tmp_path):
    from hybrid_jax.data.store import load_or_generate
    from hybrid_jax.physics import build_pde

    stores, names = {}, set()
    for chunk in (None, 3, 1):  # all at once; 3, 3 and a padded 1; one at a time
        cfg = _chunk_config(tmp_path, chunk)
        traj, folder = load_or_generate(cfg, build_pde(cfg.physics))
        assert isinstance(traj, np.memmap) and traj.dtype == np.float32 and traj.shape == (7, 5, 8, 8, 2)
        stores[chunk] = (folder / "trajectories.npy").read_bytes()
        names.add(folder.name)
    assert len(names) == 1  # generation_chunk is not part of the store's hash
    assert stores[None] == stores[3] == stores[1]
    assert np.abs(np.asarray(traj)[:, -1]).max() > 0.1  # the data are not trivial


def test_auto_chunk_fits_half_the_free_memory_at_the_measured_cost(tmp_path, monkeypatch):
    import hybrid_jax.footprint as memory
    from hybrid_jax.data.generation import CHUNK_SHARE
    from hybrid_jax.data.store import generation_chunk, real_simulation
    from hybrid_jax.physics import build_pde

    cfg = _chunk_config(tmp_path, None)
    sim, params = real_simulation(cfg, build_pde(cfg.physics))
    per, fixed = sim.chunk_cost(params)
    frame, fine = 8 * 8 * 2 * 4, 16 * 16 * 2 * 4  # one frame; one state on the refined grid
    assert 5 * frame + fine <= per <= 5 * frame + fine + 64  # its frames, its initial state (refined grid), ν
    assert 4 * frame <= fixed <= 4 * frame + 50 * fine  # one trajectory's rollout: frames and one step's work
    monkeypatch.setattr(memory, "free_memory", lambda: int((3.5 * per + fixed) / CHUNK_SHARE))
    assert generation_chunk(cfg, sim, params) == 3
    monkeypatch.setattr(memory, "free_memory", lambda: 1)
    assert generation_chunk(cfg, sim, params) == 1  # never below one trajectory
    monkeypatch.setattr(memory, "free_memory", lambda: 1 << 40)
    assert generation_chunk(cfg, sim, params) == 7


@pytest.mark.parametrize("mode,physical", [("hybrid", {"epochs": 2}), ("physical", {"epochs": 2, "batching": "full"})])
def test_training_from_host_streamed_windows_matches_the_on_device_gather(tmp_path, mode, physical):
    from helpers import tiny_dict, train_run
    from hybrid_jax.config import config_from_dict

    runs = {}
    for placement in ("device", "host"):
        cfg = config_from_dict(tiny_dict(
            tmp_path, mode=mode, data={"store_dir": str(tmp_path / "store"), "num_trajectories": 4, "num_frames": 6,
                                       "rollout_steps": 2, "placement": placement,
                                       "observation": {"spatial": "centre", "fraction": 0.5}},
            trainer__physical=physical, trainer__hybrid={"cycles": 2, "alpha": 0.5, "warmup_epochs": 1,
                                                         "generation_source": "real"}))
        exp, _, states, history = train_run(cfg)
        assert exp.real_on_device == (placement == "device")
        assert isinstance(exp.real, np.ndarray) == (placement == "host")
        runs[placement] = history
    for dev, host in zip(runs["device"], runs["host"], strict=True):  # the warm-up (hybrid), then each cycle
        pairs = dev.epoch_losses.items() if isinstance(dev.epoch_losses, dict) else [("warm-up", dev.epoch_losses)]
        for name, losses in pairs:
            got = host.epoch_losses[name] if isinstance(host.epoch_losses, dict) else host.epoch_losses
            print(name, "device", losses, "host", got)
            np.testing.assert_allclose(got, losses, rtol=1e-5)  # float32 round-off of a differently fused gather
            assert len(losses) and np.all(np.isfinite(losses))
        if hasattr(dev, "val_losses"):
            np.testing.assert_allclose([host.val_losses[k] for k in dev.val_losses], list(dev.val_losses.values()),
                                       rtol=1e-5)


REF_2D = "configs/reference/burgers_2d.yaml"
REF_3D = "configs/reference/burgers_3d.yaml"
PEAK_CASES = [  # (id, part, config, overrides): the 2D reference at full resolution, the 3D one reduced
    ("2d-generation", "generation", REF_2D, ["data.num_frames=30"]),
    ("2d-synthetic", "synthetic", REF_2D, ["trainer.batch_size=2", "data.num_frames=12"]),
    ("2d-physical", "physical", REF_2D, ["data.num_frames=30"]),
    ("2d-physical-checkpoint", "physical", REF_2D, ["data.num_frames=30", "trainer.physical.checkpoint_rollout=true"]),
    ("3d-generation", "generation", REF_3D, ["physics.resolution=[32,32,32]", "data.num_frames=16"]),
    ("3d-synthetic", "synthetic", REF_3D, ["physics.resolution=[16,16,16]", "data.num_frames=8",
                                           "trainer.batch_size=2"]),
    ("3d-physical", "physical", REF_3D, ["physics.resolution=[32,32,32]", "data.num_frames=8",
                                         "trainer.batch_size=2"]),
    ("3d-physical-checkpoint", "physical", REF_3D, ["physics.resolution=[32,32,32]", "data.num_frames=8",
                                                    "trainer.batch_size=2",
                                                    "trainer.physical.checkpoint_rollout=true"]),
]


@pytest.mark.slow
@pytest.mark.parametrize("case", PEAK_CASES, ids=[c[0] for c in PEAK_CASES])
def test_memory_estimates_are_within_2x_of_the_measured_peak_rss(case):
    """Each part's estimate (hybrid_jax.footprint) against the peak RSS it adds when it runs alone (CPU)."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    from hybrid_jax import footprint as memory
    from hybrid_jax.config import load_config

    name, part, config, overrides = case
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, str(root / "tests" / "memory_worker.py"), part, config, *overrides],
                         cwd=root, capture_output=True, text=True, timeout=900,
                         env={**os.environ, "PYTHONPATH": str(root)})
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    cfg, c = load_config(root / config, overrides), got["channels"]
    estimate = {"generation": lambda: memory.generation_bytes(cfg, cfg.data.num_trajectories, c),
                "synthetic": lambda: memory.synthetic_step_bytes(cfg, c),
                "physical": lambda: memory.physical_step_bytes(cfg, c)}[part]()
    ratio = estimate / got["measured"]
    print(f"{name}: estimate {estimate / 2**20:.1f} MiB, measured peak {got['measured'] / 2**20:.1f} MiB "
          f"(process peak {got['maxrss'] / 2**20:.1f} MiB), ratio {ratio:.2f}")
    assert 0.5 <= ratio <= 2.0
