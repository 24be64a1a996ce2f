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

from dataclasses import dataclass
from typing import Literal

import jax
import jax.numpy as jnp
from phi import math
from phi.flow import channel, spatial

from hybrid_jax.typed_config import nonnegative, option, positive, section
from hybrid_jax.physics._grid import PeriodicBox, iterate
from hybrid_jax.physics.base import Family, FieldLayout, Params, PeriodicGridConfig, domain_option, substeps_option
from hybrid_jax.physics.coefficients import Coefficient, LearnedCoefficients, coefficient
from hybrid_jax.physics.operators import div_k_grad

_INSIDE = (0.5, 0.25)  # (u, v) inside a seeded square (Pearson 1993)
_D_UNIT = "domain units² / time unit"
DiffusivityU = coefficient("diffusivity", "D_u", _D_UNIT, true=0.16, init=0.1)
DiffusivityV = coefficient("diffusivity", "D_v", _D_UNIT, true=0.08, init=0.05)
Feed = coefficient("feed rate", "f", "1 / time unit", true=0.037, init=0.03)
Kill = coefficient("kill rate", "k", "1 / time unit", true=0.06, init=0.05)


@dataclass(frozen=True)
class SquaresPrior:
    num_squares: int = positive(3, "random squares per initial state where (u, v) = `inside`")
    square_size: float = option(0.15, "side of a square (a disc's diameter), as a fraction of the domain side",
                                lambda v: 0 < v < 1, "must be in (0, 1)")
    noise: float = nonnegative(0.02, "amplitude of the uniform noise added to u and v")
    shape: Literal["square", "disc"] = option("square", "shape of each seeded patch (disc: the HYCO papers' "
                                                        "Gray–Scott start, a disc of diameter square_size)")
    centres: tuple[tuple[float, ...], ...] = option(
        (), "fixed patch centres, one [d] list each as fractions of the domain (then num_squares is their number); "
            "empty: random from the seed", lambda v: all(0 <= c <= 1 for p in v for c in p), "must be in [0, 1]")
    inside: tuple[float, float] = option(_INSIDE, "(u, v) inside a patch (Pearson 1993: 0.5, 0.25; the HYCO "
                                                  "papers: 0.5, 0.5)")


@dataclass(frozen=True)
class GrayScottConfig(PeriodicGridConfig):
    """u_t = D_u Δu - uv² + f(1-u),  v_t = D_v Δv + uv² - (f+k)v, periodic."""

    name: Literal["gray_scott"] = option("gray_scott", "PDE family")
    domain: tuple[float, ...] = domain_option((32.0, 32.0))
    dt: float = positive(10.0, "time step of one solver step (time units)")
    substeps: int = substeps_option(10, "forward-Euler substeps per step")
    diffusivity_u: DiffusivityU = section(DiffusivityU, "learnable diffusivity D_u")
    diffusivity_v: DiffusivityV = section(DiffusivityV, "learnable diffusivity D_v")
    feed: Feed = section(Feed, "feed rate f (learned when physics.learn_rates)")
    kill: Kill = section(Kill, "kill rate k (learned when physics.learn_rates)")
    learn_rates: bool = option(False, "also learn f and k (otherwise they are known and fixed at their true values)")
    initial_state: SquaresPrior = section(SquaresPrior, "seeded square perturbations")

    @property
    def rate_bound(self) -> float:
        """Largest feed or kill rate: keeps dt_sub·(f + k) ≤ 2, so the diffusivity bounds stay ≥ 0."""
        return self.substeps / self.dt

    def diffusivity_bounds(self, feed, kill):
        """Bounds on (D_u, D_v) for which a forward-Euler substep is stable about the homogeneous
        state (u, v) = (1, 0), where the linear decay rates are f for u and f + k for v:
        dt_sub·(4 D Σ 1/dx_d² + rate) ≤ 2, i.e. D ≤ diffusion_bound · (1 - dt_sub·rate/2).
        With f = k = 0 both reduce to `diffusion_bound`."""
        dt_sub, bound = self.dt / self.substeps, self.diffusion_bound()
        return bound * (1 - dt_sub * feed / 2), bound * (1 - dt_sub * (feed + kill) / 2)

    def validate(self):
        bound_u, bound_v = self.diffusivity_bounds(self.feed.true, self.kill.true)
        self.diffusivity_u.check("physics.diffusivity_u", bound_u)
        self.diffusivity_v.check("physics.diffusivity_v", bound_v)


