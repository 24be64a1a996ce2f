"""The training loop: single-model epochs and the hybrid cycle, over pure train states.

Each cycle (hybrid mode) runs the design note's four phases:
1. the physical model rolls out from initial states   -> generated windows (weight alpha)
2. the synthetic model trains on real + those windows
3. the synthetic model rolls out from the same states -> generated windows (weight alpha)
4. the physical model trains on real + those windows
then both are validated on real data only. In `synthetic` / `physical` mode a cycle is just
phase 2 / phase 4 without generated data, so `alpha = 0` hybrid training and single-model
training take identical steps.
"""

from __future__ import annotations

import logging
import time
from functools import partial
from typing import Callable, Iterator

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from hybrid_jax.config import Config, ConfigError
from hybrid_jax.errors import TrainingDiverged
from hybrid_jax.interrupts import check_stop
from hybrid_jax.footprint import PREFETCH, free_memory, real_on_device
from hybrid_jax.data.masks import observation_mask, observed_windows, time_mask
from hybrid_jax.data.sources import (GENERATED, REAL, WindowSource, full_batch, host_windows, kept_windows,
                                     mixed_batches, streamed)
from hybrid_jax.memory import size_text
from hybrid_jax.parallel import AXIS, batch_sharding, make_mesh, replicate, replicated, shard, to_host
from hybrid_jax.data.windows import split_simulations, window_index
from hybrid_jax.physics.base import PDE
from hybrid_jax.experiment import Experiment, GenerationStates, ModelFns, ModelName, trained_models
from hybrid_jax.training.plan import (alpha_schedule, coupling_weights, first_epoch, generated_weights,
                                     horizon_schedule, num_generated)
from hybrid_jax.training.models import (flat_physics, input_noise_key, physical_model, reduced_physics,
                                       smoothness_penalty, synthetic_model)
from hybrid_jax.training.records import CycleResult, WarmupResult
from hybrid_jax.training.steps import (Params, TrainState, device_epochs, init_optimizer, init_state, make_eval_step,
                                       make_generate, make_train_step, model_fns)

States = dict[ModelName, TrainState]
OnGenerated = Callable[[int, ModelName, jax.Array], None]
"""``on_generated(cycle, generator, rollouts [M, L+1, *spatial, C])``."""

log = logging.getLogger(__name__)

PHASE_WARMUP, PHASE_SYNTHETIC, PHASE_PHYSICAL = 0, 2, 4




