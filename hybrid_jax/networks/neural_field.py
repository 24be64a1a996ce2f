"""A neural field: an MLP mapping a point of space-time (x, t) to the state there.

Unlike the grid architectures (state -> next state), a neural field is a synthetic model of one
trajectory: ``field(coords [..., d+1]) -> [..., C]`` with coords = (x_1..x_d, t) in domain and time
units. It is fitted to sensor readings (`at_sensors`) and evaluated on a grid wherever a rollout is
needed (`field_on_grid`). Inputs are mapped affinely from `bounds` to [-1, 1], then encoded:

- ``fourier`` (default): random Fourier features [sin(2π·Bv), cos(2π·Bv), v], B ~ N(0, scale²) of shape
  [frequencies, d+1], fixed at initialisation (a `Basis` variable, no gradient), then a `depth`-layer MLP;
- ``siren``: sine layers sin(ω₀·(Wv + b)) with SIREN's initialisation (Sitzmann et al. 2020);
- ``none``: the plain MLP on v.

Periodicity of a domain is not built in (fit it from data). Parameters and outputs are float32.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import jax
import jax.numpy as jnp
from flax import nnx

from hybrid_jax.networks.base import Network, NetworkBase
from hybrid_jax.typed_config import option, positive, section

F32 = jnp.float32
ENCODINGS = ("fourier", "siren", "none")
ACTIVATIONS = {"gelu": nnx.gelu, "relu": nnx.relu, "tanh": jnp.tanh}



@dataclass(frozen=True)
class FieldKeys:
    """``network.field``: the MLP and input encoding of a neural field."""

    width: int = positive(128, "units of every hidden layer")
    depth: int = option(4, "linear layers, the output layer included", lambda v: v >= 2, "must be >= 2")
    encoding: Literal["fourier", "siren", "none"] = option(
        "fourier", "input encoding: random Fourier features [sin 2πBv, cos 2πBv, v] (v = coordinates mapped to "
                   "[-1, 1]), SIREN sine layers, or none")
    frequencies: int = positive(64, "fourier: number of random frequencies (rows of B)")
    scale: float = positive(0.5, "fourier: std of B's entries (cycles per half-domain): higher fits finer detail")
    omega0: float = positive(10.0, "siren: frequency factor ω₀ of the sine layers (SIREN's paper: 30, for images "
                                   "of hundreds of pixels)")


@dataclass(frozen=True)
class NeuralFieldConfig(NetworkBase):
    """``network.architecture: neural_field`` (interaction coupling only: it maps (x, t), not a state)."""

    architecture: str = option("neural_field", "Flax NNX architecture (see network[unet].architecture)")
    field: FieldKeys = section(FieldKeys, "its MLP and input encoding")

class Basis(nnx.Variable):
    """A fixed (not trained) array of a module: the Fourier frequencies."""


def _uniform(bound: float):
    return lambda key, shape, dtype=F32: jax.random.uniform(key, shape, dtype, -bound, bound)


class NeuralField(nnx.Module):
    """``(coords [..., ndim+1]) -> [..., out_channels]``: coords are (x_1..x_ndim, t); see the module docstring."""

    def __init__(self, ndim: int, out_channels: int, *, width: int = 128, depth: int = 4, encoding: str = "fourier",
                 frequencies: int = 64, scale: float = 0.5, omega0: float = 10.0, activation: str = "gelu",
                 bounds: tuple[tuple[float, ...], tuple[float, ...]] | None = None, rngs: nnx.Rngs):
        if encoding not in ENCODINGS:
            raise ValueError(f"encoding must be one of {', '.join(ENCODINGS)}, got {encoding!r}")
        n_in = ndim + 1
        lo, hi = bounds if bounds is not None else ((-1.0,) * n_in, (1.0,) * n_in)
        if len(lo) != n_in or len(hi) != n_in or any(h <= l for l, h in zip(lo, hi)):
            raise ValueError(f"bounds must be (lower, upper) of {n_in} increasing entries (space, then time), "
                             f"got {bounds!r}")
        self.ndim, self.encoding, self.omega0 = ndim, encoding, omega0
        self.centre = tuple((l + h) / 2 for l, h in zip(lo, hi))
        self.half = tuple((h - l) / 2 for l, h in zip(lo, hi))
        self.activation = ACTIVATIONS[activation]
        if encoding == "fourier":
            self.basis = Basis(scale * jax.random.normal(rngs.params(), (frequencies, n_in), F32))
            widths = [2 * frequencies + n_in] + [width] * (depth - 1)
        else:
            widths = [n_in] + [width] * (depth - 1)
        layers = []
        for i, (a, b) in enumerate(zip(widths, widths[1:])):
            if encoding == "siren":  # first layer U(-1/a, 1/a); later ones U(-√(6/a)/ω₀, √(6/a)/ω₀)
                bound = 1.0 / a if i == 0 else math.sqrt(6.0 / a) / omega0
                layers.append(nnx.Linear(a, b, kernel_init=_uniform(bound), bias_init=_uniform(1.0 / math.sqrt(a)),
                                         rngs=rngs))
            else:
                layers.append(nnx.Linear(a, b, rngs=rngs))
        self.hidden = nnx.List(layers)
        out_init = _uniform(math.sqrt(6.0 / widths[-1]) / omega0) if encoding == "siren" else \
            nnx.initializers.lecun_normal()
        self.out = nnx.Linear(widths[-1], out_channels, kernel_init=out_init, rngs=rngs)

    def __call__(self, coords: jax.Array) -> jax.Array:
        v = (jnp.asarray(coords, F32) - jnp.asarray(self.centre, F32)) / jnp.asarray(self.half, F32)
        if self.encoding == "fourier":
            proj = 2 * jnp.pi * v @ jax.lax.stop_gradient(self.basis[...]).T
            v = jnp.concatenate([jnp.sin(proj), jnp.cos(proj), v], axis=-1)
        for layer in self.hidden:
            v = jnp.sin(self.omega0 * layer(v)) if self.encoding == "siren" else self.activation(layer(v))
        return self.out(v).astype(F32)


def space_time(points: jax.Array, times: jax.Array) -> jax.Array:
    """Coordinates ``[T, *P, d+1]`` of points ``[T, *P, d]`` at ``times [T]`` (time last)."""
    points, times = jnp.asarray(points, F32), jnp.asarray(times, F32)
    t = jnp.broadcast_to(times.reshape((-1,) + (1,) * (points.ndim - 1)), points.shape[:-1] + (1,))
    return jnp.concatenate([points, t], axis=-1)


def field_on_grid(model, grid_coords: jax.Array, times: jax.Array) -> jax.Array:
    """``model`` (a `NeuralField` or any ``coords -> values``) on ``grid_coords [*spatial, d]`` at ``times [T]``
    -> ``[T, *spatial, C]`` float32, one time at a time (memory of one frame)."""
    grid_coords = jnp.asarray(grid_coords, F32)
    return jax.lax.map(lambda t: model(space_time(grid_coords[None], t[None])[0]),
                       jnp.asarray(times, F32)).astype(F32)


def at_sensors(model, positions: jax.Array, times: jax.Array) -> jax.Array:
    """``model`` read by sensors at ``positions [T, S, d]``, ``times [T]`` -> ``[T, S, C]`` float32."""
    return model(space_time(positions, times)).astype(F32)


def build(net_cfg, *, in_channels: int, out_channels: int, ndim: int, periodic: bool, rngs: nnx.Rngs,
          bounds: tuple[tuple[float, ...], tuple[float, ...]] | None = None) -> NeuralField:
    """The registry's builder of ``network.architecture: neural_field`` (keys under ``network.field``).
    `in_channels` and `periodic` are unused (the input is a coordinate); `bounds` (space, then time) is the
    box mapped to [-1, 1], by default [-1, 1] itself."""
    del in_channels, periodic
    f = net_cfg.field
    return NeuralField(ndim, out_channels, width=f.width, depth=f.depth, encoding=f.encoding,
                       frequencies=f.frequencies, scale=f.scale, omega0=f.omega0, activation=net_cfg.activation,
                       bounds=bounds, rngs=rngs)


NETWORK = Network("neural_field", NeuralFieldConfig, build)
