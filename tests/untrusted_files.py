"""Hostile and malformed data files, one builder per case, for the tests of untrusted input (and the
reproduction of issue 20). A builder ``make(folder, marker, spatial, fields) -> path`` writes its file or
directory under `folder` for a PDE of grid `spatial` and channels `fields`; a payload writes `marker` if
anything unpickles it."""

from __future__ import annotations

import pickle
from pathlib import Path

import h5py
import numpy as np

N, T = 2, 6  # trajectories and frames: enough for rollout_steps <= 5


class Payload:
    """Unpickling this calls `exec`, which writes the marker file."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').write('payload ran')",)


def _obj(value) -> np.ndarray:
    a = np.empty((), object)
    a[()] = value
    return a


def _traj(spatial, fields) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(N, T, *spatial, len(fields))).astype(np.float32)


def original_sims(folder: Path, spatial, fields, shape=None, payload=None) -> Path:
    """Sims as the original system's phiml.math.save writes them (`specs` a pickled dict, array time-first);
    `shape` replaces the metadata's shape, `payload` the whole spec of sim_0000."""
    folder.mkdir(parents=True, exist_ok=True)
    names = ("time", *"xyz"[:len(spatial)], "field")
    default = {"names": names, "types": ["batch", *["spatial"] * len(spatial), "channel"],
               "item_names": (None, *[None] * len(spatial), tuple(fields)), "sizes": (T, *spatial, len(fields))}
    for i, traj in enumerate(_traj(spatial, fields)):
        spec = np.empty(1, object)
        spec[0] = payload if payload is not None and i == 0 else \
            {"type": "dense", "names": names, "shape": default if shape is None else shape}
        np.savez(folder / f"sim_{i:04d}.npz", tree=_obj({"tree": None}), specs=spec, paths=np.array(["root"]),
                 **{"root:0": traj})
    return folder


def scene_frame(path: Path, values: np.ndarray, dims: str, components=None, extrapolation=None, drop=(),
                **entries) -> None:
    """One frame file as PhiFlow's Scene.write saves a CenteredGrid (`values` [*spatial(, vector)]), with
    `entries` replaced and the entries `drop` left out."""
    names = [*dims] + (["vector"] if components else [])
    frame = {"dim_names": np.array(names),
             "dim_types": np.array(["spatial"] * len(dims) + ["channel"] * bool(components)),
             "dim_item_names": np.array([None] * len(dims) + ([tuple(components)] if components else []), object),
             "field_type": np.array("CenteredGrid"), "lower": np.zeros(len(dims)), "upper": np.ones(len(dims)),
             "bounds_item_names": np.array([*dims]),
             "extrapolation": _obj({"type": "periodic"} if extrapolation is None else extrapolation), "data": values}
    frame.update(entries)
    np.savez_compressed(path, **{k: v for k, v in frame.items() if k not in drop})


def scene_dirs(folder: Path, spatial, fields, extrapolation=None) -> Path:
    """A parent of Scenes (``sim_XXXXXX/<field>_<frame>.npz``), one scalar field per channel;
    `extrapolation` replaces the first frame's."""
    dims = "xyz"[:len(spatial)]
    for i, traj in enumerate(_traj(spatial, fields)):
        sim = folder / f"sim_{i:06d}"
        sim.mkdir(parents=True)
        for t, state in enumerate(traj):
            for c, name in enumerate(fields):
                scene_frame(sim / f"{name}_{t:06d}.npz", state[..., c], dims,
                            extrapolation=extrapolation if (i, t, c) == (0, 0, 0) else None)
    return folder


def poisoned_original(folder, marker, spatial, fields):
    return original_sims(folder / "orig", spatial, fields, payload=Payload(marker))


def poisoned_original_shape(folder, marker, spatial, fields):
    """The payload where the original's files hold a pickled phiml Shape."""
    return original_sims(folder / "orig", spatial, fields, shape=Payload(marker))


def poisoned_scene(folder, marker, spatial, fields):
    return scene_dirs(folder / "scene", spatial, fields, extrapolation=Payload(marker))


def poisoned_npz(folder, marker, spatial, fields):
    path = folder / "d.npz"
    np.savez(path, trajectories=_traj(spatial, fields), fields=np.array([Payload(marker)], object))
    return path


def poisoned_npy(folder, marker, spatial, fields):
    path = folder / "d.npy"
    np.save(path, np.array([Payload(marker)], object), allow_pickle=True)
    return path


def poisoned_hdf5(folder, marker, spatial, fields):
    """Pickled bytes as the data and as an attribute (h5py never unpickles: they must be refused as data)."""
    path = folder / "d.h5"
    with h5py.File(path, "w") as f:
        f["tensor"] = np.void(pickle.dumps(Payload(marker)))
        f["tensor"].attrs["extrapolation"] = np.void(pickle.dumps(Payload(marker)))
    return path


POISONED = {"original": poisoned_original, "original-shape": poisoned_original_shape, "scene": poisoned_scene,
            "npz": poisoned_npz, "npy": poisoned_npy, "hdf5": poisoned_hdf5}


def h5_scalar_coordinate(folder, marker, spatial, fields):
    path = folder / "scalar.h5"
    with h5py.File(path, "w") as f:
        f["tensor"], f["x-coordinate"], f["t-coordinate"] = _traj(spatial, fields)[..., 0], 0.5, 0.01
    return path


def h5_scalar_tensor(folder, marker, spatial, fields):
    """Found by the fuzz test: a 0-d `tensor` beside a `t-coordinate`."""
    path = folder / "scalar_tensor.h5"
    with h5py.File(path, "w") as f:
        f["tensor"], f["t-coordinate"] = np.float32(1), np.arange(T + 1) * 0.01
    return path


def h5_data_group(folder, marker, spatial, fields):
    path = folder / "group.h5"
    with h5py.File(path, "w") as f:
        for i in range(N):
            f.create_group(f"{i:04d}/data/inner")
    return path


def original_text_sizes(folder, marker, spatial, fields):
    shape = {"names": ("time", *"xyz"[:len(spatial)], "field"),
             "types": ["batch", *["spatial"] * len(spatial), "channel"],
             "item_names": (None, *[None] * len(spatial), tuple(fields)), "sizes": ("sixteen",) * (len(spatial) + 2)}
    return original_sims(folder / "orig", spatial, fields, shape=shape)


def npz_0d_fields(folder, marker, spatial, fields):
    path = folder / "d.npz"
    np.savez(path, trajectories=_traj(spatial, fields), fields=np.array(fields[0]))
    return path


MALFORMED = {"hdf5 scalar coordinate": (h5_scalar_coordinate, "hdf5"), "hdf5 0-d tensor": (h5_scalar_tensor, "hdf5"),
             "hdf5 data is a group": (h5_data_group, "hdf5"),
             "original non-integer sizes": (original_text_sizes, "original"),
             "npz 0-d fields": (npz_0d_fields, "npz"), "poisoned scene": (poisoned_scene, "scene")}
