"""What one run trains: the experiment (config, PDE, device data, windows) and each model's jitted functions.

Shared by the training loop and the evaluation, which builds on it without importing the loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Literal

import jax
import numpy as np

from hybrid_jax.config import Config
from hybrid_jax.physics.base import PDE
from hybrid_jax.training.steps import (EvalStep, Generate, Params, Predict, Restart, TrainStep, TrainSteps, map_chunks,
                                      scan_steps)

ModelName = Literal["synthetic", "physical"]

GenerationStates = Callable[[jax.Array, int], jax.Array]
"""``states(real [N, T, *spatial, C], cycle) -> [M, *spatial, C]``: initial states of a cycle's generated rollouts."""


@dataclass
class ModelFns:
    """The jitted functions of one model."""

    name: ModelName
    predict: Predict
    train_step: TrainStep
    eval_step: EvalStep
    generate: Generate
    horizon: int  # K of its training loss (without a curriculum) and of its validation loss
    horizon_at: Callable[[int], int] | None = None  # a curriculum: K of the model's e-th epoch of the run
    full_batch: bool = False  # each epoch one step on all windows, in a fixed order
    restart: Restart | None = None  # a line search restarts its optimiser state per training phase
    train_steps: TrainSteps = field(init=False)  # train_step over a chunk of index batches, one call
    eval_chunks: Callable = field(init=False)  # eval_step over chunks of index batches, one call

    def __post_init__(self):
        self.train_steps = scan_steps(self.train_step)
        self.eval_chunks = map_chunks(self.eval_step)


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
    # streamed to the device (data.placement; data.sources.streamed)

    def data(self, model: ModelName = "synthetic") -> dict:
        """The arrays `model`'s jitted steps read (real trajectories and mask, an empty generated slot); with
        the real trajectories on the host, `step_inputs` puts each batch's windows in place of them."""
        return {"real": self.real, "real_mask": self.real_mask, "generated": self.no_generated[model]}

    def step_inputs(self, data: dict, batches, prefetch: int = 4):
        """``(data, index batch)`` per index batch of `batches` (a Grain dataset or a list), placed on the mesh:
        the batch as is (on-device gather), or with the real trajectories on the host, its real windows read
        there (Grain prefetching `prefetch` batches) and the batch's ``row`` into them."""
        from hybrid_jax.data.sources import host_windows, streamed
        from hybrid_jax.parallel import shard

        if self.real_on_device:
            for idx in batches:
                yield data, shard(self.mesh, idx)
            return
        pairs = (host_windows(self.real, idx, self.horizon) for idx in batches) if isinstance(batches, list) \
            else streamed(batches, self.real, self.horizon, prefetch)
        for idx, windows in pairs:
            yield {**data, "real": shard(self.mesh, windows)}, shard(self.mesh, idx)

    def model(self, name: ModelName) -> ModelFns:
        return {"synthetic": self.synthetic, "physical": self.physical}[name]

    @property
    def horizon(self) -> int:
        return self.cfg.data.rollout_steps


def trained_models(cfg: Config) -> tuple[ModelName, ...]:
    """The models a run of `cfg` trains, in training order."""
    return {"synthetic": ("synthetic",), "physical": ("physical",), "hybrid": ("synthetic", "physical")}[cfg.mode]
