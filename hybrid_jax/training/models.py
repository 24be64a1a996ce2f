"""The two models as `predict` functions over parameter pytrees, with their optimisers."""

from __future__ import annotations

import dataclasses
from functools import partial
from typing import Literal

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from hybrid_jax.config import Config, ConfigError, PhysicsConfig
from hybrid_jax.networks import build_network
from hybrid_jax.physics import build_pde
from hybrid_jax.physics.base import PDE, decode_physical, encode_physical
from hybrid_jax.rollout import batched, block_average, network_step, rollout
from hybrid_jax.trainer_config import PhysicalTrainerConfig, RegularizationConfig
from hybrid_jax.training import schedules


def reduced_physics(pde: PDE, physics: PhysicsConfig, f: int) -> tuple[PDE, PhysicsConfig]:
    """The PDE and physics section the physical model runs with: at physics.resolution / 2^f
    (f = trainer.physical.downsample_factor), or `pde` and `physics` themselves when f = 0."""
    if f == 0:
        return pde, physics
    if not pde.periodic:  # block averages and periodic interpolation assume cell-centred periodic states
        raise ConfigError(f"trainer.physical.downsample_factor: physics.name {physics.name} is not a periodic "
                          f"cell-centred family; only 0 is supported, got {f}")
    reduced = dataclasses.replace(physics, resolution=tuple(n // 2**f for n in physics.resolution))
    return build_pde(reduced), reduced


def upsample(x: jax.Array, times: int, first_axis: int, ndim: int, mode: Literal["linear", "nearest"],
             periodic: bool) -> jax.Array:
    """Double the spatial axes `times` times: block-constant (`nearest`), or linear interpolation between
    cell centres (new centres at 1/4 and 3/4 of a cell: 3/4 of it plus 1/4 of its neighbour; periodic,
    or the edge value repeated beyond a wall)."""
    for _ in range(times):
        for a in range(first_axis, first_axis + ndim):
            if mode == "nearest":
                x = jnp.repeat(x, 2, axis=a)
                continue
            n = x.shape[a]
            left = jnp.roll(x, 1, axis=a) if periodic else jnp.concatenate(
                [jax.lax.slice_in_dim(x, 0, 1, axis=a), jax.lax.slice_in_dim(x, 0, n - 1, axis=a)], axis=a)
            right = jnp.roll(x, -1, axis=a) if periodic else jnp.concatenate(
                [jax.lax.slice_in_dim(x, 1, n, axis=a), jax.lax.slice_in_dim(x, n - 1, n, axis=a)], axis=a)
            pair = jnp.stack([0.25 * left + 0.75 * x, 0.75 * x + 0.25 * right], axis=a + 1)
            x = pair.reshape(x.shape[:a] + (2 * n,) + x.shape[a + 1:])
    return x


Unroll = Literal["none", "steps", "substeps"]
FLAT_MAX = 8  # PDE steps (substeps) a flat physical train step unrolls at most (compile time grows faster)
ROLLED_ONLY = frozenset({"smoke", "closed_smoke"})  # pressure projection: PhiML's jitted linear solve


def flat_physics(physics: PhysicsConfig, phy: PhysicalTrainerConfig, horizon: int, backend: str) -> Unroll:
    """How much of the physical model's K-step training rollout is unrolled (`physical_model`'s `unroll`), so
    that a phase's Adam steps are one flat loop (the device epoch loop's scan over steps) rather than nested
    while loops (steps × K × substeps).

    No `checkpoint_rollout` (it needs the rolled loop); at most FLAT_MAX unrolled PDE (sub)steps. On CPU the K
    steps only, from `python -m benchmarks epoch_loop --cycles 0` (the smoke job's step: 32², batch 8, K 4,
    2 substeps; a 2-core CPU shared with other jobs, so noisy): K unrolled took 0.62, 0.62, 1.08 and 0.80x the
    rolled form's step time in four measurements (22-31 ms against 28-37 ms), compile -0.8 to +2.5 s; K and the
    substeps unrolled 0.88-1.29x (no gain). On GPU/TPU the substeps too: one straight-line body per Adam step, as
    a while loop costs a launch and a host round trip per iteration there (not measured).

    Never for the families whose step solves a linear system through a PhiML-jitted solver (`ROLLED_ONLY`:
    its trace cache fails when the step is traced K times in one program), and the substeps stay rolled
    while their number is chosen at build time (``substeps: auto``)."""
    if phy.checkpoint_rollout or horizon > FLAT_MAX or physics.name in ROLLED_ONLY:
        return "none"
    substeps = getattr(physics, "substeps", 1) or 1
    fixed = isinstance(substeps, int)
    return "substeps" if backend != "cpu" and fixed and horizon * substeps <= FLAT_MAX else "steps"


def physical_model(pde: PDE, physics: PhysicsConfig, phy: PhysicalTrainerConfig,
                   upsampling: Literal["linear", "nearest"] = "linear", unroll: Unroll = "none"):
    """(initial optimised params, predict, optimiser) of the physical model: `pde` of the `physics`
    section, trained as `phy` (trainer.physical) says.

    With phy.downsample_factor f > 0 it runs on `reduced_physics`: predict block-averages
    x0, rolls out there and upsamples every frame back to `pde`'s grid (`upsampling`: linear for
    generated data and evaluation; nearest for the loss, see the config key's documentation).
    `unroll` (see `flat_physics`): none, the K-step rollout is a `lax.scan` and each PDE step's substeps a
    `fori_loop`; steps, the K steps unrolled; substeps, the substeps too (straight-line code). The same
    arithmetic in each form, to float32 round-off (tests/test_epoch_loop.py).
    """
    remat, f, ndim = phy.checkpoint_rollout, phy.downsample_factor, len(pde.spatial_shape)
    model_pde, _ = reduced_physics(pde, physics, f)
    if unroll == "substeps":
        from hybrid_jax.physics._grid import unrolled_substeps

        def flat_step(x, p):
            with unrolled_substeps():  # entered whenever this jitted function is traced
                return model_pde.step(x, p)

        pde_step = jax.jit(flat_step)
    else:
        pde_step = jax.jit(model_pde.step)  # one trace of the PhiFlow step for every program that rolls it out
    unrolled = unroll != "none" and not remat

    def predict(raw, x0, horizon):
        step = batched(pde_step, decode_physical(model_pde, raw))
        if f == 0:
            return rollout(step, x0, horizon, remat=remat, unroll=unrolled)
        traj = rollout(step, block_average(x0, 2**f, 1, ndim), horizon, remat=remat, unroll=unrolled)
        return upsample(traj, f, 2, ndim, upsampling, pde.periodic).astype(x0.dtype)

    return encode_physical(model_pde, model_pde.init_params()), predict, physical_optimizer(phy)


def physical_optimizer(p: PhysicalTrainerConfig) -> optax.GradientTransformation:
    """Adam, or L-BFGS with optax's zoom line search (its `update` needs value, grad and value_fn).

    The L-BFGS chain is `optax.lbfgs`'s, plus `unit_first_step`: optax scales the first direction
    (empty memory) to norm min(‖g‖, 1), which for PDE misfits (‖g‖ ~ 1e-5) starts the line search
    orders of magnitude short of the minimum; we start it at a unit step in the optimised (log) space.
    """
    if p.optimizer == "lbfgs":
        return optax.chain(
            optax.scale_by_lbfgs(memory_size=p.memory_size),
            unit_first_step(),
            optax.scale(-1.0),
            optax.scale_by_zoom_linesearch(max_linesearch_steps=p.max_linesearch_steps, initial_guess_strategy="one"),
        )
    return schedules.adam(p.learning_rate, p.lr_schedule)


def unit_first_step() -> optax.GradientTransformation:
    """Rescale the first update after `init` to unit norm; later updates pass unchanged."""

    def init(params):
        del params
        return jnp.zeros((), jnp.int32)

    def update(updates, count, params=None):
        del params
        scale = jnp.where(count == 0, 1.0 / jnp.maximum(optax.tree.norm(updates), 1e-30), 1.0)
        return jax.tree.map(lambda u: (u * scale).astype(u.dtype), updates), count + 1

    return optax.GradientTransformation(init, update)


def smoothness_penalty(pde: PDE, physics: PhysicsConfig, reg: RegularizationConfig):
    """``penalty(raw params) -> scalar`` of `reg` (trainer.physical.regularization) on the grid of
    `physics` (that of `pde`), or None.

    Applies to field parameters (those with the grid's spatial shape), on the optimised values
    (log for the PDE's positive parameters, so the weight does not depend on the parameter's
    scale): gradient_l2 = mean over cells of |∇θ|², total_variation = mean of sqrt(|∇θ|² + ε²)
    with ε = 1e-3 (smooth at 0); ∇ by forward differences in domain units, periodic if the PDE is.
    """
    if reg.kind == "none" or reg.weight == 0:
        return None
    shape = tuple(pde.spatial_shape)
    dx = tuple(length / n for length, n in zip(physics.domain, physics.resolution))

    def diff(v, axis, h):
        nxt = jnp.roll(v, -1, axis=axis) if pde.periodic else jnp.concatenate(
            [jax.lax.slice_in_dim(v, 1, None, axis=axis), jax.lax.slice_in_dim(v, -1, None, axis=axis)], axis=axis)
        return (nxt - v) / h

    def penalty(raw):
        total = jnp.zeros((), jnp.float32)
        for v in raw.values():
            if tuple(v.shape[: len(shape)]) != shape:
                continue  # scalars (and anything not on the grid) are not regularised
            grad2 = sum(diff(v, a, h) ** 2 for a, h in enumerate(dx))
            total = total + jnp.mean(grad2 if reg.kind == "gradient_l2" else jnp.sqrt(grad2 + 1e-6))
        return (reg.weight * total).astype(jnp.float32)

    return penalty


def synthetic_model(pde: PDE, cfg: Config):
    """(graphdef, initial params, predict, optimiser) of the network, initialised from the config seed.

    ``predict(params, x0, K, key=None)``: given a `key` (training) and ``network.input_noise = σ > 0``,
    every step starts from its state plus Gaussian noise N(0, σ²) on the dynamic channels. JAX's (default)
    partitionable threefry draws the first K steps' noise alike for every K, so a curriculum's short
    rollouts see the noise of the full window's first steps (tests/test_curriculum.py checks it).
    """
    layout = pde.layout
    net = build_network(cfg.network, in_channels=layout.num_channels, out_channels=layout.num_dynamic,
                        ndim=len(pde.spatial_shape), periodic=pde.periodic, rngs=nnx.Rngs(cfg.seed))
    graphdef, params = nnx.split(net)
    params = jax.tree.map(lambda x: x.astype(jnp.float32), params)
    residual = cfg.network.prediction == "residual"
    remat = cfg.trainer.synthetic.checkpoint_rollout
    sigma = cfg.network.input_noise
    apply = jax.jit(lambda params, x: nnx.merge(graphdef, params)(x))  # traced once per batch shape, not per step

    def predict(params, x0, horizon, key=None):
        step = network_step(partial(apply, params), layout.num_dynamic, residual)
        if key is None or not sigma:
            return rollout(step, x0, horizon, remat=remat)
        noise = sigma * jax.random.normal(key, (horizon, *x0.shape[:-1], layout.num_dynamic), jnp.float32)
        return rollout(step, x0, horizon, remat=remat, inputs=noise)

    syn = cfg.trainer.synthetic
    return graphdef, params, predict, schedules.adam(syn.learning_rate, syn.lr_schedule)


NOISE_STREAM = 7  # folded into the seed's key: input noise draws from its own stream


def input_noise_key(seed: int, sigma: float) -> jax.Array | None:
    """Base key of the network's training input noise of std `sigma` (network.input_noise; the train
    step folds in its step count) from the run's `seed`, or None if off (sigma 0)."""
    if not sigma:
        return None
    return jax.random.fold_in(jax.random.PRNGKey(seed), NOISE_STREAM)