def build_experiment(cfg: Config, pde: PDE, trajectories: np.ndarray) -> Experiment:
    """Put the trajectories on the device, index the windows and build the jitted steps."""
    if cfg.network.architecture == "neural_field":
        raise ConfigError("network.architecture: neural_field maps (x, t) to the state and cannot be rolled out "
                          "from a state in the windowed cycle; use it with sensor data (docs/coupling.md)")
    horizon, nd = cfg.data.rollout_steps, pde.layout.num_dynamic
    n_sims, n_frames = trajectories.shape[:2]
    train_sims, val_sims = split_simulations(n_sims, cfg.data.validation_fraction, cfg.seed)
    obs = cfg.data.observation
    frames_observed = time_mask(obs, n_frames)
    train_w = observed_windows(window_index(train_sims, n_frames, horizon, cfg.data.window_stride), frames_observed,
                               horizon)
    val_w = observed_windows(window_index(val_sims, n_frames, horizon, cfg.data.window_stride), frames_observed,
                             horizon)
    if not len(train_w) or not len(val_w):
        raise ConfigError("data.observation: no window starts at an observed frame and has an observed target "
                          "among the next data.rollout_steps frames")
    h = cfg.trainer.hybrid
    n_gen = num_generated(cfg, len(train_w))
    real_only_epochs = cfg.mode != "hybrid" or h.warmup_epochs > 0 or n_gen == 0 or min(generated_weights(cfg)) == 0
    windows = len(train_w) + (0 if real_only_epochs else n_gen)
    if cfg.mode == "hybrid" and n_gen:  # a hybrid epoch draws a fraction of the real windows
        windows = min(windows, kept_windows(len(train_w), h.real_fraction) + n_gen)
    if (cfg.mode != "physical" or cfg.trainer.physical.batching != "full") and cfg.trainer.batch_size > windows:
        raise ConfigError(f"trainer.batch_size: {cfg.trainer.batch_size} is larger than the {windows} training "
                          f"windows{'' if real_only_epochs else ' (real and generated)'} of this data")
    mesh = make_mesh(cfg.parallel)
    n_dev = mesh.devices.size
    if cfg.trainer.batch_size % n_dev:
        raise ConfigError(f"trainer.batch_size: must be divisible by the {n_dev} devices of the mesh, "
                          f"got {cfg.trainer.batch_size}")
    n_gen = -(-n_gen // n_dev) * n_dev  # generated rollouts are split evenly across devices

    _, syn_params, syn_predict, syn_tx = synthetic_model(pde, cfg)
    phy, syn = cfg.trainer.physical, cfg.trainer.synthetic
    phy_params, phy_predict, phy_tx = physical_model(pde, cfg.physics, phy)
    loss_predict = physical_model(pde, cfg.physics, phy, "nearest")[1] if phy.downsample_factor else phy_predict
    flat = flat_physics(cfg.physics, phy, phy.rollout_steps or horizon, jax.default_backend())
    train_predict = loss_predict if flat == "none" else \
        physical_model(pde, cfg.physics, phy, "nearest" if phy.downsample_factor else "linear", flat)[1]
    k_phy = phy.rollout_steps or horizon
    penalty = smoothness_penalty(*reduced_physics(pde, cfg.physics, phy.downsample_factor), phy.regularization)
    noise_key = input_noise_key(cfg.seed, cfg.network.input_noise)
    gen = h.generation
    lengths = {"synthetic": gen.physical_length or horizon, "physical": gen.synthetic_length or horizon}  # of the
    # generated rollouts each model trains on (the other model's)
    zeros = {n: np.zeros((max(n_gen, 1), (n if n_gen else horizon) + 1) + trajectories.shape[2:], np.float32)
             for n in set(lengths.values())}  # without generated data the slot is never read: one window long
    zeros = {n: replicate(mesh, z) for n, z in zeros.items()}
    fns = {"synthetic": model_fns("synthetic", syn_predict,
                                 make_train_step(syn_predict, syn_tx, nd, horizon, noise_key=noise_key,
                                                 proportional=syn.coupling.proportional),
                                 make_eval_step(syn_predict, nd, horizon),
                                 make_generate(syn_predict, lengths["physical"]), horizon, horizon_schedule(cfg)),
           "physical": model_fns("physical", phy_predict,
                                make_train_step(train_predict, phy_tx, nd, k_phy,
                                                penalty=penalty,
                                                linesearch=phy.optimizer == "lbfgs",
                                                proportional=phy.coupling.proportional, window=horizon),
                                make_eval_step(loss_predict, nd, k_phy, window=horizon),
                                make_generate(phy_predict, lengths["synthetic"]), k_phy,
                                full_batch=phy.batching == "full",
                                restart=jax.jit(partial(init_optimizer, phy_tx), out_shardings=replicated(mesh))
                                if phy.optimizer == "lbfgs" else None)}
    generated_windows = {name: window_index(np.arange(n_gen), n + 1, horizon, cfg.data.window_stride)
                         for name, n in lengths.items()}
    max_steps = (len(train_w) + max(len(w) for w in generated_windows.values())) // cfg.trainer.batch_size
    on_device = real_on_device(cfg, trajectories.size * 4, free_memory())
    if not on_device:
        log.info("data.placement: %s of real trajectories stay on the host; each batch's windows are streamed",
                 size_text(trajectories.size * 4))
    for name, f in fns.items():
        if device_loop(cfg, name, on_device):
            f.train_epochs = device_epochs(f.train_step, cfg.seed, cfg.trainer.batch_size,
                                           cfg.trainer.max_consecutive_failures,
                                           jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(None, AXIS)))
    return Experiment(
        cfg=cfg, pde=pde, mesh=mesh, real_on_device=on_device,
        real=replicate(mesh, np.asarray(trajectories, np.float32)) if on_device
        else np.asarray(trajectories, np.float32),
        real_mask=replicate(mesh, np.asarray(observation_mask(obs, pde.spatial_shape, n_frames), np.float32)),
        train_windows=train_w, val_windows=val_w, num_generated=n_gen,
        synthetic=fns["synthetic"], physical=fns["physical"],
        init_params={"synthetic": syn_params, "physical": phy_params},
        txs={"synthetic": syn_tx, "physical": phy_tx},
        generated_windows=generated_windows,
        no_generated={name: zeros[n] for name, n in lengths.items()},
        generation_states=make_generation_states(cfg, pde, train_w, n_gen, mesh, on_device),
        steps_per_call=steps_per_call(cfg, max_steps) if on_device else 1,  # streamed: one batch per call
    )


