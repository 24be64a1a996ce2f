"""The heat family (u_t = ∇·(κ∇u), Dirichlet box, vertex grid): analytic sine-mode decay with its
convergence order, an independent NumPy stencil for a variable κ, the boundary, the stability bound.

Every numerics test name contains ``rollout`` (``pytest -k rollout``); each prints
``[label] error=… tolerance=…`` and says why its tolerance is what it is.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hybrid_jax.config import ConfigError, PhysicsConfig, from_dict
from hybrid_jax.physics import build_pde


def make(**physics):
    return build_pde(from_dict(PhysicsConfig, {"name": "heat", **physics}, "physics"))


def check(label: str, error: float, tol: float) -> None:
    print(f"\n[{label}] error={error:.3e} tolerance={tol:.3e}")
    assert error <= tol, f"{label}: error {error:.3e} > tolerance {tol:.3e}"


def run(pde, state, params, n):
    return jax.jit(lambda s, p: jax.lax.fori_loop(0, n, lambda _, x: pde.step(x, p), s))(state, params)


def sine_mode(pde):
    """sin(πx/L)·sin(πy/L) on the box's nodes ``[*spatial, 1]`` (zero on the boundary) and its decay rate
    κ·Σ_d (π/L_d)² for κ = 1."""
    x = pde.node_coords() - np.asarray(pde.cfg.origin)
    u = np.prod(np.sin(np.pi * x / np.asarray(pde.cfg.domain)), -1)
    return jnp.asarray(u[..., None], jnp.float32), float(sum((np.pi / L) ** 2 for L in pde.cfg.domain))


def test_rollout_heat_dirichlet_sine_mode_decay_second_order():
    """Constant κ: the sine mode decays as exp(−κ·Σ(π/L)²·t). With dt ∝ h² the error is O(h²) in space
    and O(dt) = O(h²) in time, so the fitted order in h is 2 (accepted 1.8–2.3); the finest error is
    ~1e-4, far above float32 round-off of ~100 steps (~1e-6)."""
    kappa, t_end, hs, errors = 0.1, 0.5, [], []
    for n in (9, 17, 33):
        h = 2.0 / (n - 1)
        steps = int(round(t_end / (0.2 * h**2 / kappa)))  # dt = t_end/steps ≈ 0.2 h²/κ < the bound h²/(4κ)
        pde = make(resolution=[n, n], domain=[2.0, 2.0], origin=[-1.0, -1.0], dt=t_end / steps,
                   conductivity={"true": kappa, "init": kappa})
        u0, rate = sine_mode(pde)
        out = run(pde, u0, pde.true_params(), steps)
        assert out.dtype == jnp.float32 and out.shape == u0.shape
        exact = np.exp(-kappa * rate * t_end) * np.asarray(u0)
        hs.append(h)
        errors.append(float(np.max(np.abs(np.asarray(out) - exact))))
    order = float(np.polyfit(np.log(hs), np.log(errors), 1)[0])
    print(f"\n[heat dirichlet sine decay] h={hs} errors={errors} order={order:.3f}")
    assert 1.8 <= order <= 2.3, order
    check("heat dirichlet sine decay, finest grid", errors[-1], 5e-4)


def numpy_heat(u, kappa, h, dt, value, steps):
    """An independent float64 implementation of the same stencil (loops over axes with np.diff)."""
    u = np.asarray(u, np.float64).copy()
    k = np.asarray(kappa, np.float64)
    inner = tuple(slice(1, -1) for _ in u.shape)
    for _ in range(steps):
        rate = np.zeros_like(u)
        for a in range(u.ndim):
            kf = 0.5 * (np.take(k, range(1, k.shape[a]), a) + np.take(k, range(0, k.shape[a] - 1), a))
            flux = kf * np.diff(u, axis=a) / h[a] ** 2  # between node i and i+1
            pad = [(0, 0)] * u.ndim
            pad[a] = (1, 1)
            flux = np.pad(flux, pad)
            rate += np.diff(flux, axis=a)
        new = np.full_like(u, value)
        new[inner] = (u + dt * rate)[inner]
        u = new
    return u


def test_rollout_heat_dirichlet_variable_conductivity_matches_numpy():
    """A κ field (two Gaussians, parametric form), 2 substeps, boundary value 0.3: the jitted PhiFlow
    step matches the float64 NumPy stencil to float32 round-off (measured 1.6e-7; 2e-6 relative to max |u| ~1
    after 20 steps)."""
    form = {"kind": "gaussians", "base": 0.1, "params": [
        {"name": "amplitude", "shape": [2], "true": [0.5, 0.3], "positive": True},
        {"name": "centre", "shape": [2, 2], "true": [0.5, 0.5, -0.5, -0.2]},
        {"name": "width", "shape": [2], "true": [0.4, 0.7], "learn": False}]}
    pde = make(resolution=[12, 15], domain=[2.0, 2.5], origin=[-1.0, -1.2], dt=0.004, substeps=2,
               boundary_value=0.3, conductivity={"form": form})
    u0 = pde.sample_initial_state(jax.random.PRNGKey(3), 1)[0]
    assert np.allclose(np.asarray(u0)[0, :, 0], 0.3) and np.allclose(np.asarray(u0)[:, -1, 0], 0.3)
    params = pde.true_params()
    kappa = np.asarray(pde.coefficient_fields(params)["conductivity"])
    out = np.asarray(run(pde, u0, params, 20))[..., 0]
    ref = numpy_heat(np.asarray(u0)[..., 0], kappa, pde.dx, 0.002, 0.3, 40)
    check("heat variable κ vs numpy", float(np.max(np.abs(out - ref)) / np.max(np.abs(ref))), 2e-6)
    assert np.allclose(out[0], 0.3) and np.allclose(out[:, 0], 0.3)  # Dirichlet nodes keep their value


def test_rollout_heat_dirichlet_stability_bound():
    """The bound h²/(2·d·dt_sub) refuses a config above it; at 0.95× the bound a rollout stays bounded, at
    1.3× (κ set past the clip-free check by giving it as the learned value) it blows up."""
    h, dt = 0.1, 0.002
    bound = h**2 / (2 * 2 * dt)
    with pytest.raises(ConfigError, match="physics.conductivity.true"):
        make(resolution=[11, 11], domain=[1.0, 1.0], dt=dt, conductivity={"true": 1.05 * bound, "init": 0.1})
    pde = make(resolution=[11, 11], domain=[1.0, 1.0], dt=dt, conductivity={"true": 0.95 * bound, "init": 0.1})
    check("heat bound formula", abs(pde.conductivity_bound - bound) / bound, 1e-12)
    u0 = pde.sample_initial_state(jax.random.PRNGKey(0), 1)[0]
    noise = jax.random.normal(jax.random.PRNGKey(1), u0.shape, jnp.float32)
    u0 = u0 + 1e-3 * noise * jnp.asarray(pde._interior)[..., None]
    stable = run(pde, u0, {"conductivity": jnp.float32(0.95 * bound)}, 400)
    unstable = run(pde, u0, {"conductivity": jnp.float32(1.3 * bound)}, 400)
    assert stable.dtype == jnp.float32 and float(jnp.max(jnp.abs(stable))) <= 1.0 + 1e-6
    peak = float(jnp.max(jnp.abs(unstable)))
    assert not np.isfinite(peak) or peak > 10.0, peak


def test_heat_parametric_field_refused_above_bound():
    """A parametric κ whose peak on the grid exceeds the bound is refused, naming the coefficient."""
    form = {"kind": "gaussians", "base": 0.1, "params": [
        {"name": "amplitude", "shape": [1], "true": [5.0]}, {"name": "centre", "shape": [1, 2], "true": [0.0, 0.0]},
        {"name": "width", "shape": [1], "true": [1.0]}]}
    with pytest.raises(ConfigError, match="physics.conductivity.form.*stability bound"):
        make(resolution=[18, 18], domain=[6.0, 6.0], origin=[-3.0, -3.0], dt=0.01, conductivity={"form": form})
