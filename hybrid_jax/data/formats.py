"""Readers of user trajectory files: our `.npz`, PDEBench HDF5, PhiFlow Scene directories and a
memory-mapped `.npy`. Each returns ``(trajectories [N, T, *spatial, C], fields or None)``;
`store.load_files` validates the result against the config (README, Data formats).

Coordinates stored with the data (HDF5 `x-coordinate`/`t-coordinate` or `grid/x`/`grid/t`, a Scene's
grid bounds and `dt` property) are checked against ``physics.domain`` and ``physics.dt``: one frame
of the data must be one physics step.
"""

from __future__ import annotations

import math
import pickle
import zipfile
import zlib
from pathlib import Path

import numpy as np

from hybrid_jax.errors import DataError, ResourceError
from hybrid_jax.memory import host_memory_available, size_text

FORMATS = ("npz", "hdf5", "scene", "npy", "original")
_EXTENSIONS = {".npz": "npz", ".h5": "hdf5", ".hdf5": "hdf5", ".hdf": "hdf5", ".npy": "npy"}
_AXES = "xyz"
_REL_TOL = 1e-3  # coordinates vs config
MAX_ZIP_RATIO = 1000  # deflate reaches ~1000x only on near-constant data: a larger ratio is a zip bomb


def detect_format(path: Path, fmt: str = "auto") -> str:
    """The format of `path`: `fmt` unless auto, else by extension (a directory is a data directory of
    the original system when it holds `sim_XXXX.npz` files, else a Scene)."""
    if not path.exists():
        raise DataError(f"data.path: file not found: {path}")
    if fmt != "auto":
        return fmt
    if path.is_dir():
        from hybrid_jax.data.original import sim_files

        return "original" if sim_files(path) else "scene"
    if path.suffix.lower() not in _EXTENSIONS:
        raise DataError(f"{path}: unknown extension {path.suffix!r}; set data.format to one of {', '.join(FORMATS)}")
    return _EXTENSIONS[path.suffix.lower()]


def read_trajectories(path: Path, fmt: str, pde) -> tuple[np.ndarray, list[str] | None]:
    """Read `path` in format `fmt` (or auto-detected) for `pde`; channel names where the format has them."""
    fmt = detect_format(path, fmt)
    if fmt == "original":
        from hybrid_jax.data.original import read_original

        return read_original(path, pde)
    return {"npz": read_npz, "hdf5": read_hdf5, "scene": read_scene, "npy": read_npy}[fmt](path, pde)


def all_finite(traj: np.ndarray) -> bool:
    """Whether every value is finite, one trajectory at a time (a memory map is never read whole)."""
    return all(np.isfinite(traj[i]).all() for i in range(traj.shape[0]))


def check_layout(path: Path, shape: tuple[int, ...], dtype, pde) -> None:
    """Refuse trajectories that are not float32 ``[N, T, *spatial, C]`` for `pde`."""
    spatial, channels = tuple(pde.spatial_shape), len(pde.layout.names)
    if len(shape) != 2 + len(spatial) + 1 or tuple(shape[2:]) != spatial + (channels,):
        raise DataError(f"{path}: trajectories must have shape [N, T, {', '.join(map(str, spatial))}, "
                        f"{channels}] for this config, got {list(shape)}")
    if dtype != np.float32:
        raise DataError(f"{path}: trajectories must be float32, got {dtype}")


def npz_headers(path: Path) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Shape and dtype of every array of an `.npz`, read from its headers without decompressing the data.

    Refuses object arrays (pickles), headers whose declared size differs from the stored size,
    compression ratios beyond MAX_ZIP_RATIO and arrays larger than the available host memory.
    """
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



def read_npz(path: Path, pde) -> tuple[np.ndarray, list[str]]:
    """Our `.npz`: arrays `trajectories` [N, T, *spatial, C] float32 and `fields` (channel names).
    Names, shape and dtype are checked from the file's headers before any array is decompressed."""
    try:
        headers = npz_headers(path)
        if "trajectories" not in headers or "fields" not in headers:
            raise DataError(f"{path}: must hold arrays 'trajectories' and 'fields', has {sorted(headers)}")
        check_layout(path, *headers["trajectories"], pde)
        with np.load(path, allow_pickle=False) as npz:
            return npz["trajectories"], [str(f) for f in npz["fields"]]
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        if isinstance(e, DataError):
            raise
        raise DataError(f"{path}: not a readable .npz file ({' '.join(str(e).split())[:200]})") from None


def read_npy(path: Path, pde) -> tuple[np.ndarray, None]:
    """A `.npy` [N, T, *spatial, C] float32, memory-mapped: pages are read when used (no channel names)."""
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False), None
    except (ValueError, OSError, EOFError) as e:
        raise DataError(f"{path}: not a readable .npy file ({e})") from None


def _with_channels(a: np.ndarray, pde) -> np.ndarray:
    """Add a channel axis to a single-field array ``[..., *spatial]``."""
    return a[..., None] if a.ndim == 2 + len(pde.spatial_shape) else a


