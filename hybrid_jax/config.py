"""Typed, validated, frozen run configuration.

A config is a tree of frozen dataclasses loaded from YAML. Every leaf is typed; each
field's ``metadata`` may carry a ``check`` (predicate, message) and a ``doc`` string.
Bad input raises :class:`ConfigError` naming the dotted key, e.g.
``trainer.synthetic.learning_rate: must be > 0, got -1``.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional, Union

import yaml


class ConfigError(ValueError):
    """A config value is missing, unknown, of the wrong type or out of range."""


def _opt(default, doc, check=None, message=""):
    return field(default=default, metadata={"doc": doc, "check": check, "message": message})


def _sub(cls, doc):
    return field(default_factory=cls, metadata={"doc": doc})


_POS = (lambda v: v > 0, "must be > 0")
_NONNEG = (lambda v: v >= 0, "must be >= 0")


def _pos(default, doc):
    return _opt(default, doc, *_POS)


def _nonneg(default, doc):
    return _opt(default, doc, *_NONNEG)


# ----------------------------------------------------------------------------- physics


@dataclass(frozen=True)
class ViscosityConfig:
    true: float = _pos(0.01, "true viscosity ν (domain units² / time unit) that generates the data")
    bump: float = _opt(0.0, "relative amplitude of a Gaussian bump added to the true field "
                            "(ν(x) = true·(1 + bump·exp(-|x-c|²/(2w²))), c the centre, w = 0.15·L)",
                       lambda v: v > -1, "must be > -1 (viscosity stays positive)")
    init: float = _pos(0.03, "initial guess of ν for the learnable parameter")
    learnable: Literal["scalar", "field"] = _opt("scalar", "learn ν as one scalar or as a field on the grid")


@dataclass(frozen=True)
class InitialStateConfig:
    modes: int = _opt(3, "highest Fourier wavenumber of the random smooth initial states",
                      lambda v: v >= 1, "must be >= 1")
    amplitude: float = _pos(1.0, "peak amplitude of the initial velocity (domain units / time unit)")


@dataclass(frozen=True)
class BurgersConfig:
    name: Literal["burgers"] = _opt("burgers", "PDE family")
    resolution: tuple[int, ...] = _opt((32, 32), "cells per spatial dimension (1, 2 or 3 entries)",
                                       lambda v: 1 <= len(v) <= 3 and all(n >= 4 for n in v),
                                       "must have 1-3 entries, each >= 4")
    domain: tuple[float, ...] = _opt((1.0, 1.0), "physical size per dimension (periodic box)",
                                     lambda v: all(x > 0 for x in v), "must be > 0 in every dimension")
    dt: float = _pos(0.01, "time step of one solver step (time units)")
    substeps: int = _opt(2, "explicit diffusion substeps per step", lambda v: v >= 1, "must be >= 1")
    advection: Literal["maccormack", "semi_lagrangian"] = _opt(
        "maccormack", "advection scheme: MacCormack (second order in space; far less numerical diffusion) "
                      "or first-order semi-Lagrangian")
    viscosity: ViscosityConfig = _sub(ViscosityConfig, "learnable viscosity")
    initial_state: InitialStateConfig = _sub(InitialStateConfig, "random smooth initial states")


def _check_grid(cfg, dims: tuple[int, ...] = (1, 2, 3)) -> None:
    """Shared checks of a physics section's grid, naming the dotted key."""
    if len(cfg.resolution) not in dims:
        raise ConfigError(f"physics.resolution: must have {' or '.join(map(str, dims))} entries, "
                          f"got {len(cfg.resolution)}")
    if len(cfg.domain) != len(cfg.resolution):
        raise ConfigError(f"physics.domain: must have as many entries as physics.resolution "
                          f"({len(cfg.resolution)}), got {len(cfg.domain)}")


def _diffusion_bound(cfg, substeps: int) -> float:
    """Forward-Euler stability bound D ≤ 1/(2·dt_sub·Σ 1/dx_d²) (see physics.operators)."""
    dt_sub = cfg.dt / substeps
    return 1.0 / (2.0 * dt_sub * sum((n / length) ** 2 for n, length in zip(cfg.resolution, cfg.domain)))


