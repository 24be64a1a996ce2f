"""A density advected by a static ring vortex plus a learnable velocity modulation, 2D periodic:

    ρ_t + (v(x) + m(x))·∇ρ = 0.

`v` is the ring vortex: a rotation about the domain centre c with angular velocity
ω(r) = Ω·exp(-((r - R)/W)²) (r = |x - c|), i.e. v = ω(r)·(-(y - c_y), x - c_x): circular
streamlines, divergence-free, fastest on the ring r ≈ R. It is known and static: the state
carries it as the static channels ``vel_x, vel_y`` after the dynamic channel ``density``.
`m` is the unknown part of the advecting velocity, two learnable fields ``modulation_x``,
``modulation_y`` ``[x, y]`` (signed, optimised directly). It is additive, so its neutral value
— the initial guess — is 0 (no modulation). Its true value is a lobed ring perturbation
along the streamlines, m = A·sin(n θ)·exp(-((r - R)/w)²)·t̂ (t̂ the unit tangent, θ the polar
angle about c). (The original system added the same perturbation to v but started the learnable
field at 1.0 in both components, which is not neutral: a uniform drift of (1, 1).)

Scheme per step of length dt: PhiFlow advection of ρ by v + m (MacCormack with its clamping
limiter, or semi-Lagrangian), periodic. Both are unconditionally stable (no bound on m) and not
conservative: Σρ drifts at the level of the interpolation error. The domain is periodic as in the
original; v does not vanish at the box edges, where its tangential component jumps (the normal
component is continuous, so the flow stays divergence-free across the wrap).
Units: lengths in domain units, time in the units of dt, Ω in radians / time, m in length / time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from phi import math
from phi.flow import CenteredGrid, advect, channel, extrapolation, spatial

from hybrid_jax.typed_config import nonnegative, option, positive, section
from hybrid_jax.physics._grid import PeriodicBox
from hybrid_jax.physics.base import Family, FieldLayout, Params, PeriodicGridConfig
from hybrid_jax.physics.coefficients import cell_centres
from hybrid_jax.physics.operators import FourierBasis


@dataclass(frozen=True)
class RingVortex:
    angular_velocity: float = option(0.5, "peak angular velocity Ω on the ring (radians / time unit; negative: "
                                          "clockwise)")
    radius: float = positive(0.3, "ring radius R as a fraction of the smaller domain side")
    width: float = positive(0.15, "radial falloff width W of the angular velocity, as a fraction of the smaller "
                                  "domain side")


@dataclass(frozen=True)
class Modulation:
    amplitude: float = option(0.05, "peak speed A of the true modulation (domain units / time unit; 0: none)")
    lobes: int = nonnegative(6, "number n of lobes: the true modulation varies as sin(n θ) around the ring")
    width: float = positive(0.05, "radial width w of the true modulation, as a fraction of the smaller domain side")


@dataclass(frozen=True)
class DensityPrior:
    modes: int = option(4, "highest Fourier wavenumber of the random smooth field behind each initial density",
                        lambda v: v >= 1, "must be >= 1")
    sharpness: float = positive(2.0, "initial density = tanh(sharpness · f), f the random field scaled to unit "
                                     "RMS (large: sharp fronts between ±1)")


@dataclass(frozen=True)
class VortexAdvectionConfig(PeriodicGridConfig):
    """A density advected by a static ring vortex plus a learnable modulation field (2D, periodic)."""

    ndims = (2,)

    name: Literal["vortex_advection"] = option("vortex_advection", "PDE family")
    dt: float = positive(0.1, "time step of one solver step (time units)")
    advection: Literal["maccormack", "semi_lagrangian"] = option(
        "maccormack", "advection scheme: MacCormack (clamped) or semi-Lagrangian")
    vortex: RingVortex = section(RingVortex, "the known, static ring vortex v")
    modulation: Modulation = section(Modulation, "the true modulation m (the learnable fields start at 0)")
    initial_state: DensityPrior = section(DensityPrior, "random smooth initial densities")


class VortexAdvection(PeriodicBox):
    """Ring-vortex density advection built from a `VortexAdvectionConfig` (see the module docstring)."""

    positive_params = ()

    def __init__(self, cfg: VortexAdvectionConfig):
        super().__init__(cfg)
        self.layout = FieldLayout(dynamic=("density",), static=("vel_x", "vel_y"))
        self._basis = FourierBasis(self.spatial_shape, cfg.initial_state.modes)

    def _polar(self):
        """(r, t̂_x, t̂_y, θ, L) at the cell centres about the domain centre, L the smaller side."""
        x, y = cell_centres(self.spatial_shape, self.dx)
        rx, ry = x - self.cfg.domain[0] / 2, y - self.cfg.domain[1] / 2
        r = np.hypot(rx, ry)
        safe = np.where(r > 0, r, 1.0)
        return r, -ry / safe * (r > 0), rx / safe * (r > 0), np.arctan2(ry, rx), min(self.cfg.domain)

    def angular_velocity(self, r) -> np.ndarray:
        """ω(r) = Ω·exp(-((r - R)/W)²) (radians / time unit) at distances `r` from the centre."""
        v, length = self.cfg.vortex, min(self.cfg.domain)
        return v.angular_velocity * np.exp(-(((r - v.radius * length) / (v.width * length)) ** 2))

    def velocity_field(self) -> np.ndarray:
        """The ring vortex v = ω(r)·r·t̂ ``[x, y, 2]`` float32 (the static channels of every state)."""
        r, tx, ty, _, _ = self._polar()
        speed = self.angular_velocity(r) * r
        return np.stack([speed * tx, speed * ty], -1).astype(np.float32)

    # ---------------------------------------------------------------- parameters

    def init_params(self) -> Params:
        zero = jnp.zeros(self.spatial_shape, jnp.float32)
        return {"modulation_x": zero, "modulation_y": zero}

    def true_params(self) -> Params:
        """m = A·sin(n θ)·exp(-((r - R)/w)²)·t̂ at the cell centres."""
        m, ring = self.cfg.modulation, self.cfg.vortex.radius
        r, tx, ty, theta, length = self._polar()
        magnitude = m.amplitude * np.sin(m.lobes * theta) * np.exp(-(((r - ring * length) / (m.width * length)) ** 2))
        return {"modulation_x": jnp.asarray(magnitude * tx, jnp.float32),
                "modulation_y": jnp.asarray(magnitude * ty, jnp.float32)}

    def constrain(self, params: Params) -> Params:
        """No constraint: m is signed and both advection schemes are stable for any velocity."""
        return params

    # ---------------------------------------------------------------- initial states and dynamics

    def sample_initial_state(self, key: jax.Array, n: int) -> jax.Array:
        """`n` states ``[n, x, y, 3]``: an independent random density tanh(sharpness·f) per sample (f a
        random smooth periodic field of unit RMS) and the ring vortex."""
        f = self._basis.combine(jax.random.normal(key, (n, self._basis.size), jnp.float32))
        f = f / jnp.sqrt(jnp.mean(f**2, axis=(1, 2), keepdims=True))
        density = jnp.tanh(self.cfg.initial_state.sharpness * f)[..., None]
        vel = jnp.broadcast_to(jnp.asarray(self.velocity_field()), (n,) + self.spatial_shape + (2,))
        return jnp.concatenate([density, vel], -1).astype(jnp.float32)

    def step(self, state: jax.Array, params: Params) -> jax.Array:
        """One time step of a single state ``[x, y, 3]``; the velocity channels are returned as is."""
        s = math.tensor(state, spatial("x,y"), channel("c"))
        modulation = math.stack([math.tensor(params["modulation_x"], spatial("x,y")),
                                 math.tensor(params["modulation_y"], spatial("x,y"))], channel(vector="x,y"))
        velocity = CenteredGrid(math.rename_dims(s.c[1:], "c", channel(vector="x,y")) + modulation,
                                extrapolation.PERIODIC, bounds=self._bounds)
        density = CenteredGrid(s.c[0], extrapolation.PERIODIC, bounds=self._bounds)
        advect_fn = advect.mac_cormack if self.cfg.advection == "maccormack" else advect.semi_lagrangian
        density = advect_fn(density, velocity, self.cfg.dt)
        out = math.concat([math.expand(density.values, channel(c=1)), s.c[1:]], "c")
        return out.native(["x", "y", "c"]).astype(state.dtype)


FAMILY = Family("vortex_advection", VortexAdvectionConfig, VortexAdvection)
