"""Parametric coefficient fields: forms against closed forms, gradients against finite differences
(through the field and through a heat rollout), bounds and positivity, config errors, and the
per-parameter, summed and field errors of the evaluation."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hybrid_jax.config import ConfigError, PhysicsConfig, from_dict
from hybrid_jax.evaluate import parameter_report
from hybrid_jax.physics import build_pde
from hybrid_jax.physics.base import decode_physical, encode_physical

HYCO = {"kind": "gaussians", "base": 0.1, "params": [
    {"name": "amplitude", "shape": [2], "true": [3.0, 2.5], "init": [1.0, 1.0], "positive": True},
    {"name": "centre", "shape": [2, 2], "true": [1, 1, -2, -2], "init": [1.4, -1.3, -1.8, -1.1],
     "lower": -3.0, "upper": 3.0},
    {"name": "width", "shape": [2], "true": [1.0, 1.0], "learn": False}]}


def heat(form=HYCO, **physics):
    cfg = {"name": "heat", "resolution": [18, 18], "domain": [6.0, 6.0], "origin": [-3.0, -3.0], "dt": 0.01,
           "substeps": 2, "conductivity": {"form": form}, **physics}
    return build_pde(from_dict(PhysicsConfig, cfg, "physics"))


def ring(params, coords):
    """A user form (imported by path in a test): r·exp(−(|x| − ρ)²)."""
    return params["r"] * jnp.exp(-(jnp.linalg.norm(coords, axis=-1) - params["rho"]) ** 2)


def test_gaussians_field_matches_closed_form_and_parameters_are_flat():
    pde = heat()
    true = pde.true_params()
    assert set(true) == {"conductivity.amplitude", "conductivity.centre"}  # width is fixed: not a parameter
    assert pde.positive_params == ("conductivity.amplitude",)
    assert all(v.dtype == jnp.float32 for v in true.values())
    x = pde.node_coords().astype(np.float64)
    expect = 0.1 + 3 * np.exp(-np.sum((x - [1, 1]) ** 2, -1)) + 2.5 * np.exp(-np.sum((x - [-2, -2]) ** 2, -1))
    field = pde.coefficient_fields(true)["conductivity"]
    assert field.dtype == jnp.float32 and field.shape == (18, 18)
    np.testing.assert_allclose(np.asarray(field), expect, rtol=1e-6, atol=1e-6)


def test_fourier_and_user_function_forms():
    form = {"kind": "fourier", "base": 1.0, "modes": [[1, 0], [0, 2]], "params": [
        {"name": "cos", "shape": [2], "true": [0.3, 0.0]}, {"name": "sin", "shape": [2], "true": [0.0, -0.2]}]}
    pde = heat(form)
    x = (pde.node_coords().astype(np.float64) + 3) / 6
    expect = 1 + 0.3 * np.cos(2 * np.pi * x[..., 0]) - 0.2 * np.sin(4 * np.pi * x[..., 1])
    np.testing.assert_allclose(np.asarray(pde.coefficient_fields(pde.true_params())["conductivity"]), expect,
                               rtol=1e-5, atol=1e-5)
    user = {"kind": "function", "function": "test_parametric:ring", "base": 0.1, "params": [
        {"name": "r", "true": [0.5], "init": [0.2], "positive": True}, {"name": "rho", "true": [1.0]}]}
    pde = heat(user)
    r = np.linalg.norm(pde.node_coords().astype(np.float64), axis=-1)
    np.testing.assert_allclose(np.asarray(pde.coefficient_fields(pde.true_params())["conductivity"]),
                               0.1 + 0.5 * np.exp(-(r - 1) ** 2), rtol=1e-5, atol=1e-6)
    assert float(pde.init_params()["conductivity.r"]) == pytest.approx(0.2)


def fd_check(loss, raw, eps: float, tol: float, label: str) -> None:
    """jax.grad of `loss` at `raw` (a flat dict) vs central differences, in float32, relative to max |g|."""
    grad = jax.grad(loss)(raw)
    worst = 0.0
    for k, v in raw.items():
        flat = np.asarray(v).ravel()
        for i in range(flat.size):
            def at(d, k=k, i=i):
                w = flat.copy()
                w[i] += d
                return float(loss({**raw, k: jnp.asarray(w.reshape(v.shape), jnp.float32)}))
            fd = (at(eps) - at(-eps)) / (2 * eps)
            worst = max(worst, abs(fd - float(np.asarray(grad[k]).ravel()[i])))
    scale = max(float(np.max(np.abs(np.asarray(g)))) for g in grad.values())
    print(f"\n[{label}] max |grad - fd| / max |grad| = {worst / scale:.3e} tolerance={tol:.1e}")
    assert all(g.dtype == jnp.float32 for g in grad.values())
    assert worst <= tol * scale


def test_gradient_through_field_matches_finite_differences():
    """Loss = mean (κ(θ) − κ_target)² over the grid, θ optimised as the trainer does (log amplitude).
    Central differences in float32 with eps 1e-2: truncation ~eps²·|g'''| ~1e-4 and round-off
    ~1e-7·|L|/eps ~1e-5 relative, so 2e-3 relative to the largest gradient entry."""
    pde = heat()
    target = pde.coefficient_fields(pde.true_params())["conductivity"]

    def loss(raw):
        return jnp.mean((pde.coefficient_fields(decode_physical(pde, raw))["conductivity"] - target) ** 2)

    fd_check(loss, encode_physical(pde, pde.init_params()), 1e-2, 2e-3, "parametric field gradient vs FD")


def test_rollout_gradient_through_heat_with_parametric_field_matches_finite_differences():
    """Loss = mean (u_P(θ) − u*)² over 10 heat steps from the HYCO initial field: same FD scheme and
    tolerance reasoning as the field test (the rollout is smooth in θ), 5e-3 relative."""
    bumps = [{"amplitude": -1.0, "centre": [-1.0, -1.0]}, {"amplitude": 1.0, "centre": [1.0, 1.0]}]
    pde = heat(initial_state={"kind": "bumps", "bumps": bumps})
    u0 = pde.sample_initial_state(jax.random.PRNGKey(0), 1)[0]

    def roll(params):
        return jax.lax.scan(lambda s, _: (pde.step(s, params), s), u0, None, length=10)[1]

    target = roll(pde.true_params())

    def loss(raw):
        return 1e3 * jnp.mean((roll(decode_physical(pde, raw)) - target) ** 2)

    fd_check(loss, encode_physical(pde, pde.init_params()), 1e-2, 5e-3, "heat rollout gradient vs FD")


def test_bounds_and_positivity_are_enforced():
    pde = heat()
    raw = {"conductivity.amplitude": jnp.asarray([-20.0, 0.5], jnp.float32),  # log: exp(-20) > 0
           "conductivity.centre": jnp.asarray([[4.0, -1.0], [-5.0, 0.0]], jnp.float32)}
    p = decode_physical(pde, raw)
    assert float(p["conductivity.amplitude"][0]) > 0
    np.testing.assert_allclose(np.asarray(p["conductivity.centre"]), [[3.0, -1.0], [-3.0, 0.0]])
    big = {"conductivity.amplitude": jnp.asarray([50.0, 50.0], jnp.float32),
           "conductivity.centre": raw["conductivity.centre"]}
    field = pde.coefficient_fields(big)["conductivity"]
    assert float(field.max()) <= pde.conductivity_bound * (1 + 1e-6)  # clipped to the stability bound
    g = jax.grad(lambda a: jnp.sum(pde.coefficient_fields({**big, "conductivity.amplitude": a})["conductivity"]))(
        big["conductivity.amplitude"])
    assert np.all(np.asarray(g) > 0)  # straight-through: the clip does not zero the gradient


@pytest.mark.parametrize("change, match", [
    (lambda f: f["params"][1].update(shape=[2, 3], true=[0] * 6, init=[0] * 6), "centre must have shape \\[2, 2\\]"),
    (lambda f: f["params"][0].update(true=[3.0]), "params\\[0\\].true: must have 2 values"),
    (lambda f: f["params"][0].update(init=[-1.0, 1.0]), "params\\[0\\].init: must be > 0"),
    (lambda f: f["params"][1].update(init=[4.0, 0, 0, 0]), "params\\[1\\].init: must lie in"),
    (lambda f: f["params"].pop(), "needs exactly the parameters"),
    (lambda f: f.update(kind="function", function="nocolon"), "function: kind function needs"),
])
def test_malformed_forms_are_refused_naming_the_key(change, match):
    form = {**HYCO, "params": [dict(p) for p in HYCO["params"]]}
    change(form)
    with pytest.raises(ConfigError, match="physics.conductivity.form"):
        try:
            heat(form)
        except ConfigError as e:
            assert __import__("re").search(match, str(e)), str(e)
            raise


def test_errors_per_parameter_summed_and_field():
    """The HYCO error ‖a−a*‖/‖a*‖ + ‖c−c*‖/‖c*‖ at the papers' initial guess, by hand vs the evaluation."""
    pde = heat()
    report = parameter_report(pde, pde.init_params(), pde.true_params())
    errors = report["relative_error"]
    a = np.linalg.norm([1 - 3, 1 - 2.5]) / np.linalg.norm([3, 2.5])
    c = np.linalg.norm(np.subtract([1.4, -1.3, -1.8, -1.1], [1, 1, -2, -2])) / np.linalg.norm([1, 1, -2, -2])
    assert errors["conductivity.amplitude"] == pytest.approx(a, rel=1e-6)
    assert errors["conductivity.centre"] == pytest.approx(c, rel=1e-6)
    assert errors["summed"] == pytest.approx(a + c, rel=1e-6)
    k = np.asarray(pde.coefficient_fields(pde.init_params())["conductivity"], np.float64)
    k_true = np.asarray(pde.coefficient_fields(pde.true_params())["conductivity"], np.float64)
    assert errors["conductivity(x)"] == pytest.approx(np.linalg.norm(k - k_true) / np.linalg.norm(k_true), rel=1e-5)
    assert report["learned"]["conductivity.centre"]["shape"] == [2, 2]


def test_periodic_family_takes_a_parametric_field_too():
    """advection_diffusion's κ as two Gaussians on its cell centres: the step reads the field, and a rollout
    with the true parameters differs from one with the guess (the parameters reach the dynamics)."""
    form = {"kind": "gaussians", "base": 0.005, "params": [
        {"name": "amplitude", "shape": [1], "true": [0.01], "init": [0.002], "positive": True},
        {"name": "centre", "shape": [1, 2], "true": [0.5, 0.5], "lower": 0.0, "upper": 1.0},
        {"name": "width", "shape": [1], "true": [0.2], "learn": False}]}
    pde = build_pde(from_dict(PhysicsConfig, {"name": "advection_diffusion", "resolution": [16, 16], "dt": 0.01,
                                              "velocity": {"kind": "zero"}, "diffusivity": {"form": form}}, "physics"))
    assert set(pde.init_params()) == {"diffusivity.amplitude", "diffusivity.centre"}
    x0 = pde.sample_initial_state(jax.random.PRNGKey(0), 1)[0]
    step = jax.jit(pde.step)
    a, b = step(x0, pde.true_params()), step(x0, pde.init_params())
    assert a.dtype == jnp.float32 and float(jnp.max(jnp.abs(a - b))) > 1e-5
    with pytest.raises(ConfigError, match="physics.diffusivity.form.*stability bound"):
        bad = {**form, "params": [{**form["params"][0], "true": [10.0]}, *form["params"][1:]]}
        build_pde(from_dict(PhysicsConfig, {"name": "advection_diffusion", "resolution": [16, 16], "dt": 0.01,
                                             "velocity": {"kind": "zero"}, "diffusivity": {"form": bad}}, "physics"))


def test_decode_physical_gradient_is_counted_once():
    """d decode(θ)/dθ of a positive coefficient optimised as θ = log κ is κ inside its bounds (the
    straight-through clip must not add the constraint's own gradient to it: that doubled it)."""
    pde = heat()
    raw = encode_physical(pde, pde.init_params())
    g = jax.grad(lambda r: jnp.sum(decode_physical(pde, r)["conductivity.amplitude"]))(raw)
    amplitude = np.exp(np.asarray(raw["conductivity.amplitude"]))
    np.testing.assert_allclose(np.asarray(g["conductivity.amplitude"]), amplitude, rtol=1e-6)
    gc = jax.grad(lambda r: jnp.sum(decode_physical(pde, r)["conductivity.centre"]))(raw)
    np.testing.assert_allclose(np.asarray(gc["conductivity.centre"]), 1.0)
