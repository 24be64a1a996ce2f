"""Typed, validated, frozen run configuration.

A config is a tree of frozen dataclasses loaded from YAML. Every leaf is typed; each
field's ``metadata`` may carry a ``check`` (predicate, message) and a ``doc`` string.
Bad input raises :class:`ConfigError` naming the dotted key, e.g.
``trainer.synthetic.learning_rate: must be > 0, got -1``.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import hashlib
import importlib
import importlib.util
import json
import math
import re
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional

import yaml

from hybrid_jax.errors import ConfigError
from hybrid_jax.files import atomic_write, is_plain_name
from hybrid_jax.networks import architectures
from hybrid_jax.physics import families


def option(default, doc, check=None, message=""):
    """A config field: its default, its `doc` (the key reference) and an optional `check`
    (predicate on the typed value) with the `message` of a failed check."""
    return field(default=default, metadata={"doc": doc, "check": check, "message": message})


def section(cls, doc):
    """A config field holding a nested section (a dataclass, default-constructed)."""
    return field(default_factory=cls, metadata={"doc": doc})


def positive(default, doc):
    return option(default, doc, lambda v: v > 0, "must be > 0")


def nonnegative(default, doc):
    return option(default, doc, lambda v: v >= 0, "must be >= 0")


_opt, _sub, _pos, _nonneg = option, section, positive, nonnegative  # short names of the sections below


# ----------------------------------------------------------------------------- physics


class PhysicsConfig:
    """Base of every PDE family's config dataclass: the ``physics`` section is a union tagged by
    its ``name``, resolved through the family registry (`hybrid_jax.physics.families`); a
    family's module, hence PhiFlow, is imported only when its name is used."""

    name: str


def _default_physics() -> PhysicsConfig:
    return families.get("burgers").config()


# ----------------------------------------------------------------------------- data / network


@dataclass(frozen=True)
class ObservationConfig:
    """Which cells and frames of the real data are observed (data.masks); generated data is always full."""

    spatial: Literal["full", "box", "centre", "random_points"] = _opt(
        "full", "observed cells: all; the `box`; a centred box of volume `fraction`; or a random `fraction` "
                "of the cells (drawn with `seed`)")
    box: tuple[tuple[float, ...], ...] = _opt((), "spatial = box: one [lo, hi] per dimension in relative "
                                                  "coordinates (0 = start, 1 = end of the domain); a cell is "
                                                  "observed when its centre lies in [lo, hi)")
    fraction: float = _opt(0.25, "spatial = centre | random_points: observed fraction of the domain volume / cells",
                           lambda v: 0 < v <= 1, "must be in (0, 1]")
    seed: int = _opt(0, "spatial = random_points: seed of the drawn cells")
    time_stride: int = _opt(1, "observe every n-th frame (0, n, 2n, ...)", lambda v: v >= 1, "must be >= 1")
    observed_steps: tuple[int, ...] = _opt((), "explicit observed frame indices (overrides time_stride); "
                                               "empty: by time_stride", lambda v: all(t >= 0 for t in v),
                                           "must be frame indices >= 0")


@dataclass(frozen=True)
class RefineConfig:
    """Simulate the real data on a finer grid and/or time step than the model's, then downsample."""

    space: int = _opt(1, "grid refinement s: the data are simulated at physics.resolution × s (same domain; initial "
                         "states and true coefficient fields sampled on the fine grid) and block-averaged over s^d "
                         "cells to physics.resolution (cell-centred families only)",
                      lambda v: v >= 1, "must be >= 1")
    time: int = _opt(1, "time refinement r: simulated with dt / r (and physics.substeps × s², which keeps the "
                        "explicit stability bound: every substep r·s² times shorter), every r-th solver step kept",
                     lambda v: v >= 1, "must be >= 1")


@dataclass(frozen=True)
class NoiseConfig:
    """Gaussian observation noise on the real training data (clean trajectories are kept for evaluation)."""

    std: float = _nonneg(0.0, "σ of Gaussian noise added to the dynamic channels of every real frame (x0 included), "
                              "relative to each channel's std over the whole dataset (all trajectories, frames and "
                              "cells); drawn from a key of the run's `seed`; applied when the data are loaded, never "
                              "stored; evaluation compares against the clean trajectories; 0: none")
    kind: Literal["relative"] = _opt("relative", "scale of std: relative to each dynamic channel's dataset std")


@dataclass(frozen=True)
class ForcingConfig:
    """A static forcing the physical model lacks (misspecification), in the data generation only."""

    amplitude: float = _opt(0.0, "a of f(x) = a·Π_i sin(2π·k·x_i/L_i) (x_i cell centres, L_i physics.domain), "
                                 "added as dt·f to every dynamic channel after each solver step of the data "
                                 "generation (field units / time unit); 0: none")
    wavenumber: int = _pos(1, "k of the forcing (the same in every dimension)")


