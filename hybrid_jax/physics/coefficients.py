"""The one learnable-coefficient type of every family: a viscosity, a diffusivity, a rate.

A coefficient is positive (optimised in log space), a scalar or a field ``[*spatial]``, has a
true value that generates the data (optionally times a Gaussian bump), an initial guess, and
optionally a stability bound. `coefficient(...)` makes its config dataclass (the YAML keys
``true``, ``init`` and, as asked, ``bump`` and ``learnable``); a PDE class that derives from
`LearnedCoefficients` gets ``init_params``, ``true_params``, ``positive_params`` and
``constrain`` from its `coefficients()` and `bounds()`. The bound is the same function in the
config check (`Coefficient.check`, at load time) and in `constrain` (on the learned values).
Nothing here imports PhiFlow.
"""

from __future__ import annotations

import dataclasses
from typing import Literal, Optional

import jax
import jax.numpy as jnp
import numpy as np

from hybrid_jax.errors import ConfigError
from hybrid_jax.typed_config import option, positive

_EPS = 1e-8  # the smallest value `constrain` lets a coefficient take


def explicit_diffusion_bound(dx: tuple[float, ...], dt: float) -> float:
    """Largest diffusivity for which forward-Euler ∇·(k∇·) with step `dt` is stable.

    Von Neumann: k·dt·Σ_d 4/dx_d² ≤ 2, i.e. k ≤ 1 / (2·dt·Σ_d 1/dx_d²) = dx²/(2·d·dt) for equal dx.
    """
    return 1.0 / (2.0 * dt * sum(1.0 / h**2 for h in dx))


def check_bound(key: str, value: float, bound: float) -> None:
    """Refuse a config value above a stability bound, naming the dotted key."""
    if value > bound:
        raise ConfigError(f"{key}: must be <= the explicit stability bound {bound:.4g} of this grid and time step "
                          f"(docs/physics.md; lower it, or raise physics.substeps), got {value!r}")


def cell_centres(shape: tuple[int, ...], dx: tuple[float, ...]) -> list[np.ndarray]:
    """Coordinates of the cell centres, one ``[*shape]`` float64 array per dimension."""
    axes = [(np.arange(n) + 0.5) * h for n, h in zip(shape, dx)]
    return np.meshgrid(*axes, indexing="ij")


def gaussian_bump(shape: tuple[int, ...], dx: tuple[float, ...], domain: tuple[float, ...]) -> np.ndarray:
    """exp(-|x-c|²/(2w²)) with c the domain centre and w = 0.15·L per dimension."""
    mesh = cell_centres(shape, dx)
    r2 = sum((m - length / 2) ** 2 / (0.15 * length) ** 2 for m, length in zip(mesh, domain))
    return np.exp(-r2 / 2)


class Coefficient:
    """Behaviour of the config dataclasses made by `coefficient` (fields: ``true``, ``init`` and
    optionally ``bump`` and ``learnable``)."""

    true: float
    init: float

    @property
    def learned(self) -> bool:
        """Whether the coefficient is learned (``learnable: false`` keeps `true` fixed)."""
        return getattr(self, "learnable", True) is not False

    @property
    def is_field(self) -> bool:
        return getattr(self, "learnable", None) == "field"

    @property
    def peak(self) -> float:
        """Largest true value over the grid (with a positive bump, at its centre)."""
        return self.true * max(1.0, 1.0 + getattr(self, "bump", 0.0))

    def check(self, key: str, bound: float) -> None:
        """Refuse a true value above `bound` (`key` is the coefficient's dotted section)."""
        check_bound(f"{key}.true", self.peak, bound)

    def _value(self, value: float, grid) -> jax.Array:
        if self.is_field:
            return jnp.full(grid.spatial_shape, value, jnp.float32)
        return jnp.asarray(value, jnp.float32)

    def initial(self, grid) -> jax.Array:
        """The initial guess: a float32 scalar, or a field ``grid.spatial_shape``."""
        return self._value(self.init, grid)

    def true_value(self, grid) -> jax.Array:
        """The true value; a field when a bump is configured (`grid` has spatial_shape, dx, cfg.domain)."""
        bump = getattr(self, "bump", 0.0)
        if bump == 0.0:
            return self._value(self.true, grid)
        shape = gaussian_bump(grid.spatial_shape, grid.dx, grid.cfg.domain)
        return jnp.asarray(self.true * (1 + bump * shape), jnp.float32)

    @staticmethod
    def constrain(value: jax.Array, bound: Optional[float | jax.Array] = None) -> jax.Array:
        """Clip into (0, bound] (into (0, ∞) without a bound), float32."""
        out = jnp.maximum(value, _EPS) if bound is None else jnp.clip(value, _EPS, bound)
        return out.astype(jnp.float32)


