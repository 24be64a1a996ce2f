"""Readers of user trajectory files: our `.npz`, PDEBench HDF5, a memory-mapped `.npy` (PhiFlow Scenes and
the original system's directories have their own modules). Each returns ``(trajectories [N, T, *spatial, C],
fields or None)``; `store.load_files` validates the result against the config (README, Data formats).

Coordinates stored with the data (HDF5 `x-coordinate`/`t-coordinate` or `grid/x`/`grid/t`, a Scene's
grid bounds and `dt` property) are checked against ``physics.domain`` and ``physics.dt``: one frame
of the data must be one physics step.
"""

from __future__ import annotations

import math
import zipfile
import zlib
from pathlib import Path
from typing import Any, Callable

import numpy as np

from hybrid_jax._registry import data_formats
from hybrid_jax.data.checks import AXES, check_coordinates, npy_header
from hybrid_jax.errors import DataError, ResourceError
from hybrid_jax.memory import host_memory_available, size_text

_EXTENSIONS = {".npz": "npz", ".h5": "hdf5", ".hdf5": "hdf5", ".hdf": "hdf5", ".npy": "npy"}
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
        raise DataError(f"{path}: unknown extension {path.suffix!r}; set data.format to one of "
                        f"{', '.join(data_formats.names())}")
    return _EXTENSIONS[path.suffix.lower()]


Reader = Callable[[Path, Any], tuple[np.ndarray, "list[str] | None"]]
"""``read(path, pde) -> (trajectories [N, T, *spatial, C], channel names or None)``."""


def register_format(name: str, reader: Reader | str) -> None:
    """Make `reader` (or its import path ``"package.module:function"``) available as ``data.format: <name>``
    (installed packages: the entry-point group ``hybrid_jax.data_formats``); `store.load_files` validates
    what it returns like any other format's."""
    data_formats.register(name, reader)


def check_reader(name: str, reader) -> None:
    """Refuse a registered data format that is not a reader function."""
    if not callable(reader):
        raise TypeError(f"data format {name!r}: expected a reader function, got {type(reader).__name__}")


def read_trajectories(path: Path, fmt: str, pde) -> tuple[np.ndarray, list[str] | None]:
    """Read `path` in format `fmt` (or auto-detected) for `pde` with the format's registered reader;
    channel names where the format has them."""
    return data_formats.get(detect_format(path, fmt))(path, pde)


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
                ratio = info.file_size / max(info.compress_size, 1)
                raise DataError(f"{path}: {info.filename} would expand {ratio:.0f}x "
                                f"to {size_text(info.file_size)} (a zip bomb?); refusing to decompress it")
            with z.open(info) as f:
                shape, _, dtype = npy_header(f)
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
        shape, dtype = headers["fields"]
        if len(shape) != 1 or dtype.kind != "U":
            raise DataError(f"{path}: fields must be a 1-D array of channel names, got {dtype} {list(shape)}")
        with np.load(path, allow_pickle=False) as npz:
            return npz["trajectories"], [str(f) for f in npz["fields"]]
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        if isinstance(e, DataError):
            raise
        raise DataError(f"{path}: not a readable .npz file ({' '.join(str(e).split())[:200]})") from None


def read_npy(path: Path, pde) -> tuple[np.ndarray, None]:
    """A `.npy` [N, T, *spatial, C] float32, memory-mapped: pages are read when used (no channel names)."""
    try:
        with open(path, "rb") as f:
            if npy_header(f)[2].hasobject:
                raise DataError(f"{path}: holds Python objects (a pickle); refused")
        return np.load(path, mmap_mode="r", allow_pickle=False), None
    except (ValueError, OSError, EOFError) as e:
        if isinstance(e, DataError):
            raise
        raise DataError(f"{path}: not a readable .npy file ({e})") from None


def _with_channels(a: np.ndarray, pde) -> np.ndarray:
    """Add a channel axis to a single-field array ``[..., *spatial]``."""
    return a[..., None] if a.ndim == 2 + len(pde.spatial_shape) else a


def _h5_numbers(path: Path, node, name: str, dtype, ndim: int | None = None) -> np.ndarray:
    """The HDF5 dataset `node` (`name` in messages) as a `dtype` array; refuses groups, non-numeric data and
    (with `ndim`) other ranks."""
    import h5py

    if not isinstance(node, h5py.Dataset):
        raise DataError(f"{path}: {name} must be a dataset, got a {type(node).__name__}")
    if node.dtype.kind not in "fiu":
        raise DataError(f"{path}: {name} must hold numbers, got {node.dtype}")
    if ndim is not None and node.ndim != ndim:
        raise DataError(f"{path}: {name} must be a {ndim}-D array, got shape {list(node.shape)}")
    return np.asarray(node, dtype)


def read_hdf5(path: Path, pde) -> tuple[np.ndarray, None]:
    """PDEBench HDF5: a `tensor` dataset [N, T, *spatial(, C)] with `x-coordinate`, `t-coordinate` …,
    or one group per seed (``0000``, ``0001``, …) each with `data` [T, *spatial, C] and `grid/x`, `grid/t` ….
    Values are converted to float32; coordinates must be 1-D."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            if "tensor" in f:
                traj = _with_channels(_h5_numbers(path, f["tensor"], "tensor", np.float32), pde)
                coords = {a: _h5_numbers(path, f[f"{a}-coordinate"], f"{a}-coordinate", np.float64, 1)
                          for a in AXES + "t" if f"{a}-coordinate" in f}
            else:
                seeds = sorted(k for k in f if isinstance(f[k], h5py.Group) and "data" in f[k])
                if not seeds:
                    raise DataError(f"{path}: no PDEBench layout: neither a 'tensor' dataset nor seed groups "
                                    f"with 'data'; has {sorted(f)}")
                data = {k: f[k]["data"] for k in seeds}
                for k, d in data.items():
                    if not isinstance(d, h5py.Dataset):
                        raise DataError(f"{path}: {k}/data must be a dataset, got a {type(d).__name__}")
                shapes = {d.shape for d in data.values()}
                if len(shapes) > 1:
                    raise DataError(f"{path}: the seed groups' 'data' differ in shape: {sorted(shapes)}")
                traj = np.stack([_with_channels(_h5_numbers(path, d, f"{k}/data", np.float32)[None], pde)[0]
                                 for k, d in data.items()])
                grid = f[seeds[0]].get("grid")
                grid = grid if isinstance(grid, h5py.Group) else {}
                coords = {a: _h5_numbers(path, grid[a], f"{seeds[0]}/grid/{a}", np.float64, 1)
                          for a in AXES + "t" if a in grid}
    except (OSError, KeyError) as e:
        raise DataError(f"{path}: not a readable HDF5 file ({' '.join(str(e).split())[:200]})") from None
    check_layout(path, traj.shape, traj.dtype, pde)
    if "t" in coords and len(coords["t"]) not in (traj.shape[1], traj.shape[1] + 1):
        raise DataError(f"{path}: t coordinates have {len(coords['t'])} entries for {traj.shape[1]} frames")
    check_coordinates(path, pde, coords)
    return traj, None