@dataclass(frozen=True)
class TruthConfig:
    """How the real data differ from what the physical model can reproduce (all off by default: then the data
    come from the model's own solver, grid and time step, and physical-only training recovers them exactly)."""

    refine: RefineConfig = _sub(RefineConfig, "finer grid / time step of the data generation")
    noise: NoiseConfig = _sub(NoiseConfig, "observation noise on the real training data")
    forcing: ForcingConfig = _sub(ForcingConfig, "a forcing term the family lacks")
    advection: Optional[Literal["maccormack", "semi_lagrangian"]] = _opt(
        None, "generate with this advection scheme instead of physics.advection (families with physics.advection); "
              "null: the model's")

    def simulated(self) -> dict | None:
        """The options that change the simulation (they enter the store's hash); None when all are off."""
        out = {"refine": [self.refine.space, self.refine.time], "forcing": [self.forcing.amplitude,
                                                                              self.forcing.wavenumber],
               "advection": self.advection}
        return None if out == {"refine": [1, 1], "forcing": [0.0, 1], "advection": None} else out


@dataclass(frozen=True)
class DataConfig:
    source: Literal["generate", "files"] = _opt("generate", "simulate trajectories, or read them from `path`")
    path: Optional[str] = _opt(None, "trajectory file or directory (README, Data formats): `.npz` with `trajectories` "
                                     "[N, T, *spatial, C] float32 and `fields`, PDEBench HDF5, a PhiFlow Scene "
                                     "directory or a `.npy` (memory-mapped); required when source = files")
    format: Literal["auto", "npz", "hdf5", "scene", "npy", "original"] = _opt(
        "auto", "format of data.path; auto: by extension (.npz, .h5/.hdf5, .npy; a directory of sim_XXXX.npz files is "
                "the original system's data (docs/data.md), another directory a PhiFlow Scene)")
    store_dir: str = _opt("data", "directory of generated trajectory stores (one subfolder per config hash)")
    num_trajectories: int = _opt(8, "number of simulated trajectories N", lambda v: v >= 2, "must be >= 2")
    num_frames: int = _opt(16, "frames per trajectory T, the initial state included",
                           lambda v: v >= 2, "must be >= 2")
    rollout_steps: int = _pos(4, "K: steps of the multi-step rollout loss (targets per window)")
    window_stride: int = _pos(1, "stride between window start frames")
    validation_fraction: float = _opt(0.25, "fraction of trajectories held out for validation",
                                      lambda v: 0 < v < 1, "must be in (0, 1)")
    generation_chunk: Optional[int] = _opt(
        None, "trajectories simulated per jitted call when generating (memory: one chunk's rollout); the stored "
              "data do not depend on it; default: as many as fit half the free memory (docs/data.md, Memory)",
        lambda v: v is None or v >= 1, "must be >= 1")
    placement: Literal["auto", "device", "host"] = _opt(
        "auto", "where the real trajectories live while training: device (each step gathers its windows there), "
                "host (memory-mapped; each batch's windows are copied to the device, Grain prefetching), or auto "
                "(device if they fit half the free device memory)")
    observation: ObservationConfig = _sub(ObservationConfig, "sparse observations of the real data "
                                                             "(a mask on the loss targets)")
    truth: TruthConfig = _sub(TruthConfig, "real data the physical model cannot reproduce exactly: finer "
                                           "simulation, observation noise, a missing term (docs/data.md)")


