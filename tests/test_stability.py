"""Automatic stability (hybrid_jax.physics.stability): the power-iteration estimate of an explicit step's
bound against the analytic bounds of diffusion, advection–diffusion and a reaction term (within 10 %), and a
family without a stated bound that would blow up is refused with a fixed substep count, sub-stepped with
``substeps: auto``, and its learned coefficient kept inside the checked range."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Union

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hybrid_jax as hj
from hybrid_jax.physics.stability import LIMIT, increment_radius

Eps = hj.coefficient("diffusivity", "ε", "domain units² / time unit", true=0.002, init=0.004, ranged=True)
Rate = hj.coefficient("reaction rate", "c", "1 / time unit", true=1.0, init=2.0, ranged=True)


@dataclass(frozen=True)
class AllenCahnConfig(hj.PeriodicGridConfig):
    """u_t = ε u_xx + c (u − u³), forward Euler, no stated bound."""

    name: Literal["test_allen_cahn"] = hj.option("test_allen_cahn", "PDE family")
    substeps: Union[int, Literal["auto"]] = hj.option("auto", "Euler substeps per step, or auto",
                                                      lambda v: v == "auto" or v >= 1, "must be >= 1 or auto")
    diffusivity: Eps = hj.section(Eps, "ε")
    rate: Rate = hj.section(Rate, "c")
    diffusion: bool = hj.option(True, "include the ε u_xx term")


class AllenCahn(hj.LearnedCoefficients):
    periodic = True

    def __init__(self, cfg):
        self.cfg, self.dx, self.spatial_shape = cfg, cfg.dx, tuple(cfg.resolution)
        self.layout = hj.FieldLayout(dynamic=("u",))

    def coefficients(self):
        return {"diffusivity": self.cfg.diffusivity, "rate": self.cfg.rate}

    def sample_initial_state(self, key, n):
        """Plateaus at ±1 (tanh of a random sine): where the reaction's Jacobian c(1 − 3u²) is −2c."""
        phase = jax.random.uniform(key, (n, 1), jnp.float32) * 2 * jnp.pi
        x = (jnp.arange(self.spatial_shape[0], dtype=jnp.float32) + 0.5) / self.spatial_shape[0]
        return jnp.tanh(20 * jnp.sin(2 * jnp.pi * x + phase))[..., None].astype(jnp.float32)

    def step(self, state, params):
        eps, c, h = params["diffusivity"], params["rate"], self.dx[0]
        dt = self.cfg.dt / self.cfg.substeps
        on = 1.0 if self.cfg.diffusion else 0.0

        def substep(_, u):
            lap = (jnp.roll(u, 1) - 2 * u + jnp.roll(u, -1)) / h**2
            return (u + dt * (on * eps * lap + c * (u - u**3))).astype(u.dtype)

        return jax.lax.fori_loop(0, self.cfg.substeps, substep, state[..., 0])[..., None]


hj.register_family(hj.Family("test_allen_cahn", AllenCahnConfig, AllenCahn))


def _radius(pde, params, n=4):
    states = pde.sample_initial_state(jax.random.key(1), n)
    return float(increment_radius(pde, params, states, jax.random.key(2)))


def _physics(**kw):
    return hj.config_from_dict({"physics": kw}).physics


@pytest.mark.parametrize("velocity", [{"kind": "zero"}, {"kind": "constant", "value": [0.5, 0.25]}],
                         ids=["diffusion", "advection_diffusion"])
def test_estimated_diffusivity_bound_matches_the_analytic_one_within_10_percent(velocity):
    """Forward-Euler ∇·(κ∇u) on a 2D grid: κ ≤ 1/(2·dt·Σ 1/dx²); with central-flux RK3 advection split off,
    the bound is the same (the checkerboard mode carries no flux). Estimate: κ·LIMIT/ρ(κ) at κ = bound/2."""
    cfg = _physics(name="advection_diffusion", resolution=[32, 24], domain=[1.0, 1.0], dt=0.01, substeps=1,
                   velocity=velocity, diffusivity={"true": 0.005, "init": 0.01})
    pde = hj.build_pde(cfg)
    analytic = 1 / (2 * cfg.dt * (32**2 + 24**2))
    kappa = analytic / 2
    estimate = kappa * LIMIT / _radius(pde, {"diffusivity": jnp.asarray(kappa, jnp.float32)})
    print(f"{velocity['kind']}: estimated κ bound {estimate:.5g}, analytic {analytic:.5g}")
    assert abs(estimate / analytic - 1) < 0.10


