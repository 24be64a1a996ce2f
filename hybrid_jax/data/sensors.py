"""Sensor observations: values of a field at points, fixed or moving, off the model's grid.

A sensor record is three float32 arrays: ``positions [T, S, d]`` (domain units), ``times [T]``
(time units, increasing) and ``values [T, S, C]``: S sensors read at T times. A model's trajectory
``[F, *spatial, C]`` at frame times ``[F]`` is interpolated to them (`observe`): multilinear in
space between the grid's sample points (`Grid`), linear in time between frames. Everything here is
a pure JAX function (jit, vmap and grad apply; the gradient flows to the field values and to the
positions). File format (`save_sensors` / `load_sensors`): an ``.npz`` holding exactly the arrays
``positions``, ``times`` and ``values``; no pickles.
"""

from __future__ import annotations

import itertools
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from hybrid_jax.errors import DataError

F32 = jnp.float32


@dataclass(frozen=True)
class Grid:
    """Where a grid's samples lie: sample ``i`` of dimension ``k`` is at ``lower[k] + i·spacing[k]``.

    `periodic`: the grid wraps (sample ``n`` is sample 0); otherwise a point beyond the first or last
    sample takes the edge value (no extrapolation). Hashable, so it can be a static argument.
    """

    lower: tuple[float, ...]
    spacing: tuple[float, ...]
    shape: tuple[int, ...]
    periodic: bool = False

    @classmethod
    def cell_centred(cls, domain: tuple[float, ...], resolution: tuple[int, ...], periodic: bool,
                     origin: tuple[float, ...] | None = None) -> "Grid":
        """Cell centres of a box ``[origin, origin + domain]`` of `resolution` cells (our families' grids)."""
        origin = origin or (0.0,) * len(domain)
        h = tuple(L / n for L, n in zip(domain, resolution))
        return cls(tuple(o + dx / 2 for o, dx in zip(origin, h)), h, tuple(resolution), periodic)

    @classmethod
    def vertices(cls, lower: tuple[float, ...], upper: tuple[float, ...], shape: tuple[int, ...]) -> "Grid":
        """`shape` samples per dimension from `lower` to `upper`, both ends included (``linspace``)."""
        return cls(tuple(lower), tuple((u - lo) / (n - 1) for lo, u, n in zip(lower, upper, shape)), tuple(shape))

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def coords(self) -> jax.Array:
        """Sample positions ``[*shape, d]`` float32."""
        axes = [lo + h * jnp.arange(n, dtype=F32) for lo, h, n in zip(self.lower, self.spacing, self.shape)]
        return jnp.stack(jnp.meshgrid(*axes, indexing="ij"), axis=-1).astype(F32)


def interpolate(field: jax.Array, points: jax.Array, grid: Grid) -> jax.Array:
    """Multilinear interpolation of ``field [*grid.shape, C]`` at ``points [S, d]`` -> ``[S, C]`` float32."""
    field, points = jnp.asarray(field, F32), jnp.asarray(points, F32)
    lows, weights = [], []
    for k, (lo, h, n) in enumerate(zip(grid.lower, grid.spacing, grid.shape)):
        s = (points[:, k] - lo) / h
        if grid.periodic:
            s = jnp.mod(s, n)
            i0 = jnp.floor(s).astype(jnp.int32)
            lows.append((i0, (i0 + 1) % n))
        else:
            s = jnp.clip(s, 0.0, n - 1)
            i0 = jnp.clip(jnp.floor(s).astype(jnp.int32), 0, n - 2)
            lows.append((i0, i0 + 1))
        w = s - i0.astype(F32)
        weights.append((1.0 - w, w))
    out = jnp.zeros((points.shape[0], field.shape[-1]), F32)
    for corner in itertools.product((0, 1), repeat=grid.ndim):
        idx = tuple(lows[k][c] for k, c in enumerate(corner))
        w = jnp.prod(jnp.stack([weights[k][c] for k, c in enumerate(corner)]), axis=0)
        out = out + w[:, None] * field[idx]
    return out


