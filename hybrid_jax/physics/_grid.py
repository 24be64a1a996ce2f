"""Small grid helpers shared by the PDE families (private).

Everything here works on PhiML tensors and is backend-agnostic, so a step built from it runs on
PhiFlow's JAX backend (under jit/grad/vmap) and, given NumPy arrays under
``with phiml.backend.NUMPY:``, on the NumPy backend. Python floats only: a NumPy float64 scalar
would promote float32 tensors to float64.
"""

from __future__ import annotations

import contextlib
import contextvars
from typing import Any, Callable, Iterator

import jax
import numpy as np
from phi import math
from phi.flow import Box
from phi.math import extrapolation

from hybrid_jax.physics.operators import SPATIAL_NAMES


class PeriodicBox:
    """Geometry shared by the PDE families: `cfg.resolution` cells over the periodic box `cfg.domain`.

    Sets `cfg`, `dims` (x, y, z…), `spatial_shape`, `dx` (cell size per dimension) and `_bounds`
    (the PhiFlow box).
    """

    periodic = True

    def __init__(self, cfg):
        self.cfg = cfg
        self.dims = SPATIAL_NAMES[: len(cfg.resolution)]
        self.spatial_shape = tuple(cfg.resolution)
        self.dx = cfg.dx
        self._bounds = Box(**{d: length for d, length in zip(self.dims, cfg.domain)})


def central_diff(c: math.Tensor, h: float, dim: str) -> math.Tensor:
    """(c[i+1] - c[i-1]) / (2h) along `dim`, periodic."""
    return math.spatial_gradient(c, h, "central", padding=extrapolation.PERIODIC, dims=dim, stack_dim=None)


def forward_diff(c: math.Tensor, dim: str) -> math.Tensor:
    """c[i+1] - c[i] along `dim`, periodic (no division by the spacing)."""
    return math.spatial_gradient(c, 1.0, "forward", padding=extrapolation.PERIODIC, dims=dim, stack_dim=None)


def backward_diff(c: math.Tensor, dim: str) -> math.Tensor:
    """c[i] - c[i-1] along `dim`, periodic (no division by the spacing)."""
    return math.spatial_gradient(c, 1.0, "backward", padding=extrapolation.PERIODIC, dims=dim, stack_dim=None)


def flux_divergence(u: math.Tensor, velocity: list[math.Tensor], dx: tuple[float, ...],
                    dims: tuple[str, ...]) -> math.Tensor:
    """∇·(v u) in conservative flux form, periodic, second order.

    Face values are the means of the two neighbouring cells (central flux):
    F_{i+1/2} = v_{i+1/2} · u_{i+1/2}, and the tendency is (F_{i+1/2} - F_{i-1/2}) / h. The sum of
    the result over the grid is zero up to round-off (mass is conserved exactly).
    """
    out = 0
    for d, h, v in zip(dims, dx, velocity):
        flux = (v + 0.5 * forward_diff(v, d)) * (u + 0.5 * forward_diff(u, d))
        out = out + backward_diff(flux, d) / h
    return out


_UNROLLED = contextvars.ContextVar("unrolled_substeps", default=False)


@contextlib.contextmanager
def unrolled_substeps() -> Iterator[None]:
    """While tracing inside this context, `iterate` unrolls its substeps into straight-line code (no while
    loop): the flat physical train step (`training.models.physical_model`'s ``unroll="substeps"``)."""
    token = _UNROLLED.set(True)
    try:
        yield
    finally:
        _UNROLLED.reset(token)


def iterate(body: Callable[[Any], Any], n: int, x):
    """`body` applied `n` times to the native array `x` (``body(body(...body(x)))``).

    JAX arrays (and tracers) go through `jax.lax.fori_loop`, so the body is traced and compiled
    once however many substeps there are (an unrolled loop of PhiFlow stencils makes XLA's compile
    time grow faster than linearly: seconds for 10 substeps, tens of seconds for their gradient),
    except inside `unrolled_substeps`. NumPy arrays (PhiFlow's NumPy backend) take a Python loop.
    """
    if n == 1:
        return body(x)
    if isinstance(x, np.ndarray) or _UNROLLED.get():
        for _ in range(n):
            x = body(x)
        return x
    return jax.lax.fori_loop(0, n, lambda _, y: body(y), x)
