"""A PDE family defined outside hybrid_jax: Fisher–KPP, u_t = D Δu + r u (1 - u), periodic.

D (diffusivity) and r (reaction rate) are learnable. This one file is the whole family: its
config section, its PDE and its registration. Use it from Python::

    python examples/fisher_kpp.py            # trains hybrid, prints the recovered D and r

or from the command line, through the config's ``plugins`` key::

    python -m hybrid_jax.train --config examples/fisher_kpp.yaml

Scheme: `substeps` forward-Euler substeps per step of the (2d+1)-point Laplacian (any number
of dimensions), stable for D ≤ 1/(2·dt_sub·Σ 1/dx²) (checked when the config loads and enforced
on the learned D) and r ≤ 1/dt_sub. Units: lengths in domain units, time in the units of dt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import jax
import jax.numpy as jnp

import hybrid_jax as hj

Diffusivity = hj.coefficient("diffusivity", "D", "domain units² / time unit", true=0.002, init=0.001)
Rate = hj.coefficient("reaction rate", "r", "1 / time unit", true=2.0, init=1.0)


@dataclass(frozen=True)
class FisherKPPConfig(hj.PeriodicGridConfig):
    """The ``physics`` section of ``name: fisher_kpp`` (plus resolution, domain, dt)."""

    name: Literal["fisher_kpp"] = hj.option("fisher_kpp", "PDE family")
    substeps: int = hj.option(4, "forward-Euler substeps per step", lambda v: v >= 1, "must be >= 1")
    diffusivity: Diffusivity = hj.section(Diffusivity, "learnable diffusivity D")
    rate: Rate = hj.section(Rate, "learnable reaction rate r")
    bumps: int = hj.option(3, "random Gaussian bumps of u per initial state", lambda v: v >= 1, "must be >= 1")
    width: float = hj.option(0.05, "standard deviation of a bump, fraction of the domain",
                             lambda v: 0 < v < 0.5, "must be in (0, 0.5)")

    def validate(self):
        self.diffusivity.check("physics.diffusivity", self.diffusion_bound())


class FisherKPP(hj.LearnedCoefficients):
    """The PDE object: layout, prior, step; parameters come from `LearnedCoefficients`."""

    periodic = True

    def __init__(self, cfg: FisherKPPConfig):
        self.cfg, self.dx, self.spatial_shape = cfg, cfg.dx, tuple(cfg.resolution)
        self.layout = hj.FieldLayout(dynamic=("u",))

    def coefficients(self):
        return {"diffusivity": self.cfg.diffusivity, "rate": self.cfg.rate}

    def bounds(self, params):
        return {"diffusivity": self.cfg.diffusion_bound(), "rate": self.cfg.substeps / self.cfg.dt}

    def sample_initial_state(self, key: jax.Array, n: int) -> jax.Array:
        """`n` states ``[n, *spatial, 1]``: a sum of Gaussian bumps at random places, clipped to [0, 1]."""
        ndim, cfg = len(self.spatial_shape), self.cfg
        centres = jax.random.uniform(key, (n, cfg.bumps, ndim), jnp.float32)  # fraction of the domain
        r2 = 0.0
        for d, size in enumerate(self.spatial_shape):
            x = (jnp.arange(size, dtype=jnp.float32) + 0.5) / size
            dist = (x - centres[..., d, None] + 0.5) % 1.0 - 0.5  # periodic
            r2 = r2 + (dist**2).reshape((n, cfg.bumps) + tuple(size if e == d else 1 for e in range(ndim)))
        u = jnp.sum(jnp.exp(-r2 / (2 * cfg.width**2)), axis=1)
        return jnp.clip(u, 0.0, 1.0)[..., None].astype(jnp.float32)

    def step(self, state: jax.Array, params: dict) -> jax.Array:
        """One time step of a single state ``[*spatial, 1]``."""
        d, r = params["diffusivity"], params["rate"]
        dt_sub = self.cfg.dt / self.cfg.substeps

        def substep(_, u):
            lap = sum((jnp.roll(u, -1, a) - 2 * u + jnp.roll(u, 1, a)) / h**2 for a, h in enumerate(self.dx))
            return (u + dt_sub * (d * lap + r * u * (1 - u))).astype(u.dtype)

        return jax.lax.fori_loop(0, self.cfg.substeps, substep, state[..., 0])[..., None]


FAMILY = hj.Family("fisher_kpp", FisherKPPConfig, FisherKPP)
hj.register_family(FAMILY)


if __name__ == "__main__":
    import sys
    from pathlib import Path

    config = Path(__file__).with_suffix(".yaml")
    result = hj.run_experiment(config, overrides=tuple(sys.argv[1:]), overwrite=True)
    true = hj.load_run(result.run_dir).true_params
    for name, value in result.learned.items():
        print(f"{name}: learned {float(value):.4g}, true {float(true[name]):.4g}")