@dataclass(frozen=True)
class NetworkConfig:
    architecture: str = _opt("unet", "Flax NNX architecture: unet (levels, filters or widths), convnet (layers, "
                                    "filters), resnet (blocks, filters) or a registered one (hybrid_jax.register_network)")
    levels: int = _pos(2, "UNet: resolution levels (each halves the grid; the resolution must divide by 2^(levels-1))")
    filters: int = _pos(16, "channels of the first UNet level (doubled per level, unless `widths` is given) / of "
                            "every ConvNet layer / of every ResNet block")
    widths: tuple[int, ...] = _opt((), "UNet: channels of each level, one entry per level (e.g. [32, 32] keeps one "
                                       "width at every level); empty: filters·2^level",
                                   lambda v: all(w >= 1 for w in v), "must be >= 1 in every entry")
    layers: int = _pos(3, "ConvNet: number of hidden convolutions")
    blocks: int = _pos(2, "ResNet: residual blocks (two convolutions each) at full resolution")
    kernel_size: int = _opt(3, "convolution kernel size", lambda v: v >= 1 and v % 2 == 1, "must be odd and >= 1")
    norm: Literal["none", "group", "layer"] = _opt(
        "none", "normalisation before each hidden activation: none, GroupNorm (statistics over space and a "
                "group of channels, per sample) or LayerNorm (over the channels of each cell)")
    norm_groups: int = _pos(8, "norm = group: groups of every GroupNorm (must divide every hidden width)")
    input_noise: float = _nonneg(
        0.0, "σ of Gaussian noise added in training to the dynamic channels of the state each network step "
             "starts from (field units; the target stays clean, so the network learns to undo it); drawn from "
             "a key of (seed, step); off in evaluation and generation")
    prediction: Literal["residual", "next_state"] = _opt(
        "residual", "predict the increment (x + f(x)) or the next state directly")
    padding: Literal["domain", "zero"] = _opt(
        "domain", "convolution padding: domain (circular on periodic domains, zero otherwise) or zero everywhere "
                  "(cheaper on CPU; the original system's UNet pads with zeros)")
    activation: Literal["gelu", "relu"] = _opt("gelu", "nonlinearity of the hidden layers: gelu (tanh form) or relu")
    dtype: Literal["float32", "bfloat16"] = _opt(
        "float32", "compute dtype of the network's layers; bfloat16: mixed precision (bf16 convolutions, for "
                   "GPUs/TPUs; emulated and slow on CPU) with parameters, gradients, optimiser state, loss and "
                   "the rolled-out state kept float32")

    def unet_widths(self) -> tuple[int, ...]:
        """Channels of each UNet level: `widths`, or `filters` doubled per level."""
        return self.widths or tuple(self.filters * 2**i for i in range(self.levels))

    def __post_init__(self):
        if self.architecture not in architectures:
            _coerce(Literal[architectures.names()], self.architecture, "network.architecture")
        if self.widths and len(self.widths) != self.levels:
            raise ConfigError(f"network.widths: must have one entry per UNet level (network.levels = {self.levels}), "
                              f"got {list(self.widths)}")
        if self.norm == "group":
            hidden = self.unet_widths() if self.architecture == "unet" else (self.filters,)
            if any(w % self.norm_groups for w in hidden):
                raise ConfigError(f"network.norm_groups: must divide every hidden width {list(hidden)}, "
                                  f"got {self.norm_groups}")


# ----------------------------------------------------------------------------- trainers


_WEIGHT = (lambda v: v is None or v >= 0, "must be >= 0")


@dataclass(frozen=True)
class CouplingConfig:
    """How one model weighs its real data against the other model's generated data (hybrid mode)."""

    real_weight: float = _nonneg(1.0, "loss weight of real samples in hybrid cycles (the warm-up and single-model "
                                      "modes weigh them 1)")
    generated_weight: Optional[float] = _opt(
        None, "loss weight of the other model's generated samples; null: the cycle's alpha "
              "(trainer.hybrid.alpha and its schedule); 0: this model trains on real data only", *_WEIGHT)
    proportional: bool = _opt(
        False, "rescale the generated-data term to generated_weight × the real-data term in value (per batch: "
               "real term = real_weight × mean loss of its real samples, generated term = its generated samples' "
               "mean loss × stop_gradient(real term / that mean), times generated_weight)")


@dataclass(frozen=True)
class CurriculumConfig:
    """Rollout horizon K of the synthetic model's loss per epoch, over all its epochs of the run (warm-up
    included): p = e/(E-1) for epoch e of E (p**exponent if exponential),
    K = min(start + ⌊p·(end-start+1)⌋, end). Each epoch rolls out only its K (the windows keep
    data.rollout_steps targets, of which the loss scores the first K); each distinct K is one more compiled
    train program, compiled once per process and kept by the persistent compilation cache."""

    kind: Literal["none", "linear", "exponential"] = _opt(
        "none", "none: K = data.rollout_steps every epoch; linear / exponential: from `start` to `end`, each "
                "epoch rolling out only its K (one compilation per distinct K)")
    start: int = _pos(1, "K of the first epoch")
    end: Optional[int] = _opt(None, "K of the last epoch; default data.rollout_steps (at most that: the windows' "
                                    "length)", lambda v: v is None or v >= 1, "must be >= 1")
    exponent: float = _pos(2.0, "exponential: p**exponent (> 1 stays short longer)")


@dataclass(frozen=True)
class LRScheduleConfig:
    """Learning rate of Adam's update n; n is optax's update count in the optimiser state (saved with every
    checkpoint, so a resumed run goes on with the same rates); a rejected NaN/inf step is not counted."""

    kind: Literal["constant", "cosine", "step", "exponential"] = _opt(
        "constant", "rate of update n (n counts the model's accepted updates over the whole run, warm-up epochs "
                    "included; s = n - warmup_steps) — constant: lr; cosine: lr·(f + (1-f)·(1+cos(π·min(s, "
                    "decay_steps)/decay_steps))/2); step: lr·factor^(number of boundaries <= s); exponential: "
                    "lr·decay_rate^(s/decay_steps)")
    warmup_steps: int = _nonneg(0, "linear warm-up: update n < warmup_steps uses lr·(n+1)/warmup_steps")
    decay_steps: int = _pos(1000, "cosine: updates from the peak to the final rate; exponential: updates per "
                                  "factor decay_rate")
    final_fraction: float = _opt(0.0, "cosine: final rate f as a fraction of the learning rate",
                                 lambda v: 0 <= v <= 1, "must be in [0, 1]")
    decay_rate: float = _pos(0.5, "exponential: factor per decay_steps updates (continuous, not staircase)")
    boundaries: tuple[int, ...] = _opt((), "step: updates after the warm-up at which the rate is multiplied by "
                                           "`factor` (increasing)",
                                       lambda v: all(b > 0 for b in v) and list(v) == sorted(set(v)),
                                       "must be strictly increasing integers > 0")
    factor: float = _pos(0.1, "step: factor applied at each boundary")


