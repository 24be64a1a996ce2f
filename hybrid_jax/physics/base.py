"""What every PDE family provides, and the shared periodic-grid config.

A family is one module (ours or a user's) exposing a :class:`Family`: its config dataclass
(the ``physics`` section, tagged by ``name``) and its PDE class, built from that config.
A state is a float32 array ``[*spatial, C]``, channels last, dynamic channels first
(predicted by the network) and static channels after them (read, never predicted).
Parameters are a dict pytree of float32 arrays (scalars or fields ``[*spatial]``).
Nothing here imports PhiFlow.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Protocol

import jax
import jax.numpy as jnp

from hybrid_jax.config import ConfigError, PhysicsConfig, option, positive
from hybrid_jax.physics.coefficients import explicit_diffusion_bound

Params = dict[str, jax.Array]


@dataclass(frozen=True)
class FieldLayout:
    """Channel names of a state: `dynamic` ones are predicted, `static` ones only read."""

    dynamic: tuple[str, ...]
    static: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return self.dynamic + self.static

    @property
    def num_dynamic(self) -> int:
        return len(self.dynamic)

    @property
    def num_channels(self) -> int:
        return len(self.dynamic) + len(self.static)


class PDE(Protocol):
    """The protocol of a physics module (see `burgers.Burgers` for an implementation). Optional attribute:
    ``staggered = True`` when some channels are not cell-centred (data.truth.refine.space is refused)."""

    layout: FieldLayout
    spatial_shape: tuple[int, ...]
    periodic: bool
    positive_params: tuple[str, ...]  # optimised in log space by the physical trainer

    def init_params(self) -> Params: ...

    def true_params(self) -> Params: ...

    def step(self, state: jax.Array, params: Params) -> jax.Array: ...

    def sample_initial_state(self, key: jax.Array, n: int) -> jax.Array: ...

    def constrain(self, params: Params) -> Params: ...


@dataclass(frozen=True)
class Family:
    """A PDE family: its `name` (the ``physics.name`` that selects it), its config dataclass (a
    frozen dataclass deriving from `PhysicsConfig` whose `name` field defaults to `name`, with
    `resolution` and `domain` fields) and `pde`, which builds the PDE object from a config."""

    name: str
    config: type
    pde: Callable[[Any], PDE]  # called with the family's own config dataclass


def encode_physical(pde: PDE, params: Params) -> Params:
    """Physical parameters -> optimised ones: log for the PDE's positive parameters."""
    return {k: jnp.log(v) if k in pde.positive_params else v for k, v in params.items()}


def decode_physical(pde: PDE, raw: Params) -> Params:
    """Optimised parameters -> physical ones, constrained (positivity, stability bound).

    The constraint's value is used, with a straight-through gradient: beyond a clip the loss is
    flat, so a zero gradient there would stall Adam for good and let a line search accept any
    overshoot (its curvature condition holds trivially); the gradient at the clip points back.
    The value is exactly the constrained one however far the optimised parameter has moved past
    the clip (``fixed·exp(θ − sg θ)``, not ``free + sg(fixed − free)``, whose float32 cancellation
    returned 0.0039 for a clip at 0.002 once exp θ reached 3.6e4); beyond the clip a positive
    parameter's gradient is the one at the clip.
    """
    free = {k: jnp.exp(v) if k in pde.positive_params else v for k, v in raw.items()}
    fixed = pde.constrain(free)

    def through(k):
        delta = raw[k] - jax.lax.stop_gradient(raw[k])  # 0 exactly; its gradient is 1
        return fixed[k] * jnp.exp(delta) if k in pde.positive_params else fixed[k] + delta

    return {k: through(k) if k in raw else fixed[k] for k in fixed}


def check_family(name: str, family) -> None:
    """Refuse a malformed registry entry with a one-line TypeError/ValueError."""
    if not isinstance(family, Family):
        raise TypeError(f"family {name!r}: expected a hybrid_jax.Family, got {type(family).__name__}")
    cfg = family.config
    if not (dataclasses.is_dataclass(cfg) and issubclass(cfg, PhysicsConfig)):
        raise TypeError(f"family {name!r}: its config must be a dataclass deriving from hybrid_jax.PhysicsConfig")
    fields = {f.name: f for f in dataclasses.fields(cfg)}
    if family.name != name or fields.get("name") is None or fields["name"].default != name:
        raise ValueError(f"family {name!r}: the family's name and its config's `name` default must both be {name!r}")
    if not {"resolution", "domain"} <= set(fields):
        raise ValueError(f"family {name!r}: its config needs `resolution` and `domain` fields")


def _resolution_ok(v) -> bool:
    return 1 <= len(v) <= 3 and all(n >= 4 for n in v)


def domain_option(default: tuple[float, ...] = (1.0, 1.0)):
    return option(default, "physical size per dimension (periodic box)",
                  lambda v: all(x > 0 for x in v), "must be > 0 in every dimension")


def substeps_option(default: int, doc: str):
    return option(default, doc, lambda v: v >= 1, "must be >= 1")


@dataclass(frozen=True)
class PeriodicGridConfig(PhysicsConfig):
    """Fields and checks shared by the families on a periodic box of `resolution` cells.

    A subclass redefines `name` (a ``Literal`` of its own name), may redefine the defaults of
    `domain` and `dt`, sets `ndims` (the allowed numbers of dimensions) and adds its checks in
    `validate` (called after the grid's).
    """

    ndims: ClassVar[tuple[int, ...]] = (1, 2, 3)

    name: str = option("", "PDE family")
    resolution: tuple[int, ...] = option((32, 32), "cells per spatial dimension (1, 2 or 3 entries)",
                                         _resolution_ok, "must have 1-3 entries, each >= 4")
    domain: tuple[float, ...] = domain_option()
    dt: float = positive(0.01, "time step of one solver step (time units)")

    def __post_init__(self):
        if len(self.resolution) not in self.ndims:
            raise ConfigError(f"physics.resolution: must have {' or '.join(map(str, self.ndims))} entries, "
                              f"got {len(self.resolution)}")
        if len(self.domain) != len(self.resolution):
            raise ConfigError(f"physics.domain: must have as many entries as physics.resolution "
                              f"({len(self.resolution)}), got {len(self.domain)}")
        self.validate()

    def validate(self) -> None:
        """Family-specific checks (stability bounds, shapes); raise ConfigError naming the key."""

    @property
    def dx(self) -> tuple[float, ...]:
        """Cell size per dimension (domain units)."""
        return tuple(length / n for length, n in zip(self.domain, self.resolution))

    def diffusion_bound(self) -> float:
        """Forward-Euler stability bound of ∇·(D∇·) per substep: D ≤ 1/(2·dt_sub·Σ 1/dx_d²)."""
        return explicit_diffusion_bound(self.dx, self.dt / getattr(self, "substeps", 1))
