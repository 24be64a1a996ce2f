"""Config sections of a sensor study (``data.sensors``): one true trajectory simulated on a finer grid
and read by moving sensors (`hybrid_jax.data.sensor_truth`). Re-exported by `hybrid_jax.config`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

from hybrid_jax.typed_config import nonnegative as _nonneg
from hybrid_jax.typed_config import option as _opt
from hybrid_jax.typed_config import positive as _pos
from hybrid_jax.typed_config import section as _sub


@dataclass(frozen=True)
class SensorPathsConfig:
    kind: Literal["fixed", "linear_ode", "scattered"] = _opt(
        "linear_ode", "sensors stay where they start (fixed), move by ż = A(z − c) (linear_ode; "
                      "hybrid_jax.data.sensors), or are `count` points drawn uniformly in the window anew at every "
                      "reading time (scattered: random space-time points, the HYCO papers' Gray–Scott data)")
    matrix: tuple[tuple[float, ...], ...] = _opt(((-0.1, -1.0), (1.0, -0.1)), "linear_ode: A (d × d)")
    centre: tuple[float, ...] = _opt((), "linear_ode: c, one entry per dimension; default: the window's centre")
    boundary: Literal["clip", "reflect"] = _opt("clip", "how a path is kept inside the window")


@dataclass(frozen=True)
class SensorsConfig:
    """Sensor observations of one trajectory: readings of the true field at points (docs/data.md, "Sensors")."""

    enabled: bool = _opt(False, "observe one trajectory through sensors (python -m hybrid_jax.compare trains "
                                "the sensor methods, hybrid_jax.sensor_run) instead of windows of trajectories")
    window: tuple[tuple[float, ...], ...] = _opt((), "[lo, hi] per dimension (domain units): the sensors start on a "
                                                     "lattice over it and stay in it; default: the whole box")
    lattice: int = _opt(10, "the sensors start on lattice^d points over the window (both ends included)",
                        lambda v: v >= 2, "must be >= 2")
    count: int = _pos(60, "sensors kept: a random subset of the lattice, drawn from the seed (scattered: the "
                          "points per reading time)")
    frames: int = _pos(100, "readings at t_k = k·duration/frames, k = 0..frames")
    duration: float = _pos(1.0, "time span T of the readings (a whole number of physics.dt per frame)")
    paths: SensorPathsConfig = _sub(SensorPathsConfig, "how the sensors move")
    truth_resolution: tuple[int, ...] = _opt((), "grid of the true simulation (a finer grid: no inverse crime); "
                                                 "default: physics.resolution")
    truth_dt: Optional[float] = _opt(None, "time step of the true simulation (one substep); default: physics.dt",
                                     lambda v: v is None or v > 0, "must be > 0")
    noise: float = _nonneg(0.0, "std of Gaussian noise on the readings, relative to the readings' std")