@dataclass(frozen=True)
class SyntheticTrainerConfig:
    learning_rate: float = _pos(1e-3, "Adam learning rate of the network (the peak of `lr_schedule`)")
    lr_schedule: LRScheduleConfig = _sub(LRScheduleConfig, "learning-rate schedule of the network's Adam")
    epochs: int = _nonneg(3, "epochs per cycle, in every mode (a run trains trainer.hybrid.cycles × epochs)")
    checkpoint_rollout: bool = _opt(False, "jax.checkpoint each rollout step (less memory, more compute)")
    coupling: CouplingConfig = _sub(CouplingConfig, "weights of real vs the physical model's generated data")
    rollout_curriculum: CurriculumConfig = _sub(CurriculumConfig, "rollout-horizon curriculum (one compilation: "
                                                                  "the rollout runs to the final K, steps beyond "
                                                                  "the epoch's K are masked out of the loss)")


@dataclass(frozen=True)
class RegularizationConfig:
    kind: Literal["none", "gradient_l2", "total_variation"] = _opt(
        "none", "smoothness penalty of field parameters (on the optimised values, log for positive ones): "
                "mean |∇θ|² or mean |∇θ| over the cells (∇ in domain units)")
    weight: float = _nonneg(0.0, "weight of the penalty added to the physical training loss")


@dataclass(frozen=True)
class PhysicalTrainerConfig:
    learning_rate: float = _pos(5e-2, "Adam learning rate of the optimised PDE parameters: the log of each "
                                       "positive coefficient (ν, κ, D, b, ...), other parameters (φ) as they are; "
                                       "the peak of `lr_schedule`; unused by lbfgs")
    lr_schedule: LRScheduleConfig = _sub(LRScheduleConfig, "learning-rate schedule of the physical Adam "
                                                           "(ignored by lbfgs, whose line search sets the step)")
    epochs: int = _nonneg(8, "epochs per cycle, in every mode (a run trains trainer.hybrid.cycles × epochs)")
    checkpoint_rollout: bool = _opt(False, "jax.checkpoint each rollout step (less memory, more compute)")
    optimizer: Literal["adam", "lbfgs"] = _opt(
        "adam", "optax Adam, or L-BFGS with a zoom line search (best with batching = full)")
    batching: Literal["per_batch", "full"] = _opt(
        "per_batch", "per_batch: shuffled batches of trainer.batch_size; full: each epoch is one step on all "
                     "training windows (real and generated)")
    memory_size: int = _pos(10, "lbfgs: number of past updates kept for the curvature estimate")
    max_linesearch_steps: int = _pos(20, "lbfgs: zoom line-search iterations per step")
    regularization: RegularizationConfig = _sub(RegularizationConfig, "smoothness of field parameters")
    coupling: CouplingConfig = _sub(CouplingConfig, "weights of real vs the synthetic model's generated data")
    downsample_factor: int = _nonneg(
        0, "f: the physical model runs at physics.resolution / 2^f (its field parameters too); it block-averages its "
           "initial states, and its rollouts are upsampled (periodic linear interpolation) for generation and "
           "evaluation; its loss compares the block-constant upsampling with the targets (the loss against "
           "block-averaged targets plus a constant: the same gradient)")
    rollout_steps: Optional[int] = _opt(None, "K of the physical model's training and validation loss (its first K "
                                              "targets of each window); default data.rollout_steps (at most that)",
                                        lambda v: v is None or v >= 1, "must be >= 1")


@dataclass(frozen=True)
class AlphaScheduleConfig:
    kind: Literal["constant", "linear"] = _opt("constant", "alpha fixed, or linear from `alpha` to `final`")
    final: float = _nonneg(0.0, "alpha at the last cycle (linear schedule)")


@dataclass(frozen=True)
class GenerationConfig:
    """The generated rollouts of each cycle: each is cut into all windows of data.rollout_steps targets
    (start frames 0, data.window_stride, ... of its frames)."""

    num_rollouts: Optional[int] = _opt(
        None, "rollouts per cycle and direction (rounded up to a multiple of the device count); default "
              "⌈generated_fraction × #real training windows⌉", lambda v: v is None or v >= 1, "must be >= 1")
    physical_length: Optional[int] = _opt(
        None, "steps of each physical-model rollout (the synthetic model's generated data); default "
              "data.rollout_steps (one window per rollout)", lambda v: v is None or v >= 1, "must be >= 1")
    synthetic_length: Optional[int] = _opt(
        None, "steps of each network rollout (the physical model's generated data); default data.rollout_steps",
        lambda v: v is None or v >= 1, "must be >= 1")


