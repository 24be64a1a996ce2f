"""What one run trains, as records: the experiment (config, PDE, device data, windows), each model's
jitted functions and the types of those functions.

Below both the training (which builds these records) and the evaluation (which reads them): it
imports only the config and the physics protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Literal, NamedTuple, Protocol

import jax
import numpy as np
import optax

from hybrid_jax.config import Config
from hybrid_jax.physics.base import PDE

Params = Any  # a pytree of arrays: the network's NNX state, or the physical model's optimised parameters
Data = dict[str, jax.Array]  # {real, real_mask, generated}, see `materialize`
IndexBatch = dict[str, jax.Array]  # {source, sim, t, weight}, each [B]

Predict = Callable[[Params, jax.Array, int], jax.Array]
"""``predict(params, x0 [B, *spatial, C], K) -> [B, K, *spatial, C]``."""
EvalStep = Callable[[Params, Data, IndexBatch], jax.Array]
"""``eval(params, data, index_batch) -> per-sample loss [B]``."""
Generate = Callable[[Params, jax.Array], jax.Array]
"""``generate(params, x0 [M, *spatial, C]) -> [M, K+1, *spatial, C]`` (x0 first)."""
Restart = Callable[[Params], optax.OptState]
"""``restart(params) -> a fresh optimiser state``."""


class TrainState(NamedTuple):
    """Parameters and optimiser state of one model, its count of consecutive failed steps and of all steps."""

    params: Params
    opt_state: optax.OptState
    failures: jax.Array  # int32 scalar
    step: jax.Array  # int32 scalar: train steps taken (accepted or not); folded into the input-noise key


class TrainStep(Protocol):
    """``step(state, data, index_batch, fresh=True, *, horizon=K) -> (state, {loss, ok, progress})``,
    see `make_train_step`."""

    def __call__(self, state: TrainState, data: Data, index_batch: IndexBatch,
                 fresh: bool = True, *, horizon: int = ...) -> tuple[TrainState, dict[str, jax.Array]]: ...


class TrainSteps(Protocol):
    """``steps(state, data, index_batches, active, *, horizon=K) -> (state, {loss [S], ok [S]})``, see `scan_steps`."""

    def __call__(self, state: TrainState, data: Data, index_batches: IndexBatch,
                 active: jax.Array, *, horizon: int | None = None) -> tuple[TrainState, dict[str, jax.Array]]: ...


class EpochLoop(Protocol):
    """``epochs(state, data, pool, cycle, phase, first, active, *, sizes, horizon=K) -> (state, {loss [E, S],
    ok [E, S], failures [E]})``, see `training.steps.device_epochs`."""

    def __call__(self, state: TrainState, data: Data, pool: IndexBatch, cycle: Any, phase: Any, first: Any,
                 active: jax.Array, *, sizes: tuple[tuple[int, int], ...],
                 horizon: int | None = None) -> tuple[TrainState, dict[str, jax.Array]]: ...


ModelName = Literal["synthetic", "physical"]

GenerationStates = Callable[[jax.Array, int], jax.Array]
"""``states(real [N, T, *spatial, C], cycle) -> [M, *spatial, C]``: initial states of a cycle's generated rollouts."""


@dataclass
class ModelFns:
    """The jitted functions of one model (built by `hybrid_jax.training.steps.model_fns`)."""

    name: ModelName
    predict: Predict
    train_step: TrainStep
    eval_step: EvalStep
    generate: Generate
    horizon: int  # K of its training loss (without a curriculum) and of its validation loss
    train_steps: TrainSteps  # train_step over a chunk of index batches, one call
    eval_chunks: Callable[[Params, Data, IndexBatch], jax.Array]  # eval_step over chunks of index batches, one call
    horizon_at: Callable[[int], int] | None = None  # a curriculum: K of the model's e-th epoch of the run
    full_batch: bool = False  # each epoch one step on all windows, in a fixed order
    restart: Restart | None = None  # a line search restarts its optimiser state per training phase
    train_epochs: EpochLoop | None = None  # trainer.epoch_loop device: several epochs per call; None: the host's


@dataclass
class Experiment:
    """Everything fixed for one run: config, PDE, device data, windows and jitted functions."""

    cfg: Config
    pde: PDE
    mesh: jax.sharding.Mesh  # 1-D data-parallel mesh
    real: jax.Array | np.ndarray  # [N, T, *spatial, C] on every device, or on the host (real_on_device False)
    real_mask: jax.Array  # [T, *spatial] observed cells of real data
    train_windows: np.ndarray  # [W, 2] (sim, t)
    val_windows: np.ndarray
    num_generated: int  # M: generated rollouts per cycle and direction
    generated_windows: dict[ModelName, np.ndarray]  # per trained model: [W_gen, 2] (rollout, t) of its generated data
    synthetic: ModelFns
    physical: ModelFns
    init_params: dict[ModelName, Params]
    txs: dict  # model name -> optax.GradientTransformation
    no_generated: dict[ModelName, jax.Array]  # per trained model: [max(M, 1), L+1, *spatial, C] zeros, the
    # generated slot when there is none (the shape of its generated data: one compilation)
    generation_states: GenerationStates  # jitted once per run
    steps_per_call: int = 1  # train steps (and validation chunks) per jitted call; 1: one call per step
    real_on_device: bool = True  # False: `real` is a host (memory-mapped) array, each batch's windows are
    # streamed to the device (data.placement; training.loop.step_inputs)

    def data(self, model: ModelName = "synthetic") -> dict:
        """The arrays `model`'s jitted steps read (real trajectories and mask, an empty generated slot)."""
        return {"real": self.real, "real_mask": self.real_mask, "generated": self.no_generated[model]}

    def model(self, name: ModelName) -> ModelFns:
        return {"synthetic": self.synthetic, "physical": self.physical}[name]

    @property
    def horizon(self) -> int:
        return self.cfg.data.rollout_steps

    @property
    def models(self) -> tuple[ModelName, ...]:
        """The models this run trains, in training order."""
        return trained_models(self.cfg)


def trained_models(cfg: Config) -> tuple[ModelName, ...]:
    """The models a run of `cfg` trains, in training order."""
    order: dict[str, tuple[ModelName, ...]] = {"synthetic": ("synthetic",), "physical": ("physical",),
                                                "hybrid": ("synthetic", "physical")}
    return order[cfg.mode]