class GrayScott(PeriodicBox, LearnedCoefficients):
    """Gray–Scott PDE built from a `GrayScottConfig` (see the module docstring)."""

    def __init__(self, cfg: GrayScottConfig):
        super().__init__(cfg)
        self.layout = FieldLayout(dynamic=("u", "v"))

    # ---------------------------------------------------------------- parameters

    @property
    def diffusivity_bound(self) -> float:
        """Stability bound of explicit diffusion alone per substep: D ≤ 1/(2·dt_sub·Σ 1/dx_d²)."""
        return self.cfg.diffusion_bound()

    def coefficients(self):
        names = ("diffusivity_u", "diffusivity_v") + (("feed", "kill") if self.cfg.learn_rates else ())
        return {name: getattr(self.cfg, name) for name in names}

    def bounds(self, params):
        """f and k (if learned) ≤ `rate_bound`; D_u, D_v ≤ the config's `diffusivity_bounds` at the
        constrained f and k."""
        rate = self.cfg.rate_bound
        f, k = (Coefficient.constrain(params[n], rate) if n in params else getattr(self.cfg, n).true
                for n in ("feed", "kill"))
        bound_u, bound_v = self.cfg.diffusivity_bounds(f, k)
        return {"feed": rate, "kill": rate, "diffusivity_u": bound_u, "diffusivity_v": bound_v}

    # ---------------------------------------------------------------- dynamics

    def sample_initial_state(self, key: jax.Array, n: int) -> jax.Array:
        """u = 1, v = 0 with `num_squares` patches (squares or discs, at random or fixed centres) where
        (u, v) = `inside`, plus uniform noise.

        Returns ``[n, *spatial, 2]``. Patches wrap around the periodic boundary; a disc's distance is
        measured in domain units (a circle also on a non-square domain).
        """
        init = self.cfg.initial_state
        k_pos, k_noise = jax.random.split(key)
        ndim = len(self.dims)
        if init.centres:
            if any(len(c) != ndim for c in init.centres):
                raise ValueError(f"physics.initial_state.centres: each centre needs {ndim} entries")
            centres = jnp.broadcast_to(jnp.asarray(init.centres, jnp.float32), (n, len(init.centres), ndim))
        else:
            centres = jax.random.uniform(k_pos, (n, init.num_squares, ndim), jnp.float32)  # fraction of the domain
        count, sizes = centres.shape[1], jnp.asarray(self.cfg.domain, jnp.float32)
        metric = jnp.zeros((n, count) + (1,) * ndim, jnp.float32)  # [n, patches, *spatial] after the loop
        for d, size in enumerate(self.spatial_shape):
            frac = (jnp.arange(size, dtype=jnp.float32) + 0.5) / size
            dist = jnp.abs((frac[None, None, :] - centres[..., d, None] + 0.5) % 1.0 - 0.5)  # periodic
            dist = dist.reshape((n, count) + tuple(size if e == d else 1 for e in range(ndim)))
            if init.shape == "disc":
                metric = metric + (dist * sizes[d] / jnp.min(sizes)) ** 2
            else:
                metric = jnp.maximum(metric, dist)
        radius = init.square_size / 2
        inside = jnp.any(metric <= (radius ** 2 if init.shape == "disc" else radius), axis=1)
        u = jnp.where(inside, init.inside[0], 1.0)
        v = jnp.where(inside, init.inside[1], 0.0)
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


FAMILY = Family("gray_scott", GrayScottConfig, GrayScott)
