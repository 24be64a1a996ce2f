"""Heat equation with a conductivity field, u_t = ∇·(κ(x)∇u), Dirichlet boundaries on a box, 1–3 dimensions.

The grid is the box's vertices: `resolution` nodes per dimension from `origin` to `origin + domain`,
both ends included (spacing h = L/(n − 1)), as in the HYCO papers' code. The boundary nodes hold the
Dirichlet value `boundary_value`; the interior nodes follow `substeps` forward-Euler steps of the
conservative stencil (second order in space)

    u_i += dt_sub · Σ_d [κ_{i+½}(u_{i+1} − u_i) − κ_{i−½}(u_i − u_{i−1})] / h_d²,  κ_{i±½} = (κ_i + κ_{i±1})/2,

stable for κ ≤ 1/(2·dt_sub·Σ_d 1/h_d²) (= h²/(2·d·dt_sub) for equal h): the bound refuses a config and
clips the learned field. κ (learnable) is a scalar, a field on the nodes, or a parametric field
(``conductivity.form``, e.g. a sum of Gaussians). Units: lengths in domain units, time in the units of
dt, κ in length²/time. The single dynamic channel is ``u``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from phi import math
from phi.flow import spatial
from phi.math import extrapolation

from hybrid_jax.errors import ConfigError
from hybrid_jax.typed_config import option, positive, section
from hybrid_jax.physics._grid import iterate
from hybrid_jax.physics.base import Family, FieldLayout, Params, PeriodicGridConfig, _resolution_ok, substeps_option
from hybrid_jax.physics.coefficients import LearnedCoefficients, coefficient
from hybrid_jax.physics.operators import SPATIAL_NAMES

Conductivity = coefficient("conductivity", "κ", "domain units² / time unit", true=0.1, init=0.2,
                           learnable="shape", parametric=True)


@dataclass(frozen=True)
class Bump:
    amplitude: float = option(1.0, "peak value")
    centre: tuple[float, ...] = option((0.0, 0.0), "centre, one entry per dimension (domain units)")
    width: float = positive(1.0, "width w of exp(-|x - c|²/w²) (domain units)")


@dataclass(frozen=True)
class HeatPrior:
    kind: Literal["sines", "bumps"] = option(
        "sines", "sines: random combinations of the box's sine modes (zero on the boundary); bumps: the fixed "
                 "field Σ bumps (every sample the same)")
    modes: int = option(3, "kind sines: highest mode number per dimension", lambda v: v >= 1, "must be >= 1")
    amplitude: float = positive(1.0, "kind sines: peak of |u|")
    bumps: tuple[Bump, ...] = option((), "kind bumps: the Gaussian bumps a·exp(-|x - c|²/w²) of u0")


@dataclass(frozen=True)
class HeatConfig(PeriodicGridConfig):
    """u_t = ∇·(κ∇u) on a box with Dirichlet boundaries (vertex grid; `domain` is the box size)."""

    name: Literal["heat"] = option("heat", "PDE family")
    resolution: tuple[int, ...] = option((32, 32), "nodes per spatial dimension, both ends of the box included "
                                                   "(1, 2 or 3 entries)", _resolution_ok,
                                         "must have 1-3 entries, each >= 4")
    domain: tuple[float, ...] = option((1.0, 1.0), "size of the box per dimension (Dirichlet walls)",
                                       lambda v: all(x > 0 for x in v), "must be > 0 in every dimension")
    dt: float = positive(1e-3, "time step of one solver step (time units)")
    origin: tuple[float, ...] = option((0.0, 0.0), "lower corner of the box, one entry per dimension")
    boundary_value: float = option(0.0, "Dirichlet value of u on the boundary")
    substeps: int = substeps_option(1, "explicit diffusion substeps per step")
    conductivity: Conductivity = section(Conductivity, "learnable conductivity κ")
    initial_state: HeatPrior = section(HeatPrior, "initial states")

    @property
    def dx(self) -> tuple[float, ...]:
        """Node spacing per dimension: L/(n − 1) (both ends of the box are nodes)."""
        return tuple(length / (n - 1) for length, n in zip(self.domain, self.resolution))

    def validate(self):
        if len(self.origin) != len(self.resolution):
            raise ConfigError(f"physics.origin: must have one entry per dimension ({len(self.resolution)}), "
                              f"got {list(self.origin)}")
        for i, b in enumerate(self.initial_state.bumps):
            if len(b.centre) != len(self.resolution):
                raise ConfigError(f"physics.initial_state.bumps[{i}].centre: must have {len(self.resolution)} entries")
        self.conductivity.check("physics.conductivity", self.diffusion_bound())


class Heat(LearnedCoefficients):
    """Heat PDE built from a `HeatConfig` (see the module docstring)."""

    periodic = False

    def __init__(self, cfg: HeatConfig):
        self.cfg = cfg
        self.dims = SPATIAL_NAMES[: len(cfg.resolution)]
        self.spatial_shape = tuple(cfg.resolution)
        self.dx = cfg.dx
        self.layout = FieldLayout(dynamic=("u",))
        interior = np.zeros(self.spatial_shape, np.float32)
        interior[tuple(slice(1, -1) for _ in self.dims)] = 1.0
        self._interior = interior

    # ---------------------------------------------------------------- grid and parameters

    def node_coords(self) -> np.ndarray:
        """Node positions ``[*spatial, d]`` float32 (domain units)."""
        axes = [o + h * np.arange(n) for o, h, n in zip(self.cfg.origin, self.dx, self.spatial_shape)]
        return np.stack(np.meshgrid(*axes, indexing="ij"), -1).astype(np.float32)

    def coefficient_grid(self):
        return self.node_coords(), tuple(self.cfg.origin), tuple(self.cfg.domain)

    @property
    def conductivity_bound(self) -> float:
        """κ ≤ 1/(2·dt_sub·Σ 1/h_d²), the forward-Euler stability bound per substep."""
        return self.cfg.diffusion_bound()

    def coefficients(self):
        return {"conductivity": self.cfg.conductivity}

    def bounds(self, params):
        return {"conductivity": self.conductivity_bound}

    # ---------------------------------------------------------------- initial states

    def sample_initial_state(self, key: jax.Array, n: int) -> jax.Array:
        """`n` initial fields ``[n, *spatial, 1]`` float32, equal to `boundary_value` on the boundary."""
        prior, x = self.cfg.initial_state, jnp.asarray(self.node_coords())
        if prior.kind == "bumps":
            u = sum((b.amplitude * jnp.exp(-jnp.sum((x - jnp.asarray(b.centre, jnp.float32)) ** 2, -1) / b.width**2)
                     for b in prior.bumps), jnp.zeros(self.spatial_shape, jnp.float32))
            u = jnp.broadcast_to(u, (n,) + self.spatial_shape)
        else:
            s = (x - jnp.asarray(self.cfg.origin, jnp.float32)) / jnp.asarray(self.cfg.domain, jnp.float32)
            ks = np.stack(np.meshgrid(*[np.arange(1, prior.modes + 1)] * len(self.dims), indexing="ij"), -1)
            ks = jnp.asarray(ks.reshape(-1, len(self.dims)), jnp.float32)  # [M, d]
            basis = jnp.prod(jnp.sin(jnp.pi * s[..., None, :] * ks), -1) / jnp.sum(ks**2, -1)  # [*spatial, M]
            u = jnp.einsum("nm,...m->n...", jax.random.normal(key, (n, ks.shape[0]), jnp.float32), basis)
            u = prior.amplitude * u / jnp.max(jnp.abs(u), axis=tuple(range(1, u.ndim)), keepdims=True)
        interior = jnp.asarray(self._interior)
        u = interior * u + (1 - interior) * self.cfg.boundary_value
        return u[..., None].astype(jnp.float32)

    # ---------------------------------------------------------------- dynamics

    def step(self, state: jax.Array, params: Params) -> jax.Array:
        """One time step of a single state ``[*spatial, 1]``."""
        names = ",".join(self.dims)
        kappa = self.coefficient_value("conductivity", params)
        k = math.tensor(kappa, spatial(names)) if kappa.ndim else kappa
        interior = math.tensor(self._interior, spatial(names))
        dt_sub, value = self.cfg.dt / self.cfg.substeps, self.cfg.boundary_value

        def sub(x):
            u = math.tensor(x, spatial(names))
            rate = 0
            for d, h in zip(self.dims, self.dx):
                grad = math.spatial_gradient(u, h, "forward", padding=extrapolation.ZERO_GRADIENT, dims=d,
                                             stack_dim=None)  # (u_{i+1} - u_i)/h; 0 beyond the last node
                if isinstance(k, math.Tensor):
                    grad = (k + 0.5 * math.spatial_gradient(k, 1.0, "forward", padding=extrapolation.ZERO_GRADIENT,
                                                            dims=d, stack_dim=None)) * grad
                else:
                    grad = k * grad
                rate = rate + math.spatial_gradient(grad, h, "backward", padding=extrapolation.ZERO, dims=d,
                                                    stack_dim=None)
            out = interior * (u + dt_sub * rate) + (1 - interior) * value
            return out.native(self.dims).astype(x.dtype)

        u = iterate(sub, self.cfg.substeps, state[..., 0])
        return u[..., None].astype(state.dtype)


FAMILY = Family("heat", HeatConfig, Heat)