def device_loop(cfg: Config, name: ModelName, on_device: bool = True) -> bool:
    """Whether `name`'s epochs run in the device epoch loop (`steps.device_epochs`), as trainer.epoch_loop says.

    Never for full-batch training (one fixed batch; a line search's restarts and stall test are the host's) or
    with the real trajectories on the host (each batch is streamed). auto: the host on CPU, the device loop on
    GPU/TPU. Measured on CPU (`python -m benchmarks epoch_loop`, the smoke job's steady cycle, 2 shared cores,
    jax 0.10.2, alternated, 5-6 cycles each): the device loop took 8.4-11.5x the host's time for the synthetic
    phase (XLA:CPU runs the UNet's convolutions about 10x slower inside a loop) and 0.87-1.17x for the physical
    phase in three runs (compute-bound there: no launch cost to save), and compiled the physical phase in
    about twice the time. On GPU/TPU, where the smoke cycle is launch-bound, the device loop is not measured.
    """
    if not on_device or (name == "physical" and cfg.trainer.physical.batching == "full"):
        return False
    if cfg.trainer.epoch_loop != "auto":
        return cfg.trainer.epoch_loop == "device"
    return jax.default_backend() != "cpu"


def steps_per_call(cfg: Config, max_steps: int) -> int:
    """Train steps per jitted call: trainer.steps_per_call, by default 1 on CPU (XLA:CPU runs the
    convolutions of a loop body about 10x slower than unrolled ones) and the longest epoch's
    `max_steps` elsewhere; never more than `max_steps` (padding would only add skipped steps)."""
    n = cfg.trainer.steps_per_call or (1 if jax.default_backend() == "cpu" else max_steps)
    return max(1, min(n, max_steps))


def make_generation_states(cfg: Config, pde: PDE, train_windows: np.ndarray, num: int,
                           mesh: jax.sharding.Mesh, on_device: bool = True) -> GenerationStates:
    """``states(real, cycle) -> [num, *spatial, C]``, jitted: the initial states of a cycle's generated
    rollouts, split over the mesh; `num` real training windows' first frames drawn with the cycle's key
    (with replacement only if there are fewer windows), or `num` samples of the PDE's prior. With the real
    trajectories on the host (not `on_device`) the windows are drawn the same way and gathered there."""
    windows = np.asarray(train_windows, np.int32)
    prior = cfg.trainer.hybrid.generation_source == "prior"

    def select(cycle) -> jax.Array:  # [num, 2] (sim, t) of the real windows whose first frames start
        key = jax.random.fold_in(jax.random.PRNGKey(cfg.seed), 1000 + cycle)
        return jnp.asarray(windows)[jax.random.choice(key, len(windows), (num,), replace=num > len(windows))]

    def states(real: jax.Array, cycle) -> jax.Array:
        if prior:
            return pde.sample_initial_state(jax.random.fold_in(jax.random.PRNGKey(cfg.seed), 1000 + cycle), num)
        sel = select(cycle)
        return real[sel[:, 0], sel[:, 1]]

    jitted = jax.jit(states, out_shardings=batch_sharding(mesh))
    if on_device or prior:
        return jitted
    pick = jax.jit(select)

    def from_host(real: np.ndarray, cycle) -> jax.Array:  # host trajectories (data.placement): gather there
        sel = np.asarray(pick(cycle))
        return shard(mesh, np.asarray(real[sel[:, 0], sel[:, 1]]))

    return from_host


