"""Real trajectories on disk: generated with the true parameters, or brought by the user.

A generated store is a folder ``<store_dir>/<family>-<hash>/`` holding ``trajectories.npy``
``[N, T, *spatial, C]`` float32 and ``meta.json`` (written last, so a store without it is
incomplete). The hash covers everything that determines the data (physics section, N, T,
seed): a changed config gets a new store; a store whose metadata or file does not match is
regenerated.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import zipfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from hybrid_jax.config import Config, config_hash, to_dict
from hybrid_jax.physics.base import PDE
from hybrid_jax.rollout import batched_physics_step, rollout

log = logging.getLogger(__name__)


class DataError(ValueError):
    """Trajectory data is missing, corrupt or does not match the config."""


def generate_trajectories(pde: PDE, params, key: jax.Array, num: int, num_frames: int) -> jax.Array:
    """Simulate `num` trajectories of `num_frames` frames (x0 included) in one vmapped, jitted rollout.

    Returns ``[num, num_frames, *spatial, C]`` float32.
    """

    @jax.jit
    def run(key, params):
        x0 = pde.sample_initial_state(key, num)
        traj = rollout(batched_physics_step(pde, params), x0, num_frames - 1, unroll=False)  # see rollout()
        return jnp.concatenate([x0[:, None], traj], axis=1)

    return run(key, params)


def _data_identity(cfg: Config) -> dict:
    return {"physics": to_dict(cfg.physics), "num_trajectories": cfg.data.num_trajectories,
            "num_frames": cfg.data.num_frames, "seed": cfg.seed, "format": 1}


def store_path(cfg: Config) -> Path:
    return Path(cfg.data.store_dir) / f"{cfg.physics.name}-{config_hash(_data_identity(cfg))}"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def _read_store(folder: Path, identity: dict) -> np.ndarray | None:
    """The stored trajectories if the store is complete and matches `identity`, else None."""
    meta_file, traj_file = folder / "meta.json", folder / "trajectories.npy"
    if not meta_file.is_file() or not traj_file.is_file():
        return None
    try:
        meta = json.loads(meta_file.read_text())
        if meta.get("identity") != identity or meta.get("sha256") != _sha256(traj_file):
            log.warning("data store %s does not match its metadata or the config; regenerating", folder)
            return None
        return np.load(traj_file)
    except (ValueError, OSError) as e:
        log.warning("data store %s is unreadable (%s); regenerating", folder, e)
        return None


def _write_store(folder: Path, traj: np.ndarray, identity: dict, fields: tuple[str, ...]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "meta.json").unlink(missing_ok=True)
    tmp = folder / "trajectories.npy.tmp"
    with open(tmp, "wb") as f:
        np.save(f, traj)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, folder / "trajectories.npy")
    meta = {"identity": identity, "sha256": _sha256(folder / "trajectories.npy"), "fields": list(fields),
            "shape": list(traj.shape), "dtype": str(traj.dtype)}
    tmp_meta = folder / "meta.json.tmp"
    tmp_meta.write_text(json.dumps(meta, indent=1))
    os.replace(tmp_meta, folder / "meta.json")


def load_or_generate(cfg: Config, pde: PDE) -> tuple[np.ndarray, Path]:
    """Trajectories of the config's generated store, simulated and stored if absent or stale."""
    folder, identity = store_path(cfg), _data_identity(cfg)
    traj = _read_store(folder, identity)
    if traj is None:
        log.info("generating %d trajectories of %d frames into %s", cfg.data.num_trajectories,
                 cfg.data.num_frames, folder)
        key = jax.random.fold_in(jax.random.PRNGKey(cfg.seed), 1)
        traj = np.asarray(generate_trajectories(pde, pde.true_params(), key, cfg.data.num_trajectories,
                                                cfg.data.num_frames))
        if not np.all(np.isfinite(traj)):
            raise DataError("generated trajectories contain NaN/inf: the true parameters or dt are unstable")
        _write_store(folder, traj, identity, pde.layout.names)
    return traj, folder


def load_files(path: str | Path, pde: PDE, horizon: int) -> np.ndarray:
    """Validate and load user trajectories from an `.npz` (`trajectories`, `fields`), or from a data
    directory of the original system (`sim_XXXX.npz`, see data.original); see README and docs/data.md."""
    path = Path(path)
    if path.is_dir():
        from hybrid_jax.data.original import read_original

        traj, fields = read_original(path)
    elif not path.is_file():
        raise DataError(f"data.path: file not found: {path}")
    else:
        traj, fields = _read_npz(path)
    return _checked(path, traj, fields, pde, horizon)


def _read_npz(path: Path) -> tuple[np.ndarray, list[str]]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            if "trajectories" not in npz or "fields" not in npz:
                raise DataError(f"{path}: must hold arrays 'trajectories' and 'fields', has {sorted(npz.files)}")
            traj, fields = npz["trajectories"], [str(f) for f in npz["fields"]]
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        if isinstance(e, DataError):
            raise
        raise DataError(f"{path}: not a readable .npz file ({e})") from None
    return traj, fields


def _checked(path: Path, traj: np.ndarray, fields: list[str], pde: PDE, horizon: int) -> np.ndarray:
    """`traj` if it fits the config: shape, field names and order, float32, enough frames, finite."""
    expected = (pde.spatial_shape, pde.layout.names)
    if traj.ndim != 2 + len(pde.spatial_shape) + 1 or tuple(traj.shape[2:]) != expected[0] + (len(expected[1]),):
        raise DataError(f"{path}: trajectories must have shape [N, T, {', '.join(map(str, expected[0]))}, "
                        f"{len(expected[1])}] for this config, got {list(traj.shape)}")
    if tuple(fields) != expected[1]:
        raise DataError(f"{path}: fields must be {list(expected[1])} (in this order), got {fields}")
    if traj.dtype != np.float32:
        raise DataError(f"{path}: trajectories must be float32, got {traj.dtype}")
    if traj.shape[0] < 2 or traj.shape[1] < horizon + 1:
        raise DataError(f"{path}: need >= 2 trajectories of >= {horizon + 1} frames (data.rollout_steps + 1), "
                        f"got {traj.shape[0]} of {traj.shape[1]}")
    if not np.all(np.isfinite(traj)):
        raise DataError(f"{path}: trajectories contain NaN or inf")
    return traj
