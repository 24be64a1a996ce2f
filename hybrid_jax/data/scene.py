"""PhiFlow Scene directories, read by our own reader: PhiFlow's loader unpickles whatever the files name.

`path` is a parent of ``sim_XXXXXX`` scenes (one trajectory each), each holding frame files
``<field>_<frame:06d>.npz`` as ``phi.field.Scene.write`` saves a grid (entries ``data``, ``dim_names``,
``dim_types``, ``dim_item_names``, ``field_type``, ``lower``, ``upper``, ``bounds_item_names``,
``extrapolation``) and an optional ``description.json`` (scene properties, e.g. ``dt``). Arrays are read with
``np.load(allow_pickle=False)`` and the pickled entries by the restricted unpickler (`safe_pickle`).
A scalar field ``u`` gives channel ``u``; a vector field ``vel`` gives ``vel_x``, ``vel_y`` …; a staggered
grid is sampled at the cell centres (by PhiFlow, from the values read here).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from hybrid_jax.data.checks import AXES, check_coordinates
from hybrid_jax.data.safe_pickle import load_npz
from hybrid_jax.errors import DataError

_FRAME = re.compile(r"(.+)_(\d{6})\.npz")
_GRIDS = ("CenteredGrid", "StaggeredGrid")


def read_scene(path: Path, pde) -> tuple[np.ndarray, list[str]]:
    """The scenes under `path` as ``([N, T, *spatial, C] float32, channel names)`` in the PDE layout's
    channel order; grid bounds and a ``dt`` property, where present, are checked against the config."""
    sims = sorted(p for p in path.iterdir() if p.name.startswith("sim_") and p.is_dir())
    if not sims:
        raise DataError(f"{path}: no PhiFlow scenes (sim_XXXXXX folders) in this directory")
    traj = [_read_one_scene(p, pde) for p in sims]
    if len({t.shape for t in traj}) > 1:
        raise DataError(f"{path}: the scenes differ in frames or grid: {sorted({t.shape for t in traj})}")
    return np.stack(traj), list(pde.layout.names)


def _read_one_scene(where: Path, pde) -> np.ndarray:
    """One scene as ``[T, *spatial, C]`` float32 in the PDE's channel order."""
    files = {(m[1], int(m[2])): p for p in where.iterdir() if (m := _FRAME.fullmatch(p.name))}
    if not files:
        raise DataError(f"{where}: scene has no frames")
    frames = sorted({t for _, t in files})
    dims = AXES[: len(pde.spatial_shape)]
    channels: dict[str, list[np.ndarray]] = {}
    for name in sorted({n for n, _ in files}):
        for t in frames:
            if (name, t) not in files:
                raise DataError(f"{where}: field {name!r} has no frame {t}")
            values, components, size = read_frame(files[name, t], dims)
            if values.shape[:len(dims)] != tuple(pde.spatial_shape):
                raise DataError(f"{files[name, t]}: grid {list(values.shape[:len(dims)])}, but physics.resolution "
                                f"is {list(pde.spatial_shape)}")
            if t == frames[0]:
                check_coordinates(where, pde, {d: np.arange(n) * w / n for d, n, w in zip(dims, values.shape, size)})
            for i, c in enumerate(components or [None]):
                key = name if c is None else f"{name}_{c}"
                channels.setdefault(key, []).append(values if c is None else values[..., i])
    missing = [c for c in pde.layout.names if c not in channels]
    if missing:
        raise DataError(f"{where}: scene lacks channels {missing} of this PDE (has {sorted(channels)}; a vector "
                        f"field 'vel' gives vel_x, vel_y)")
    dt = _properties(where).get("dt")
    if dt is not None:
        if not isinstance(dt, (int, float)) or isinstance(dt, bool):
            raise DataError(f"{where}/description.json: dt must be a number, got {dt!r:.60}")
        check_coordinates(where, pde, {"t": np.arange(2) * float(dt)})
    return np.stack([np.stack(channels[c]) for c in pde.layout.names], axis=-1).astype(np.float32)


def _properties(where: Path) -> dict:
    """The scene's ``description.json`` (empty without one)."""
    file = where / "description.json"
    if not file.is_file():
        return {}
    try:
        props = json.loads(file.read_text())
    except (OSError, ValueError) as e:
        raise DataError(f"{file}: not readable JSON ({' '.join(str(e).split())[:120]})") from None
    if not isinstance(props, dict):
        raise DataError(f"{file}: must hold a JSON object, got {type(props).__name__}")
    return props


def _strings(file: Path, e: dict, key: str, n: int | None) -> list[str]:
    a = e[key]
    if a.dtype.kind != "U" or a.ndim != 1 or (n is not None and len(a) != n):
        raise DataError(f"{file}: entry {key} must be {n if n is not None else 'a list of'} names, got "
                        f"{a.dtype} {list(a.shape)}")
    return [str(s) for s in a]