def test_estimated_reaction_bound_matches_the_analytic_one_within_10_percent():
    """u_t = c(u − u³) at u = ±1: ∂f/∂u = −2c, forward Euler stable for c ≤ 1/dt."""
    cfg = _physics(name="test_allen_cahn", resolution=[64], domain=[1.0], dt=0.05, substeps=1, diffusion=False)
    pde = AllenCahn(cfg)
    c = 4.0
    estimate = c * LIMIT / _radius(pde, {"diffusivity": jnp.float32(0.0), "rate": jnp.float32(c)})
    print(f"reaction: estimated c bound {estimate:.5g}, analytic {1 / cfg.dt:.5g}")
    assert abs(estimate * cfg.dt - 1) < 0.10


def test_unstable_family_without_a_bound_is_refused_or_sub_stepped_and_kept_in_range():
    # ε up to 0.02 (the default range: 2 × max(true, init)) on dx = 1/64, dt = 0.01: 4·ε·dt/dx² ≈ 3.3 > 2
    physics = {"name": "test_allen_cahn", "resolution": [64], "domain": [1.0], "dt": 0.01,
               "diffusivity": {"true": 0.002, "init": 0.01}}
    with pytest.raises(hj.ConfigError, match=r"^physics: the explicit step is unstable for diffusivity in "
                                             r"\[0.001, 0.02\], rate in \[0.5, 4\], dt 0.01 and 1 substeps "
                                             r".*set physics.substeps: auto \(or >= 2\)") as e:
        hj.build_pde(_physics(**physics, substeps=1))
    assert "\n" not in str(e.value)

    auto = hj.build_pde(_physics(**physics))  # substeps: auto
    assert auto.cfg.substeps == 2 and auto.checked_range["diffusivity"] == (0.001, 0.02)
    assert 2 * 1.05 > auto.stability["increment_radius"] / 2 > 1.5
    x0 = auto.sample_initial_state(jax.random.key(0), 2)
    worst = {"diffusivity": jnp.float32(0.02), "rate": jnp.float32(4.0)}
    stable = hj.simulate(auto, x0, 200, worst)
    assert stable.dtype == jnp.float32 and float(jnp.max(jnp.abs(stable))) < 1.01
    one_step = AllenCahn(_physics(**physics, substeps=1))  # built around the check: it blows up
    blown = np.asarray(hj.simulate(one_step, x0, 200, worst))
    assert not (np.isfinite(blown).all() and np.abs(blown).max() < 10)  # nan/inf or huge

    # the learned coefficients stay inside the checked range
    out = auto.constrain({"diffusivity": jnp.float32(0.5), "rate": jnp.float32(1e-6)})
    assert float(out["diffusivity"]) == pytest.approx(0.02) and float(out["rate"]) == pytest.approx(0.5)
    assert out["diffusivity"].dtype == jnp.float32
    np.testing.assert_allclose(float(auto.constrain({"diffusivity": jnp.float32(0.003), "rate": jnp.float32(1.0)})
                                     ["diffusivity"]), 0.003, rtol=1e-6)


def test_a_family_with_a_stated_bound_is_not_estimated_and_a_range_must_hold_the_true_value():
    pde = hj.build_pde(_physics(name="burgers", resolution=[16], domain=[1.0]))
    assert not hasattr(pde, "stability")
    with pytest.raises(hj.ConfigError, match="range"):
        hj.build_pde(_physics(name="test_allen_cahn", resolution=[16], domain=[1.0],
                              diffusivity={"true": 0.002, "init": 0.004, "range": [0.003, 0.01]}))


def test_training_keeps_the_coefficient_inside_the_checked_range(tmp_path):
    """Data made at ε = 0.004, a model whose checked range ends at 0.002: pulled towards the data by Adam with a
    large step, the learned ε ends at the range's upper limit and never leaves the range."""
    from helpers import tiny_dict
    from hybrid_jax.data.store import load_or_generate
    from hybrid_jax.evaluate import learned_params
    from hybrid_jax.training.loop import build_experiment, initial_states, train_cycles

    physics = {"name": "test_allen_cahn", "resolution": [16], "domain": [1.0], "dt": 0.01,
               "diffusivity": {"true": 0.004, "init": 0.0015}}
    d = tiny_dict(tmp_path, mode="physical", physics=physics,
                  trainer__physical={"optimizer": "adam", "learning_rate": 0.5, "epochs": 6})
    data_cfg = hj.config_from_dict(d)
    traj, _ = load_or_generate(data_cfg, hj.build_pde(data_cfg.physics))
    capped = hj.config_from_dict({**d, "physics": {**physics, "diffusivity": {"true": 0.002, "init": 0.0015,
                                                                               "range": [0.001, 0.002]}}})
    exp = build_experiment(capped, hj.build_pde(capped.physics), traj)
    assert exp.pde.checked_range["diffusivity"] == (0.001, 0.002)
    for states, _ in train_cycles(exp, initial_states(exp), progress=False):
        learned = float(learned_params(exp, states)["diffusivity"])
        assert 0.001 <= learned <= 0.002 * (1 + 1e-6)
    assert learned == pytest.approx(0.002, rel=1e-3)  # at the limit: the data want more