def observe(trajectory: jax.Array, frame_times: jax.Array, grid: Grid, positions: jax.Array,
            times: jax.Array) -> jax.Array:
    """Values of ``trajectory [F, *grid.shape, C]`` (frames at increasing ``frame_times [F]``) read by
    sensors at ``positions [T, S, d]`` and ``times [T]`` -> ``[T, S, C]`` float32: linear in time between
    the two frames around each time (the first / last frame outside ``frame_times``), multilinear in space."""
    trajectory, frame_times = jnp.asarray(trajectory, F32), jnp.asarray(frame_times, F32)
    times = jnp.asarray(times, F32)
    n = frame_times.shape[0]
    j = jnp.clip(jnp.searchsorted(frame_times, times, side="right") - 1, 0, max(n - 2, 0))
    if n == 1:
        return jax.vmap(lambda p: interpolate(trajectory[0], p, grid))(positions)
    t0, t1 = frame_times[j], frame_times[j + 1]
    w = jnp.clip((times - t0) / (t1 - t0), 0.0, 1.0)

    def one(p, j, w):
        return (1 - w) * interpolate(trajectory[j], p, grid) + w * interpolate(trajectory[j + 1], p, grid)

    return jax.vmap(one)(jnp.asarray(positions, F32), j, w)


def sensor_loss(pred: jax.Array, values: jax.Array, weight: jax.Array | None = None) -> jax.Array:
    """Mean squared error of sensor readings ``pred`` against ``values`` (both ``[T, S, C]``), float32
    scalar; `weight` ``[T, S]`` (e.g. 0/1 for readings kept) gives a weighted mean over the readings."""
    err = jnp.sum((jnp.asarray(pred, F32) - jnp.asarray(values, F32)) ** 2, axis=-1) / pred.shape[-1]
    if weight is None:
        return jnp.mean(err)
    weight = jnp.asarray(weight, F32)
    return jnp.sum(weight * err) / jnp.maximum(jnp.sum(weight), 1e-12)


# ----------------------------------------------------------------------------- paths


def fixed_paths(points: jax.Array, times: jax.Array) -> jax.Array:
    """Sensors that stay at ``points [S, d]``: positions ``[T, S, d]`` for ``times [T]``."""
    points = jnp.asarray(points, F32)
    return jnp.broadcast_to(points, (jnp.shape(times)[0],) + points.shape)


def scattered_points(key: jax.Array, frames: int, count: int, window) -> jax.Array:
    """``[frames, count, d]``: `count` points uniform in the window ``(lower [d], upper [d])``, drawn anew for
    every frame (random space-time points), float32."""
    lo, hi = (jnp.asarray(w, jnp.float32) for w in window)
    return jax.random.uniform(key, (frames, count, lo.shape[0]), jnp.float32, lo, hi)


def linear_ode_paths(z0: jax.Array, a: jax.Array, c: jax.Array, times: jax.Array, *,
                     method: Literal["exact", "rk4"] = "exact", substeps: int = 8,
                     window: tuple[tuple[float, ...], tuple[float, ...]] | None = None,
                     boundary: Literal["reflect", "clip"] = "reflect") -> jax.Array:
    """Sensors moving by ż = A(z − c) from ``z0 [S, d]`` at ``times[0]``: positions ``[T, S, d]`` float32.

    `method` exact: z(t) = c + expm(A·(t − t₀))(z₀ − c); rk4: classic Runge–Kutta with `substeps` steps
    between consecutive times (fourth order in the step). `window` ``(lower [d], upper [d])`` keeps the
    sensors inside a box, applied to the free path: `reflect` folds it back into the box (mirror images at
    the walls, a triangle wave per coordinate: the path a specular bounce gives for straight motion; after a
    bounce the path is the mirror image of the free flow, not the flow restarted from the wall), `clip`
    holds a coordinate at the wall while the free path is outside.
    """
    z0, a, c, times = (jnp.asarray(v, F32) for v in (z0, a, c, times))
    if method == "exact":
        props = jax.vmap(lambda t: jax.scipy.linalg.expm(a * (t - times[0])))(times)  # [T, d, d]
        z = c + jnp.einsum("tij,sj->tsi", props, z0 - c)
    elif method == "rk4":
        def f(z):
            return (z - c) @ a.T

        def interval(z, dt):
            h = dt / substeps

            def rk4(z, _):
                k1 = f(z)
                k2 = f(z + 0.5 * h * k1)
                k3 = f(z + 0.5 * h * k2)
                k4 = f(z + h * k3)
                return z + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4), None

            z = jax.lax.scan(rk4, z, None, length=substeps)[0]
            return z, z

        z = jnp.concatenate([z0[None], jax.lax.scan(interval, z0, jnp.diff(times))[1]], axis=0)
    else:
        raise ValueError(f"method must be exact or rk4, got {method!r}")
    return z.astype(F32) if window is None else keep_in_window(z, window, boundary)


