"""The numerics checks every PDE family shares, over one case table (tests/rollout_cases.py): the
jitted JAX step vs PhiFlow's NumPy backend, vmap vs a loop, float64 gradients vs finite differences,
float32 states and parameters, and one trace per jitted step. A built-in family without a case fails.

Every test name contains ``rollout`` (``pytest -k rollout``); each check prints its error and
tolerance (``-s``) and says why the tolerance is what it is.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import phiml
import pytest
from phi import math
from rollout_cases import CASES, TRACES, check, family, make, to64

from hybrid_jax.physics import families


def test_rollout_every_builtin_family_has_a_case():
    builtin = {n for n in families.names() if families.get(n).config.__module__.startswith("hybrid_jax.physics.")}
    assert builtin and builtin <= {c.family for c in CASES.values()}, builtin - {c.family for c in CASES.values()}


@pytest.mark.parametrize("key", list(CASES))
def test_rollout_numpy_backend_matches_jit(key):
    """One step: jitted JAX-backend step vs the same step on PhiFlow's NumPy backend."""
    pde, x, params, step = family(key)
    y = np.asarray(step(x[0], params))
    with phiml.backend.NUMPY:
        y_np = pde.step(np.asarray(x[0]), {k: np.asarray(v) for k, v in params.items()})
    assert isinstance(y_np, np.ndarray) and y_np.dtype == np.float32
    # float32 round-off (~1e-7 relative) through different operation orders; the smoke steps also
    # run CG solves (JAX vs NumPy) to tolerance 1e-5 on a divergence of order |u|/dx ≈ 8,
    # i.e. ~1e-6 relative. 1e-5 of the field's magnitude covers both.
    check(f"{key}: numpy vs jit (max|diff| / max|y|)", float(np.max(np.abs(y_np - y)) / np.max(np.abs(y))), 1e-5)


@pytest.mark.parametrize("key", list(CASES))
def test_rollout_vmap_matches_loop(key):
    """`jax.vmap(step)` over a batch equals stepping each sample in a Python loop."""
    pde, x, params, step = family(key)
    batched = np.asarray(jax.jit(jax.vmap(pde.step, in_axes=(0, None)))(x, params))
    looped = np.stack([np.asarray(step(s, params)) for s in x])
    # Same operations on the same values; XLA may fuse them differently (float32 round-off, ~1e-7).
    # A vmapped CG iterates until every sample has converged, so the others take extra iterations:
    # differences up to the solver tolerance (Case.vmap_tol).
    check(f"{key}: vmap vs loop", float(np.max(np.abs(batched - looped)) / np.max(np.abs(looped))),
          CASES[key].vmap_tol)


@pytest.mark.parametrize("key", list(CASES))
def test_rollout_gradients_match_finite_differences(key):
    """jax.grad of a step w.r.t. every parameter (scalars and fields) vs central differences along a
    random direction, float64."""
    case = CASES[key]
    pde = make(case.family, **{**case.physics, **case.gradient})
    x = to64(family(key)[1][0] if case.moving else pde.sample_initial_state(jax.random.key(0), 1)[0])
    params = to64(pde.true_params())
    w = jax.random.normal(jax.random.key(1), x.shape, jnp.float64)
    with math.precision(64):
        loss = jax.jit(lambda p: jnp.sum(w * pde.step(x, p)))
        grads = jax.jit(jax.grad(lambda p: jnp.sum(w * pde.step(x, p))))(params)
        for i, (name_p, value) in enumerate(sorted(params.items())):
            assert grads[name_p].dtype == jnp.float64
            direction = jax.random.normal(jax.random.key(2 + i), value.shape, jnp.float64)
            h = 1e-6 * max(float(jnp.max(jnp.abs(value))), 1e-3)
            plus, minus = ({**params, name_p: value + sign * h * direction} for sign in (1, -1))
            fd = (loss(plus) - loss(minus)) / (2 * h)
            ad = jnp.sum(grads[name_p] * direction)
            if case.fields_only:
                assert value.shape == pde.spatial_shape and abs(float(fd)) > 1e-6  # a field that acts on the step
            kind = "field" if value.ndim else "scalar"
            # central differences: truncation O(h²) ≈ 1e-12, round-off ε·|loss|/h ≈ 1e-9 relative; the CG
            # solves run to 1e-12; interpolation weights and limiters are piecewise smooth, and a step of
            # 1e-6 crosses none of their kinks here. 1e-6 leaves margin for cancellation in small gradients.
            check(f"{key}: d/d{name_p} ({kind}) grad vs FD", abs(float(ad - fd)) / max(abs(float(fd)), 1e-12), 1e-6)


@pytest.mark.parametrize("key", list(CASES))
def test_rollout_float32_and_no_recompile(key):
    """States, parameters and steps are float32; a jitted step is traced once for new values;
    static channels come back unchanged."""
    pde, x, params, step = family(key)  # the step is shared with the other tests
    assert x.dtype == jnp.float32 and x.shape == (3, *pde.spatial_shape, pde.layout.num_channels)
    if not CASES[key].moving:
        np.testing.assert_array_equal(x, pde.sample_initial_state(jax.random.key(0), 3))  # seeded
    for p in (params, pde.init_params(), pde.constrain(params)):
        assert all(v.dtype == jnp.float32 for v in jax.tree.leaves(p)), p
    assert set(pde.positive_params) <= set(params)
    for i in range(3):
        p = jax.tree.map(lambda v: v * (1 + 0.01 * i), params)  # new values, same shapes and dtypes
        y = step(x[i], p)
        assert y.dtype == jnp.float32 and y.shape == x[i].shape
        nd = pde.layout.num_dynamic
        np.testing.assert_array_equal(y[..., nd:], x[i][..., nd:])  # static channels unchanged
    assert len(TRACES[key]) == 1 and step._cache_size() == 1