@dataclass(frozen=True)
class ReversionConfig:
    """After a model's training phase in a cycle, restore its state (parameters and optimiser) from before the
    phase unless its validation loss on real data fell by at least `min_improvement` (relative)."""

    enabled: bool = _opt(False, "check each phase (every mode's cycles; not the warm-up)")
    synthetic: bool = _opt(True, "may revert the synthetic model")
    physical: bool = _opt(True, "may revert the physical model")
    min_improvement: float = _opt(0.0, "keep the phase only if val_after <= (1 - min_improvement) × val_before",
                                  lambda v: 0 <= v < 1, "must be in [0, 1)")


@dataclass(frozen=True)
class HybridConfig:
    cycles: int = _pos(3, "number of cycles (in synthetic and physical mode: rounds of `epochs` epochs of the "
                           "one model, each followed by validation and a checkpoint)")
    alpha: float = _nonneg(0.1, "loss weight of generated samples (real samples weigh 1), for both models unless "
                                "trainer.<model>.coupling.generated_weight is set")
    schedule: AlphaScheduleConfig = _sub(AlphaScheduleConfig, "alpha schedule over cycles")
    real_fraction: float = _opt(
        1.0, "fraction of a model's real training windows drawn (without replacement, anew each epoch from the "
             "epoch's seed) into each of its epochs that also train on generated data: max(1, ⌊fraction × "
             "windows⌋); 1: all (default). The original HYCO-PhiFlow's alpha; full-batch fits use all",
        lambda v: 0 < v <= 1, "must be in (0, 1]")
    generated_fraction: Optional[float] = _opt(
        None, "generated rollouts per real training window: ceil(fraction × windows), rounded up to a multiple of "
              "the device count; default: the largest generated weight of the run (alpha, schedule.final, "
              "trainer.<model>.coupling.generated_weight): a count proportional to the weight",
        lambda v: v is None or v >= 0, "must be >= 0")
    generation_source: Literal["real", "prior"] = _opt(
        "real", "initial states of generated rollouts: real training states or the physics' prior")
    generation: GenerationConfig = _sub(GenerationConfig, "number and length of the generated rollouts")
    reversion: ReversionConfig = _sub(ReversionConfig, "undo a training phase that did not improve validation")
    warmup_epochs: int = _nonneg(2, "hybrid mode: synthetic epochs on real data only, before the first cycle")


@dataclass(frozen=True)
class TrainerConfig:
    batch_size: int = _pos(8, "windows per batch (the last partial batch of an epoch is dropped)")
    max_consecutive_failures: int = _pos(10, "stop after this many consecutive steps with NaN/inf "
                                             "(each is rejected and the last good state kept)")
    max_train_seconds: Optional[float] = _opt(
        None, "stop training after the first cycle at which the run's training time (the warm-up's and every "
              "cycle's seconds in metrics.jsonl, compilation included) reaches this; null: train every cycle. "
              "Opt-in: where it stops depends on the machine, so such a run is not bitwise reproducible "
              "(used by `compare --budget wall`)", lambda v: v is None or v > 0, "must be > 0")
    steps_per_call: Optional[int] = _opt(
        None, "train steps run in one jitted call (a lax.scan; the epoch is split into such chunks, the last padded) "
              "and, if > 1, validation in one call; default: 1 on CPU (XLA:CPU runs convolutions about 10x slower "
              "inside a loop), a whole epoch on GPU/TPU", lambda v: v is None or v >= 1, "must be >= 1")
    synthetic: SyntheticTrainerConfig = _sub(SyntheticTrainerConfig, "synthetic (network) trainer")
    physical: PhysicalTrainerConfig = _sub(PhysicalTrainerConfig, "physical (PDE parameter) trainer")
    hybrid: HybridConfig = _sub(HybridConfig, "hybrid cycle")


@dataclass(frozen=True)
class EvaluationConfig:
    horizon: Optional[int] = _opt(None, "rollout steps from each validation initial state; default T-1",
                                  lambda v: v is None or v >= 1, "must be >= 1")
    num_frames: int = _opt(5, "rollout steps shown side by side in plots/frames.png (evenly spaced, first and last "
                              "included)", lambda v: v >= 2, "must be >= 2")


@dataclass(frozen=True)
class ParallelConfig:
    devices: Optional[int] = _opt(None, "devices of the data-parallel mesh; default: all devices of all processes",
                                  lambda v: v is None or v >= 1, "must be >= 1")
    num_processes: Optional[int] = _opt(None, "processes of a multi-host run; default: $JAX_NUM_PROCESSES or 1",
                                        lambda v: v is None or v >= 1, "must be >= 1")
    process_id: Optional[int] = _opt(None, "this process's index; default: $JAX_PROCESS_ID",
                                     lambda v: v is None or v >= 0, "must be >= 0")
    coordinator_address: Optional[str] = _opt(None, "host:port of process 0; default: $JAX_COORDINATOR_ADDRESS")


