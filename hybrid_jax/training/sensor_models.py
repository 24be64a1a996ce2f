"""The two models of an interaction fit on sensor data (`hybrid_jax.training.interaction.Coupled`).

- `physical_sensor_model`: a PDE step rolled out on its grid from an initial state that is given,
  learnable (``params["u0"]``, trained with the coefficients) or the synthetic model's field at t = 0;
  read by the sensors and at the ghost points by interpolation (`hybrid_jax.data.sensors.observe`).
- `field_sensor_model`: a neural field (x, t) -> state read at the sensors and the ghost points directly.

Both fit one trajectory (the sensors' experiment). Physical parameters are ``{"coefficients": raw}``
(plus ``"u0": [*spatial, C]`` when learnable); `decode` maps the raw coefficients to the step's.
"""

from __future__ import annotations

import math
from typing import Callable, Literal

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from hybrid_jax.data.sensors import Grid, SensorData, observe, sensor_loss
from hybrid_jax.networks.neural_field import at_sensors, field_on_grid
from hybrid_jax.training.interaction import Coupled, GhostPoints

Initial = Literal["given", "learnable", "synthetic"]


def frame_times(sensors: SensorData, frame_dt: float) -> jax.Array:
    """Times ``[F]`` of the physical frames 0, frame_dt, ... up to the last sensor time (float32)."""
    n = math.ceil(float(sensors.times[-1]) / frame_dt - 1e-6) + 1
    return (jnp.arange(max(n, 2), dtype=jnp.float32) * frame_dt).astype(jnp.float32)


def _ghost_positions(ghosts: GhostPoints) -> jax.Array:
    return jnp.broadcast_to(ghosts.points, ghosts.times.shape + ghosts.points.shape)


def physical_sensor_model(step: Callable[[jax.Array, object], jax.Array], grid: Grid, sensors: SensorData, *,
                          frame_dt: float, steps_per_frame: int = 1, initial: Initial = "given",
                          u0: jax.Array | None = None, field_of: Callable | None = None,
                          decode: Callable = lambda raw: raw, tx: optax.GradientTransformation,
                          data_weight: float = 1.0, match_weight: float = 1.0, remat: bool = False,
                          penalty: Callable | None = None) -> tuple[Coupled, Callable]:
    """(the `Coupled` physical model, ``trajectory(params, synthetic_params) -> [F, *grid.shape, C]``).

    `step(state [*grid.shape, C], coefficients) -> state` advances `frame_dt / steps_per_frame` time units;
    frames are `frame_times` (t = 0 first). `initial`: ``given`` (`u0`), ``learnable`` (``params["u0"]``) or
    ``synthetic`` (the field ``field_of(synthetic_params)`` on the grid at t = 0; its parameters arrive
    stop-gradiented, so the physics never trains the field through it). `penalty(raw coefficients) -> scalar`
    (optional: a smoothness penalty or a prior, on the optimised values as in `training.models`) is added to
    the data misfit (over the readings at t > 0 when the initial state is given). `remat` checkpoints each
    frame of the rollout.
    """
    if initial == "given" and u0 is None:
        raise ValueError("initial = given needs u0")
    if initial == "synthetic" and field_of is None:
        raise ValueError("initial = synthetic needs field_of (synthetic params -> field)")
    times = frame_times(sensors, frame_dt)
    coords = grid.coords()
    pos, t_obs, values = (jnp.asarray(v, jnp.float32) for v in sensors)
    if initial == "given" and float(sensors.times[0]) <= 0.0:  # readings of the given state: constant misfit
        pos, t_obs, values = pos[1:], t_obs[1:], values[1:]

    def initial_state(params, synthetic_params):
        if initial == "learnable":
            return params["u0"]
        if initial == "synthetic":
            return field_on_grid(field_of(synthetic_params), coords, times[:1])[0]
        return jnp.asarray(u0, jnp.float32)

    def trajectory(params, synthetic_params):
        coefficients = decode(params["coefficients"])

        def frame(x, _):
            x = jax.lax.fori_loop(0, steps_per_frame, lambda _, y: step(y, coefficients).astype(jnp.float32), x)
            return x, x

        x0 = jnp.asarray(initial_state(params, synthetic_params), jnp.float32)
        rest = jax.lax.scan(jax.checkpoint(frame) if remat else frame, x0, None, length=times.shape[0] - 1)[1]
        return jnp.concatenate([x0[None], rest], axis=0)

    def evaluate(params, synthetic_params, ghosts: GhostPoints):
        traj = trajectory(params, synthetic_params)
        data = sensor_loss(observe(traj, times, grid, pos, t_obs), values)
        if penalty is not None:
            data = data + penalty(params["coefficients"])
        return data, observe(traj, times, grid, _ghost_positions(ghosts), ghosts.times)

    return Coupled(evaluate, tx, data_weight, match_weight), trajectory


def field_sensor_model(graphdef: nnx.GraphDef, sensors: SensorData, *, tx: optax.GradientTransformation,
                       data_weight: float = 1.0, match_weight: float = 1.0, rest: tuple = ()) -> Coupled:
    """The `Coupled` neural field of ``nnx.split(field, nnx.Param, ...)`` parts (`graphdef`; params are its
    `nnx.Param` state, `rest` the fixed rest, e.g. Fourier frequencies): data misfit = `sensor_loss` at the
    sensors, prediction = the field at the ghost points ``[Tg, G, C]``."""
    pos, t_obs, values = (jnp.asarray(v, jnp.float32) for v in sensors)
    merge = field_of(graphdef, rest)

    def evaluate(params, physical_params, ghosts: GhostPoints):
        del physical_params
        field = merge(params)
        return (sensor_loss(at_sensors(field, pos, t_obs), values),
                at_sensors(field, _ghost_positions(ghosts), ghosts.times))

    return Coupled(evaluate, tx, data_weight, match_weight)


def field_of(graphdef: nnx.GraphDef, rest: tuple = ()) -> Callable:
    """``params -> field`` of a split neural field (the `field_of` argument of `physical_sensor_model`)."""
    return lambda params: nnx.merge(graphdef, params, *rest)
