"""Data directories of the original system (HYCO-PhiFlow): read them, or convert them to our `.npz`.

A directory holds ``sim_0000.npz``, ``sim_0001.npz``, … one trajectory each, written by
``phiml.math.save`` of one tensor with a ``time`` dimension, spatial dimensions ``x[, y[, z]]`` and a
channel dimension (``field``) whose item names are the field names (``vel_x, vel_y``; ``density,
vel_x, vel_y``; ``vel_x, vel_y, smoke``). Inside such a file the array ``root:0`` is stored in the
order of ``specs[0]['names']``, which need not be the tensor's shape order (a tensor stacked along
``time`` is stored time-last), and a tensor constant along a dimension is stored without it; it is
transposed and broadcast here by dimension name. The metadata's shape is a plain dict or a pickled
phiml ``Shape`` (the original's files hold the latter).

The metadata (``specs``) is a pickle: it is read by the restricted unpickler of `safe_pickle`, which runs no
code and refuses anything but plain values, NumPy arrays and phiml shapes.

Convert one to our layout (``trajectories`` [N, T, *spatial, C] float32, ``fields``)::

    python -m hybrid_jax.data.original SRC_DIR OUT.npz
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np

from hybrid_jax.data.safe_pickle import load_npz, shape_dict
from hybrid_jax.errors import DataError

_SIM = re.compile(r"sim_(\d+)\.npz")
_SPATIAL = ("x", "y", "z")


def sim_files(path: Path) -> list[Path]:
    """The ``sim_XXXX.npz`` files of a directory, in simulation order (empty if there are none)."""
    found = [(int(m.group(1)), p) for p in path.iterdir() if (m := _SIM.fullmatch(p.name))] if path.is_dir() else []
    return [p for _, p in sorted(found)]


def _shape_info(shape) -> tuple[tuple[str, ...], tuple[str, ...], tuple, tuple[int, ...]]:
    """``(names, types, item_names, sizes)`` of a saved tensor's shape: a dict (phiml writes one for a
    tensor it built), or a phiml ``Shape`` (as in the original's files); refuses anything else."""
    d = shape_dict(shape)
    names, types, items, sizes = (tuple(d[k]) for k in ("names", "types", "item_names", "sizes"))
    if not len(names) == len(types) == len(items) == len(sizes) or not all(isinstance(v, str) for v in names + types):
        raise ValueError(f"names {list(names)}, types {list(types)}, item names and sizes do not match")
    if not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 0 for n in sizes):
        raise ValueError(f"sizes must be integers, got {list(sizes)}")
    if not all(i is None or isinstance(i, (tuple, list)) and all(isinstance(v, str) for v in i) for i in items):
        raise ValueError(f"item names must be None or lists of names, got {list(items)}")
    return names, types, items, tuple(int(n) for n in sizes)


def read_sim(path: Path) -> tuple[np.ndarray, tuple[str, ...]]:
    """One saved trajectory as ``([T, *spatial, C] float32, field names)``, axes ordered time, x, y, z, field."""
    entries = load_npz(path)
    if "specs" not in entries or "root:0" not in entries:
        raise DataError(f"{path}: not a saved phiml tensor (has {sorted(entries)}, needs specs and root:0)")
    specs, data = entries["specs"], entries["root:0"]
    spec = specs.ravel()[0] if specs.dtype.hasobject and specs.size else None
    if not isinstance(spec, dict):
        raise DataError(f"{path}: unexpected phiml metadata (specs holds {type(spec).__name__})")
    try:
        stored = tuple(spec["names"])
        if not all(isinstance(n, str) for n in stored):
            raise ValueError(f"stored names must be strings, got {list(stored)}")
        names, types, items, all_sizes = _shape_info(spec["shape"])
    except (KeyError, TypeError, ValueError) as e:
        raise DataError(f"{path}: unexpected phiml metadata ({' '.join(str(e).split())[:200]})") from None
    if spec.get("type") != "dense" or not set(stored) <= set(names) or data.ndim != len(stored):
        raise DataError(f"{path}: expected one dense tensor, got {spec.get('type')!r} stored as {list(stored)} "
                        f"with shape {list(names)}, array of rank {data.ndim}")
    channels = [n for n, t in zip(names, types) if t == "channel"]
    spatial = [n for n in _SPATIAL if n in names]
    if "time" not in names or len(channels) != 1 or not spatial or set(names) != {"time", *spatial, *channels} \
            or tuple(spatial) != _SPATIAL[:len(spatial)]:
        raise DataError(f"{path}: expected dimensions time, x[, y[, z]] and one channel dimension, got "
                        f"{', '.join(f'{n} ({t})' for n, t in zip(names, types))}")
    fields = items[names.index(channels[0])]
    if not fields:
        raise DataError(f"{path}: the channel dimension {channels[0]!r} has no item (field) names")
    order = ["time", *spatial, channels[0]]
    missing = [n for n in names if n not in stored]  # phiml stores a tensor constant along a dimension without it
    data = data.reshape(data.shape + (1,) * len(missing))
    data = np.transpose(data, [(stored + tuple(missing)).index(n) for n in order])
    sizes = tuple(all_sizes[names.index(n)] for n in order)
    if data.dtype.kind not in "fiu" or any(a not in (1, b) for a, b in zip(data.shape, sizes)):
        raise DataError(f"{path}: stored array {data.dtype} {list(data.shape)} does not fit the tensor's sizes "
                        f"{dict(zip(order, sizes))}")
    return np.broadcast_to(data, sizes).astype(np.float32), tuple(str(f) for f in fields)


def read_original(path: str | Path, pde=None) -> tuple[np.ndarray, list[str]]:
    """A data directory of the original system as ``(trajectories [N, T, *spatial, C] float32, fields)``.
    Every simulation must have the same frames, grid and fields. (`pde` is unused: the files carry
    their own field names; the caller checks them against its layout.)"""
    path = Path(path)
    files = sim_files(path)
    if not files:
        raise DataError(f"{path}: no sim_XXXX.npz files of the original system in this directory")
    sims = [read_sim(p) for p in files]
    traj, fields = sims[0]
    for p, (a, f) in zip(files[1:], sims[1:]):
        if a.shape != traj.shape or f != fields:
            raise DataError(f"{p}: shape {list(a.shape)} / fields {list(f)} differ from {files[0].name}'s "
                            f"{list(traj.shape)} / {list(fields)}")
    return np.stack([a for a, _ in sims]), list(fields)


def convert(src: str | Path, out: str | Path) -> tuple[int, ...]:
    """Write the directory `src` as our `.npz` (``trajectories``, ``fields``) at `out`; return the shape."""
    traj, fields = read_original(src)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.npz")
    np.savez(tmp, trajectories=traj, fields=np.array(fields))
    tmp.replace(out)
    return traj.shape


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] in ("-h", "--help"):
        print("usage: python -m hybrid_jax.data.original SRC_DIR OUT.npz\n"
              "convert a data directory of the original system (sim_XXXX.npz) into hybrid_jax's .npz "
              "(trajectories [N, T, *spatial, C] float32, fields); use it with data.source=files data.path=OUT.npz",
              file=sys.stderr)
        return 0 if args and args[0] in ("-h", "--help") else 2
    try:
        shape = convert(*args)
    except (DataError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {args[1]}: trajectories {list(shape)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
