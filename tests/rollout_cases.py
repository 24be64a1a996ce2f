"""The case table of the shared numerics checks (tests/test_rollout_families.py): one small
configuration per PDE family and scheme variant, each built and compiled once per test session, and
the helpers the rollout tests share. An ordinary module, imported explicitly (not collected).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp

from hybrid_jax.config import PhysicsConfig, from_dict
from hybrid_jax.physics import build_pde


def make(name: str, **physics):
    """A PDE object from a physics section (validated like a config file's)."""
    return build_pde(from_dict(PhysicsConfig, {"name": name, **physics}, "physics"))


def check(label: str, error: float, tol: float) -> None:
    print(f"\n[{label}] error={error:.3e} tolerance={tol:.3e}")
    assert error <= tol, f"{label}: error {error:.3e} > tolerance {tol:.3e}"


def n_steps(pde, n: int):
    """Jitted ``(state, params) -> state`` after `n` steps (params are an argument: no re-trace)."""
    return jax.jit(lambda s, p: jax.lax.fori_loop(0, n, lambda _, x: pde.step(x, p), s))


def to64(tree):
    return jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), tree)


@dataclass(frozen=True)
class Case:
    """One row of the table: a family, its physics section, and what the shared checks allow it."""

    family: str  # physics.name
    physics: dict
    vmap_tol: float = 1e-6  # vmap vs loop, relative to the field: float32 round-off (~1e-7) by default;
    # a pressure solve (CG) under vmap iterates until every sample has converged: up to its tolerance
    gradient: dict = field(default_factory=dict)  # physics overrides of the float64 gradient check
    moving: bool = False  # the states are one step from the prior's (a fluid at rest has no flow to check)
    fields_only: bool = False  # every parameter is a field that acts on the step (the check asserts it)


CG = 1e-5  # vmap tolerance of the families with a pressure solve
CASES = {
    "advection_diffusion": Case("advection_diffusion", dict(
        resolution=[16, 16], velocity={"kind": "vortex", "amplitude": 0.5},
        diffusivity={"true": 0.005, "bump": 1.0, "learnable": "field"}, initial_state={"offset": 0.5})),
    "advection_diffusion_1d": Case("advection_diffusion", dict(
        resolution=[16], domain=[1.0], velocity={"kind": "constant", "value": [0.5]})),
    "burgers_potential": Case("burgers_potential", dict(resolution=[16, 16], potential={"phases": [0.0, 1.0, 2.0]})),
    "gray_scott": Case("gray_scott", dict(resolution=[16, 16], domain=[16.0, 16.0], dt=3.0, substeps=3,
                                          learn_rates=True)),
    "smoke": Case("smoke", dict(resolution=[16, 16], buoyancy={"bump": 0.5, "learnable": "field"},
                                viscosity={"learnable": True, "true": 0.002},
                                initial_state={"velocity_amplitude": 0.5}),
                  vmap_tol=CG, gradient={"pressure": {"tolerance": 1e-12, "max_iterations": 2000}}),
    "burgers3d": Case("burgers", dict(resolution=[8, 8, 8], domain=[1.0, 1.0, 1.0], dt=0.01, substeps=2,
                                      advection="maccormack", viscosity={"true": 0.01}),
                      gradient={"substeps": 1}),  # Burgers unrolls its substeps: one keeps the float64 compile short
    "vortex_advection": Case("vortex_advection", dict(resolution=[16, 16], dt=0.2), fields_only=True),
    "vortex_semi_lagrangian": Case("vortex_advection", dict(resolution=[16, 16], dt=0.2, advection="semi_lagrangian"),
                                   fields_only=True),
    "heat": Case("heat", dict(resolution=[12, 12], dt=1e-3)),
    "closed_smoke": Case("closed_smoke", dict(resolution=[16, 16], dt=0.05, buoyancy={"bump": 0.5}), vmap_tol=CG,
                         gradient={"pressure": {"tolerance": 1e-12, "max_iterations": 2000}}, moving=True,
                         fields_only=True),
}

TRACES: dict[str, list] = {}  # case -> one entry per trace of its shared jitted step


@functools.lru_cache(maxsize=None)
def family(key: str):
    """(pde, states [3, *spatial, C], true params, jitted step) of a case of CASES.

    The step is compiled once per session; every trace appends to TRACES[key]. A `moving` case's
    states are one buoyant step from the prior's (same shapes: no new trace).
    """
    case = CASES[key]
    pde = make(case.family, **case.physics)
    x = pde.sample_initial_state(jax.random.key(0), 3)
    traces = TRACES.setdefault(key, [])

    def counted(state, params):
        traces.append(1)
        return pde.step(state, params)

    step = jax.jit(counted)
    if case.moving:
        x = jnp.stack([step(s, pde.true_params()) for s in x])
    return pde, x, pde.true_params(), step
