"""The trainer sections of the config (``trainer.*``): the synthetic, physical and hybrid trainers,
their schedules and the coupling between the two models. Loaded by `hybrid_jax.config`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

from hybrid_jax.typed_config import nonnegative as _nonneg
from hybrid_jax.typed_config import option as _opt
from hybrid_jax.typed_config import positive as _pos
from hybrid_jax.typed_config import section as _sub

_WEIGHT = (lambda v: v is None or v >= 0, "must be >= 0")


@dataclass(frozen=True)
class CouplingConfig:
    """How one model weighs its real data against the other model's generated data (hybrid mode)."""

    real_weight: float = _nonneg(1.0, "loss weight of real samples in hybrid cycles (the warm-up and single-model "
                                      "modes weigh them 1); interaction coupling: λ_d, the weight of this model's "
                                      "data misfit")
    match_weight: float = _nonneg(1.0, "interaction coupling: λ_m, the weight of mean |u − sg(u_other)|² over the "
                                       "ghost points (sg: stop-gradient); 0: this model ignores the other")
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
    initial_state: Literal["data", "learnable", "synthetic"] = _opt(
        "data", "interaction coupling: the physical rollout starts from the given initial state (data), from an "
                "array trained with the coefficients (learnable, starting at zero), or from the neural field at "
                "t = 0 (synthetic, stop-gradiented: the physics does not train the field; in mode physical, whose "
                "field is not trained, learnable instead)")
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
class InteractionConfig:
    """trainer.hybrid.coupling = interaction (the HYCO papers, docs/coupling.md): per epoch, ghost points are drawn
    from the run's seed and each model takes one full-batch step on J = λ_d·data + λ_m·|u − sg(u_other)|²
    (λ's: trainer.<model>.coupling.real_weight and match_weight)."""

    epochs: int = _pos(1000, "epochs of the fit (one update of each model per epoch)")
    order: Literal["synthetic_first", "physical_first", "simultaneous"] = _opt(
        "synthetic_first", "update order in an epoch: the synthetic model first (the physical one then matches the "
                           "updated field; the papers' code), the physical one first, or both from the epoch's "
                           "old parameters")
    ghost_points: int = _pos(64, "ghost points drawn each epoch, uniform in ghost_box, each read at every sensor time")
    ghost_box: tuple[tuple[float, ...], ...] = _opt((), "one [lo, hi] per dimension in relative coordinates of the "
                                                        "grid's extent (0 = first, 1 = last sample); empty: all of it")
    steps_per_frame: int = _pos(1, "physics steps (of physics.dt each) between the physical model's frames, which "
                                    "are interpolated linearly in time to the sensor times")
    checkpoint_every: int = _pos(100, "epochs between the fit's Orbax checkpoints (both train states; "
                                      "output.max_checkpoints kept; the last epoch is always checkpointed): a "
                                      "restarted run resumes from the newest, bitwise as if uninterrupted")


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
    order: Literal["synthetic_first", "physical_first"] = _opt(
        "synthetic_first", "which model trains first in a cycle: the network on the physics' rollouts, then the "
                           "physics on the network's (the seed design), or the converse, so that the network's "
                           "generated data come from the cycle's fitted physics (from the first cycle on)")
    coupling: Literal["augmentation", "interaction"] = _opt(
        "augmentation", "how the models are coupled (docs/coupling.md): augmentation, each model's rollouts join the "
                        "other's training data with weight alpha (the cycle above); interaction, the HYCO loss at "
                        "ghost points on sensor data (`interaction`, data.sensor_file)")
    interaction: InteractionConfig = _sub(InteractionConfig, "coupling = interaction: epochs, update order, ghosts")



@dataclass(frozen=True)
class SensorTrainerConfig:
    """Training on sensor readings (data.sensors.enabled; hybrid_jax.training.sensor_fit): full batch, one
    optimiser step per model per epoch in every method, so the methods compare at equal steps."""

    epochs: int = _pos(1000, "epochs (= optimiser steps of each trained model)")
    lambda_data: float = _nonneg(100.0, "λ_d: weight of each model's sensor misfit (λ_d^S; λ_d^P too unless "
                                        "lambda_data_physical)")
    lambda_data_physical: Optional[float] = _opt(
        None, "λ_d^P of the coupled methods (augmentation, interaction): null = lambda_data; 0 = the physics learns "
              "only from the synthetic model (the HYCO papers' Gray–Scott setting). Physical-only uses lambda_data",
        *_WEIGHT)
    lambda_physical: float = _nonneg(10.0, "λ_m^P: weight of |u_P − sg(u_S)|² at the ghost points")
    lambda_synthetic: float = _nonneg(10.0, "λ_m^S: weight of |u_S − sg(u_P)|² at the ghost points")
    ghost_points: int = _pos(20, "ghost points, drawn uniformly in ghost_window each epoch (read at every frame)")
    ghost_window: tuple[tuple[float, ...], ...] = _opt((), "[lo, hi] per dimension of the ghost points; default: "
                                                           "the whole box")
    order: Literal["synthetic_first", "physical_first", "simultaneous"] = _opt(
        "synthetic_first", "interaction: which model steps first within an epoch (the second sees the first's "
                           "update), or both from the same state")
    refresh: int = _pos(100, "augmentation: epochs between regenerations of each model's data for the other")
    warmup_epochs: int = _nonneg(0, "full-batch steps of the synthetic model on its sensor data alone before the "
                                    "epochs (methods that train it; the HYCO papers' pre-training)")
    synthetic_steps: int = _pos(1, "steps of the synthetic model per epoch (each epoch: this many, then one "
                                   "physical step; the papers' code: one minibatch pass)")
    physical_lr: float = _pos(1e-2, "peak learning rate of the physical Adam (one-cycle cosine schedule)")
    physical_b1: float = _opt(0.5, "β₁ of the physical Adam", lambda v: 0 <= v < 1, "must be in [0, 1)")
    physical_b2: float = _opt(0.99999, "β₂ of the physical Adam", lambda v: 0 <= v < 1, "must be in [0, 1)")
    synthetic_lr: float = _pos(1e-3, "peak learning rate of the network's Adam (one-cycle cosine schedule)")


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
    epoch_loop: Literal["auto", "host", "device"] = _opt(
        "auto", "who drives a phase's epochs (per-batch training, real data on the device): host, the index batches "
                "shuffled by Grain on the host per epoch (trainer.steps_per_call steps per call); device, several "
                "epochs in one jitted flat loop over their steps, each epoch's permutation drawn on the device from "
                "jax.random keys of (seed, cycle, phase, epoch): a different but equally deterministic order; "
                "auto: host on CPU (measured faster there: `python -m benchmarks epoch_loop`), device on GPU/TPU; "
                "full-batch training and host-placed real data always take the host loop")
    epochs_per_call: Optional[int] = _opt(
        None, "epoch_loop device: epochs per jitted call (progress, Ctrl-C and the divergence check act between "
              "calls); default ⌈epochs / 4⌉, at most 4 calls per phase", lambda v: v is None or v >= 1,
        "must be >= 1")
    synthetic: SyntheticTrainerConfig = _sub(SyntheticTrainerConfig, "synthetic (network) trainer")
    physical: PhysicalTrainerConfig = _sub(PhysicalTrainerConfig, "physical (PDE parameter) trainer")
    hybrid: HybridConfig = _sub(HybridConfig, "hybrid cycle")
    sensors: SensorTrainerConfig = _sub(SensorTrainerConfig, "a sensor study's methods (data.sensors.enabled)")