def _check_bound(key: str, value: float, bound: float) -> None:
    if value > bound:
        raise ConfigError(f"{key}: must be <= the explicit stability bound {bound:.4g} of this grid and time step "
                          f"(docs/physics.md; lower it, or raise physics.substeps), got {value!r}")


_RESOLUTION_DOC = "cells per spatial dimension (1, 2 or 3 entries)"
_RES_CHECK = (lambda v: all(n >= 4 for n in v), "must have entries >= 4")
_DOMAIN_CHECK = (lambda v: all(x > 0 for x in v), "must be > 0 in every dimension")


@dataclass(frozen=True)
class DiffusivityConfig:
    true: float = _pos(0.01, "true diffusivity κ (domain units² / time unit) that generates the data")
    bump: float = _opt(0.0, "relative amplitude of a Gaussian bump added to the true field "
                            "(κ(x) = true·(1 + bump·exp(-|x-c|²/(2w²))), c the centre, w = 0.15·L)",
                       lambda v: v > -1, "must be > -1 (diffusivity stays positive)")
    init: float = _pos(0.05, "initial guess of κ for the learnable parameter")
    learnable: Literal["scalar", "field"] = _opt("scalar", "learn κ as one scalar or as a field on the grid")


@dataclass(frozen=True)
class PrescribedVelocityConfig:
    kind: Literal["zero", "constant", "vortex"] = _opt(
        "constant", "the prescribed (static) velocity: zero, the constant `value`, or a periodic cellular "
                    "vortex flow (2D only) of peak speed `amplitude`")
    value: tuple[float, ...] = _opt((0.5, 0.25), "kind = constant: the velocity, one entry per dimension "
                                                 "(domain units / time unit)")
    amplitude: float = _nonneg(0.5, "kind = vortex: peak speed (domain units / time unit)")


@dataclass(frozen=True)
class ScalarInitialStateConfig:
    modes: int = _opt(3, "highest Fourier wavenumber of the random smooth initial fields",
                      lambda v: v >= 1, "must be >= 1")
    amplitude: float = _pos(1.0, "peak of |u - offset| of the initial field")
    offset: float = _opt(0.0, "mean of the initial field")


@dataclass(frozen=True)
class AdvectionDiffusionConfig:
    """u_t + v·∇u = ∇·(κ∇u), periodic; v a prescribed static velocity, κ learnable."""

    name: Literal["advection_diffusion"] = _opt("advection_diffusion", "PDE family")
    resolution: tuple[int, ...] = _opt((32, 32), _RESOLUTION_DOC, *_RES_CHECK)
    domain: tuple[float, ...] = _opt((1.0, 1.0), "physical size per dimension (periodic box)", *_DOMAIN_CHECK)
    dt: float = _pos(0.01, "time step of one solver step (time units)")
    substeps: int = _opt(1, "explicit diffusion substeps per step", lambda v: v >= 1, "must be >= 1")
    diffusivity: DiffusivityConfig = _sub(DiffusivityConfig, "learnable diffusivity κ")
    velocity: PrescribedVelocityConfig = _sub(PrescribedVelocityConfig, "prescribed advecting velocity")
    initial_state: ScalarInitialStateConfig = _sub(ScalarInitialStateConfig, "random smooth initial states")

    def __post_init__(self):
        _check_grid(self)
        v = self.velocity
        if v.kind == "constant" and len(v.value) != len(self.resolution):
            raise ConfigError(f"physics.velocity.value: must have one entry per dimension "
                              f"({len(self.resolution)}), got {list(v.value)}")
        if v.kind == "vortex" and len(self.resolution) != 2:
            raise ConfigError("physics.velocity.kind: vortex needs a 2D grid (physics.resolution with 2 entries)")
        # SSP-RK3 with central fluxes is stable for Σ_d |v_d|·dt/dx_d ≤ √3 (imaginary-axis reach of RK3).
        speeds = {"zero": [0.0] * len(self.resolution), "constant": [abs(x) for x in v.value],
                  "vortex": [v.amplitude] * len(self.resolution)}[v.kind]
        cfl = sum(s * self.dt * n / length for s, n, length in zip(speeds, self.resolution, self.domain))
        if cfl > 3**0.5:
            raise ConfigError(f"physics.dt: advective CFL number Σ|v_d|·dt/dx_d = {cfl:.3g} exceeds √3, "
                              f"the RK3 stability limit; got {self.dt!r}")
        d = self.diffusivity
        peak = d.true * max(1.0, 1.0 + d.bump)
        _check_bound("physics.diffusivity.true", peak, _diffusion_bound(self, self.substeps))