@dataclass(frozen=True)
class OutputConfig:
    dir: str = _opt("runs", "parent of the run directory runs/<experiment_name>/ (`--out` overrides)")
    max_checkpoints: int = _pos(3, "Orbax checkpoints kept")
    progress: bool = _opt(True, "show progress bars")
    plots: bool = _opt(True, "write PNG/GIF figures into <run_dir>/plots/ after evaluation")
    tensorboard: bool = _opt(True, "write TensorBoard event files into the run directory (`tensorboard --logdir runs`)")
    tracker: Literal["none", "wandb", "mlflow"] = _opt(
        "none", "also log to Weights & Biases or MLflow (the package must be installed)")
    project: str = _opt("hybrid_jax", "W&B project / MLflow experiment of the tracked runs (the run is experiment_name)")
    tracking_uri: Optional[str] = _opt(None, "MLflow tracking URI; default: MLflow's own ($MLFLOW_TRACKING_URI)")
    track_images: bool = _opt(True, "log images of a validation rollout and of learned fields once per cycle")
    compilation_cache: Optional[str] = _opt(
        "default", "directory of the persistent XLA compilation cache (a second run of the same shapes skips "
                   "compilation); default: $XDG_CACHE_HOME/hybrid_jax/xla (~/.cache/...); null: off")
    save_generated: bool = _opt(False, "write each cycle's generated rollouts to <run_dir>/generated/"
                                       "cycle_<c>_<generator>.npz (trajectories [M, L+1, *spatial, C], fields)")


@dataclass(frozen=True)
class Config:
    experiment_name: str = _opt("experiment", "name of the run directory", is_plain_name,
                                "must be a plain name (not '.' or '..', no path separator or control character)")
    seed: int = _opt(0, "seed of every PRNG key and shuffle", lambda v: 0 <= v < 2**32, "must be in [0, 2^32)")
    mode: Literal["synthetic", "physical", "hybrid"] = _opt("hybrid", "which models are trained")
    plugins: tuple[str, ...] = _opt(
        (), "modules (dotted names) or .py files (paths relative to the working directory) imported before the "
            "rest of the config is read: they register PDE families or networks (hybrid_jax.register_family)")
    tasks: tuple[Literal["generate", "train", "evaluate"], ...] = _opt(
        ("generate", "train", "evaluate"), "tasks run in order", lambda v: len(v) > 0, "must not be empty")
    physics: PhysicsConfig = _sub(_default_physics, "the PDE (section keys depend on `name`)")
    data: DataConfig = _sub(DataConfig, "trajectories and windows")
    network: NetworkConfig = _sub(NetworkConfig, "synthetic model")
    trainer: TrainerConfig = _sub(TrainerConfig, "optimisers, epochs, hybrid cycle")
    evaluation: EvaluationConfig = _sub(EvaluationConfig, "evaluation task")
    output: OutputConfig = _sub(OutputConfig, "run directory")
    parallel: ParallelConfig = _sub(ParallelConfig, "data parallelism over devices and hosts (docs/parallel.md)")


# ----------------------------------------------------------------------------- loading


def _type_name(tp) -> str:
    return getattr(tp, "__name__", str(tp))


