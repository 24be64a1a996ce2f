"""PDE families on PhiFlow's JAX backend, one module each, found by name in a lazy registry.

`build_pde(cfg.physics)` builds the PDE of a physics section; `register_family` adds a family
(a user's PDE) under a new ``physics.name``. Importing this package imports no family module
and no PhiFlow: a family is imported when its name is first used.
"""

from __future__ import annotations

import importlib

from hybrid_jax._registry import families


def register_family(family, name: str | None = None) -> None:
    """Make a PDE family available as ``physics.name: <name>`` in configs.

    `family` is a `hybrid_jax.Family` (name, config dataclass, PDE class) or the import path
    ``"package.module:ATTRIBUTE"`` of one (imported when the name is first used; then `name` is
    required). An installed package can do the same through the entry-point group
    ``hybrid_jax.families`` (see README, "Use as a library").
    """
    if isinstance(family, str):
        if name is None:
            raise ValueError("register_family: a family given by import path needs its name")
        families.register(name, family)
    else:
        families.register(name or family.name, family)


def build_pde(physics_cfg):
    """The PDE object of a physics config section (dispatch on its `name`); sets up PhiFlow's JAX
    backend first (`hybrid_jax.setup`). A family that states no stability bound is checked (and
    sub-stepped with ``substeps: auto``) first: `hybrid_jax.physics.stability`."""
    from hybrid_jax.backend import setup
    from hybrid_jax.physics.stability import checked_build

    setup()
    return checked_build(families.get(physics_cfg.name), physics_cfg)


_LAZY = {"PDE": "base", "FieldLayout": "base", "Params": "base", "Family": "base",
         "AdvectionDiffusion": "advection_diffusion", "Burgers": "burgers", "BurgersPotential": "burgers_potential",
         "GrayScott": "gray_scott", "Smoke": "smoke", "ClosedSmoke": "closed_smoke",
         "VortexAdvection": "vortex_advection"}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f"hybrid_jax.physics.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'hybrid_jax.physics' has no attribute {name!r}")


__all__ = ["PDE", "FieldLayout", "Params", "Family", "AdvectionDiffusion", "Burgers", "BurgersPotential",
           "GrayScott", "Smoke", "ClosedSmoke", "VortexAdvection", "build_pde", "families", "register_family"]