@dataclass(frozen=True)
class PotentialConfig:
    wavevectors: tuple[tuple[int, ...], ...] = _opt(
        ((1, 0), (0, 1), (1, 1)), "integer wavevectors k_j of the true potential "
                                  "φ(x) = Σ_j a_j cos(2π Σ_d k_jd x_d / L_d + p_j), one entry per dimension each")
    amplitudes: tuple[float, ...] = _opt((0.1, 0.06, -0.04), "amplitudes a_j of φ, one per wavevector "
                                                            "(domain units² / time unit²)")
    phases: tuple[float, ...] = _opt((), "phases p_j in radians, one per wavevector; empty: all zero")


@dataclass(frozen=True)
class BurgersPotentialConfig:
    """Inviscid Burgers with a learnable potential force, u_t + (u·∇)u = -∇φ(x), periodic."""

    name: Literal["burgers_potential"] = _opt("burgers_potential", "PDE family")
    resolution: tuple[int, ...] = _opt((32, 32), _RESOLUTION_DOC, *_RES_CHECK)
    domain: tuple[float, ...] = _opt((1.0, 1.0), "physical size per dimension (periodic box)", *_DOMAIN_CHECK)
    dt: float = _pos(0.01, "time step of one solver step (time units)")
    advection: Literal["maccormack", "semi_lagrangian"] = _opt(
        "maccormack", "advection scheme: MacCormack (second order, clamped) or first-order semi-Lagrangian")
    potential: PotentialConfig = _sub(PotentialConfig, "true potential φ (the learnable field starts at 0)")
    initial_state: InitialStateConfig = _sub(InitialStateConfig, "random smooth initial velocities")

    def __post_init__(self):
        _check_grid(self)
        p = self.potential
        for i, k in enumerate(p.wavevectors):
            if len(k) != len(self.resolution):
                raise ConfigError(f"physics.potential.wavevectors[{i}]: must have one entry per dimension "
                                  f"({len(self.resolution)}), got {list(k)}")
            if not any(k):
                raise ConfigError(f"physics.potential.wavevectors[{i}]: must not be all zero (a constant "
                                  f"potential exerts no force)")
        if len(p.amplitudes) != len(p.wavevectors):
            raise ConfigError(f"physics.potential.amplitudes: must have one entry per wavevector "
                              f"({len(p.wavevectors)}), got {len(p.amplitudes)}")
        if p.phases and len(p.phases) != len(p.wavevectors):
            raise ConfigError(f"physics.potential.phases: must be empty or have one entry per wavevector "
                              f"({len(p.wavevectors)}), got {len(p.phases)}")


@dataclass(frozen=True)
class DiffusivityUConfig:
    true: float = _pos(0.16, "true diffusivity D_u of u (domain units² / time unit)")
    init: float = _pos(0.1, "initial guess of D_u")


@dataclass(frozen=True)
class DiffusivityVConfig:
    true: float = _pos(0.08, "true diffusivity D_v of v (domain units² / time unit)")
    init: float = _pos(0.05, "initial guess of D_v")


@dataclass(frozen=True)
class FeedConfig:
    true: float = _pos(0.037, "true feed rate f (1 / time unit)")
    init: float = _pos(0.03, "initial guess of f (used when physics.learn_rates)")


@dataclass(frozen=True)
class KillConfig:
    true: float = _pos(0.06, "true kill rate k (1 / time unit)")
    init: float = _pos(0.05, "initial guess of k (used when physics.learn_rates)")