def _coerce(tp, value, key: str):
    """Return `value` as type `tp`, or raise ConfigError naming `key`."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(inner, value, key)
    if origin is Literal:
        if value not in args:
            close = difflib.get_close_matches(str(value), [str(a) for a in args], n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(f"{key}: must be one of {', '.join(map(str, args))}; got {value!r}{hint}")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: must be a list, got {value!r}")
        return tuple(_coerce(args[0], v, f"{key}[{i}]") for i, v in enumerate(value))
    if dataclasses.is_dataclass(tp) or tp is PhysicsConfig:
        return from_dict(tp, value, key)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: must be a number, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"{key}: must be a finite number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: must be a string, got {value!r}")
        return value
    raise TypeError(f"unsupported config type {_type_name(tp)} at {key}")  # a bug in this module


def from_dict(cls, data: Any, prefix: str = ""):
    """Build dataclass `cls` from a plain dict, validating every key recursively."""
    where = prefix or "config"
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: must be a mapping, got {data!r}")
    # YAML 1.1 reads a bare `true:` / `false:` key (e.g. viscosity.true) as a boolean
    data = {({True: "true", False: "false"}[k] if isinstance(k, bool) else k): v for k, v in data.items()}
    if issubclass(cls, PhysicsConfig):  # the tagged union: the family named by `name`
        name = data.get("name", "burgers")
        if not isinstance(name, str) or name not in families:
            _coerce(Literal[families.names()], name, _join(prefix, "name"))
        cls = families.get(name).config
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for key in data:
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(f"{_join(prefix, key)}: unknown key{hint}")
    kwargs = {}
    for f in dataclasses.fields(cls):
        key = _join(prefix, f.name)
        if f.name not in data:
            continue
        value = _coerce(hints[f.name], data[f.name], key)
        check = f.metadata.get("check")
        if check is not None and not check(value):
            raise ConfigError(f"{key}: {f.metadata['message']}, got {data[f.name]!r}")
        kwargs[f.name] = value
    return cls(**kwargs)


def _join(prefix: str, key) -> str:
    key = key if isinstance(key, str) and key.isidentifier() else repr(key)  # odd keys stay on one line
    return f"{prefix}.{key}" if prefix else key


def _check_consistency(cfg: Config) -> None:
    """Cross-field checks that one key alone cannot express."""
    p = cfg.physics
    if cfg.data.source == "files" and not cfg.data.path:
        raise ConfigError("data.path: required when data.source = files")
    if cfg.data.source == "generate" and cfg.data.rollout_steps >= cfg.data.num_frames:
        raise ConfigError(f"data.rollout_steps: must be < data.num_frames ({cfg.data.num_frames}), "
                          f"got {cfg.data.rollout_steps}")
    truth = cfg.data.truth
    if cfg.data.source == "files" and truth.simulated() is not None:
        raise ConfigError("data.truth: refine, forcing and advection change the data generation; they need "
                          "data.source = generate (noise works with files too)")
    if truth.advection is not None and not hasattr(p, "advection"):
        raise ConfigError(f"data.truth.advection: family {p.name!r} has no physics.advection to replace")
    obs = cfg.data.observation
    if obs.spatial == "box":
        if len(obs.box) != len(p.resolution):
            raise ConfigError(f"data.observation.box: must have one [lo, hi] per dimension ({len(p.resolution)}), "
                              f"got {[list(b) for b in obs.box]}")
        for i, b in enumerate(obs.box):
            if len(b) != 2 or not 0 <= b[0] < b[1] <= 1:
                raise ConfigError(f"data.observation.box[{i}]: must be [lo, hi] with 0 <= lo < hi <= 1, got {list(b)}")
    k, cur = cfg.data.rollout_steps, cfg.trainer.synthetic.rollout_curriculum
    end = k if cur.end is None else cur.end
    if cur.kind != "none" and end > k:
        raise ConfigError(f"trainer.synthetic.rollout_curriculum.end: must be <= data.rollout_steps ({k}, the "
                          f"windows' length), got {end}")
    if cur.kind != "none" and cur.start > end:
        raise ConfigError(f"trainer.synthetic.rollout_curriculum.start: must be <= end ({end}), got {cur.start}")
    kp = cfg.trainer.physical.rollout_steps
    if kp is not None and kp > k:
        raise ConfigError(f"trainer.physical.rollout_steps: must be <= data.rollout_steps ({k}, the windows' "
                          f"length), got {kp}")
    factor = 2 ** cfg.trainer.physical.downsample_factor
    for i, n in enumerate(p.resolution):
        if n % factor or n // factor < 4:
            raise ConfigError(f"trainer.physical.downsample_factor: physics.resolution[{i}] = {n} must divide by "
                              f"2^f = {factor} into at least 4 cells, got f = {cfg.trainer.physical.downsample_factor}")
    gen = cfg.trainer.hybrid.generation
    for name in ("physical_length", "synthetic_length"):
        length = getattr(gen, name)
        if length is not None and length < k:
            raise ConfigError(f"trainer.hybrid.generation.{name}: must be >= data.rollout_steps ({k}, the windows' "
                              f"length), got {length}")
    net = cfg.network
    if net.architecture == "unet":
        factor = 2 ** (net.levels - 1)
        for i, n in enumerate(p.resolution):
            if n % factor:
                raise ConfigError(f"physics.resolution[{i}]: must be divisible by 2^(network.levels-1) = "
                                  f"{factor} for the UNet, got {n}")


MAX_YAML_NODES = 100_000  # a config expands to far fewer nodes; more is an alias bomb ("billion laughs")


class _StrictLoader(yaml.SafeLoader):
    """Safe YAML that refuses duplicate keys and reads `1e-3` (no dot) as a float, as YAML 1.2 does."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                key = (key_node.tag, key_node.value)
                if key in seen:
                    raise ConfigError(f"duplicate key {key_node.value!r} (line {key_node.start_mark.line + 1})")
                seen.add(key)
        return super().construct_mapping(node, deep)


_StrictLoader.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*(\.[0-9_]*)?[eE][-+]?[0-9]+$"),
                                    list("-+0123456789"))


