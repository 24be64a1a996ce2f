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
import math
import time
from dataclasses import dataclass
from functools import partial
from typing import Iterator

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from hybrid_jax.config import Config, ConfigError
from hybrid_jax.data.masks import observation_mask, observed_windows, time_mask
from hybrid_jax.data.sources import GENERATED, REAL, WindowSource, full_batch, mixed_batches
from hybrid_jax.parallel import batch_sharding, make_mesh, replicate, replicated, shard, to_host
from hybrid_jax.data.windows import split_simulations, window_index
from hybrid_jax.physics.base import PDE
from hybrid_jax.training.models import input_noise_key, physical_model, smoothness_penalty, synthetic_model
from hybrid_jax.training.steps import (TrainState, init_optimizer, init_state, make_eval_step, make_generate,
                                       make_train_step)

log = logging.getLogger(__name__)

PHASE_WARMUP, PHASE_SYNTHETIC, PHASE_PHYSICAL = 0, 2, 4


class TrainingDiverged(RuntimeError):
    """Too many consecutive steps had NaN/inf loss, gradients or parameters."""


@dataclass
class ModelFns:
    """The jitted functions of one model."""

    name: str
    predict: object
    train_step: object
    eval_step: object
    generate: object
    full_batch: bool = False  # each epoch one step on all windows, in a fixed order
    restart: object = None  # params -> fresh optimiser state: a line search restarts per training phase


@dataclass
class Experiment:
    """Everything fixed for one run: config, PDE, device data, windows and jitted functions."""

    cfg: Config
    pde: PDE
    mesh: jax.sharding.Mesh  # 1-D data-parallel mesh
    real: jax.Array  # [N, T, *spatial, C] on every device
    real_mask: jax.Array  # [T, *spatial] observed cells of real data
    train_windows: np.ndarray  # [W, 2] (sim, t)
    val_windows: np.ndarray
    num_generated: int
    synthetic: ModelFns
    physical: ModelFns
    init_params: dict  # {"synthetic": ..., "physical": ...}
    txs: dict
    no_generated: jax.Array  # [max(M, 1), K+1, *spatial, C] zeros: the generated slot when there is none

    def data(self) -> dict:
        """The arrays every jitted step reads (real trajectories and mask, generated rollouts)."""
        return {"real": self.real, "real_mask": self.real_mask, "generated": self.no_generated}

    @property
    def horizon(self) -> int:
        return self.cfg.data.rollout_steps