@dataclass(frozen=True)
class GrayScottInitialStateConfig:
    num_squares: int = _pos(3, "random squares per initial state where (u, v) = (0.5, 0.25)")
    square_size: float = _opt(0.15, "side of a square, as a fraction of the domain side",
                              lambda v: 0 < v < 1, "must be in (0, 1)")
    noise: float = _nonneg(0.02, "amplitude of the uniform noise added to u and v")


@dataclass(frozen=True)
class GrayScottConfig:
    """u_t = D_u Δu - uv² + f(1-u),  v_t = D_v Δv + uv² - (f+k)v, periodic."""

    name: Literal["gray_scott"] = _opt("gray_scott", "PDE family")
    resolution: tuple[int, ...] = _opt((32, 32), _RESOLUTION_DOC, *_RES_CHECK)
    domain: tuple[float, ...] = _opt((32.0, 32.0), "physical size per dimension (periodic box)", *_DOMAIN_CHECK)
    dt: float = _pos(10.0, "time step of one solver step (time units)")
    substeps: int = _opt(10, "forward-Euler substeps per step", lambda v: v >= 1, "must be >= 1")
    diffusivity_u: DiffusivityUConfig = _sub(DiffusivityUConfig, "learnable diffusivity D_u")
    diffusivity_v: DiffusivityVConfig = _sub(DiffusivityVConfig, "learnable diffusivity D_v")
    feed: FeedConfig = _sub(FeedConfig, "feed rate f")
    kill: KillConfig = _sub(KillConfig, "kill rate k")
    learn_rates: bool = _opt(False, "also learn f and k (otherwise they are known and fixed at their true values)")
    initial_state: GrayScottInitialStateConfig = _sub(GrayScottInitialStateConfig, "seeded square perturbations")

    def __post_init__(self):
        _check_grid(self)
        # Forward Euler about (u, v) = (1, 0): dt_sub·(4·D·Σ 1/dx² + decay rate) ≤ 2 (physics.gray_scott).
        bound, dt_sub = _diffusion_bound(self, self.substeps), self.dt / self.substeps
        f, k = self.feed.true, self.kill.true
        _check_bound("physics.diffusivity_u.true", self.diffusivity_u.true, bound * (1 - dt_sub * f / 2))
        _check_bound("physics.diffusivity_v.true", self.diffusivity_v.true, bound * (1 - dt_sub * (f + k) / 2))


@dataclass(frozen=True)
class BuoyancyConfig:
    true: float = _pos(1.0, "true buoyancy b: upward acceleration per unit smoke density "
                            "(domain units / time unit² per density unit)")
    bump: float = _opt(0.0, "relative amplitude of a Gaussian bump added to the true field "
                            "(b(x) = true·(1 + bump·exp(-|x-c|²/(2w²))), c the centre, w = 0.15·L)",
                       lambda v: v > -1, "must be > -1 (buoyancy stays positive)")
    init: float = _pos(0.5, "initial guess of b for the learnable parameter")
    learnable: Literal["scalar", "field"] = _opt("scalar", "learn b as one scalar or as a field on the grid")


@dataclass(frozen=True)
class SmokeViscosityConfig:
    true: float = _nonneg(0.0, "true kinematic viscosity ν (domain units² / time unit); 0: inviscid")
    init: float = _pos(0.01, "initial guess of ν (used when learnable)")
    learnable: bool = _opt(False, "learn ν as a scalar; otherwise `true` is known and fixed")


@dataclass(frozen=True)
class PressureSolveConfig:
    tolerance: float = _pos(1e-5, "absolute and relative residual tolerance of the CG pressure solve "
                                  "(velocity units / length)")
    max_iterations: int = _pos(500, "iteration limit of the CG pressure solve")


@dataclass(frozen=True)
class SmokeInitialStateConfig:
    num_blobs: int = _pos(2, "Gaussian smoke blobs per initial state, at random positions")
    blob_radius: float = _opt(0.08, "standard deviation of a blob, as a fraction of the smaller domain side",
                              lambda v: 0 < v < 0.5, "must be in (0, 0.5)")
    density: float = _pos(1.0, "peak density of a blob")
    velocity_amplitude: float = _nonneg(0.0, "peak speed of a random smooth divergence-free initial velocity "
                                             "(0: fluid at rest)")
    velocity_modes: int = _opt(2, "highest Fourier wavenumber of the initial stream function",
                               lambda v: v >= 1, "must be >= 1")


