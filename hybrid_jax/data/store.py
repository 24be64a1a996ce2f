"""Real trajectories on disk: generated with the true parameters, or brought by the user.

A generated store is a folder ``<store_dir>/<family>-<hash>/`` holding ``trajectories.npy``
``[N, T, *spatial, C]`` float32 and ``meta.json`` (written last, so a store without it is
incomplete). The hash covers everything that determines the data (physics section, N, T,
seed, and the simulation options of data.truth: refinement, forcing, advection scheme; data.truth.noise
is applied at load time and never stored): a changed config gets a new store; a store whose metadata or
file does not match is regenerated. Generation holds an exclusive lock on the store folder; trajectories with NaN/inf or
values that grow far beyond their initial states (an unstable scheme) are refused, not stored.

User files (`load_files`) are checked from their zip directory and `.npy` headers (names, shape,
dtype, declared versus stored size, compression ratio, memory) before anything is decompressed.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from hybrid_jax.config import Config, config_hash, to_dict
from hybrid_jax.data.truth import check_refinable, forcing_field, truth_physics
from hybrid_jax.errors import DataError
from hybrid_jax.files import FileLock, atomic_write
from hybrid_jax.physics import build_pde
from hybrid_jax.physics.base import PDE
from hybrid_jax.rollout import batched_physics_step, block_average

log = logging.getLogger(__name__)

GROWTH_LIMIT = 1e3  # refuse generated data whose max |value| exceeds this multiple of the initial states'


def generate_trajectories(pde: PDE, params, key: jax.Array, num: int, num_frames: int, *, steps_per_frame: int = 1,
                          downsample: int = 1, kick: np.ndarray | None = None) -> jax.Array:
    """Simulate `num` trajectories of `num_frames` frames (x0 included) in one vmapped, jitted rollout.

    Frames are `steps_per_frame` solver steps apart; `kick` ``[*spatial]`` (e.g. dt·f of a forcing f) is
    added to every dynamic channel after every solver step; every frame is block-averaged over `downsample`^d cells.
    Returns ``[num, num_frames, *spatial / downsample, C]`` float32.
    """
    nd, ndim = pde.layout.num_dynamic, len(pde.spatial_shape)

    def observe(x):
        return x if downsample == 1 else block_average(x, downsample, 1, ndim)

    @jax.jit
    def run(key, params):
        solver = batched_physics_step(pde, params)
        if kick is None:
            step = solver
        else:
            def step(x):
                return solver(x).at[..., :nd].add(jnp.asarray(kick, x.dtype)[..., None])

        def frame(x, _):
            x = step(x) if steps_per_frame == 1 else jax.lax.fori_loop(0, steps_per_frame, lambda _, y: step(y), x)
            return x, observe(x)

        x0 = pde.sample_initial_state(key, num)
        _, traj = jax.lax.scan(frame, x0, None, length=num_frames - 1)  # a rolled loop: see rollout()
        return jnp.concatenate([observe(x0)[:, None], jnp.moveaxis(traj, 0, 1)], axis=1)

    return run(key, params)


def generate_real(cfg: Config, pde: PDE, key: jax.Array) -> np.ndarray:
    """The config's real trajectories ``[N, T, *spatial, C]`` with the true parameters, as data.truth asks
    (refined grid and time step, forcing, advection scheme; without noise) on `pde`'s grid."""
    truth = cfg.data.truth
    physics = truth_physics(cfg.physics, truth)
    gen = pde if physics is cfg.physics else build_pde(physics)
    check_refinable(gen, cfg.physics, truth)
    f = forcing_field(physics, truth.forcing)
    traj = generate_trajectories(gen, gen.true_params(), key, cfg.data.num_trajectories, cfg.data.num_frames,
                                 steps_per_frame=truth.refine.time, downsample=truth.refine.space,
                                 kick=None if f is None else physics.dt * f)
    return np.asarray(traj)