def build_experiment(cfg: Config, pde: PDE, trajectories: np.ndarray) -> Experiment:
    """Put the trajectories on the device, index the windows and build the jitted steps."""
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
    fraction = h.generated_fraction if h.generated_fraction is not None else max(h.alpha, h.schedule.final)
    n_gen = math.ceil(fraction * len(train_w)) if cfg.mode == "hybrid" else 0
    mesh = make_mesh(cfg.parallel)
    n_dev = mesh.devices.size
    if cfg.trainer.batch_size % n_dev:
        raise ConfigError(f"trainer.batch_size: must be divisible by the {n_dev} devices of the mesh, "
                          f"got {cfg.trainer.batch_size}")
    n_gen = -(-n_gen // n_dev) * n_dev  # generated rollouts are split evenly across devices

    _, syn_params, syn_predict, syn_tx = synthetic_model(pde, cfg)
    phy_params, phy_predict, phy_tx = physical_model(pde, cfg)
    phy = cfg.trainer.physical
    fns = {"synthetic": ModelFns("synthetic", syn_predict,
                                 make_train_step(syn_predict, syn_tx, nd, horizon, noise_key=input_noise_key(cfg)),
                                 make_eval_step(syn_predict, nd, horizon), make_generate(syn_predict, horizon)),
           "physical": ModelFns("physical", phy_predict,
                                make_train_step(phy_predict, phy_tx, nd, horizon, penalty=smoothness_penalty(pde, cfg),
                                                linesearch=phy.optimizer == "lbfgs"),
                                make_eval_step(phy_predict, nd, horizon), make_generate(phy_predict, horizon),
                                full_batch=phy.batching == "full",
                                restart=jax.jit(partial(init_optimizer, phy_tx), out_shardings=replicated(mesh))
                                if phy.optimizer == "lbfgs" else None)}
    return Experiment(
        cfg=cfg, pde=pde, mesh=mesh, real=replicate(mesh, np.asarray(trajectories, np.float32)),
        real_mask=replicate(mesh, np.asarray(observation_mask(obs, pde.spatial_shape, n_frames), np.float32)),
        train_windows=train_w, val_windows=val_w, num_generated=n_gen,
        synthetic=fns["synthetic"], physical=fns["physical"],
        init_params={"synthetic": syn_params, "physical": phy_params},
        txs={"synthetic": syn_tx, "physical": phy_tx},
        no_generated=replicate(mesh, np.zeros((max(n_gen, 1), horizon + 1) + trajectories.shape[2:], np.float32)),
    )


def initial_states(exp: Experiment) -> dict[str, TrainState]:
    return {name: replicate(exp.mesh, init_state(exp.init_params[name], exp.txs[name]))
            for name in ("synthetic", "physical")}


def alpha_at(cfg: Config, cycle: int) -> float:
    """Alpha of a cycle: constant, or linear from `alpha` (cycle 0) to `schedule.final` (last cycle)."""
    h = cfg.trainer.hybrid
    if h.schedule.kind == "constant" or h.cycles == 1:
        return h.alpha
    return h.alpha + (h.schedule.final - h.alpha) * cycle / (h.cycles - 1)


def epoch_seed(seed: int, cycle: int, phase: int, epoch: int) -> int:
    """Shuffle seed of one epoch, a pure function of where it is in the run (exact resume)."""
    return int(np.random.SeedSequence([seed, cycle + 1, phase, epoch]).generate_state(1)[0])


def run_epochs(exp: Experiment, fns: ModelFns, state: TrainState, data: dict, sources: list[WindowSource],
               epochs: int, cycle: int, phase: int, progress: bool) -> tuple[TrainState, list[float]]:
    """Train `epochs` epochs over the mixed sources; return the state and the mean loss of each epoch.

    A line-search optimiser starts each call with an empty curvature memory (the data, hence the
    objective, differ between phases and cycles); in full-batch mode it stops early, with fewer
    epoch losses, once two consecutive steps made no progress (converged to float32 round-off).
    """
    cfg = exp.cfg
    losses = []
    if fns.restart is not None and epochs:
        state = state._replace(opt_state=fns.restart(state.params))
    stalled = 0
    for epoch in range(epochs):
        if fns.full_batch:  # the same batch every epoch: a line search may reuse its stored value after the first
            batches = [full_batch(sources)]
        else:
            batches = mixed_batches(sources, cfg.trainer.batch_size, epoch_seed(cfg.seed, cycle, phase, epoch))
        step_losses, oks = [], []
        for idx in tqdm(batches, desc=f"cycle {cycle} {fns.name} epoch {epoch}", leave=False,
                        disable=None if progress else True):
            fresh = not fns.full_batch or epoch == 0
            state, m = fns.train_step(state, data, shard(exp.mesh, idx), fresh)
            step_losses.append(m["loss"])
            oks.append(m["ok"])
        oks = to_host(jnp.stack(oks))
        failures = int(to_host(state.failures))
        if not oks.all():
            log.warning("cycle %d, %s epoch %d: %d step(s) with NaN/inf rejected, last good state kept "
                        "(step %s of 0..%d)", cycle, fns.name, epoch, int((~oks).sum()),
                        ", ".join(map(str, np.flatnonzero(~oks))), len(oks) - 1)
        if failures >= cfg.trainer.max_consecutive_failures:
            raise TrainingDiverged(f"{fns.name} model: {failures} consecutive steps with NaN/inf "
                                   f"(cycle {cycle}, epoch {epoch}, step {len(oks) - 1}); stopping with the "
                                   f"last good state")
        good = to_host(jnp.stack(step_losses))[oks]
        losses.append(float(good.mean()) if len(good) else float("nan"))
        if fns.full_batch and fns.restart is not None:
            stalled = 0 if bool(to_host(m["progress"])) else stalled + 1
            if stalled >= 2:
                log.info("cycle %d, %s: converged after %d epoch(s) (no decrease in two line searches)",
                         cycle, fns.name, epoch + 1)
                break
    return state, losses


def validate(exp: Experiment, fns: ModelFns, params) -> float:
    """Mean per-window loss over all validation windows (real data only, weight 1)."""
    b = exp.cfg.trainer.batch_size
    windows = exp.val_windows
    pad = (-len(windows)) % b
    padded = np.concatenate([windows, np.repeat(windows[:1], pad, axis=0)])
    data = exp.data()
    out = []
    for i in range(0, len(padded), b):
        chunk = padded[i:i + b]
        idx = {"source": np.full(b, REAL, np.int32), "sim": chunk[:, 0], "t": chunk[:, 1],
               "weight": np.ones(b, np.float32)}
        out.append(to_host(fns.eval_step(params, data, shard(exp.mesh, idx))))
    return float(np.concatenate(out)[: len(windows)].mean())


def generation_states(exp: Experiment, cycle: int) -> jax.Array:
    """Initial states ``[M, *spatial, C]`` of a cycle's generated rollouts (real windows or the prior)."""
    key = jax.random.fold_in(jax.random.PRNGKey(exp.cfg.seed), 1000 + cycle)
    m = exp.num_generated
    split = jax.jit(lambda f, *args: f(*args), static_argnums=0, out_shardings=batch_sharding(exp.mesh))
    if exp.cfg.trainer.hybrid.generation_source == "prior":
        return split(exp.pde.sample_initial_state, key, m)
    w = exp.train_windows
    sel = w[to_host(jax.random.choice(key, len(w), (m,), replace=m > len(w)))]
    return split(lambda real: real[sel[:, 0], sel[:, 1]], exp.real)


def hybrid_cycle(exp: Experiment, states: dict[str, TrainState], cycle: int, progress: bool):
    """One cycle of the configured mode; returns the new states and the cycle's metrics."""
    cfg = exp.cfg
    mode, alpha = cfg.mode, alpha_at(cfg, cycle)
    use_generated = mode == "hybrid" and alpha > 0 and exp.num_generated > 0
    real_src = WindowSource(exp.train_windows, REAL, 1.0)
    gen_src = WindowSource(np.stack([np.arange(exp.num_generated), np.zeros(exp.num_generated)], 1), GENERATED, alpha)
    sources = [real_src, gen_src] if use_generated else [real_src]
    data = exp.data()
    metrics: dict = {"cycle": cycle, "alpha": alpha if mode == "hybrid" else None, "timings_s": {}}
    timings = metrics["timings_s"]
    x0 = generation_states(exp, cycle) if use_generated else None

    # phases 1-2: the physics generates, the network trains; phases 3-4: the other way round
    for name, generator, phase in [("synthetic", "physical", PHASE_SYNTHETIC), ("physical", "synthetic", PHASE_PHYSICAL)]:
        if name not in trained_models(cfg):
            continue
        if use_generated:
            t = time.perf_counter()
            data["generated"] = getattr(exp, generator).generate(states[generator].params, x0).block_until_ready()
            timings[f"generate_{generator}"] = time.perf_counter() - t
        t = time.perf_counter()
        epochs = getattr(cfg.trainer, name).epochs
        states[name], metrics[f"{name}_epoch_losses"] = run_epochs(exp, getattr(exp, name), states[name], data,
                                                                   sources, epochs, cycle, phase, progress)
        timings[f"train_{name}"] = time.perf_counter() - t
    t = time.perf_counter()
    for name in trained_models(cfg):
        metrics[f"{name}_val_loss"] = validate(exp, getattr(exp, name), states[name].params)
    timings["validate"] = time.perf_counter() - t
    return states, metrics


def trained_models(cfg: Config) -> tuple[str, ...]:
    return {"synthetic": ("synthetic",), "physical": ("physical",), "hybrid": ("synthetic", "physical")}[cfg.mode]


def warmup(exp: Experiment, states: dict[str, TrainState], progress: bool):
    """Optional synthetic epochs on real data only before the first cycle (hybrid mode)."""
    epochs = exp.cfg.trainer.hybrid.warmup_epochs
    data = exp.data()
    states["synthetic"], losses = run_epochs(exp, exp.synthetic, states["synthetic"], data,
                                             [WindowSource(exp.train_windows, REAL, 1.0)], epochs, -1,
                                             PHASE_WARMUP, progress)
    return states, {"cycle": -1, "warmup_epoch_losses": losses}


def train_cycles(exp: Experiment, states: dict[str, TrainState], start_cycle: int = 0,
                 progress: bool = True) -> Iterator[tuple[int, dict[str, TrainState], dict]]:
    """Run cycles `start_cycle`.. of the config, yielding (cycle, states, metrics) after each.

    The warm-up (if any) is yielded as cycle -1 before cycle 0.
    """
    cfg = exp.cfg
    if start_cycle == 0 and cfg.mode == "hybrid" and cfg.trainer.hybrid.warmup_epochs:
        states, metrics = warmup(exp, states, progress)
        yield -1, states, metrics
    for cycle in tqdm(range(start_cycle, cfg.trainer.hybrid.cycles), desc=f"{cfg.mode} cycles",
                      initial=start_cycle, total=cfg.trainer.hybrid.cycles, disable=None if progress else True):
        t = time.perf_counter()
        states, metrics = hybrid_cycle(exp, states, cycle, progress)
        metrics["timings_s"]["cycle"] = time.perf_counter() - t
        yield cycle, states, metrics
