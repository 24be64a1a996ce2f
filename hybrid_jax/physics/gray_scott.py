"""Gray–Scott reaction–diffusion, periodic, 1–3 dimensions (2D by default):

    u_t = D_u Δu - u v² + f (1 - u),        v_t = D_v Δv + u v² - (f + k) v.

Dynamic channels ``u, v``; no static channels. Learnable: the diffusivities D_u, D_v (scalars),
and with ``learn_rates`` the feed f and kill k rates; otherwise f and k are fixed at their true
values. All four are positive and optimised in log space.

Scheme: each step of length dt is `substeps` forward-Euler substeps of the full right-hand side,
Δ the second-order conservative 2d+1-point stencil. Diffusion alone is stable for
D ≤ 1/(2·dt_sub·Σ_d 1/dx_d²); the linear decay of u (rate f) and v (rate f + k) about the
homogeneous state (1, 0) tightens that to D_u ≤ bound·(1 - dt_sub·f/2) and
D_v ≤ bound·(1 - dt_sub·(f + k)/2), which `constrain` enforces (see docs/physics.md).
Units: lengths in domain units, time in the units of dt, D in length²/time, f and k in 1/time.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from phi import math
from phi.flow import channel, spatial

from hybrid_jax.config import GrayScottConfig
from hybrid_jax.physics._grid import PeriodicBox, iterate
from hybrid_jax.physics.base import FieldLayout, Params
from hybrid_jax.physics.operators import div_k_grad, explicit_diffusion_bound

_SQUARE_U, _SQUARE_V = 0.5, 0.25  # (u, v) inside a seeded square (Pearson 1993)


class GrayScott(PeriodicBox):
    """Gray–Scott PDE built from a `GrayScottConfig` (see the module docstring)."""

    def __init__(self, cfg: GrayScottConfig):
        super().__init__(cfg)
        self.layout = FieldLayout(dynamic=("u", "v"))
        self.learned = ("diffusivity_u", "diffusivity_v") + (("feed", "kill") if cfg.learn_rates else ())
        self.positive_params = self.learned

    # ---------------------------------------------------------------- parameters

    @property
    def diffusivity_bound(self) -> float:
        """Stability bound of explicit diffusion alone per substep: D ≤ 1/(2·dt_sub·Σ 1/dx_d²)."""
        return explicit_diffusion_bound(self.dx, self.cfg.dt / self.cfg.substeps)

    def diffusivity_bounds(self, feed, kill):
        """Bounds on (D_u, D_v) for which a forward-Euler substep is stable about the homogeneous
        state (u, v) = (1, 0), where the linear decay rates are f for u and f + k for v:
        dt_sub·(4 D Σ 1/dx_d² + rate) ≤ 2, i.e. D ≤ diffusivity_bound · (1 - dt_sub·rate/2).
        With f = k = 0 both reduce to `diffusivity_bound`."""
        dt_sub = self.cfg.dt / self.cfg.substeps
        return (self.diffusivity_bound * (1 - dt_sub * feed / 2),
                self.diffusivity_bound * (1 - dt_sub * (feed + kill) / 2))

    def _params(self, which: str) -> Params:
        return {name: jnp.asarray(getattr(getattr(self.cfg, name), which), jnp.float32) for name in self.learned}

    def init_params(self) -> Params:
        return self._params("init")

    def true_params(self) -> Params:
        return self._params("true")

    def constrain(self, params: Params) -> Params:
        """f and k (if learned) into (0, 1/dt_sub]; then D_u, D_v into (0, `diffusivity_bounds(f, k)`]."""
        out = dict(params)
        rate_max = self.cfg.substeps / self.cfg.dt  # keeps dt_sub·(f + k) ≤ 2, so the D bounds stay ≥ 0
        for name in ("feed", "kill"):
            if name in params:
                out[name] = jnp.clip(params[name], 1e-8, rate_max).astype(jnp.float32)
        f = out["feed"] if "feed" in out else self.cfg.feed.true
        k = out["kill"] if "kill" in out else self.cfg.kill.true
        bound_u, bound_v = self.diffusivity_bounds(f, k)
        out["diffusivity_u"] = jnp.clip(params["diffusivity_u"], 1e-8, bound_u).astype(jnp.float32)
        out["diffusivity_v"] = jnp.clip(params["diffusivity_v"], 1e-8, bound_v).astype(jnp.float32)
        return out

    # ---------------------------------------------------------------- dynamics

    def sample_initial_state(self, key: jax.Array, n: int) -> jax.Array:
        """u = 1, v = 0 with `num_squares` random squares where (u, v) = (0.5, 0.25), plus uniform noise.

        Returns ``[n, *spatial, 2]``. Squares wrap around the periodic boundary.
        """
        init = self.cfg.initial_state
        k_pos, k_noise = jax.random.split(key)
        ndim = len(self.dims)
        centres = jax.random.uniform(k_pos, (n, init.num_squares, ndim), jnp.float32)  # fraction of the domain
        inside = jnp.ones((n, init.num_squares) + (1,) * ndim, bool)  # [n, squares, *spatial] after the loop
        for d, size in enumerate(self.spatial_shape):
            frac = (jnp.arange(size, dtype=jnp.float32) + 0.5) / size
            dist = jnp.abs((frac[None, None, :] - centres[..., d, None] + 0.5) % 1.0 - 0.5)  # periodic
            shape = (n, init.num_squares) + tuple(size if e == d else 1 for e in range(ndim))
            inside = inside & (dist <= init.square_size / 2).reshape(shape)
        inside = jnp.any(inside, axis=1)
        u = jnp.where(inside, _SQUARE_U, 1.0)
        v = jnp.where(inside, _SQUARE_V, 0.0)
        noise = jax.random.uniform(k_noise, (n,) + self.spatial_shape + (2,), jnp.float32, -1.0, 1.0)
        state = jnp.stack([u, v], -1) + init.noise * noise
        return jnp.clip(state, 0.0, 1.0).astype(jnp.float32)

    def step(self, state: jax.Array, params: Params) -> jax.Array:
        """One time step of a single state ``[*spatial, 2]``: `substeps` forward-Euler substeps."""
        du, dv = params["diffusivity_u"], params["diffusivity_v"]
        f = params["feed"] if "feed" in params else self.cfg.feed.true
        k = params["kill"] if "kill" in params else self.cfg.kill.true
        dt_sub = self.cfg.dt / self.cfg.substeps
        names = ",".join(self.dims)

        def substep(x):
            s = math.tensor(x, spatial(names), channel("c"))
            u, v = s.c[0], s.c[1]
            uvv = u * v * v
            u_new = u + dt_sub * (div_k_grad(u, du, self.dx, self.dims) - uvv + f * (1 - u))
            v_new = v + dt_sub * (div_k_grad(v, dv, self.dx, self.dims) + uvv - (f + k) * v)
            return math.stack([u_new, v_new], channel("c")).native(self.dims + ("c",)).astype(x.dtype)

        return iterate(substep, self.cfg.substeps, state)
