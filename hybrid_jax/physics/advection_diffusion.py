"""Advection–diffusion of a passive scalar, u_t + ∇·(v u) = ∇·(κ∇u), periodic, 1–3 dimensions.

The velocity v is prescribed (zero, constant, or a divergence-free cellular vortex flow) and
carried in the state as static channels ``vel_x[, vel_y, vel_z]`` after the dynamic channel
``u``; for divergence-free v the flux form equals u_t + v·∇u = ∇·(κ∇u). κ (learnable) is a
scalar or a field ``[*spatial]``.

Scheme per step of length dt (Lie splitting): advection in conservative flux form with central
face fluxes and SSP-RK3 in time (second order in space, stable for Σ_d |v_d|·dt/dx_d ≤ √3), then
`substeps` forward-Euler substeps of the conservative ∇·(κ∇u) stencil (second order; stable for
κ ≤ 1/(2·dt_sub·Σ_d 1/dx_d²)). Both parts conserve Σu exactly (up to round-off).
Units: lengths in domain units, time in the units of dt, κ in length²/time, v in length/time.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from phi import math
from phi.flow import channel, spatial

from hybrid_jax.config import AdvectionDiffusionConfig
from hybrid_jax.physics._grid import PeriodicBox, cell_centres, flux_divergence, gaussian_bump, iterate
from hybrid_jax.physics.base import FieldLayout, Params
from hybrid_jax.physics.operators import div_k_grad, explicit_diffusion_bound, fourier_basis


class AdvectionDiffusion(PeriodicBox):
    """Advection–diffusion PDE built from an `AdvectionDiffusionConfig` (see the module docstring)."""

    positive_params = ("diffusivity",)

    def __init__(self, cfg: AdvectionDiffusionConfig):
        super().__init__(cfg)
        self.layout = FieldLayout(dynamic=("u",), static=tuple(f"vel_{d}" for d in self.dims))
        self._basis = fourier_basis(self.spatial_shape, cfg.initial_state.modes)

    # ---------------------------------------------------------------- parameters

    @property
    def diffusivity_bound(self) -> float:
        """Stability bound of explicit diffusion per substep: κ ≤ 1/(2·dt_sub·Σ 1/dx_d²)."""
        return explicit_diffusion_bound(self.dx, self.cfg.dt / self.cfg.substeps)

    def _field_or_scalar(self, value) -> jax.Array:
        if self.cfg.diffusivity.learnable == "field":
            return jnp.full(self.spatial_shape, value, jnp.float32)
        return jnp.asarray(value, jnp.float32)

    def init_params(self) -> Params:
        return {"diffusivity": self._field_or_scalar(self.cfg.diffusivity.init)}

    def true_params(self) -> Params:
        """True κ: a scalar, or a field when a bump is configured or the learnable κ is a field."""
        d = self.cfg.diffusivity
        if d.bump == 0.0:
            return {"diffusivity": self._field_or_scalar(d.true)}
        bump = gaussian_bump(self.spatial_shape, self.dx, self.cfg.domain)
        return {"diffusivity": jnp.asarray(d.true * (1 + d.bump * bump), jnp.float32)}

    def constrain(self, params: Params) -> Params:
        """Clip κ into (0, stability bound]."""
        kappa = jnp.clip(params["diffusivity"], 1e-8, self.diffusivity_bound)
        return {**params, "diffusivity": kappa.astype(jnp.float32)}

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
        basis = jnp.asarray(self._basis)
        coeffs = jax.random.normal(key, (n, basis.shape[0]), jnp.float32)
        u = jnp.einsum("nm,m...->n...", coeffs, basis)
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
        kappa = params["diffusivity"]
        dt_sub = dt / self.cfg.substeps

        def diffuse(x):
            k = math.tensor(kappa, spatial(names)) if kappa.ndim else kappa
            w = math.tensor(x, spatial(names))
            return (w + dt_sub * div_k_grad(w, k, self.dx, self.dims)).native(self.dims).astype(x.dtype)

        u = iterate(diffuse, self.cfg.substeps, u.native(self.dims).astype(state.dtype))
        out = math.concat([math.expand(math.tensor(u, spatial(names)), channel(c=1)), s.c[1:]], "c")
        return out.native(self.dims + ("c",)).astype(state.dtype)