def read_frame(file: Path, dims: str) -> tuple[np.ndarray, list[str] | None, list[float]]:
    """One frame file of a grid with spatial dimensions `dims`: ``(values [*spatial(, C)] at the cell centres,
    vector component names or None for a scalar field, domain length per dimension)``."""
    e = load_npz(file)
    missing = sorted({"field_type", "data", "dim_names", "dim_types", "lower", "upper"} - set(e))
    if missing:
        raise DataError(f"{file}: not a PhiFlow grid frame (lacks {', '.join(missing)})")
    ftype, data = e["field_type"], e["data"]
    if ftype.shape != () or str(ftype) not in _GRIDS:
        raise DataError(f"{file}: field_type must be one of {', '.join(_GRIDS)}, got {ftype.ravel()[:3]}")
    if data.dtype.kind not in "fiu":
        raise DataError(f"{file}: data must be numbers, got {data.dtype}")
    names, types = _strings(file, e, "dim_names", data.ndim), _strings(file, e, "dim_types", data.ndim)
    items = list(e["dim_item_names"]) if "dim_item_names" in e and e["dim_item_names"].ndim == 1 else [None] * data.ndim
    others = [(n, t) for n, t in zip(names, types) if t != "spatial"]
    if len(set(names)) != len(names) or sorted(set(names) - {"vector"}) != sorted(dims) or len(items) != data.ndim \
            or any(o != ("vector", "channel") for o in others):
        raise DataError(f"{file}: expected spatial dimensions {', '.join(dims)} and optionally a channel 'vector', got "
                        f"{', '.join(f'{n} ({t})' for n, t in zip(names, types))}")
    vector = "vector" in names
    components = items[names.index("vector")] if vector else None
    if vector and not (isinstance(components, (tuple, list)) and len(components) == data.shape[names.index("vector")]
                       and all(isinstance(c, str) for c in components)):
        raise DataError(f"{file}: the vector dimension needs one component name per entry, got {components!r:.80}")
    lower, upper = (np.atleast_1d(e[k]).ravel() for k in ("lower", "upper"))
    bounds = _strings(file, e, "bounds_item_names", len(upper)) if "bounds_item_names" in e and \
        e["bounds_item_names"].ndim else [n for n in names if n != "vector"]
    if lower.dtype.kind not in "fiu" or upper.dtype.kind not in "fiu" or len(lower) not in (1, len(upper)) \
            or sorted(bounds) != sorted(dims):
        raise DataError(f"{file}: bounds lower {lower.tolist()[:4]} / upper {upper.tolist()[:4]} for "
                        f"{bounds} do not fit dimensions {', '.join(dims)}")
    length = dict(zip(bounds, (upper - lower).astype(np.float64)))
    if str(ftype) == "StaggeredGrid":
        data, components = _staggered_centres(file, e, data, names, types, items, lower, upper, bounds, dims)
    else:
        data = np.transpose(data, [names.index(d) for d in dims] + ([names.index("vector")] if vector else []))
    return data, None if components is None else list(components), [length[d] for d in dims]


def _staggered_centres(file, e, data, names, types, items, lower, upper, bounds, dims):
    """A staggered grid's values at the cell centres ``[*spatial, vector]`` and their component names,
    sampled by PhiFlow from the arrays and the (plain) extrapolation dict read above."""
    from phi.field import StaggeredGrid
    from phi.field._grid import unstack_staggered_tensor
    from phi.geom import Box
    from phiml import math
    from phiml.backend import NUMPY
    from phiml.math import channel, extrapolation
    from phiml.math._shape import from_dict

    if "vector" not in names or "extrapolation" not in e or not isinstance(e["extrapolation"][()], dict):
        raise DataError(f"{file}: a StaggeredGrid frame needs a vector dimension and an extrapolation dict")
    try:
        with NUMPY:  # the values are NumPy arrays: no JAX tracing
            extr = extrapolation.from_dict(e["extrapolation"][()])
            shape = from_dict({"names": tuple(names), "sizes": data.shape, "types": tuple(types),
                               "item_names": tuple(None if i is None else tuple(i) for i in items)})
            box = Box(math.wrap(np.broadcast_to(lower, upper.shape), channel(vector=tuple(bounds))),
                      math.wrap(upper, channel(vector=tuple(bounds))))
            grid = StaggeredGrid(unstack_staggered_tensor(math.tensor(data, shape, convert=False), extr), bounds=box,
                                 extrapolation=extr).at_centers()
            return grid.values.numpy(",".join(dims) + ",vector"), grid.shape.get_item_names("vector")
    except (ValueError, TypeError, KeyError, IndexError, AssertionError, AttributeError, NotImplementedError) as err:
        raise DataError(f"{file}: unreadable StaggeredGrid ({type(err).__name__}: "
                        f"{' '.join(str(err).split())[:120]})") from None
