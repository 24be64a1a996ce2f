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
from typing import Iterable, Iterator

import jax
import jax.numpy as jnp
import numpy as np

from hybrid_jax.config import Config, config_hash, to_dict
from hybrid_jax.data.generation import CHUNK_SHARE, Simulation, choose_chunk, simulate_chunks
from hybrid_jax.data.truth import check_refinable, forcing_field, truth_physics
from hybrid_jax.errors import DataError
from hybrid_jax.files import FileLock, atomic_write
from hybrid_jax.physics import build_pde
from hybrid_jax.physics.base import PDE

log = logging.getLogger(__name__)

GROWTH_LIMIT = 1e3  # refuse generated data whose max |value| exceeds this multiple of the initial states'


def generate_trajectories(pde: PDE, params, key: jax.Array, num: int, num_frames: int, *, steps_per_frame: int = 1,
                          downsample: int = 1, kick: np.ndarray | None = None, chunk: int | None = None) -> jax.Array:
    """Simulate `num` trajectories of `num_frames` frames (x0 included), `chunk` at a time (default all), each
    chunk one jitted program over its trajectories in turn (see `Simulation` for the other arguments).
    Returns ``[num, num_frames, *spatial / downsample, C]`` float32."""
    sim = Simulation(pde, num_frames, steps_per_frame=steps_per_frame, downsample=downsample, kick=kick)
    return jnp.asarray(np.concatenate(list(simulate_chunks(sim, params, key, num, chunk or num))))


def real_simulation(cfg: Config, pde: PDE) -> tuple[Simulation, dict]:
    """The simulation of the config's real trajectories with the true parameters, as data.truth asks
    (refined grid and time step, forcing, advection scheme; without noise) on `pde`'s grid, and its parameters."""
    truth = cfg.data.truth
    physics = truth_physics(cfg.physics, truth)
    gen = pde if physics is cfg.physics else build_pde(physics)
    check_refinable(gen, cfg.physics, truth)
    f = forcing_field(physics, truth.forcing)
    sim = Simulation(gen, cfg.data.num_frames, steps_per_frame=truth.refine.time, downsample=truth.refine.space,
                     kick=None if f is None else physics.dt * f)
    return sim, gen.true_params()


def generation_chunk(cfg: Config, sim: Simulation, params) -> int:
    """Trajectories per generation chunk: data.generation_chunk, or what fits the free memory at the measured
    cost of a one-trajectory call (measured only if the estimate of all of them at once might not fit)."""
    from hybrid_jax.footprint import free_memory, generation_bytes
    from hybrid_jax.memory import size_text

    n, requested, free = cfg.data.num_trajectories, cfg.data.generation_chunk, free_memory()
    channels = sim.pde.layout.num_channels
    if requested is None and generation_bytes(cfg, n, channels) > CHUNK_SHARE * free / 4:  # cheap estimate first
        cost = sim.chunk_cost(params)
        if cost is None:  # no buffer statistics: all at once, as before chunking
            return choose_chunk(requested, n)
        chunk = choose_chunk(None, n, cost, free)
        log.info("generation: %s per trajectory + %s (XLA), %s free: %d trajectories per chunk", size_text(cost[0]),
                 size_text(cost[1]), size_text(free), chunk)
        return chunk
    return choose_chunk(requested, n)


def real_chunks(cfg: Config, pde: PDE, key: jax.Array, chunk: int | None = None) -> Iterator[np.ndarray]:
    """The config's real trajectories (`real_simulation`), in chunks of `chunk` trajectories (default:
    `generation_chunk`), each ``[c, T, *spatial, C]`` on the host."""
    sim, params = real_simulation(cfg, pde)
    chunk = chunk or generation_chunk(cfg, sim, params)
    return simulate_chunks(sim, params, key, cfg.data.num_trajectories, chunk)


def generate_real(cfg: Config, pde: PDE, key: jax.Array, chunk: int | None = None) -> np.ndarray:
    """All of `real_chunks` as one array ``[N, T, *spatial, C]``."""
    return np.concatenate(list(real_chunks(cfg, pde, key, chunk)))


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
        return np.load(traj_file, mmap_mode="r", allow_pickle=False)  # pages are read as training touches them
    except (ValueError, UnicodeDecodeError) as e:
        log.warning("data store %s is unreadable (%s); regenerating", folder, e)
        return None


def _write_store(folder: Path, chunks: Iterable[np.ndarray], num: int, identity: dict,
                 fields: tuple[str, ...]) -> None:
    """Write the store from `chunks` (``[c, T, *spatial, C]`` float32 each, `num` trajectories in all), each
    appended to the `.npy` as it arrives and all checked as one array (`check_generated`); the file appears
    under its name only once complete and checked, and meta.json after it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "meta.json").unlink(missing_ok=True)
    shape: list[int] = []

    def write(f):
        start = peak = 0.0
        for i, part in enumerate(chunks):
            part = np.ascontiguousarray(part, np.float32)
            check_finite(part)
            start, peak = max(start, float(np.abs(part[:, 0]).max())), max(peak, float(np.abs(part).max()))
            if i == 0:
                shape[:] = [num, *part.shape[1:]]
                np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False,
                                                         "shape": tuple(shape)})
            f.write(part.tobytes())
        check_growth(start, peak)

    atomic_write(folder / "trajectories.npy", write)
    meta = {"identity": identity, "sha256": _sha256(folder / "trajectories.npy"), "fields": list(fields),
            "shape": shape, "dtype": "float32"}
    atomic_write(folder / "meta.json", json.dumps(meta, indent=1))


def check_finite(traj: np.ndarray) -> None:
    if not np.all(np.isfinite(traj)):
        raise DataError("generated trajectories contain NaN/inf: the true parameters or dt are unstable; not stored")


def check_growth(start: float, peak: float) -> None:
    """Refuse a max |value| `peak` beyond GROWTH_LIMIT × the initial states' max |value| `start`."""
    if peak > GROWTH_LIMIT * max(start, 1e-6):
        raise DataError(f"generated trajectories grow to max |value| {peak:.3g} from {start:.3g} at the initial "
                        f"states: the true parameters or dt are unstable (an explicit scheme beyond its "
                        f"stability bound?); not stored")


def check_generated(traj: np.ndarray) -> None:
    """Refuse generated trajectories ``[N, T, ...]`` with NaN/inf or exploding values (see GROWTH_LIMIT)."""
    check_finite(traj)
    check_growth(float(np.abs(traj[:, 0]).max()), float(np.abs(traj).max()))


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
            _write_store(folder, real_chunks(cfg, pde, key), cfg.data.num_trajectories, identity,
                         pde.layout.names)
            traj = np.load(folder / "trajectories.npy", mmap_mode="r", allow_pickle=False)
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