@dataclass(frozen=True)
class SmokeConfig:
    """Incompressible buoyant smoke in a 2D periodic box, learnable buoyancy (and viscosity)."""

    name: Literal["smoke"] = _opt("smoke", "PDE family")
    resolution: tuple[int, ...] = _opt((32, 32), "cells per spatial dimension (2 entries)", *_RES_CHECK)
    domain: tuple[float, ...] = _opt((1.0, 1.0), "physical size per dimension (periodic box)", *_DOMAIN_CHECK)
    dt: float = _pos(0.02, "time step of one solver step (time units)")
    substeps: int = _opt(1, "explicit viscosity substeps per step", lambda v: v >= 1, "must be >= 1")
    advection: Literal["maccormack", "semi_lagrangian"] = _opt(
        "maccormack", "advection scheme of velocity and smoke: MacCormack (clamped) or semi-Lagrangian")
    buoyancy: BuoyancyConfig = _sub(BuoyancyConfig, "learnable buoyancy b")
    viscosity: SmokeViscosityConfig = _sub(SmokeViscosityConfig, "viscosity ν (optional, optionally learnable)")
    pressure: PressureSolveConfig = _sub(PressureSolveConfig, "pressure projection")
    initial_state: SmokeInitialStateConfig = _sub(SmokeInitialStateConfig, "random smoke blobs")

    def __post_init__(self):
        _check_grid(self, dims=(2,))
        _check_bound("physics.viscosity.true", self.viscosity.true, _diffusion_bound(self, self.substeps))


PHYSICS_CONFIGS: dict[str, type] = {
    "burgers": BurgersConfig,
    "advection_diffusion": AdvectionDiffusionConfig,
    "burgers_potential": BurgersPotentialConfig,
    "gray_scott": GrayScottConfig,
    "smoke": SmokeConfig,
}
PhysicsConfig = Union[BurgersConfig, AdvectionDiffusionConfig, BurgersPotentialConfig, GrayScottConfig, SmokeConfig]


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
class DataConfig:
    source: Literal["generate", "files"] = _opt("generate", "simulate trajectories, or read them from `path`")
    path: Optional[str] = _opt(None, "`.npz` with `trajectories` [N, T, *spatial, C] float32 and `fields` "
                                     "(channel names); required when source = files")
    store_dir: str = _opt("data", "directory of generated trajectory stores (one subfolder per config hash)")
    num_trajectories: int = _opt(8, "number of simulated trajectories N", lambda v: v >= 2, "must be >= 2")
    num_frames: int = _opt(16, "frames per trajectory T, the initial state included",
                           lambda v: v >= 2, "must be >= 2")
    rollout_steps: int = _pos(4, "K: steps of the multi-step rollout loss (targets per window)")
    window_stride: int = _pos(1, "stride between window start frames")
    validation_fraction: float = _opt(0.25, "fraction of trajectories held out for validation",
                                      lambda v: 0 < v < 1, "must be in (0, 1)")
    observation: ObservationConfig = _sub(ObservationConfig, "sparse observations of the real data "
                                                             "(a mask on the loss targets)")


@dataclass(frozen=True)
class NetworkConfig:
    architecture: Literal["unet", "convnet"] = _opt("unet", "Flax NNX architecture")
    levels: int = _pos(2, "UNet: resolution levels (each halves the grid; the resolution must divide by 2^(levels-1))")
    filters: int = _pos(16, "channels of the first level (doubled per level) / of every ConvNet layer")
    layers: int = _pos(3, "ConvNet: number of hidden convolutions")
    kernel_size: int = _opt(3, "convolution kernel size", lambda v: v >= 1 and v % 2 == 1, "must be odd and >= 1")
    prediction: Literal["residual", "next_state"] = _opt(
        "residual", "predict the increment (x + f(x)) or the next state directly")


