"""PDE families on PhiFlow's JAX backend. `build_pde(cfg.physics)` picks one by name."""

from hybrid_jax.physics.advection_diffusion import AdvectionDiffusion
from hybrid_jax.physics.base import PDE, FieldLayout, Params
from hybrid_jax.physics.burgers import Burgers
from hybrid_jax.physics.burgers_potential import BurgersPotential
from hybrid_jax.physics.gray_scott import GrayScott
from hybrid_jax.physics.smoke import Smoke

_FAMILIES = {
    "burgers": Burgers,
    "advection_diffusion": AdvectionDiffusion,
    "burgers_potential": BurgersPotential,
    "gray_scott": GrayScott,
    "smoke": Smoke,
}


def build_pde(physics_cfg) -> PDE:
    """The PDE object of a physics config section (dispatch on its `name`)."""
    return _FAMILIES[physics_cfg.name](physics_cfg)


__all__ = ["PDE", "FieldLayout", "Params", "AdvectionDiffusion", "Burgers", "BurgersPotential", "GrayScott",
           "Smoke", "build_pde"]