def _check_coordinates(path: Path, pde, coords: dict[str, np.ndarray]) -> None:
    """Check cell-centre coordinates `x`, `y`, `z` against physics.domain and `t` spacing against physics.dt."""
    cfg = getattr(pde, "cfg", None)
    for name, c in coords.items():
        c = np.asarray(c, np.float64).ravel()
        if len(c) < 2:
            continue
        step = np.diff(c)
        if not np.allclose(step, step[0], rtol=_REL_TOL, atol=0):
            raise DataError(f"{path}: {name} coordinates are not uniformly spaced")
        if cfg is None:
            continue
        if name == "t":
            key, expected, found = "physics.dt", cfg.dt, step[0]
        else:
            d = _AXES.index(name)
            if d >= len(cfg.domain):
                raise DataError(f"{path}: has {name} coordinates but physics.resolution has {len(cfg.domain)} entries")
            key, expected, found = f"physics.domain[{d}]", cfg.domain[d], step[0] * len(c)
        if not np.isclose(found, expected, rtol=_REL_TOL, atol=0):
            what = "frame spacing" if name == "t" else "domain length (cells × spacing)"
            raise DataError(f"{path}: {name} coordinates give a {what} of {found:.6g}, but {key} = {expected:.6g} "
                            f"(one frame must be one physics step; set {key} to match the data)")


def read_hdf5(path: Path, pde) -> tuple[np.ndarray, None]:
    """PDEBench HDF5: a `tensor` dataset [N, T, *spatial(, C)] with `x-coordinate`, `t-coordinate` …,
    or one group per seed (``0000``, ``0001``, …) each with `data` [T, *spatial, C] and `grid/x`, `grid/t` ….
    Values are converted to float32."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            if "tensor" in f:
                traj = _with_channels(np.asarray(f["tensor"], np.float32), pde)
                coords = {a: f[f"{a}-coordinate"][()] for a in _AXES + "t" if f"{a}-coordinate" in f}
            else:
                seeds = sorted(k for k in f if isinstance(f[k], h5py.Group) and "data" in f[k])
                if not seeds:
                    raise DataError(f"{path}: no PDEBench layout: neither a 'tensor' dataset nor seed groups "
                                    f"with 'data'; has {sorted(f)}")
                shapes = {f[k]["data"].shape for k in seeds}
                if len(shapes) > 1:
                    raise DataError(f"{path}: the seed groups' 'data' differ in shape: {sorted(shapes)}")
                traj = np.stack([_with_channels(np.asarray(f[k]["data"], np.float32)[None], pde)[0] for k in seeds])
                grid = f[seeds[0]].get("grid", {})
                coords = {a: grid[a][()] for a in _AXES + "t" if a in grid}
    except OSError as e:
        raise DataError(f"{path}: not a readable HDF5 file ({e})") from None
    if "t" in coords and len(coords["t"]) not in (traj.shape[1], traj.shape[1] + 1):
        raise DataError(f"{path}: t coordinates have {len(coords['t'])} entries for {traj.shape[1]} frames")
    _check_coordinates(path, pde, coords)
    return traj, None


def read_scene(path: Path, pde) -> tuple[np.ndarray, list[str]]:
    """PhiFlow Scenes: `path` is a parent of ``sim_XXXXXX`` scenes (one trajectory each, frames in
    order). A scalar field ``u`` gives channel ``u``; a vector field ``vel`` gives ``vel_x``, ``vel_y`` ….
    Channels are those of the PDE layout, in its order; the grid bounds and a ``dt`` scene property,
    if present, are checked against the config. Values are converted to float32."""
    from phi.field import Scene

    sims = Scene.list(str(path))
    if not sims:
        raise DataError(f"{path}: no PhiFlow scenes (sim_XXXXXX folders) in this directory")
    traj = [_read_one_scene(Scene.at(p), pde) for p in sims]
    if len({t.shape for t in traj}) > 1:
        raise DataError(f"{path}: the scenes differ in frames or grid: {sorted({t.shape for t in traj})}")
    return np.stack(traj), list(pde.layout.names)


def _read_one_scene(scene, pde) -> np.ndarray:
    """One scene as ``[T, *spatial, C]`` in the PDE's channel order."""
    where = Path(scene.path)
    frames, names = scene.frames, scene.fieldnames
    if not frames:
        raise DataError(f"{where}: scene has no frames")
    dims = _AXES[: len(pde.spatial_shape)]
    channels = {}
    try:
        for name in names:
            for t in frames:
                grid = scene.read(name, frame=t, convert_to_backend=False)
                if grid.is_staggered:
                    grid = grid.at_centers()
                if t == frames[0]:
                    _check_coordinates(where, pde, {d: np.arange(n) * w / n for d, n, w in zip(
                        dims, grid.resolution.sizes, grid.bounds.size.numpy("vector").reshape(-1))})
                if "vector" in grid.shape:
                    comps = grid.shape.get_item_names("vector")
                    values = grid.values.numpy(",".join(dims) + ",vector")
                    for i, c in enumerate(comps):
                        channels.setdefault(f"{name}_{c}", []).append(values[..., i])
                else:
                    channels.setdefault(name, []).append(grid.values.numpy(",".join(dims)))
    except (OSError, ValueError, KeyError, AssertionError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError) as e:
        first_line = (str(e).splitlines() or [""])[0]
        raise DataError(f"{where}: unreadable scene field ({type(e).__name__}: {first_line})") from None
    missing = [c for c in pde.layout.names if c not in channels]
    if missing:
        raise DataError(f"{where}: scene lacks channels {missing} of this PDE (has {sorted(channels)}; a vector "
                        f"field 'vel' gives vel_x, vel_y)")
    dt = scene.properties.get("dt")
    if dt is not None:
        _check_coordinates(where, pde, {"t": np.arange(2) * float(dt)})
    return np.stack([np.stack(channels[c]) for c in pde.layout.names], axis=-1).astype(np.float32)
