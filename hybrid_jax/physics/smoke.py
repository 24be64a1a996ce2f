"""Incompressible buoyant smoke in a 2D periodic box (Boussinesq approximation):

    ρ_t + u·∇ρ = 0,
    u_t + (u·∇)u = -∇p + ν Δu + b(x) ρ ŷ - ⟨b ρ⟩ ŷ,      ∇·u = 0.

Dynamic channels ``vel_x, vel_y, smoke``, all sampled at the cell centres (a collocated grid).
``y`` (the second axis) points up. Learnable: the buoyancy b (a scalar or a field ``[*spatial]``)
and, with ``viscosity.learnable``, the viscosity ν (a scalar); otherwise ν is the known
``viscosity.true`` (0: inviscid). b and ν are positive and optimised in log space.

Boundary: periodic in x and y (one treatment for every field). On a periodic domain the pressure
cannot balance a net force, so the buoyancy is taken relative to its domain mean ⟨bρ⟩ (the
hydrostatic part, absorbed in the pressure): total momentum is conserved.

Scheme per step of length dt: advect smoke and velocity by the velocity (PhiFlow MacCormack with
its clamping limiter, or semi-Lagrangian), add the buoyancy of the advected smoke (forward Euler),
apply `substeps` forward-Euler viscosity substeps (stable for ν ≤ 1/(2·dt_sub·Σ 1/dx_d²), the
bound `constrain` enforces), then project onto divergence-free fields with PhiFlow's
`fluid.make_incompressible` on the centred grid: CG solve of the wide-stencil pressure Poisson
equation, after which the central-difference divergence is zero up to the solver tolerance.
(A CG that reaches `pressure.max_iterations` raises `NotConverged` eagerly but returns its last
iterate silently under `jax.jit`.)
Units: lengths in domain units, time in the units of dt, b in length/time² per density unit,
ν in length²/time.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal

import jax
import jax.numpy as jnp
from phi import math
from phi.flow import CenteredGrid, Solve, advect, channel, extrapolation, fluid, spatial

from hybrid_jax.typed_config import nonnegative, option, positive, section
from hybrid_jax.physics._grid import PeriodicBox, iterate
from hybrid_jax.physics.base import Family, FieldLayout, Params, PeriodicGridConfig, substeps_option
from hybrid_jax.physics.coefficients import LearnedCoefficients, coefficient
from hybrid_jax.physics.operators import FourierBasis, div_k_grad

Buoyancy = coefficient("buoyancy", "b", "upward acceleration per unit smoke density: domain units / time unit² "
                                        "per density unit", true=1.0, init=0.5, bump=True, learnable="shape")
SmokeViscosity = coefficient("kinematic viscosity", "ν", "domain units² / time unit", true=0.0, init=0.01,
                             learnable="switch", zero_true=True)


@dataclass(frozen=True)
class PressureSolve:
    tolerance: float = positive(1e-5, "absolute and relative residual tolerance of the CG pressure solve "
                                      "(velocity units / length)")
    max_iterations: int = positive(500, "iteration limit of the CG pressure solve")


def pressure_projection(velocity, p: PressureSolve):
    """`velocity` (a PhiFlow grid) made divergence-free by PhiFlow's CG pressure solve. The pressure
    (periodic, or Neumann at walls) is defined up to a constant: PhiFlow handles the rank deficiency,
    and its warning about it is silenced."""
    solve = Solve("CG", rel_tol=p.tolerance, abs_tol=p.tolerance, max_iterations=p.max_iterations)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Rank deficiency", category=RuntimeWarning)
        velocity, _ = fluid.make_incompressible(velocity, solve=solve)
    return velocity


@dataclass(frozen=True)
class BlobsPrior:
    num_blobs: int = positive(2, "Gaussian smoke blobs per initial state, at random positions")
    blob_radius: float = option(0.08, "standard deviation of a blob, as a fraction of the smaller domain side",
                                lambda v: 0 < v < 0.5, "must be in (0, 0.5)")
    density: float = positive(1.0, "peak density of a blob")
    velocity_amplitude: float = nonnegative(0.0, "peak speed of a random smooth divergence-free initial velocity "
                                                 "(0: fluid at rest)")
    velocity_modes: int = option(2, "highest Fourier wavenumber of the initial stream function",
                                 lambda v: v >= 1, "must be >= 1")


@dataclass(frozen=True)
class SmokeConfig(PeriodicGridConfig):
    """Incompressible buoyant smoke in a 2D periodic box, learnable buoyancy (and viscosity)."""

    ndims = (2,)

    name: Literal["smoke"] = option("smoke", "PDE family")
    dt: float = positive(0.02, "time step of one solver step (time units)")
    substeps: int = substeps_option(1, "explicit viscosity substeps per step")
    advection: Literal["maccormack", "semi_lagrangian"] = option(
        "maccormack", "advection scheme of velocity and smoke: MacCormack (clamped) or semi-Lagrangian")
    buoyancy: Buoyancy = section(Buoyancy, "learnable buoyancy b")
    viscosity: SmokeViscosity = section(SmokeViscosity, "viscosity ν (optional, optionally learnable)")
    pressure: PressureSolve = section(PressureSolve, "pressure projection")
    initial_state: BlobsPrior = section(BlobsPrior, "random smoke blobs")

    def validate(self):
        self.viscosity.check("physics.viscosity", self.diffusion_bound())


class Smoke(PeriodicBox, LearnedCoefficients):
    """Buoyant incompressible smoke built from a `SmokeConfig` (see the module docstring)."""

    def __init__(self, cfg: SmokeConfig):
        super().__init__(cfg)
        self.layout = FieldLayout(dynamic=("vel_x", "vel_y", "smoke"))
        self._basis = FourierBasis(self.spatial_shape, cfg.initial_state.velocity_modes)

    # ---------------------------------------------------------------- parameters

    @property
    def viscosity_bound(self) -> float:
        """Stability bound of explicit viscosity per substep: ν ≤ 1/(2·dt_sub·Σ 1/dx_d²)."""
        return self.cfg.diffusion_bound()

    def coefficients(self):
        v = self.cfg.viscosity
        return {"buoyancy": self.cfg.buoyancy, **({"viscosity": v} if v.learned else {})}

    def bounds(self, params):
        return {"viscosity": self.viscosity_bound}

    # ---------------------------------------------------------------- initial states

    def sample_initial_state(self, key: jax.Array, n: int) -> jax.Array:
        """`n` states ``[n, x, y, 3]``: Gaussian smoke blobs at random positions (wrapping around the
        periodic box), and a random smooth divergence-free velocity (zero if its amplitude is 0)."""
        init = self.cfg.initial_state
        k_pos, k_vel = jax.random.split(key)
        lengths = jnp.asarray(self.cfg.domain, jnp.float32)
        centres = jax.random.uniform(k_pos, (n, init.num_blobs, 2), jnp.float32) * lengths
        radius = init.blob_radius * min(self.cfg.domain)
        r2 = 0.0
        for d, (size, h, length) in enumerate(zip(self.spatial_shape, self.dx, self.cfg.domain)):
            x = (jnp.arange(size, dtype=jnp.float32) + 0.5) * h
            dist = (x[None, None, :] - centres[..., d, None] + length / 2) % length - length / 2  # periodic
            r2 = r2 + (dist**2).reshape((n, init.num_blobs) + tuple(size if e == d else 1 for e in range(2)))
        smoke = init.density * jnp.sum(jnp.exp(-r2 / (2 * radius**2)), axis=1)
        if init.velocity_amplitude > 0:
            # velocity = (∂ψ/∂y, -∂ψ/∂x) by central differences: its central divergence is exactly 0
            psi = self._basis.combine(jax.random.normal(k_vel, (n, self._basis.size), jnp.float32))
            vx = (jnp.roll(psi, -1, 2) - jnp.roll(psi, 1, 2)) / (2 * self.dx[1])
            vy = -(jnp.roll(psi, -1, 1) - jnp.roll(psi, 1, 1)) / (2 * self.dx[0])
            vel = jnp.stack([vx, vy], -1)
            peak = jnp.max(jnp.abs(vel), axis=(1, 2, 3), keepdims=True)
            vel = init.velocity_amplitude * vel / peak
        else:
            vel = jnp.zeros((n,) + self.spatial_shape + (2,), jnp.float32)
        return jnp.concatenate([vel, smoke[..., None]], -1).astype(jnp.float32)

    # ---------------------------------------------------------------- dynamics

    def project(self, velocity: CenteredGrid) -> CenteredGrid:
        """Pressure projection with PhiFlow (CG); the result's central divergence ≤ the tolerance."""
        return pressure_projection(velocity, self.cfg.pressure)

    def step(self, state: jax.Array, params: Params) -> jax.Array:
        """One time step of a single state ``[x, y, 3]`` -> ``[x, y, 3]``."""
        cfg, dt = self.cfg, self.cfg.dt
        s = math.tensor(state, spatial("x,y"), channel("c"))
        vel = CenteredGrid(math.rename_dims(s.c[:2], "c", channel(vector="x,y")), extrapolation.PERIODIC,
                           bounds=self._bounds)
        smoke = CenteredGrid(s.c[2], extrapolation.PERIODIC, bounds=self._bounds)
        advect_fn = advect.mac_cormack if cfg.advection == "maccormack" else advect.semi_lagrangian
        smoke = advect_fn(smoke, vel, dt)
        values = advect_fn(vel, vel, dt).values
        b = params["buoyancy"]
        b = math.tensor(b, spatial("x,y")) if b.ndim else b
        lift = b * smoke.values
        lift = lift - math.mean(lift, "x,y")
        values = values + dt * math.stack([0 * lift, lift], channel(vector="x,y"))
        nu = params["viscosity"] if "viscosity" in params else cfg.viscosity.true
        if cfg.viscosity.learnable or cfg.viscosity.true > 0:
            dt_sub = dt / cfg.substeps

            order = ["x", "y", "vector"]

            def diffuse(x):
                w = math.tensor(x, spatial("x,y"), channel(vector="x,y"))
                return (w + dt_sub * div_k_grad(w, nu, self.dx, self.dims)).native(order).astype(x.dtype)

            values = iterate(diffuse, cfg.substeps, values.native(order).astype(state.dtype))
            values = math.tensor(values, spatial("x,y"), channel(vector="x,y"))
        vel = self.project(CenteredGrid(values, extrapolation.PERIODIC, bounds=self._bounds))
        out = math.concat([math.rename_dims(vel.values, "vector", channel("c")),
                           math.expand(smoke.values, channel(c=1))], "c")
        return out.native(["x", "y", "c"]).astype(state.dtype)


FAMILY = Family("smoke", SmokeConfig, Smoke)