def _expanded_size(root) -> int:
    """Nodes of a composed YAML document once its aliases are expanded; refuses cycles and MAX_YAML_NODES."""
    memo: dict[int, int] = {}
    active: set[int] = set()

    def size(node) -> int:
        if id(node) in memo:
            return memo[id(node)]
        if id(node) in active:
            raise ConfigError(f"circular alias (line {node.start_mark.line + 1})")
        active.add(id(node))
        children = node.value if isinstance(node, yaml.SequenceNode) else \
            [n for kv in node.value for n in kv] if isinstance(node, yaml.MappingNode) else []
        total = 1 + sum(size(c) for c in children)
        active.discard(id(node))
        if total > MAX_YAML_NODES:
            raise ConfigError(f"expands to more than {MAX_YAML_NODES} values through aliases; refused")
        memo[id(node)] = total
        return total

    return size(root)


def parse_yaml(text: str, where: str) -> Any:
    """Parse one YAML document safely (no tags, bounded aliases, no duplicate keys); errors name `where`."""
    loader = None
    try:
        loader = _StrictLoader(text)
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node)
        return loader.construct_document(node)
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{where}: not valid YAML ({' '.join(str(e).split())})") from None
    except RecursionError:
        raise ConfigError(f"{where}: nested too deeply") from None
    finally:
        if loader is not None:
            loader.dispose()


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Set dotted `key=value` overrides (values parsed as YAML) in a nested dict copy."""
    data = copy.deepcopy(data)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"{' '.join(item.split())}: an override must look like dotted.key=value")
        key, raw = item.split("=", 1)
        node = data
        parts = key.strip().split(".")
        if not all(parts):
            raise ConfigError(f"{' '.join(key.split())!r}: an override key must be dotted names, e.g. trainer.hybrid.alpha")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"{key}: '{part}' is not a section")
            node = child
        node[parts[-1]] = parse_yaml(raw, f"override {key}")
    return data


def load_config(path: str | Path | None, overrides: list[str] = ()) -> Config:
    """Load a YAML config (or the defaults when `path` is None) and apply dotted overrides."""
    data: Any = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found")
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ConfigError(f"{path}: not UTF-8 text (byte 0x{raw[e.start]:02x} at offset {e.start})") from None
        data = parse_yaml(text, str(path))
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: must be a mapping of config sections (key: value) at the top level, "
                              f"got a value of type {type(data).__name__}")
    return config_from_dict(apply_overrides(data, list(overrides)))


def config_from_dict(data: dict) -> Config:
    if isinstance(data, dict) and "plugins" in data:
        load_plugins(_coerce(tuple[str, ...], data["plugins"], "plugins"))
    cfg = from_dict(Config, data)
    _check_consistency(cfg)
    return cfg


def load_plugins(plugins: tuple[str, ...]) -> None:
    """Import each plugin once: a dotted module name, or a ``.py`` file (relative to the working
    directory), which registers its families/networks when imported."""
    for i, plugin in enumerate(plugins):
        try:
            if plugin.endswith(".py"):
                path = Path(plugin).resolve()
                name = f"hybrid_jax_plugin_{path.stem}_{hashlib.sha256(str(path).encode()).hexdigest()[:8]}"
                if name not in sys.modules:
                    spec = importlib.util.spec_from_file_location(name, path)
                    if spec is None or not path.is_file():
                        raise FileNotFoundError(f"no such file: {path}")
                    module = importlib.util.module_from_spec(spec)
                    sys.modules[name] = module
                    try:
                        spec.loader.exec_module(module)
                    except BaseException:
                        del sys.modules[name]
                        raise
            else:
                importlib.import_module(plugin)
        except Exception as e:  # the plugin's own error, reported on one line
            first = (str(e).splitlines() or [""])[0]
            raise ConfigError(f"plugins[{i}]: cannot import {plugin!r} ({type(e).__name__}: {first})") from None


def to_dict(cfg) -> dict:
    """Plain nested dict of a config (tuples as lists), suitable for YAML/JSON."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def config_hash(section) -> str:
    """Stable short hash of a config (or of any JSON-able section of one)."""
    payload = to_dict(section) if dataclasses.is_dataclass(section) else section
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def save_config(cfg: Config, path: str | Path) -> None:
    atomic_write(path, yaml.safe_dump(to_dict(cfg), sort_keys=False))


def reference(cls=None, prefix: str = "") -> list[tuple[str, str, str, str]]:
    """(dotted key, type, default, doc) of every config key; physics keys once per family."""
    cls = cls or Config
    rows = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        key, tp = _join(prefix, f.name), hints[f.name]
        if cls is Config and f.name == "physics":
            for name in families.names():
                rows += reference(families.get(name).config, f"{key}[{name}]")
        elif dataclasses.is_dataclass(tp):
            rows += reference(tp, key)
        else:
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            type_name = tp.__name__ if isinstance(tp, type) else str(tp).replace("typing.", "")
            rows.append((key, type_name, json.dumps(default), f.metadata.get("doc", "")))
    return rows


def print_reference() -> None:
    """Print the key reference as a Markdown table (docs/config.md)."""
    print("| key | type | default | meaning |\n|---|---|---|---|")
    for row in reference():
        print("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")


if __name__ == "__main__":  # python -m hybrid_jax.config
    print_reference()
