"""The one learnable-coefficient type of every family: a viscosity, a diffusivity, a rate.

A coefficient is positive (optimised in log space), a scalar or a field ``[*spatial]``, has a
true value that generates the data (optionally times a Gaussian bump), an initial guess, and
optionally a stability bound. `coefficient(...)` makes its config dataclass (the YAML keys
``true``, ``init`` and, as asked, ``bump``, ``learnable`` and ``form``: a field given by a few
parameters, `physics.parametric`); a PDE class that derives from
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
from hybrid_jax.physics.parametric import ParametricField, ParametricForm
from hybrid_jax.typed_config import option, positive, section

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
    def parametric(self) -> bool:
        """Whether the coefficient is a parametric field (a ``form`` section of kind other than none)."""
        form = getattr(self, "form", None)
        return form is not None and form.active

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
        """Refuse a true value above `bound` (`key` is the coefficient's dotted section); a parametric
        field is checked on its grid when the PDE is built (`LearnedCoefficients.parametric_fields`)."""
        if self.parametric:
            return
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
                parametric: bool = False, ranged: bool = False) -> type:
    """A frozen config dataclass of one learnable coefficient (derived from `Coefficient`).

    `name`, `symbol`, `unit` word its docs ("viscosity", "ν", "domain units² / time unit").
    Keys: ``true`` (> 0, or >= 0 with `zero_true`), ``init`` (> 0); with `bump` a ``bump`` key
    (relative amplitude of a Gaussian bump on the true field); with ``learnable="shape"`` a key
    ``learnable: scalar | field``, with ``"switch"`` a key ``learnable: true | false`` (false: the
    true value is known and fixed); without, the family decides what is learned. With `ranged`, a key
    ``range: [lo, hi]`` (default null: [min(true, init)/2, 2·max(true, init)]): the values checked for
    stability and kept while training, for a family that states no bound (`LearnedCoefficients.bounds`).
    With `parametric` a ``form`` section: the field as a function of a few parameters
    (`physics.parametric`), which then replaces ``true``/``init``/``bump``/``learnable``.
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
    if parametric:
        fields.append(("form", ParametricForm, section(ParametricForm, f"{symbol}(x) given by a few learnable "
                                                                       f"parameters (kind none: not)")))
    cls_name = "".join(w.capitalize() for w in name.replace("_", " ").split()) + "Coefficient"
    return dataclasses.make_dataclass(cls_name, fields, bases=(Coefficient,), frozen=True)


class LearnedCoefficients:
    """Mixin of a PDE whose parameters are coefficients (with `spatial_shape`, `dx`, `cfg`).

    A subclass defines `coefficients()` (the learned ones by parameter name) and, where a
    stability bound applies, `bounds(params)`; a family on a grid other than cell centres from 0
    overrides `coefficient_grid`. A step reads a coefficient with `coefficient_value(name, params)`
    (the parameter itself, or a parametric field evaluated on the grid).
    """

    def coefficients(self) -> dict[str, Coefficient]:
        raise NotImplementedError

    def bounds(self, params) -> dict[str, float] | None:
        """Upper bounds of the parameters, given the (unconstrained) parameters; ``{}``: none needed.
        None (the default): the family states none, and `build_pde` estimates the stable range
        (`hybrid_jax.physics.stability`), which `constrain` then keeps the coefficients inside."""
        return None

    def coefficient_grid(self) -> tuple[np.ndarray, tuple[float, ...], tuple[float, ...]]:
        """(coordinates ``[*spatial, d]`` of the grid's samples, box origin, box size), domain units."""
        return np.stack(cell_centres(self.spatial_shape, self.dx), -1), (0.0,) * len(self.dx), tuple(self.cfg.domain)

    @property
    def parametric_fields(self) -> dict[str, ParametricField]:
        """The parametric coefficients bound to this grid, checked once (form, stability bound)."""
        if "_parametric_fields" not in self.__dict__:
            parametric = {name: c for name, c in self.coefficients().items() if c.parametric}
            fields = {}
            if parametric:  # the grid's coordinates only when a field needs them
                coords, origin, size = self.coefficient_grid()
                for name, c in parametric.items():
                    c.form.validate(f"physics.{name}.form", coords.shape[-1])
                    fields[name] = ParametricField.build(name, c.form, coords, origin, size)
            self.__dict__["_parametric_fields"] = fields
            true = self.true_params()
            for name, f in fields.items():
                bound = (self.bounds(true) or {}).get(name)
                if bound is not None:
                    f.check(f"physics.{name}", bound)
        return self.__dict__["_parametric_fields"]

    @property
    def positive_params(self) -> tuple[str, ...]:
        fields = self.parametric_fields
        return tuple(k for name in self.coefficients() for k in (fields[name].positive if name in fields else (name,)))

    def _params(self, which: str) -> dict[str, jax.Array]:
        fields, out = self.parametric_fields, {}
        for name, c in self.coefficients().items():
            out.update(fields[name].params(which) if name in fields else
                       {name: c.initial(self) if which == "init" else c.true_value(self)})
        return out

    def init_params(self) -> dict[str, jax.Array]:
        return self._params("init")

    def true_params(self) -> dict[str, jax.Array]:
        return self._params("true")

    def constrain(self, params: dict[str, jax.Array]) -> dict[str, jax.Array]:
        """Each coefficient into (0, its bound], or into its checked range [lo, hi] (see `bounds`); each
        parametric field's parameters into their bounds."""
        bounds, fields, out = self.bounds(params), self.parametric_fields, dict(params)
        limits = getattr(self, "checked_range", {}) if bounds is None else {}
        for name in self.coefficients():
            if name in fields:
                out.update(fields[name].constrain(params))
            elif name in limits and name in params:
                out[name] = jnp.clip(params[name], *limits[name]).astype(jnp.float32)
            elif name in params:
                out[name] = Coefficient.constrain(params[name], (bounds or {}).get(name))
        return out

    def coefficient_value(self, name: str, params: dict[str, jax.Array]) -> jax.Array:
        """The value of coefficient `name` a step uses: ``params[name]``, or the parametric field
        ``[*spatial]`` clipped into (0, its bound] (straight-through gradient)."""
        fields = self.parametric_fields
        if name not in fields:
            return params[name]
        return fields[name].field(params, (self.bounds(params) or {}).get(name))

    def coefficient_fields(self, params: dict[str, jax.Array]) -> dict[str, jax.Array]:
        """The parametric coefficients' fields ``{name: [*spatial]}`` (for their field error); {} if none."""
        return {name: self.coefficient_value(name, params) for name in self.parametric_fields}