def initial_states(exp: Experiment) -> States:
    return {name: replicate(exp.mesh, init_state(exp.init_params[name], exp.txs[name]))
            for name in ("synthetic", "physical")}


def epoch_horizons(fns: ModelFns, first: int, count: int) -> list[int]:
    """K of each of `count` epochs of a model starting at its run-wide epoch `first`."""
    return [fns.horizon if fns.horizon_at is None else fns.horizon_at(first + e) for e in range(count)]


def epoch_seed(seed: int, cycle: int | None, phase: int, epoch: int) -> int:
    """Shuffle seed of one epoch, a pure function of where it is in the run (exact resume);
    `cycle` None: the warm-up."""
    return int(np.random.SeedSequence([seed, 0 if cycle is None else cycle + 1, phase, epoch]).generate_state(1)[0])


def _where(cycle: int | None) -> str:
    return "warm-up" if cycle is None else f"cycle {cycle}"


def run_epochs(exp: Experiment, fns: ModelFns, state: TrainState, data: dict, sources: list[WindowSource],
               epochs: int, cycle: int | None, phase: int, progress: bool) -> tuple[TrainState, list[float]]:
    """Train `epochs` epochs over the mixed sources (`cycle` None: the warm-up); return the state and
    the mean loss of each epoch. Each epoch's steps roll out its K (`epoch_horizons`): one compiled
    program per distinct K, so an epoch costs what its K costs. The host shuffles each epoch with Grain
    (`epoch_seed`), or, where the model has a device epoch loop (`device_loop`), several epochs run per call
    with their permutations drawn on the device (`_device_epochs`): another order, as deterministic.

    A line-search optimiser starts each call with an empty curvature memory (the data, hence the
    objective, differ between phases and cycles); in full-batch mode it stops early, with fewer
    epoch losses, once two consecutive steps made no progress (converged to float32 round-off).
    """
    cfg = exp.cfg
    losses = []
    if fns.restart is not None and epochs:
        state = state._replace(opt_state=fns.restart(state.params))
    horizons = epoch_horizons(fns, first_epoch(cfg, cycle), epochs)
    if fns.train_epochs is not None and not fns.full_batch:
        return _device_epochs(exp, fns, state, data, sources, horizons, cycle, phase, progress)
    if exp.steps_per_call > 1 and not fns.full_batch:  # the scan donates its input; the caller may still hold
        state = jax.tree.map(jnp.copy, state)  # `state` (a phase's reversion does)
    stalled = 0
    for epoch in range(epochs):
        k = horizons[epoch]
        desc = f"{_where(cycle)} {fns.name} epoch {epoch}"
        if fns.full_batch:  # the same batch every epoch: a line search may reuse its stored value after the first
            state, step_losses, oks, progressed = _per_step(exp, fns, state, data, [full_batch(sources)], k,
                                                             desc, progress, fresh=epoch == 0)
        else:
            batches = mixed_batches(sources, cfg.trainer.batch_size, epoch_seed(cfg.seed, cycle, phase, epoch))
            run = _per_step if exp.steps_per_call == 1 else _chunked
            state, step_losses, oks, progressed = run(exp, fns, state, data, batches, k, desc, progress)
        losses.append(_epoch_end(cfg, fns.name, cycle, epoch, step_losses, oks, int(to_host(state.failures))))
        if fns.full_batch and fns.restart is not None:
            stalled = 0 if progressed else stalled + 1
            if stalled >= 2:
                log.info("%s, %s: converged after %d epoch(s) (no decrease in two line searches)",
                         _where(cycle), fns.name, epoch + 1)
                break
    return state, losses


def _epoch_end(cfg: Config, name: ModelName, cycle: int | None, epoch: int, step_losses: np.ndarray,
               oks: np.ndarray, failures: int) -> float:
    """The epoch's mean loss over its good steps, after warning of rejected steps; raises `TrainingDiverged`
    if it ended with trainer.max_consecutive_failures consecutive failed steps."""
    if not oks.all():
        log.warning("%s, %s epoch %d: %d step(s) with NaN/inf rejected, last good state kept "
                    "(step %s of 0..%d)", _where(cycle), name, epoch, int((~oks).sum()),
                    ", ".join(map(str, np.flatnonzero(~oks))), len(oks) - 1)
    if failures >= cfg.trainer.max_consecutive_failures:
        raise TrainingDiverged(f"{name} model: {failures} consecutive steps with NaN/inf "
                               f"({_where(cycle)}, epoch {epoch}, step {len(oks) - 1}); stopping with the "
                               f"last good state")
    good = step_losses[oks]
    return float(good.mean()) if len(good) else float("nan")