# ----------------------------------------------------------------------------- trainers


@dataclass(frozen=True)
class SyntheticTrainerConfig:
    learning_rate: float = _pos(1e-3, "Adam learning rate of the network")
    epochs: int = _nonneg(3, "epochs per hybrid cycle (or in total in synthetic mode)")
    checkpoint_rollout: bool = _opt(False, "jax.checkpoint each rollout step (less memory, more compute)")


@dataclass(frozen=True)
class RegularizationConfig:
    kind: Literal["none", "gradient_l2", "total_variation"] = _opt(
        "none", "smoothness penalty of field parameters (on the optimised values, log for positive ones): "
                "mean |∇θ|² or mean |∇θ| over the cells (∇ in domain units)")
    weight: float = _nonneg(0.0, "weight of the penalty added to the physical training loss")


@dataclass(frozen=True)
class PhysicalTrainerConfig:
    learning_rate: float = _pos(5e-2, "Adam learning rate of the PDE parameters (on log ν); unused by lbfgs")
    epochs: int = _nonneg(8, "epochs per hybrid cycle (or in total in physical mode)")
    checkpoint_rollout: bool = _opt(False, "jax.checkpoint each rollout step (less memory, more compute)")
    optimizer: Literal["adam", "lbfgs"] = _opt(
        "adam", "optax Adam, or L-BFGS with a zoom line search (best with batching = full)")
    batching: Literal["per_batch", "full"] = _opt(
        "per_batch", "per_batch: shuffled batches of trainer.batch_size; full: each epoch is one step on all "
                     "training windows (real and generated)")
    memory_size: int = _pos(10, "lbfgs: number of past updates kept for the curvature estimate")
    max_linesearch_steps: int = _pos(20, "lbfgs: zoom line-search iterations per step")
    regularization: RegularizationConfig = _sub(RegularizationConfig, "smoothness of field parameters")


@dataclass(frozen=True)
class AlphaScheduleConfig:
    kind: Literal["constant", "linear"] = _opt("constant", "alpha fixed, or linear from `alpha` to `final`")
    final: float = _nonneg(0.0, "alpha at the last cycle (linear schedule)")


@dataclass(frozen=True)
class HybridConfig:
    cycles: int = _pos(3, "number of hybrid cycles")
    alpha: float = _nonneg(0.1, "loss weight of generated samples (real samples weigh 1)")
    schedule: AlphaScheduleConfig = _sub(AlphaScheduleConfig, "alpha schedule over cycles")
    generated_fraction: Optional[float] = _opt(
        None, "generated samples per real window; default: alpha (count proportional to alpha)",
        lambda v: v is None or v >= 0, "must be >= 0")
    generation_source: Literal["real", "prior"] = _opt(
        "real", "initial states of generated rollouts: real training states or the physics' prior")
    warmup_epochs: int = _nonneg(2, "synthetic epochs on real data only, before the first cycle")


@dataclass(frozen=True)
class TrainerConfig:
    batch_size: int = _pos(8, "windows per batch (the last partial batch of an epoch is dropped)")
    max_consecutive_failures: int = _pos(10, "stop after this many consecutive steps with NaN/inf "
                                             "(each is rejected and the last good state kept)")
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


