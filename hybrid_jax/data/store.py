"""Real trajectories on disk: generated with the true parameters, or brought by the user.

A generated store is a folder ``<store_dir>/<family>-<hash>/`` holding ``trajectories.npy``
``[N, T, *spatial, C]`` float32 and ``meta.json`` (written last, so a store without it is
incomplete). The hash covers everything that determines the data (physics section, N, T,
seed): a changed config gets a new store; a store whose metadata or file does not match is
regenerated. Generation holds an exclusive lock on the store folder; trajectories with NaN/inf or
values that grow far beyond their initial states (an unstable scheme) are refused, not stored.

User files (`load_files`) are checked from their zip directory and `.npy` headers (names, shape,
dtype, declared versus stored size, compression ratio, memory) before anything is decompressed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import zipfile
import zlib
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from hybrid_jax.config import Config, config_hash, to_dict
from hybrid_jax.errors import DataError, ResourceError
from hybrid_jax.files import FileLock, atomic_write
from hybrid_jax.physics.base import PDE
from hybrid_jax.rollout import batched_physics_step, rollout

log = logging.getLogger(__name__)

GROWTH_LIMIT = 1e3  # refuse generated data whose max |value| exceeds this multiple of the initial states'
MAX_ZIP_RATIO = 1000  # deflate reaches ~1000x only on near-constant data: a larger ratio is a zip bomb


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
        if not isinstance(meta, dict) or meta.get("identity") != identity or meta.get("sha256") != _sha256(traj_file):
            log.warning("data store %s does not match its metadata or the config; regenerating", folder)
            return None
        return np.load(traj_file)
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
            traj = np.asarray(generate_trajectories(pde, pde.true_params(), key, cfg.data.num_trajectories,
                                                    cfg.data.num_frames))
            check_generated(traj)
            _write_store(folder, traj, identity, pde.layout.names)
    return traj, folder


def npz_headers(path: Path) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Shape and dtype of every array of an `.npz`, read from its headers without decompressing the data.

    Refuses object arrays (pickles), headers whose declared size differs from the stored size,
    compression ratios beyond MAX_ZIP_RATIO and arrays larger than the available host memory.
    """
    from hybrid_jax.preflight import host_memory_available, size_text

    out = {}
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            name = info.filename.removesuffix(".npy")
            if info.file_size > MAX_ZIP_RATIO * max(info.compress_size, 1) and info.file_size > 1 << 20:
                raise DataError(f"{path}: {info.filename} would expand {info.file_size / max(info.compress_size, 1):.0f}x "
                                f"to {size_text(info.file_size)} (a zip bomb?); refusing to decompress it")
            with z.open(info) as f:
                version = np.lib.format.read_magic(f)
                read = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
                if version not in read:
                    raise DataError(f"{path}: {info.filename}: unsupported .npy format version {version}")
                shape, _, dtype = read[version](f)
                if dtype.hasobject:
                    raise DataError(f"{path}: {info.filename} holds Python objects (a pickle); refused")
                nbytes = math.prod(shape) * dtype.itemsize
                if info.file_size - f.tell() != nbytes:
                    raise DataError(f"{path}: {info.filename}: its header declares shape {list(shape)} "
                                    f"({size_text(nbytes)}) but it stores {size_text(info.file_size - f.tell())}")
            if nbytes > host_memory_available():
                raise ResourceError(f"{path}: {info.filename} needs {size_text(nbytes)} of host memory, "
                                    f"{size_text(host_memory_available())} available")
            out[name] = (tuple(shape), dtype)
    return out


def load_files(path: str | Path, pde: PDE, horizon: int) -> np.ndarray:
    """Validate and load user trajectories from an `.npz` (`trajectories`, `fields`); see README.

    Names, shape and dtype are checked from the file's headers before any array is decompressed.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data.path: file not found: {path}")
    if path.suffix == ".npy":
        raise DataError(f"{path}: a .npy file holds one array without channel names; save an .npz with arrays "
                        f"'trajectories' [N, T, *spatial, C] and 'fields' (np.savez, see README)")
    try:
        headers = npz_headers(path)
        if "trajectories" not in headers or "fields" not in headers:
            raise DataError(f"{path}: must hold arrays 'trajectories' and 'fields', has {sorted(headers)}")
        shape, dtype = headers["trajectories"]
        expected = (pde.spatial_shape, pde.layout.names)
        if len(shape) != 2 + len(pde.spatial_shape) + 1 or tuple(shape[2:]) != expected[0] + (len(expected[1]),):
            raise DataError(f"{path}: trajectories must have shape [N, T, {', '.join(map(str, expected[0]))}, "
                            f"{len(expected[1])}] for this config, got {list(shape)}")
        if dtype != np.float32:
            raise DataError(f"{path}: trajectories must be float32, got {dtype}")
        if shape[0] < 2 or shape[1] < horizon + 1:
            raise DataError(f"{path}: need >= 2 trajectories of >= {horizon + 1} frames (data.rollout_steps + 1), "
                            f"got {shape[0]} of {shape[1]}")
        with np.load(path, allow_pickle=False) as npz:
            fields = [str(f) for f in npz["fields"]]
            if tuple(fields) != expected[1]:
                raise DataError(f"{path}: fields must be {list(expected[1])} (in this order), got {fields}")
            traj = npz["trajectories"]
    except (ValueError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        if isinstance(e, DataError):
            raise
        raise DataError(f"{path}: not a readable .npz file ({' '.join(str(e).split())[:200]})") from None
    if not np.all(np.isfinite(traj)):
        raise DataError(f"{path}: trajectories contain NaN or inf")
    return traj