def epochs_per_call(cfg: Config, epochs: int) -> int:
    """Epochs per call of the device epoch loop: trainer.epochs_per_call, by default ⌈epochs / 4⌉ (a progress
    update, a stop check and a divergence check at most 4 times per phase, at the cost of 4 launches)."""
    return max(1, min(cfg.trainer.epochs_per_call or -(-epochs // 4), epochs))


def _device_epochs(exp: Experiment, fns: ModelFns, state: TrainState, data: dict, sources: list[WindowSource],
                   horizons: list[int], cycle: int | None, phase: int,
                   progress: bool) -> tuple[TrainState, list[float]]:
    """`run_epochs` in the device epoch loop (`ModelFns.train_epochs`): calls of `epochs_per_call` epochs
    (fewer where the curriculum's K changes: one K per call; a short call is padded with skipped epochs), each
    a flat scan over its steps with the batches drawn on the device (`steps.epoch_order`)."""
    assert fns.train_epochs is not None
    cfg, epochs, losses = exp.cfg, len(horizons), []
    sources = [s for s in sources if len(s)]
    sizes = tuple((len(s), kept_windows(len(s), s.fraction)) for s in sources)
    if sum(k for _, k in sizes) < cfg.trainer.batch_size:
        raise ValueError(f"trainer.batch_size: {cfg.trainer.batch_size} is larger than the "
                         f"{sum(k for _, k in sizes)} training windows")
    pool = replicate(exp.mesh, full_batch(sources))
    per_call = epochs_per_call(cfg, epochs)
    state = jax.tree.map(jnp.copy, state)  # the loop donates its input; the caller may still hold `state`
    where = np.int32(-1 if cycle is None else cycle), np.int32(phase)
    with tqdm(total=epochs, desc=f"{_where(cycle)} {fns.name} epochs", leave=False,
              disable=None if progress else True) as bar:
        first = 0
        while first < epochs:
            check_stop()  # SIGINT/SIGTERM: stop between calls
            k = horizons[first]
            n = next((i for i in range(1, per_call) if first + i >= epochs or horizons[first + i] != k), per_call)
            active = replicate(exp.mesh, np.arange(per_call) < n)
            state, m = fns.train_epochs(state, data, pool, *where, np.int32(first), active, sizes=sizes, horizon=k)
            step_losses, oks, failures = (to_host(m[key]) for key in ("loss", "ok", "failures"))
            for e in range(n):
                losses.append(_epoch_end(cfg, fns.name, cycle, first + e, step_losses[e], oks[e], int(failures[e])))
            first += n
            bar.update(n)
    return state, losses


def step_inputs(exp: Experiment, data: dict, batches, prefetch: int = PREFETCH):
    """``(data, index batch)`` per index batch of `batches` (a Grain dataset or a list), placed on the mesh:
    the batch as is (on-device gather), or with the real trajectories on the host, its real windows read
    there (Grain prefetching `prefetch` batches) and the batch's ``row`` into them."""
    if exp.real_on_device:
        for idx in batches:
            yield data, shard(exp.mesh, idx)
        return
    pairs = (host_windows(exp.real, idx, exp.horizon) for idx in batches) if isinstance(batches, list) \
        else streamed(batches, exp.real, exp.horizon, prefetch)
    for idx, windows in pairs:
        yield {**data, "real": shard(exp.mesh, windows)}, shard(exp.mesh, idx)


EpochSteps = tuple[TrainState, np.ndarray, np.ndarray, bool]
"""(state, loss of each step [n], ok of each step [n], whether the last step made progress)."""


def _per_step(exp: Experiment, fns: ModelFns, state: TrainState, data: dict, batches, horizon: int,
              desc: str, progress: bool, fresh: bool = True) -> EpochSteps:
    """One jitted call per index batch, each rolling out `horizon` steps (`fresh`: see `make_train_step`)."""
    step_losses, oks = [], []
    inputs = step_inputs(exp, data, batches)
    for step_data, idx in tqdm(inputs, total=len(batches), desc=desc, leave=False, disable=None if progress else True):
        check_stop()  # SIGINT/SIGTERM: stop between steps
        state, m = fns.train_step(state, step_data, idx, fresh, horizon=horizon)
        step_losses.append(m["loss"])
        oks.append(m["ok"])
    return state, to_host(jnp.stack(step_losses)), to_host(jnp.stack(oks)), bool(to_host(m["progress"]))


def _chunked(exp: Experiment, fns: ModelFns, state: TrainState, data: dict, batches, horizon: int,
             desc: str, progress: bool) -> EpochSteps:
    """`exp.steps_per_call` index batches per jitted `lax.scan` call (`ModelFns.train_steps`), each
    rolling out `horizon` steps; the last chunk is padded with skipped steps. `state`'s buffers are donated."""
    n, batches = exp.steps_per_call, list(batches)
    step_losses, oks = [], []
    with tqdm(total=len(batches), desc=desc, leave=False, disable=None if progress else True) as bar:
        for i in range(0, len(batches), n):
            check_stop()  # SIGINT/SIGTERM: stop between chunks
            chunk = batches[i:i + n]
            stacked = {k: np.stack([idx[k] for idx in chunk] + [chunk[0][k]] * (n - len(chunk))) for k in chunk[0]}
            active = replicate(exp.mesh, np.arange(n) < len(chunk))
            state, m = fns.train_steps(state, data, shard(exp.mesh, stacked, axis=1), active, horizon=horizon)
            step_losses.append(m["loss"][:len(chunk)])
            oks.append(m["ok"][:len(chunk)])
            bar.update(len(chunk))
    return state, to_host(jnp.concatenate(step_losses)), to_host(jnp.concatenate(oks)), True


def validate(exp: Experiment, fns: ModelFns, params: Params) -> float:
    """Mean per-window loss over all validation windows (real data only, weight 1), padded to whole
    batches: one `ModelFns.eval_chunks` call (steps_per_call > 1), or one call per batch without a
    host transfer in between."""
    b = exp.cfg.trainer.batch_size
    windows = exp.val_windows
    pad = (-len(windows)) % b
    padded = np.concatenate([windows, np.repeat(windows[:1], pad, axis=0)]).reshape(-1, b, 2)
    chunks = {"source": np.full(padded.shape[:2], REAL, np.int32), "sim": padded[..., 0], "t": padded[..., 1],
              "weight": np.ones(padded.shape[:2], np.float32)}
    data = exp.data(fns.name)
    if exp.steps_per_call > 1:
        out = fns.eval_chunks(params, data, shard(exp.mesh, chunks, axis=1))
    else:
        batches = [{k: v[i] for k, v in chunks.items()} for i in range(len(padded))]
        out = jnp.stack([fns.eval_step(params, d, idx) for d, idx in step_inputs(exp, data, batches)])
    return float(to_host(out).reshape(-1)[: len(windows)].mean())


def hybrid_cycle(exp: Experiment, states: States, cycle: int, progress: bool,
                 on_generated: OnGenerated | None = None) -> tuple[States, CycleResult]:
    """One cycle of the configured mode; returns the new states and the cycle's result.
    `on_generated(cycle, generator, rollouts)` is called (on every process) with each generated array."""
    t_cycle = time.perf_counter()
    cfg = exp.cfg
    mode, alpha = cfg.mode, alpha_schedule(cfg)(cycle)
    weights = {name: coupling_weights(cfg, name, cycle) if mode == "hybrid" else (1.0, 0.0)
               for name in trained_models(cfg)}
    uses_generated = {name: w > 0 and exp.num_generated > 0 for name, (_, w) in weights.items()}
    states = dict(states)
    epoch_losses, timings, horizons, val_losses = {}, {}, {}, {}
    rev = cfg.trainer.hybrid.reversion
    reverted = {name: False for name in trained_models(cfg)}
    x0 = exp.generation_states(exp.real, cycle) if any(uses_generated.values()) else None

    # the physics generates, the network trains; and the other way round (trainer.hybrid.order)
    phases = [("synthetic", "physical", PHASE_SYNTHETIC), ("physical", "synthetic", PHASE_PHYSICAL)]
    for name, generator, phase in phases[::-1] if cfg.trainer.hybrid.order == "physical_first" else phases:
        if name not in trained_models(cfg):
            continue
        real_w, gen_w = weights[name]
        real_fraction = cfg.trainer.hybrid.real_fraction if uses_generated[name] and not exp.model(name).full_batch \
            else 1.0
        sources = [WindowSource(exp.train_windows, REAL, real_w, real_fraction)]
        data = exp.data(name)
        if uses_generated[name]:
            sources.append(WindowSource(exp.generated_windows[name], GENERATED, gen_w))
            t = time.perf_counter()
            data["generated"] = exp.model(generator).generate(states[generator].params, x0).block_until_ready()
            timings[f"generate_{generator}"] = time.perf_counter() - t
            if on_generated is not None:
                on_generated(cycle, generator, data["generated"])
        before = states[name]
        check = rev.enabled and getattr(rev, name)
        if check:
            val_before = validate(exp, exp.model(name), before.params)
        t = time.perf_counter()
        states[name], epoch_losses[name] = run_epochs(exp, exp.model(name), states[name], data, sources,
                                                      getattr(cfg.trainer, name).epochs, cycle, phase, progress)
        timings[f"train_{name}"] = time.perf_counter() - t
        horizons[name] = epoch_horizons(exp.model(name), first_epoch(cfg, cycle), len(epoch_losses[name]))
        if check:  # before the next phase, so that a reverted synthetic model is the one that generates
            val_losses[name] = validate(exp, exp.model(name), states[name].params)
            if not val_losses[name] <= (1 - rev.min_improvement) * val_before:  # NaN: revert too
                log.info("cycle %d: %s validation loss %.4g -> %.4g did not improve by %g; phase reverted", cycle,
                         name, val_before, val_losses[name], rev.min_improvement)
                states[name], val_losses[name], reverted[name] = before, val_before, True
    t = time.perf_counter()
    val_losses.update({name: validate(exp, exp.model(name), states[name].params)
                       for name in trained_models(cfg) if name not in val_losses})
    timings["validate"] = time.perf_counter() - t
    timings["cycle"] = time.perf_counter() - t_cycle
    return states, CycleResult(cycle, alpha if mode == "hybrid" else None, epoch_losses, val_losses, timings,
                               horizons, reverted if rev.enabled else None)


def warmup(exp: Experiment, states: States, progress: bool) -> tuple[States, WarmupResult]:
    """Optional synthetic epochs on real data only before the first cycle (hybrid mode)."""
    t = time.perf_counter()
    synthetic, losses = run_epochs(exp, exp.synthetic, states["synthetic"], exp.data(),
                                   [WindowSource(exp.train_windows, REAL, 1.0)], exp.cfg.trainer.hybrid.warmup_epochs,
                                   None, PHASE_WARMUP, progress)
    return {**states, "synthetic": synthetic}, WarmupResult(losses, time.perf_counter() - t,
                                                            epoch_horizons(exp.synthetic, 0, len(losses)))


def train_cycles(exp: Experiment, states: States, start_cycle: int = 0, progress: bool = True,
                 on_generated: OnGenerated | None = None) -> Iterator[tuple[States, WarmupResult | CycleResult]]:
    """Run cycles `start_cycle`.. of the config, yielding (states, result) after each; the warm-up
    (if configured, hybrid mode) runs before cycle 0 and is yielded as its own result.
    `on_generated`: see `hybrid_cycle`."""
    cfg = exp.cfg
    if start_cycle == 0 and cfg.mode == "hybrid" and cfg.trainer.hybrid.warmup_epochs:
        states, result = warmup(exp, states, progress)
        yield states, result
    for cycle in tqdm(range(start_cycle, cfg.trainer.hybrid.cycles), desc=f"{cfg.mode} cycles",
                      initial=start_cycle, total=cfg.trainer.hybrid.cycles, disable=None if progress else True):
        states, result = hybrid_cycle(exp, states, cycle, progress, on_generated)
        yield states, result
