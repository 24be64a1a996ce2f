"""Parametric coefficient fields: a coefficient κ(x) given by a few learnable parameters.

κ(x) = base + f(θ, x), with f one of

- ``gaussians``: Σ_i a_i·exp(−|x − c_i|²/w_i²), parameters ``amplitude [n]``, ``centre [n, d]``,
  ``width [n]`` (domain units; w = 1 is the HYCO papers' exp(−|x − c|²));
- ``fourier``: Σ_m p_m·cos(2π k_m·(x − o)/L) + q_m·sin(2π k_m·(x − o)/L) over the integer wavevectors
  ``modes`` (k_m, one entry per dimension; o and L the box's origin and size), parameters
  ``cos [M]`` and ``sin [M]``;
- ``function``: a user's JAX function ``f(params: dict[str, Array], coords: [*spatial, d]) -> [*spatial]``
  named by its import path ``"package.module:function"`` (imported, never evaluated from text).

Each parameter (`FieldParam`) has a shape, a true value (generates the data), an initial guess, and
may be fixed (``learn: false``), positive (optimised in log space) and bounded (``lower``/``upper``,
clipped by `constrain`). The field itself is clipped into (0, the family's stability bound] where it
is used, with a straight-through gradient (as `training.models.decode_physical` does for parameters).
A family opts in with ``coefficient(..., parametric=True)`` (a ``form`` section); the learned
parameters appear in the parameter pytree as ``"<coefficient>.<parameter>"``. No PhiFlow here.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass
from typing import Callable, Literal, Optional

import jax
import jax.numpy as jnp
import numpy as np

from hybrid_jax.errors import ConfigError
from hybrid_jax.typed_config import option

FIELD_EPS = 1e-8  # the smallest value a parametric field takes where it is used

_REQUIRED = {"gaussians": {"amplitude": 1, "centre": 2, "width": 1}, "fourier": {"cos": 1, "sin": 1}}
"""Parameter names of the built-in forms and their ranks."""


@dataclass(frozen=True)
class FieldParam:
    """One named parameter of a parametric field (values flattened, row-major, to `shape`)."""

    name: str = option("", "parameter name (gaussians: amplitude, centre, width; fourier: cos, sin; "
                           "function: the key of the user function's params dict)")
    shape: tuple[int, ...] = option((), "shape of the parameter ([] a scalar; gaussians centre: [n, d])",
                                    lambda v: all(n >= 1 for n in v), "must have entries >= 1")
    true: tuple[float, ...] = option((), "true values (flattened) that generate the data")
    init: tuple[float, ...] = option((), "initial guess (flattened); default: the true values (for a fixed one)")
    learn: bool = option(True, "learn this parameter; false: its true value is known and fixed")
    positive: bool = option(False, "keep it > 0 (optimised in log space)")
    lower: Optional[float] = option(None, "lower bound (the learned value is clipped to it)")
    upper: Optional[float] = option(None, "upper bound (the learned value is clipped to it)")

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def values(self, which: str) -> np.ndarray:
        """The `true` or `init` values (`init` falls back to `true`), float32 of `shape`."""
        v = self.true if which == "true" or not self.init else self.init
        return np.asarray(v, np.float32).reshape(self.shape)


@dataclass(frozen=True)
class ParametricForm:
    """The ``form`` section of a coefficient: ``kind: none`` (the coefficient's own scalar/field) or a
    parametric field (see the module docstring)."""

    kind: Literal["none", "gaussians", "fourier", "function"] = option(
        "none", "none: the coefficient's true/init keys; otherwise κ(x) = base + f(θ, x) (docs/physics.md)")
    base: float = option(0.0, "known constant background added to the parametric part")
    params: tuple[FieldParam, ...] = option((), "the parameters of f")
    modes: tuple[tuple[int, ...], ...] = option((), "kind fourier: integer wavevectors, one entry per dimension")
    function: str = option("", "kind function: import path 'package.module:function' of f(params, coords)")

    @property
    def active(self) -> bool:
        return self.kind != "none"

    def validate(self, key: str, ndim: int) -> None:
        """Refuse malformed parameters (names, shapes, value counts, bounds), naming the dotted key."""
        names = [p.name for p in self.params]
        if len(set(names)) != len(names) or not all(n.isidentifier() for n in names):
            raise ConfigError(f"{key}.params: names must be distinct identifiers, got {names}")
        for i, p in enumerate(self.params):
            where = f"{key}.params[{i}]"
            for which in ("true",) + (("init",) if p.init else ()):
                if len(getattr(p, which)) != p.size:
                    raise ConfigError(f"{where}.{which}: must have {p.size} values (shape {list(p.shape)}), "
                                      f"got {len(getattr(p, which))}")
            for which in ("true", "init"):
                v = p.values(which)
                if p.positive and np.any(v <= 0):
                    raise ConfigError(f"{where}.{which}: must be > 0 (positive: true), got {v.ravel().tolist()}")
                if (p.lower is not None and np.any(v < p.lower)) or (p.upper is not None and np.any(v > p.upper)):
                    raise ConfigError(f"{where}.{which}: must lie in [{p.lower}, {p.upper}], got {v.ravel().tolist()}")
        if self.kind in _REQUIRED:
            required = _REQUIRED[self.kind]
            if set(names) != set(required):
                raise ConfigError(f"{key}.params: kind {self.kind} needs exactly the parameters "
                                  f"{', '.join(required)}, got {', '.join(names) or 'none'}")
            shapes = {p.name: p.shape for p in self.params}
            n = shapes[next(iter(required))][0] if shapes[next(iter(required))] else 0
            for name, rank in required.items():
                want = (n,) if rank == 1 else (n, ndim)
                if self.kind == "fourier":
                    want = (len(self.modes),)
                if shapes[name] != want:
                    raise ConfigError(f"{key}.params: {name} must have shape {list(want)}, got {list(shapes[name])}")
        if self.kind == "fourier" and (not self.modes or any(len(k) != ndim for k in self.modes)):
            raise ConfigError(f"{key}.modes: kind fourier needs wavevectors of {ndim} entries, got {list(self.modes)}")
        if self.kind == "function" and ":" not in self.function:
            raise ConfigError(f"{key}.function: kind function needs 'package.module:function', got {self.function!r}")

    def function_of(self, origin: tuple[float, ...], size: tuple[float, ...]) -> Callable:
        """``f(params, coords [*spatial, d]) -> [*spatial]`` of this form (without `base`)."""
        if self.kind == "gaussians":
            return gaussians
        if self.kind == "fourier":
            return fourier(np.asarray(self.modes, np.float32), origin, size)
        module, _, attribute = self.function.partition(":")
        try:
            return getattr(importlib.import_module(module), attribute)
        except (ImportError, AttributeError) as e:
            raise ConfigError(f"form.function: cannot import {self.function!r}: {e}") from None


def gaussians(params: dict, coords: jax.Array) -> jax.Array:
    """Σ_i a_i·exp(−|x − c_i|²/w_i²): amplitude [n], centre [n, d], width [n]; coords [*spatial, d]."""
    r2 = jnp.sum((coords[..., None, :] - params["centre"]) ** 2, axis=-1)  # [*spatial, n]
    return jnp.sum(params["amplitude"] * jnp.exp(-r2 / params["width"] ** 2), axis=-1)


def fourier(modes: np.ndarray, origin: tuple[float, ...], size: tuple[float, ...]) -> Callable:
    """The Fourier series of the module docstring over wavevectors ``modes [M, d]``."""
    o, L = jnp.asarray(origin, jnp.float32), jnp.asarray(size, jnp.float32)

    def f(params, coords):
        phase = 2 * jnp.pi * jnp.einsum("...d,md->...m", (coords - o) / L, jnp.asarray(modes))
        return jnp.sum(params["cos"] * jnp.cos(phase) + params["sin"] * jnp.sin(phase), axis=-1)

    return f


@dataclass(frozen=True)
class ParametricField:
    """A `ParametricForm` bound to a coefficient name and a grid's coordinates (built by the family)."""

    name: str
    form: ParametricForm
    coords: np.ndarray  # [*spatial, d] float32, domain units
    fn: Callable

    @classmethod
    def build(cls, name: str, form: ParametricForm, coords: np.ndarray, origin, size) -> "ParametricField":
        return cls(name, form, np.asarray(coords, np.float32), form.function_of(tuple(origin), tuple(size)))

    def key(self, p: FieldParam) -> str:
        return f"{self.name}.{p.name}"

    def params(self, which: Literal["true", "init"]) -> dict[str, jax.Array]:
        """The learned parameters' true or initial values, ``{"<name>.<param>": float32 array}``."""
        return {self.key(p): jnp.asarray(p.values(which)) for p in self.form.params if p.learn}

    @property
    def positive(self) -> tuple[str, ...]:
        return tuple(self.key(p) for p in self.form.params if p.learn and p.positive)

    def constrain(self, params: dict) -> dict:
        """The learned parameters clipped into their bounds (positive ones to >= FIELD_EPS), float32."""
        out = {}
        for p in self.form.params:
            if p.learn and self.key(p) in params:
                lo = FIELD_EPS if p.positive and p.lower is None else p.lower
                v = params[self.key(p)]
                v = v if lo is None else jnp.maximum(v, lo)
                out[self.key(p)] = (v if p.upper is None else jnp.minimum(v, p.upper)).astype(jnp.float32)
        return out

    def raw_field(self, params: dict) -> jax.Array:
        """base + f(θ, x) on the grid ``[*spatial]`` float32 (fixed parameters at their true values)."""
        theta = {p.name: params[self.key(p)] if p.learn else jnp.asarray(p.values("true")) for p in self.form.params}
        return (self.form.base + self.fn(theta, jnp.asarray(self.coords))).astype(jnp.float32)

    def field(self, params: dict, bound: Optional[float] = None) -> jax.Array:
        """The field a step uses: `raw_field` clipped into [FIELD_EPS, bound], straight-through gradient."""
        raw = self.raw_field(params)
        clipped = jnp.clip(raw, FIELD_EPS, bound) if bound is not None else jnp.maximum(raw, FIELD_EPS)
        return raw + jax.lax.stop_gradient(clipped - raw)

    def check(self, key: str, bound: float) -> None:
        """Refuse a true field whose maximum on the grid exceeds `bound` (the explicit stability bound)."""
        peak = float(jnp.max(self.raw_field(self.params("true"))))
        if peak > bound:
            raise ConfigError(f"{key}.form: the true field's maximum {peak:.4g} exceeds the explicit stability bound "
                              f"{bound:.4g} of this grid and time step (lower it, or raise physics.substeps)")