def _is_range(v) -> bool:
    return v is None or (len(v) == 2 and 0 < v[0] < v[1])


def coefficient(name: str, symbol: str, unit: str, *, true: float, init: float, bump: bool = False,
                learnable: Literal["shape", "switch", None] = None, zero_true: bool = False,
                ranged: bool = False) -> type:
    """A frozen config dataclass of one learnable coefficient (derived from `Coefficient`).

    `name`, `symbol`, `unit` word its docs ("viscosity", "ν", "domain units² / time unit").
    Keys: ``true`` (> 0, or >= 0 with `zero_true`), ``init`` (> 0); with `bump` a ``bump`` key
    (relative amplitude of a Gaussian bump on the true field); with ``learnable="shape"`` a key
    ``learnable: scalar | field``, with ``"switch"`` a key ``learnable: true | false`` (false: the
    true value is known and fixed); without, the family decides what is learned. With `ranged`, a key
    ``range: [lo, hi]`` (default null: [min(true, init)/2, 2·max(true, init)]): the values checked for
    stability and kept while training, for a family that states no bound (`LearnedCoefficients.bounds`).
    """
    true_doc = f"true {name} {symbol} ({unit}) that generates the data" + ("; 0: none" if zero_true else "")
    fields = [("true", float, option(true, true_doc, *((lambda v: v >= 0, "must be >= 0") if zero_true
                                                        else (lambda v: v > 0, "must be > 0"))))]
    if bump:
        fields.append(("bump", float, option(
            0.0, f"relative amplitude of a Gaussian bump added to the true field ({symbol}(x) = true·(1 + "
                 f"bump·exp(-|x-c|²/(2w²))), c the centre, w = 0.15·L)",
            lambda v: v > -1, f"must be > -1 ({name} stays positive)")))
    fields.append(("init", float, positive(init, f"initial guess of {symbol} for the learnable parameter")))
    if learnable == "shape":
        fields.append(("learnable", Literal["scalar", "field"],
                       option("scalar", f"learn {symbol} as one scalar or as a field on the grid")))
    elif learnable == "switch":
        fields.append(("learnable", bool, option(False, f"learn {symbol} as a scalar; otherwise `true` is known "
                                                        f"and fixed")))
    if ranged:
        fields.append(("range", Optional[tuple[float, ...]], option(
            None, f"[lo, hi]: the range of {symbol} checked for stability and kept while learning ({unit}); "
                  f"null: [min(true, init)/2, 2·max(true, init)]", _is_range, "must be [lo, hi] with 0 < lo < hi")))
    cls_name = "".join(w.capitalize() for w in name.replace("_", " ").split()) + "Coefficient"
    return dataclasses.make_dataclass(cls_name, fields, bases=(Coefficient,), frozen=True)


class LearnedCoefficients:
    """Mixin of a PDE whose parameters are coefficients (with `spatial_shape`, `dx`, `cfg`).

    A subclass defines `coefficients()` (the learned ones by parameter name) and, where a
    stability bound applies, `bounds(params)`.
    """

    def coefficients(self) -> dict[str, Coefficient]:
        raise NotImplementedError

    def bounds(self, params) -> dict[str, float] | None:
        """Upper bounds of the parameters, given the (unconstrained) parameters; ``{}``: none needed.
        None (the default): the family states none, and `build_pde` estimates the stable range
        (`hybrid_jax.physics.stability`), which `constrain` then keeps the coefficients inside."""
        return None

    @property
    def positive_params(self) -> tuple[str, ...]:
        return tuple(self.coefficients())

    def init_params(self) -> dict[str, jax.Array]:
        return {name: c.initial(self) for name, c in self.coefficients().items()}

    def true_params(self) -> dict[str, jax.Array]:
        return {name: c.true_value(self) for name, c in self.coefficients().items()}

    def constrain(self, params: dict[str, jax.Array]) -> dict[str, jax.Array]:
        """Each coefficient into (0, its bound], or into its checked range [lo, hi] (see `bounds`)."""
        bounds = self.bounds(params)
        if bounds is None:
            limits = getattr(self, "checked_range", {})
            return {**params, **{name: jnp.clip(params[name], *limits[name]).astype(jnp.float32) if name in limits
                                 else Coefficient.constrain(params[name])
                                 for name in self.coefficients() if name in params}}
        return {**params, **{name: Coefficient.constrain(params[name], bounds.get(name))
                             for name in self.coefficients() if name in params}}
