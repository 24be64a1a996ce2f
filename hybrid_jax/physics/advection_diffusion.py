"""Advection–diffusion of a passive scalar, u_t + ∇·(v u) = ∇·(κ∇u), periodic, 1–3 dimensions.

The velocity v is prescribed (zero, constant, or a divergence-free cellular vortex flow) and
carried in the state as static channels ``vel_x[, vel_y, vel_z]`` after the dynamic channel
``u``; for divergence-free v the flux form equals u_t + v·∇u = ∇·(κ∇u). κ (learnable) is a
scalar, a field ``[*spatial]`` or a parametric field (``diffusivity.form``, `physics.parametric`).

Scheme per step of length dt (Lie splitting): advection in conservative flux form with central
face fluxes and SSP-RK3 in time (second order in space, stable for Σ_d |v_d|·dt/dx_d ≤ √3), then
`substeps` forward-Euler substeps of the conservative ∇·(κ∇u) stencil (second order; stable for
κ ≤ 1/(2·dt_sub·Σ_d 1/dx_d²)). Both parts conserve Σu exactly (up to round-off).
Units: lengths in domain units, time in the units of dt, κ in length²/time, v in length/time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from phi import math
from phi.flow import channel, spatial

from hybrid_jax.errors import ConfigError
from hybrid_jax.typed_config import nonnegative, option, positive, section
from hybrid_jax.physics._grid import PeriodicBox, flux_divergence, iterate
from hybrid_jax.physics.base import Family, FieldLayout, Params, PeriodicGridConfig, substeps_option
from hybrid_jax.physics.coefficients import LearnedCoefficients, cell_centres, coefficient
from hybrid_jax.physics.operators import FourierBasis, div_k_grad

Diffusivity = coefficient("diffusivity", "κ", "domain units² / time unit", true=0.01, init=0.05, bump=True,
                          learnable="shape", parametric=True)


@dataclass(frozen=True)
class PrescribedVelocity:
    kind: Literal["zero", "constant", "vortex"] = option(
        "constant", "the prescribed (static) velocity: zero, the constant `value`, or a periodic cellular "
                    "vortex flow (2D only) of peak speed `amplitude`")
    value: tuple[float, ...] = option((0.5, 0.25), "kind = constant: the velocity, one entry per dimension "
                                                   "(domain units / time unit)")
    amplitude: float = nonnegative(0.5, "kind = vortex: peak speed (domain units / time unit)")


@dataclass(frozen=True)
class ScalarPrior:
    modes: int = option(3, "highest Fourier wavenumber of the random smooth initial fields",
                        lambda v: v >= 1, "must be >= 1")
    amplitude: float = positive(1.0, "peak of |u - offset| of the initial field")
    offset: float = option(0.0, "mean of the initial field")


@dataclass(frozen=True)
class AdvectionDiffusionConfig(PeriodicGridConfig):
    """u_t + v·∇u = ∇·(κ∇u), periodic; v a prescribed static velocity, κ learnable."""

    name: Literal["advection_diffusion"] = option("advection_diffusion", "PDE family")
    substeps: int = substeps_option(1, "explicit diffusion substeps per step")
    diffusivity: Diffusivity = section(Diffusivity, "learnable diffusivity κ")
    velocity: PrescribedVelocity = section(PrescribedVelocity, "prescribed advecting velocity")
    initial_state: ScalarPrior = section(ScalarPrior, "random smooth initial states")

    def validate(self):
        v = self.velocity
        if v.kind == "constant" and len(v.value) != len(self.resolution):
            raise ConfigError(f"physics.velocity.value: must have one entry per dimension "
                              f"({len(self.resolution)}), got {list(v.value)}")
        if v.kind == "vortex" and len(self.resolution) != 2:
            raise ConfigError("physics.velocity.kind: vortex needs a 2D grid (physics.resolution with 2 entries)")
        # SSP-RK3 with central fluxes is stable for Σ_d |v_d|·dt/dx_d ≤ √3 (imaginary-axis reach of RK3).
        speeds = {"zero": [0.0] * len(self.resolution), "constant": [abs(x) for x in v.value],
                  "vortex": [v.amplitude] * len(self.resolution)}[v.kind]
        cfl = sum(s * self.dt / h for s, h in zip(speeds, self.dx))
        if cfl > 3**0.5:
            raise ConfigError(f"physics.dt: advective CFL number Σ|v_d|·dt/dx_d = {cfl:.3g} exceeds √3, "
                              f"the RK3 stability limit; got {self.dt!r}")
        self.diffusivity.check("physics.diffusivity", self.diffusion_bound())


class AdvectionDiffusion(PeriodicBox, LearnedCoefficients):
    """Advection–diffusion PDE built from an `AdvectionDiffusionConfig` (see the module docstring)."""

    def __init__(self, cfg: AdvectionDiffusionConfig):
        super().__init__(cfg)
        self.layout = FieldLayout(dynamic=("u",), static=tuple(f"vel_{d}" for d in self.dims))
        self._basis = FourierBasis(self.spatial_shape, cfg.initial_state.modes)

    # ---------------------------------------------------------------- parameters

    @property
    def diffusivity_bound(self) -> float:
        """Stability bound of explicit diffusion per substep: κ ≤ 1/(2·dt_sub·Σ 1/dx_d²)."""
        return self.cfg.diffusion_bound()

    def coefficients(self):
        return {"diffusivity": self.cfg.diffusivity}

    def bounds(self, params):
        return {"diffusivity": self.diffusivity_bound}

    # ---------------------------------------------------------------- velocity and initial states

    def velocity_field(self) -> np.ndarray:
        """The prescribed velocity ``[*spatial, d]`` float32 (the static channels of every state)."""
        v = self.cfg.velocity
        shape = self.spatial_shape + (len(self.dims),)
        if v.kind == "zero":
            return np.zeros(shape, np.float32)
        if v.kind == "constant":
            return np.broadcast_to(np.asarray(v.value, np.float32), shape).copy()
        # Cellular (Taylor–Green) vortex flow, divergence-free, peak speed `amplitude`:
        # v_x = A s sin(2πx/Lx) cos(2πy/Ly), v_y = -A s (Ly/Lx) cos(2πx/Lx) sin(2πy/Ly).
        (lx, ly), (x, y) = self.cfg.domain, cell_centres(self.spatial_shape, self.dx)
        s = v.amplitude / max(1.0, ly / lx)
        kx, ky = 2 * np.pi * x / lx, 2 * np.pi * y / ly
        return np.stack([s * np.sin(kx) * np.cos(ky), -s * (ly / lx) * np.cos(kx) * np.sin(ky)], -1).astype(np.float32)

    def sample_initial_state(self, key: jax.Array, n: int) -> jax.Array:
        """`n` random smooth periodic fields u with the prescribed velocity: ``[n, *spatial, 1 + d]``."""
        init = self.cfg.initial_state
        u = self._basis.combine(jax.random.normal(key, (n, self._basis.size), jnp.float32))
        peak = jnp.max(jnp.abs(u), axis=tuple(range(1, u.ndim)), keepdims=True)
        u = (init.offset + init.amplitude * u / peak)[..., None]
        vel = jnp.broadcast_to(jnp.asarray(self.velocity_field()), (n,) + self.spatial_shape + (len(self.dims),))
        return jnp.concatenate([u, vel], -1).astype(jnp.float32)

    # ---------------------------------------------------------------- dynamics

    def step(self, state: jax.Array, params: Params) -> jax.Array:
        """One time step of a single state ``[*spatial, 1 + d]``; the velocity channels are returned as is."""
        names = ",".join(self.dims)
        s = math.tensor(state, spatial(names), channel("c"))
        u = s.c[0]
        vel = [s.c[1 + i] for i in range(len(self.dims))]
        dt = self.cfg.dt
        if self.cfg.velocity.kind != "zero":
            def rate(w):
                return -flux_divergence(w, vel, self.dx, self.dims)

            # SSP-RK3 (Shu–Osher), the last stage u/3 + 2/3·(…) written as an increment of u: float32(2/3)
            # and u/3 do not add up to exactly 1, which would drift the mass by ~3e-8 per step
            u1 = u + dt * rate(u)
            u2 = 0.75 * u + 0.25 * (u1 + dt * rate(u1))
            u = u + 2 / 3 * (u2 + dt * rate(u2) - u)
        kappa = self.coefficient_value("diffusivity", params)
        dt_sub = dt / self.cfg.substeps

        def diffuse(x):
            k = math.tensor(kappa, spatial(names)) if kappa.ndim else kappa
            w = math.tensor(x, spatial(names))
            return (w + dt_sub * div_k_grad(w, k, self.dx, self.dims)).native(self.dims).astype(x.dtype)

        u = iterate(diffuse, self.cfg.substeps, u.native(self.dims).astype(state.dtype))
        out = math.concat([math.expand(math.tensor(u, spatial(names)), channel(c=1)), s.c[1:]], "c")
        return out.native(self.dims + ("c",)).astype(state.dtype)


FAMILY = Family("advection_diffusion", AdvectionDiffusionConfig, AdvectionDiffusion)
