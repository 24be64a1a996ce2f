"""Automatic stability of explicit families that state no bound (a user's family, typically).

A family states its bound through `LearnedCoefficients.bounds`. When its `bounds` returns None,
the library estimates it instead (`checked_build`, called by `build_pde`): one forward-Euler step
u ↦ u + dt·f(u) is stable when the spectral radius ρ of its increment's Jacobian dt·∂f/∂u is at
most 2 (the stability interval [−2, 0] of forward Euler on the real axis: exact for diffusion and
reaction terms, whose spectra are real). ρ is estimated by power iteration of the step's
Jacobian-vector product (`jax.jvp`, dynamic channels only) at a few initial states of the prior,
with the coefficients at every corner of their checked range (`ranges`). With ``substeps: auto``
the family gets the fewest substeps n with ρ/n ≤ 2 (ρ is measured with one substep; n equal
substeps split the increment by n); with a given number, or without a `substeps` key, a step
beyond the limit is refused with one line. Training then keeps each coefficient inside its
checked range (`LearnedCoefficients.constrain`), and the summary reports the range.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import logging
import math

import jax
import jax.numpy as jnp

from hybrid_jax.errors import ConfigError

log = logging.getLogger("hybrid_jax")

LIMIT = 2.0  # forward Euler: |1 + λ| ≤ 1 on the negative real axis reaches λ = −2
MARGIN = 1.05  # power iteration approaches ρ from below: substeps for 5 % more than the estimate
ITERATIONS = 40
STATES = 4


def ranges(pde) -> dict[str, tuple[float, float]]:
    """The checked range [lo, hi] of each learned coefficient: its ``range`` key, or by default
    [min(true, init)/2, 2·max(peak true, init)]."""
    out = {}
    for name, c in pde.coefficients().items():
        given = getattr(c, "range", None)
        lo, hi = given if given is not None else (min(c.true, c.init) / 2, 2 * max(c.peak, c.init))
        out[name] = (float(lo), float(hi))
    return out


def increment_radius(pde, params: dict, states: jax.Array, key: jax.Array, iterations: int = ITERATIONS) -> jax.Array:
    """Estimated spectral radius of v ↦ ∂step(u)/∂u·v − v on the dynamic channels, the largest
    over `states` ``[S, *spatial, C]``: `iterations` power iterations from random vectors."""
    nd = pde.layout.num_dynamic

    def radius(u, v):
        def increment(w):
            tangent = jnp.concatenate([w, jnp.zeros_like(u[..., nd:])], -1)
            _, out = jax.jvp(lambda x: pde.step(x, params), (u,), (tangent,))
            return out[..., :nd] - w

        def body(_, carry):
            w, _ = carry
            g = increment(w)
            norm = jnp.linalg.norm(g)
            return g / jnp.maximum(norm, 1e-30), norm

        w = v / jnp.linalg.norm(v)
        return jax.lax.fori_loop(0, iterations, body, (w, jnp.zeros((), jnp.float32)))[1]

    v = jax.random.normal(key, states.shape[:-1] + (nd,), jnp.float32)
    return jnp.max(jax.vmap(radius)(states, v))


def _corners(pde, limits: dict[str, tuple[float, float]]):
    """Parameter dicts at every corner of the ranges (scalars, or uniform fields for field coefficients)."""
    coefficients = pde.coefficients()
    for values in itertools.product(*limits.values()):
        yield {name: coefficients[name]._value(v, pde) for name, v in zip(limits, values)}


def _describe(limits, cfg) -> str:
    return ", ".join(f"{name} in [{lo:.4g}, {hi:.4g}]" for name, (lo, hi) in limits.items()) + f", dt {cfg.dt:g}"


@functools.lru_cache(maxsize=64)
def _estimate(family, cfg) -> tuple[float, dict]:
    """(ρ with one substep at the worst corner, the checked ranges) of a physics config."""
    probe_cfg = dataclasses.replace(cfg, substeps=1) if hasattr(cfg, "substeps") else cfg
    probe = family.pde(probe_cfg)
    limits = ranges(probe)
    for name, c in probe.coefficients().items():
        lo, hi = limits[name]
        if not 0 < lo < hi or not lo <= c.true <= c.peak <= hi:
            raise ConfigError(f"physics.{name}.range: must be 0 < lo < hi and hold the true value {c.peak:g}, "
                              f"got [{lo:g}, {hi:g}]")
    key_states, key_vectors = jax.random.split(jax.random.key(0))
    states = probe.sample_initial_state(key_states, STATES)
    radius = jax.jit(lambda p: increment_radius(probe, p, states, key_vectors))
    rho = max(float(radius(p)) for p in _corners(probe, limits))
    if not math.isfinite(rho):
        raise ConfigError(f"physics: the step's Jacobian is not finite at {_describe(limits, cfg)}")
    return rho, limits


def states_no_bound(pde) -> bool:
    """Whether `pde` has learned coefficients and states no bound for them (`bounds` is None)."""
    return hasattr(pde, "coefficients") and pde.bounds(pde.init_params()) is None


def checked_build(family, cfg):
    """The PDE of `cfg`; for a family without a stated bound, checked (and sub-stepped with
    ``substeps: auto``) as the module docstring says, with `checked_range` and `stability` set."""
    pde = family.pde(cfg if getattr(cfg, "substeps", 1) != "auto" else dataclasses.replace(cfg, substeps=1))
    if not states_no_bound(pde):
        if getattr(cfg, "substeps", None) == "auto":
            raise ConfigError(f"physics.substeps: auto is for families without a stated bound; {cfg.name} states one")
        return pde
    rho, limits = _estimate(family, cfg)
    needed = max(1, math.ceil(MARGIN * rho / LIMIT))
    substeps = getattr(cfg, "substeps", None)
    if substeps == "auto":
        substeps = needed
        pde = family.pde(dataclasses.replace(cfg, substeps=substeps))
    elif needed > (substeps or 1):
        fix = f"set physics.substeps: auto (or >= {needed})" if substeps is not None else "lower physics.dt"
        raise ConfigError(f"physics: the explicit step is unstable for {_describe(limits, cfg)}"
                          f"{'' if substeps is None else f' and {substeps} substeps'} (estimated increment radius "
                          f"{rho / (substeps or 1):.3g} per substep, above {LIMIT / MARGIN:.3g}: {LIMIT:g} less a "
                          f"5 % margin); {fix}, or narrow {' or '.join(f'physics.{k}.range' for k in limits)}")
    log.info("physics: %s states no stability bound; estimated increment radius %.3g per step at %s: %d substep(s)",
             cfg.name, rho, _describe(limits, cfg), substeps or 1)
    pde.checked_range = limits
    pde.stability = {"increment_radius": rho, "substeps": int(substeps or 1), "dt": float(cfg.dt)}
    return pde