@dataclass(frozen=True)
class Config:
    experiment_name: str = _opt("experiment", "name of the run directory",
                                lambda v: bool(v) and "/" not in v, "must be a non-empty name without '/'")
    seed: int = _opt(0, "seed of every PRNG key and shuffle")
    mode: Literal["synthetic", "physical", "hybrid"] = _opt("hybrid", "which models are trained")
    tasks: tuple[Literal["generate", "train", "evaluate"], ...] = _opt(
        ("generate", "train", "evaluate"), "tasks run in order", lambda v: len(v) > 0, "must not be empty")
    physics: PhysicsConfig = _sub(BurgersConfig, "the PDE (section keys depend on `name`)")
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
        inner = [a for a in args if a is not type(None)]
        if len(inner) > 1 and all(a in PHYSICS_CONFIGS.values() for a in inner):
            return from_dict(inner[0], value, key)  # the physics section: from_dict dispatches on `name`
        (inner,) = inner
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
    if dataclasses.is_dataclass(tp):
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
    if cls is BurgersConfig or cls in PHYSICS_CONFIGS.values():
        name = data.get("name", "burgers")
        if not isinstance(name, str) or name not in PHYSICS_CONFIGS:
            _coerce(Literal[tuple(PHYSICS_CONFIGS)], name, _join(prefix, "name"))
        cls = PHYSICS_CONFIGS[name]
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
    if len(p.domain) != len(p.resolution):
        raise ConfigError(f"physics.domain: must have as many entries as physics.resolution "
                          f"({len(p.resolution)}), got {len(p.domain)}")
    if cfg.data.source == "files" and not cfg.data.path:
        raise ConfigError("data.path: required when data.source = files")
    if cfg.data.source == "generate" and cfg.data.rollout_steps >= cfg.data.num_frames:
        raise ConfigError(f"data.rollout_steps: must be < data.num_frames ({cfg.data.num_frames}), "
                          f"got {cfg.data.rollout_steps}")
    obs = cfg.data.observation
    if obs.spatial == "box":
        if len(obs.box) != len(p.resolution):
            raise ConfigError(f"data.observation.box: must have one [lo, hi] per dimension ({len(p.resolution)}), "
                              f"got {[list(b) for b in obs.box]}")
        for i, b in enumerate(obs.box):
            if len(b) != 2 or not 0 <= b[0] < b[1] <= 1:
                raise ConfigError(f"data.observation.box[{i}]: must be [lo, hi] with 0 <= lo < hi <= 1, got {list(b)}")
    net = cfg.network
    if net.architecture == "unet":
        factor = 2 ** (net.levels - 1)
        for i, n in enumerate(p.resolution):
            if n % factor:
                raise ConfigError(f"physics.resolution[{i}]: must be divisible by 2^(network.levels-1) = "
                                  f"{factor} for the UNet, got {n}")


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Set dotted `key=value` overrides (values parsed as YAML) in a nested dict copy."""
    data = json.loads(json.dumps(data))
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"{item}: an override must look like dotted.key=value")
        key, raw = item.split("=", 1)
        node = data
        parts = key.strip().split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"{key}: '{part}' is not a section")
            node = child
        node[parts[-1]] = yaml.safe_load(raw)
    return data


def load_config(path: str | Path | None, overrides: list[str] = ()) -> Config:
    """Load a YAML config (or the defaults when `path` is None) and apply dotted overrides."""
    data: Any = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: not valid YAML ({e})") from None
    return config_from_dict(apply_overrides(data, list(overrides)))


def config_from_dict(data: dict) -> Config:
    cfg = from_dict(Config, data)
    _check_consistency(cfg)
    return cfg


def to_dict(cfg) -> dict:
    """Plain nested dict of a config (tuples as lists), suitable for YAML/JSON."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def config_hash(section) -> str:
    """Stable short hash of a config (or of any JSON-able section of one)."""
    payload = to_dict(section) if dataclasses.is_dataclass(section) else section
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def save_config(cfg: Config, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))


def reference(cls=None, prefix: str = "") -> list[tuple[str, str, str, str]]:
    """(dotted key, type, default, doc) of every config key; physics keys once per family."""
    cls = cls or Config
    rows = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        key, tp = _join(prefix, f.name), hints[f.name]
        if cls is Config and f.name == "physics":
            for name, sub in PHYSICS_CONFIGS.items():
                rows += reference(sub, f"{key}[{name}]")
        elif dataclasses.is_dataclass(tp):
            rows += reference(tp, key)
        else:
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            type_name = tp.__name__ if isinstance(tp, type) else str(tp).replace("typing.", "")
            rows.append((key, type_name, json.dumps(default), f.metadata.get("doc", "")))
    return rows


if __name__ == "__main__":  # python -m hybrid_jax.config: print the key reference as Markdown
    print("| key | type | default | meaning |\n|---|---|---|---|")
    for row in reference():
        print("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