def _data_identity(cfg: Config) -> dict:
    identity = {"physics": to_dict(cfg.physics), "num_trajectories": cfg.data.num_trajectories,
                "num_frames": cfg.data.num_frames, "seed": cfg.seed, "format": 1}
    truth = cfg.data.truth.simulated()
    return identity if truth is None else {**identity, "truth": truth}  # stores without it stay valid


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
        if not isinstance(meta, dict) or meta.get("identity") != identity or meta.get("sha256") != _sha256(traj_file):
            log.warning("data store %s does not match its metadata or the config; regenerating", folder)
            return None
        return np.load(traj_file, allow_pickle=False)
    except (ValueError, UnicodeDecodeError) as e:
        log.warning("data store %s is unreadable (%s); regenerating", folder, e)
        return None


def _write_store(folder: Path, traj: np.ndarray, identity: dict, fields: tuple[str, ...]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "meta.json").unlink(missing_ok=True)
    atomic_write(folder / "trajectories.npy", lambda f: np.save(f, traj))
    meta = {"identity": identity, "sha256": _sha256(folder / "trajectories.npy"), "fields": list(fields),
            "shape": list(traj.shape), "dtype": str(traj.dtype)}
    atomic_write(folder / "meta.json", json.dumps(meta, indent=1))


def check_generated(traj: np.ndarray) -> None:
    """Refuse generated trajectories ``[N, T, ...]`` with NaN/inf or exploding values (see GROWTH_LIMIT)."""
    if not np.all(np.isfinite(traj)):
        raise DataError("generated trajectories contain NaN/inf: the true parameters or dt are unstable; not stored")
    start, peak = float(np.abs(traj[:, 0]).max()), float(np.abs(traj).max())
    if peak > GROWTH_LIMIT * max(start, 1e-6):
        raise DataError(f"generated trajectories grow to max |value| {peak:.3g} from {start:.3g} at the initial "
                        f"states: the true parameters or dt are unstable (an explicit scheme beyond its "
                        f"stability bound?); not stored")


def load_or_generate(cfg: Config, pde: PDE) -> tuple[np.ndarray, Path]:
    """Trajectories of the config's generated store, simulated and stored if absent or stale."""
    folder, identity = store_path(cfg), _data_identity(cfg)
    traj = _read_store(folder, identity)
    if traj is not None:
        return traj, folder
    folder.mkdir(parents=True, exist_ok=True)
    with FileLock(folder / ".lock", f"data store {folder}"):
        traj = _read_store(folder, identity)  # another run may have written it meanwhile
        if traj is None:
            log.info("generating %d trajectories of %d frames into %s", cfg.data.num_trajectories,
                     cfg.data.num_frames, folder)
            key = jax.random.fold_in(jax.random.PRNGKey(cfg.seed), 1)
            traj = generate_real(cfg, pde, key)
            check_generated(traj)
            _write_store(folder, traj, identity, pde.layout.names)
    return traj, folder


def save_trajectories(path: Path, traj: np.ndarray, fields: tuple[str, ...]) -> None:
    """Write ``traj [N, T, *spatial, C]`` float32 and its channel names as an `.npz` in the format
    `load_files` reads, atomically (a temporary file renamed into place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: np.savez(f, trajectories=np.asarray(traj, np.float32), fields=np.array(fields)))


def load_files(path: str | Path, pde: PDE, horizon: int, fmt: str = "auto") -> np.ndarray:
    """Validate and load user trajectories in `fmt` (data.format: auto, npz, hdf5, scene, npy; see
    data.formats and the README's Data formats). A `.npy` stays memory-mapped."""
    from hybrid_jax.data.formats import all_finite, check_layout, read_trajectories

    path = Path(path)
    traj, fields = read_trajectories(path, fmt, pde)
    check_layout(path, traj.shape, traj.dtype, pde)
    if fields is not None and tuple(fields) != pde.layout.names:
        raise DataError(f"{path}: fields must be {list(pde.layout.names)} (in this order), got {fields}")
    if traj.shape[0] < 2 or traj.shape[1] < horizon + 1:
        raise DataError(f"{path}: need >= 2 trajectories of >= {horizon + 1} frames (data.rollout_steps + 1), "
                        f"got {traj.shape[0]} of {traj.shape[1]}")
    if not all_finite(traj):
        raise DataError(f"{path}: trajectories contain NaN or inf")
    return traj
