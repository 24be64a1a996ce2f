"""Incompressible buoyant smoke in a closed 2D box (walls on all four sides):

    ρ_t + u·∇ρ = 0,
    u_t + (u·∇)u = -∇p + b(x) ρ ŷ,      ∇·u = 0,      u·n = 0 on the walls,   ∂ρ/∂n = 0 on the walls.

``y`` (the second axis) points up. The walls take the net buoyancy (the pressure balances it), so
unlike the periodic `smoke` family no mean is removed: uniform smoke under a uniform b stays at rest.
Learnable: the buoyancy b (positive, log space), a scalar or a field ``[x, y]``; its true value is
``true·(1 + bump·g(x))·(1 + sine·sin(2πx/Lx))`` (g the Gaussian bump of the coefficient type; the
original system's b = 1 + 0.4 sin(2πx/L) is the default).

Grid: the velocity is staggered (a MAC grid). The state ``[x, y, 3]`` stores it exactly, without
interpolation: ``vel_x[i, j]`` is the x-velocity on the face between cells (i, j) and (i+1, j),
``vel_y[i, j]`` the y-velocity on the face between (i, j) and (i, j+1); the last row of ``vel_x``
(i = n_x - 1) and the last column of ``vel_y`` (j = n_y - 1) are the right and top walls and are
always 0 (the left and bottom walls are implied). ``smoke`` is at the cell centres.
(The original system stored centred velocities and interpolated to the faces and back every step,
a [1/4, 1/2, 1/4] filter that damps the flow.)

Scheme per step of length dt: advect the smoke (zero-gradient boundary) and the velocity (zero
boundary) by the velocity with PhiFlow (MacCormack with its clamping limiter, or semi-Lagrangian:
unconditionally stable; the limiter keeps ρ within its previous range, so ρ ≥ 0 stays ≥ 0), add
dt·b ρ ŷ (centred, averaged onto the y-faces), then project with PhiFlow's
`fluid.make_incompressible` (CG on the compact pressure Poisson equation with Neumann walls): the
staggered divergence of every cell, wall cells included, is then zero up to the solver tolerance.
Units: lengths in domain units, time in the units of dt, b in length/time² per density unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from phi import math
from phi.flow import CenteredGrid, StaggeredGrid, advect, channel, dual, extrapolation, resample, spatial

from hybrid_jax.typed_config import option, positive, section
from hybrid_jax.physics._grid import PeriodicBox
from hybrid_jax.physics.base import Family, FieldLayout, Params, PeriodicGridConfig
from hybrid_jax.physics.coefficients import LearnedCoefficients, cell_centres, coefficient
from hybrid_jax.physics.smoke import PressureSolve, pressure_projection

_Buoyancy = coefficient("buoyancy", "b", "upward acceleration per unit smoke density: domain units / time unit² "
                                         "per density unit", true=1.0, init=0.5, bump=True, learnable="shape")


@dataclass(frozen=True)
class ClosedBuoyancy(_Buoyancy):
    learnable: Literal["scalar", "field"] = option("field", "learn b as one scalar or as a field on the grid (the "
                                                            "true b is a field unless sine = bump = 0)")
    sine: float = option(0.4, "relative amplitude of a sin(2πx/Lx) variation of the true b: b(x) = true·(1 + bump·g(x))"
                              "·(1 + sine·sin(2πx/Lx)), g the Gaussian bump", lambda v: -1 < v < 1,
                         "must be in (-1, 1) (b stays positive)")

    def true_value(self, grid) -> jax.Array:
        base = super().true_value(grid)
        if self.sine == 0.0:
            return base
        x = cell_centres(grid.spatial_shape, grid.dx)[0]
        return jnp.asarray(base * (1 + self.sine * np.sin(2 * np.pi * x / grid.cfg.domain[0])), jnp.float32)


@dataclass(frozen=True)
class BoxBlobsPrior:
    num_blobs: int = positive(2, "Gaussian smoke blobs per initial state, centres uniform in the box")
    blob_radius: float = option(0.08, "standard deviation of a blob, as a fraction of the smaller domain side",
                                lambda v: 0 < v < 0.5, "must be in (0, 0.5)")
    density: float = positive(1.0, "peak density of a blob")


@dataclass(frozen=True)
class ClosedSmokeConfig(PeriodicGridConfig):
    """Incompressible buoyant smoke in a closed 2D box (walls), staggered velocity, learnable buoyancy."""

    ndims = (2,)

    name: Literal["closed_smoke"] = option("closed_smoke", "PDE family")
    domain: tuple[float, ...] = option((1.0, 1.0), "physical size per dimension (a closed box with walls)",
                                       lambda v: all(x > 0 for x in v), "must be > 0 in every dimension")
    dt: float = positive(0.02, "time step of one solver step (time units)")
    advection: Literal["maccormack", "semi_lagrangian"] = option(
        "maccormack", "advection scheme of velocity and smoke: MacCormack (clamped) or semi-Lagrangian")
    buoyancy: ClosedBuoyancy = section(ClosedBuoyancy, "learnable buoyancy b")
    pressure: PressureSolve = section(PressureSolve, "pressure projection")
    initial_state: BoxBlobsPrior = section(BoxBlobsPrior, "random smoke blobs, fluid at rest")


class ClosedSmoke(PeriodicBox, LearnedCoefficients):
    """Buoyant smoke in a closed box built from a `ClosedSmokeConfig` (see the module docstring)."""

    periodic = False
    staggered = True  # the velocity lives on faces: data.truth.refine.space cannot block-average it

    def __init__(self, cfg: ClosedSmokeConfig):
        super().__init__(cfg)
        self.layout = FieldLayout(dynamic=("vel_x", "vel_y", "smoke"))

    def coefficients(self):
        return {"buoyancy": self.cfg.buoyancy}

    def bounds(self, params):
        return {}  # buoyancy is a source term: no explicit-scheme bound

    # ---------------------------------------------------------------- initial states

    def sample_initial_state(self, key: jax.Array, n: int) -> jax.Array:
        """`n` states ``[n, x, y, 3]``: fluid at rest, `num_blobs` Gaussian smoke blobs each, centres
        uniform in the box (independent per sample)."""
        init = self.cfg.initial_state
        lengths = jnp.asarray(self.cfg.domain, jnp.float32)
        centres = jax.random.uniform(key, (n, init.num_blobs, 1, 1, 2), jnp.float32) * lengths
        mesh = jnp.asarray(np.stack(cell_centres(self.spatial_shape, self.dx), -1), jnp.float32)
        r2 = jnp.sum((mesh - centres) ** 2, -1)
        smoke = init.density * jnp.sum(jnp.exp(-r2 / (2 * (init.blob_radius * min(self.cfg.domain)) ** 2)), axis=1)
        return jnp.concatenate([jnp.zeros(smoke.shape + (2,), jnp.float32), smoke[..., None]], -1)

    # ---------------------------------------------------------------- dynamics

    def velocity_grid(self, state) -> StaggeredGrid:
        """The staggered velocity of a state ``[x, y, ≥2]`` (its interior faces; wall entries are ignored)."""
        nx, ny = self.spatial_shape
        s = math.tensor(state[..., :2], spatial("x,y"), channel("c"))
        values = math.stack([s.c[0].x[:nx - 1], s.c[1].y[:ny - 1]], dual(vector="x,y"))
        return StaggeredGrid(values, 0, bounds=self._bounds, resolution=spatial(x=nx, y=ny))

    def project(self, velocity: StaggeredGrid) -> StaggeredGrid:
        """Pressure projection with PhiFlow (CG, Neumann pressure at the walls)."""
        return pressure_projection(velocity, self.cfg.pressure)

    def step(self, state: jax.Array, params: Params) -> jax.Array:
        """One time step of a single state ``[x, y, 3]`` -> ``[x, y, 3]`` (wall entries 0)."""
        cfg, dt = self.cfg, self.cfg.dt
        velocity = self.velocity_grid(state)
        smoke = CenteredGrid(math.tensor(state[..., 2], spatial("x,y")), extrapolation.ZERO_GRADIENT,
                             bounds=self._bounds)
        advect_fn = advect.mac_cormack if cfg.advection == "maccormack" else advect.semi_lagrangian
        smoke = advect_fn(smoke, velocity, dt)
        b = params["buoyancy"]
        lift = (math.tensor(b, spatial("x,y")) if b.ndim else b) * smoke.values
        force = CenteredGrid(math.stack([0 * lift, lift], channel(vector="x,y")), extrapolation.ZERO_GRADIENT,
                             bounds=self._bounds)
        velocity = self.project(advect_fn(velocity, velocity, dt) + dt * resample(force, to=velocity))
        return self.pack(velocity, smoke.values).astype(state.dtype)

    @staticmethod
    def pack(velocity: StaggeredGrid, smoke: math.Tensor) -> jax.Array:
        """A state ``[x, y, 3]`` from a staggered velocity (wall entries 0) and centred smoke values."""
        vx, vy = math.unstack(velocity.values, "~vector")
        out = math.stack([math.pad(vx, {"x": (0, 1)}, 0), math.pad(vy, {"y": (0, 1)}, 0), smoke], channel("c"))
        return out.native(["x", "y", "c"])


FAMILY = Family("closed_smoke", ClosedSmokeConfig, ClosedSmoke)
