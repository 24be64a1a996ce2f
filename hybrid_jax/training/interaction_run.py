"""Interaction coupling from a config: the physical model and the neural field on one sensor record.

`build_interaction(cfg, pde, sensors)` makes both `Coupled` models (`sensor_models`), their initial train
states, the ghost sampler and the ghost key; `fit` trains them with `interaction_fit` (from any epoch: a
resumed run); `run_interaction` does both.
The mode picks what trains: ``hybrid`` both; ``physical`` the physics alone (λ_m^P = 0; the field is not
updated); ``synthetic`` the field alone (λ_m^S = 0; the physics is not updated).

The physical grid is ``pde.grid`` when the family defines one (a `hybrid_jax.data.sensors.Grid`), else
the cell centres of ``[0, physics.domain]``; one ``pde.step`` advances ``physics.dt``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from hybrid_jax.config import Config, ConfigError
from hybrid_jax.data.sensors import Grid, SensorData
from hybrid_jax.physics.base import PDE, decode_physical, encode_physical
from hybrid_jax.training import schedules
from hybrid_jax.training.interaction import Coupled, GhostPoints, init_states, interaction_fit, sample_ghost_points
from hybrid_jax.training.models import physical_optimizer, smoothness_penalty
from hybrid_jax.training.sensor_models import field_of, field_sensor_model, frame_times, physical_sensor_model

GHOST_STREAM = 11  # folded into the seed's key: the ghost points draw from their own stream


@dataclass(frozen=True)
class InteractionSetup:
    """Everything `interaction_fit` needs, plus the physical `trajectory(params, field_params) -> [F, *grid, C]`
    and ``field_of(states["synthetic"].params)``, the trained field."""

    physical: Coupled
    synthetic: Coupled
    states: dict
    sample_ghosts: Callable[[jax.Array], GhostPoints]
    key: jax.Array
    trajectory: Callable
    field_of: Callable
    grid: Grid
    frame_times: jax.Array  # [F] of the physical trajectory


def model_grid(cfg: Config, pde: PDE) -> Grid:
    """``pde.grid`` if the family defines it, else the cell centres of ``[0, physics.domain]``."""
    grid = getattr(pde, "grid", None)
    return grid if isinstance(grid, Grid) else Grid.cell_centred(cfg.physics.domain, cfg.physics.resolution,
                                                                 pde.periodic)


def build_interaction(cfg: Config, pde: PDE, sensors: SensorData, *, u0: jax.Array | None = None,
                      grid: Grid | None = None) -> InteractionSetup:
    """The interaction fit of `cfg` on `sensors`; `u0` ``[*grid.shape, C]`` is the physical model's initial
    state when trainer.physical.initial_state = data (required then); `grid` overrides `model_grid`."""
    if cfg.network.architecture != "neural_field":
        raise ConfigError("network.architecture: interaction coupling on sensors needs neural_field, got "
                          f"{cfg.network.architecture}")
    grid = grid or model_grid(cfg, pde)
    if sensors.positions.shape[-1] != grid.ndim:
        raise ConfigError(f"data.sensor_file: positions have {sensors.positions.shape[-1]} coordinates, the grid "
                          f"{grid.ndim}")
    phy_cfg, syn_cfg, ic = cfg.trainer.physical, cfg.trainer.synthetic, cfg.trainer.hybrid.interaction
    initial = {"data": "given", "learnable": "learnable", "synthetic": "synthetic"}[phy_cfg.initial_state]
    if initial == "synthetic" and cfg.mode == "physical":
        initial = "learnable"  # no trained field to start from: the physics-only baseline learns its own
    if initial == "given" and u0 is None:
        raise ConfigError("trainer.physical.initial_state: data needs an initial state; with sensors only, use "
                          "learnable or synthetic")
    lower = np.asarray(grid.lower, np.float32)
    upper = lower + np.asarray(grid.spacing, np.float32) * (np.asarray(grid.shape) - 1)
    t_end = float(sensors.times[-1])
    from hybrid_jax.networks.neural_field import build as build_field

    field = build_field(cfg.network, in_channels=0, out_channels=pde.layout.num_channels, ndim=grid.ndim,
                        periodic=grid.periodic, rngs=nnx.Rngs(cfg.seed),
                        bounds=(tuple(map(float, lower)) + (0.0,), tuple(map(float, upper)) + (max(t_end, 1e-6),)))
    graphdef, field_params, *rest = nnx.split(field, nnx.Param, ...)  # the rest (Fourier frequencies) stays fixed
    trains = {"physical": cfg.mode in ("hybrid", "physical"), "synthetic": cfg.mode in ("hybrid", "synthetic")}
    coupled = cfg.mode == "hybrid"
    frozen = optax.set_to_zero()
    physical, trajectory = physical_sensor_model(
        pde.step, grid, sensors, frame_dt=cfg.physics.dt * ic.steps_per_frame, steps_per_frame=ic.steps_per_frame,
        initial=initial, u0=u0, field_of=field_of(graphdef, tuple(rest)), decode=lambda raw: decode_physical(pde, raw),
        tx=physical_optimizer(phy_cfg) if trains["physical"] else frozen, data_weight=phy_cfg.coupling.real_weight,
        match_weight=phy_cfg.coupling.match_weight if coupled else 0.0, remat=phy_cfg.checkpoint_rollout,
        penalty=smoothness_penalty(pde, cfg.physics, phy_cfg.regularization))
    synthetic = field_sensor_model(
        graphdef, sensors, tx=schedules.adam(syn_cfg.learning_rate, syn_cfg.lr_schedule) if trains["synthetic"]
        else frozen, data_weight=syn_cfg.coupling.real_weight,
        match_weight=syn_cfg.coupling.match_weight if coupled else 0.0, rest=tuple(rest))
    phy_params = {"coefficients": encode_physical(pde, pde.init_params())}
    if initial == "learnable":
        phy_params["u0"] = jnp.zeros(grid.shape + (pde.layout.num_channels,), jnp.float32)
    field_params = jax.tree.map(lambda x: x.astype(jnp.float32), field_params)
    box = ic.ghost_box or ((0.0, 1.0),) * grid.ndim
    g_lo = lower + (upper - lower) * np.asarray([b[0] for b in box], np.float32)
    g_hi = lower + (upper - lower) * np.asarray([b[1] for b in box], np.float32)
    times = jnp.asarray(sensors.times, jnp.float32)
    return InteractionSetup(
        physical, synthetic, init_states(physical, synthetic, phy_params, field_params),
        lambda key: sample_ghost_points(key, ic.ghost_points, g_lo, g_hi, times),
        jax.random.fold_in(jax.random.PRNGKey(cfg.seed), GHOST_STREAM), trajectory, field_of(graphdef, tuple(rest)),
        grid, frame_times(sensors, cfg.physics.dt * ic.steps_per_frame))


def fit(cfg: Config, setup: InteractionSetup, states: dict | None = None, first_epoch: int = 0, on_epoch=None,
        ) -> tuple[dict, dict[str, np.ndarray]]:
    """Train `setup` (from `states`, default its initial ones) over epochs ``first_epoch`` … up to
    trainer.hybrid.interaction.epochs: (final states, history ``[epochs − first_epoch]`` of every metric). Epoch
    e's ghosts depend on e only, so a fit resumed from epoch e's states is the same as one never stopped."""
    ic = cfg.trainer.hybrid.interaction
    return interaction_fit(setup.physical, setup.synthetic, setup.states if states is None else states,
                           sample_ghosts=setup.sample_ghosts, key=setup.key, epochs=max(ic.epochs - first_epoch, 0),
                           order=ic.order, first_epoch=first_epoch,
                           max_consecutive_failures=cfg.trainer.max_consecutive_failures, on_epoch=on_epoch)


def run_interaction(cfg: Config, pde: PDE, sensors: SensorData, *, u0: jax.Array | None = None,
                    grid: Grid | None = None, on_epoch=None) -> tuple[dict, dict[str, np.ndarray], InteractionSetup]:
    """Build (`build_interaction`) and train trainer.hybrid.interaction.epochs epochs (`fit`): (final states,
    history of every metric ``[epochs]``, the setup). The learned coefficients are
    ``decode_physical(pde, states["physical"].params["coefficients"])``."""
    setup = build_interaction(cfg, pde, sensors, u0=u0, grid=grid)
    states, history = fit(cfg, setup, on_epoch=on_epoch)
    return states, history, setup