def keep_in_window(z: jax.Array, window: tuple[tuple[float, ...], tuple[float, ...]],
                   boundary: Literal["reflect", "clip"] = "reflect") -> jax.Array:
    """Positions ``[..., d]`` folded (`reflect`) or clamped (`clip`) into the box ``(lower [d], upper [d])``."""
    lo, hi = jnp.asarray(window[0], F32), jnp.asarray(window[1], F32)
    z = jnp.asarray(z, F32)
    if boundary == "clip":
        return jnp.clip(z, lo, hi)
    if boundary != "reflect":
        raise ValueError(f"boundary must be reflect or clip, got {boundary!r}")
    length = hi - lo
    m = jnp.mod(z - lo, 2 * length)
    return (lo + length - jnp.abs(m - length)).astype(F32)


# ----------------------------------------------------------------------------- files


class SensorData(NamedTuple):
    """A sensor record: ``positions [T, S, d]``, ``times [T]`` (increasing), ``values [T, S, C]``, float32."""

    positions: np.ndarray
    times: np.ndarray
    values: np.ndarray


def check_sensors(data: SensorData, where: str = "sensors") -> SensorData:
    """`data` as float32 NumPy arrays, or DataError (naming `where`) for bad shapes, non-finite values
    or times that do not increase."""
    pos, times, values = (np.asarray(v) for v in data)
    if pos.ndim != 3 or not 1 <= pos.shape[2] <= 3:
        raise DataError(f"{where}: positions must have shape [T, S, d] with d in 1..3, got {list(pos.shape)}")
    if times.shape != pos.shape[:1]:
        raise DataError(f"{where}: times must have shape [T] = [{pos.shape[0]}], got {list(times.shape)}")
    if values.ndim != 3 or values.shape[:2] != pos.shape[:2]:
        raise DataError(f"{where}: values must have shape [T, S, C] = [{pos.shape[0]}, {pos.shape[1]}, C], "
                        f"got {list(values.shape)}")
    for name, v in zip(SensorData._fields, (pos, times, values)):
        if not np.issubdtype(v.dtype, np.floating) or not np.isfinite(v).all():
            raise DataError(f"{where}: {name} must be finite floating-point numbers (dtype {v.dtype})")
    if np.any(np.diff(times) <= 0):
        raise DataError(f"{where}: times must increase strictly")
    return SensorData(*(np.asarray(v, np.float32) for v in (pos, times, values)))


def save_sensors(path: str | Path, data: SensorData) -> None:
    """Write a sensor record as an uncompressed ``.npz`` (arrays positions, times, values; checked first)."""
    from hybrid_jax.files import atomic_write

    data = check_sensors(data, str(path))
    atomic_write(path, lambda f: np.savez(f, **data._asdict()))


def load_sensors(path: str | Path) -> SensorData:
    """Read a sensor ``.npz`` (no pickles: object arrays are refused), checked by `check_sensors`."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"sensor file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = set(SensorData._fields) - set(npz.files)
            if missing:
                raise DataError(f"{path}: must hold arrays positions, times and values; missing "
                                f"{', '.join(sorted(missing))}")
            data = SensorData(*(npz[k] for k in SensorData._fields))
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        if isinstance(e, DataError):
            raise
        raise DataError(f"{path}: not a readable sensor .npz ({' '.join(str(e).split())[:200]})") from None
    return check_sensors(data, str(path))
