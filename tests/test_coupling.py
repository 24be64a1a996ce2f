"""Per-direction coupling weights: real vs generated weight per model, and the proportional loss."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from hybrid_jax.losses import proportional_loss
from helpers import train_run


def test_zero_physical_generated_weight_trains_the_physics_exactly_as_physical_only(tiny_config):
    coupling = {"coupling": {"generated_weight": 0.0}, "epochs": 2}
    _, _, hybrid, _ = train_run(tiny_config(trainer__physical=coupling))
    _, _, single, _ = train_run(tiny_config(mode="physical"))
    for a, b in zip(jax.tree.leaves(hybrid["physical"].params), jax.tree.leaves(single["physical"].params)):
        np.testing.assert_array_equal(a, b)
    # the other direction still couples: the network differs from synthetic-only training
    _, _, syn_only, _ = train_run(tiny_config(mode="synthetic"))
    assert any(not np.array_equal(a, b) for a, b in zip(jax.tree.leaves(hybrid["synthetic"].params),
                                                        jax.tree.leaves(syn_only["synthetic"].params)))


def test_proportional_generated_term_equals_its_weight_times_the_real_term_with_stopped_ratio():
    per_sample = jnp.array([0.2, 0.4, 5.0, 7.0, 0.6], jnp.float32)
    generated = jnp.array([False, False, True, True, False])
    rw, w = 2.0, 0.25
    weight = jnp.where(generated, w, rw).astype(jnp.float32)
    real_term = rw * (0.2 + 0.4 + 0.6) / 3
    gen_mean = (5.0 + 7.0) / 2
    value, grad = jax.value_and_grad(proportional_loss)(per_sample, weight, generated)
    np.testing.assert_allclose(float(value) - real_term, w * real_term, rtol=1e-5)  # the generated term
    # stop-gradient on the ratio: real samples get only their own gradient, generated ones a rescaled one
    np.testing.assert_allclose(grad[~generated], rw / 3, rtol=1e-6)
    np.testing.assert_allclose(grad[generated], w / 2 * real_term / gen_mean, rtol=1e-5)
    # no real sample in the batch: no generated term either
    assert float(proportional_loss(per_sample, weight, jnp.ones(5, bool))) == 0.0


def test_a_small_physics_side_weight_removes_the_bias_of_an_untrained_networks_rollouts(tiny_config):
    """The issue's bias: an imperfect network's rollouts pull the physics away from the truth when the
    physics weighs them like real data; a small physics-side weight keeps the fit on the real data."""

    def nu_error(weight):
        cfg = tiny_config(trainer__synthetic={"epochs": 0},  # the network stays at its random initialisation
                          trainer__physical={"epochs": 10, "coupling": {"generated_weight": weight}},
                          trainer__hybrid={"cycles": 1, "alpha": 1.0, "warmup_epochs": 0})
        _, _, states, _ = train_run(cfg)
        return abs(float(jnp.exp(states["physical"].params["viscosity"])) - 0.01)

    biased, listening_less = nu_error(1.0), nu_error(0.001)
    assert listening_less < 0.2 * 0.01 and biased > 5 * listening_less, (biased, listening_less)


def test_physical_first_generates_the_networks_data_from_the_cycles_fitted_physics(tiny_config):
    """trainer.hybrid.order: with physical_first the physics' rollouts that the network trains on in a cycle
    come from the physics after that cycle's physical phase; with synthetic_first (the seed design) from the
    physics before it. Checked against the physics' own `generate` at those parameters."""
    from hybrid_jax.data.store import load_or_generate
    from hybrid_jax.physics import build_pde
    from hybrid_jax.training.loop import build_experiment, hybrid_cycle, initial_states

    seen = {}
    for order in ("synthetic_first", "physical_first"):
        cfg = tiny_config(trainer__hybrid={"cycles": 1, "alpha": 0.5, "order": order, "warmup_epochs": 0})
        pde = build_pde(cfg.physics)
        exp = build_experiment(cfg, pde, load_or_generate(cfg, pde)[0])
        start = initial_states(exp)
        got = {}
        after, _ = hybrid_cycle(exp, start, 0, progress=False,
                                on_generated=lambda c, gen, x: got.setdefault(gen, np.asarray(x)))
        x0 = exp.generation_states(exp.real, 0)
        fitted = after["physical"].params if order == "physical_first" else start["physical"].params
        np.testing.assert_allclose(got["physical"], np.asarray(exp.model("physical").generate(fitted, x0)), rtol=1e-6)
        seen[order] = got["physical"]
    assert not np.allclose(seen["synthetic_first"], seen["physical_first"])  # the physics did move in its phase
