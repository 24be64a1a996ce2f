"""The run configuration: its generic sections and how a whole config is loaded.

A `Config` is a tree of frozen dataclasses built from YAML by the machinery of
`hybrid_jax.typed_config` (coercion, errors naming the dotted key, safe YAML, the key
reference). The ``physics`` section is a union tagged by ``physics.name``, found through the
family registry; the sections of each family live in its own module.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, Optional, Sequence

import yaml

from hybrid_jax._registry import architectures, data_formats, families
from hybrid_jax.errors import ConfigError
from hybrid_jax.files import atomic_write, is_plain_name
from hybrid_jax.sensor_config import SensorPathsConfig, SensorsConfig  # noqa: F401  (re-exported)
from hybrid_jax.trainer_config import (  # noqa: F401  (re-exported: the trainer sections)
    AlphaScheduleConfig,
    CouplingConfig,
    CurriculumConfig,
    GenerationConfig,
    HybridConfig,
    LRScheduleConfig,
    PhysicalTrainerConfig,
    RegularizationConfig,
    ReversionConfig,
    SyntheticTrainerConfig,
    TrainerConfig,
)
from hybrid_jax.typed_config import (
    TaggedUnion,
    _coerce,
    apply_overrides,
    config_hash,
    from_dict,
    nonnegative,
    option,
    parse_yaml,
    positive,
    section,
    to_dict,
)
from hybrid_jax.typed_config import reference as _reference

__all__ = ["Config", "ConfigError", "NetworkConfig", "PhysicsConfig", "apply_overrides", "config_from_dict",
           "config_hash", "from_dict", "load_config", "load_plugins", "nonnegative", "option", "parse_yaml", "positive",
           "print_reference", "reference", "save_config", "section", "to_dict"]

_opt, _sub, _pos, _nonneg = option, section, positive, nonnegative  # short names of the sections below


# ----------------------------------------------------------------------------- physics


class PhysicsConfig(TaggedUnion):
    """Base of every PDE family's config dataclass: the ``physics`` section is a union tagged by
    its ``name``, resolved through the family registry (`hybrid_jax._registry.families`); a
    family's module, hence PhiFlow, is imported only when its name is used."""

    name: str
    resolution: tuple[int, ...]  # every family has a grid (`check_family`) ...
    domain: tuple[float, ...]
    dt: float  # ... and a time step
    tag: ClassVar[str] = "name"
    default_variant: ClassVar[str] = "burgers"

    @classmethod
    def variant_names(cls) -> tuple[str, ...]:
        return families.names()

    @classmethod
    def variant(cls, name: str) -> type:
        return families.get(name).config


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
    format: str = _opt(
        "auto", "format of data.path: npz, hdf5, scene, npy, original or a registered one "
                "(hybrid_jax.register_format); auto: by extension (.npz, .h5/.hdf5, .npy; a directory of sim_XXXX.npz "
                "files is the original system's data (docs/data.md), another directory a PhiFlow Scene)")
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
    sensors: SensorsConfig = _sub(SensorsConfig, "a simulated sensor study: one true trajectory read by moving "
                                                 "sensors (instead of windows; hybrid_jax.sensor_run)")
    sensor_file: Optional[str] = _opt(None, "sensor record .npz (docs/coupling.md): positions [T, S, d] (domain "
                                            "units), times [T] (time units, increasing), values [T, S, C], float32: "
                                            "the observations of trainer.hybrid.coupling = interaction")

    def __post_init__(self):
        if self.format != "auto" and self.format not in data_formats:
            _coerce(Literal[("auto", *data_formats.names())], self.format, "data.format")


class NetworkConfig(TaggedUnion):
    """Base of every network's config dataclass (`hybrid_jax.networks.base.NetworkBase`): the ``network``
    section is a union tagged by its ``architecture``, resolved through the network registry
    (`hybrid_jax._registry.architectures`); each architecture's module holds its keys and checks."""

    architecture: str
    prediction: str  # the keys every network has (`hybrid_jax.networks.base.NetworkBase`) that training reads
    input_noise: float
    padding: str
    dtype: str
    tag: ClassVar[str] = "architecture"
    default_variant: ClassVar[str] = "unet"

    @classmethod
    def variant_names(cls) -> tuple[str, ...]:
        return architectures.names()

    @classmethod
    def variant(cls, name: str) -> type:
        return architectures.get(name).config

    def check_grid(self, resolution: tuple[int, ...]) -> None:
        """Refuse a grid (``physics.resolution``) the network cannot run on (ConfigError)."""

    def footprint(self, in_channels: int, out_channels: int, ndim: int) -> tuple[int, float] | None:
        """(parameters, activations per grid cell of one sample's forward pass kept for the backward pass),
        the preflight's estimate; None: unknown (the preflight then sizes the data only)."""
        return None


def _default_network() -> NetworkConfig:
    return architectures.get("unet").config()


# ----------------------------------------------------------------------------- trainers (trainer_config.py)



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
    plots: bool = _opt(True, "write PNG/GIF figures into <run_dir>/plots/ after training and evaluation")
    tensorboard: bool = _opt(True, "write TensorBoard event files into the run directory (`tensorboard --logdir runs`)")
    tracker: Literal["none", "wandb", "mlflow"] = _opt(
        "none", "also log to Weights & Biases or MLflow (the package must be installed)")
    project: str = _opt("hybrid_jax", "W&B project / MLflow experiment of the tracked runs (the run is "
                                      "experiment_name)")
    tracking_uri: Optional[str] = _opt(None, "MLflow tracking URI; default: MLflow's own ($MLFLOW_TRACKING_URI)")
    track_images: bool = _opt(True, "log images of a validation rollout and of learned fields once per cycle")
    compilation_cache: Optional[str] = _opt(
        "default", "directory of the persistent XLA compilation cache (a second run of the same shapes skips "
                   "compilation); default: $XDG_CACHE_HOME/hybrid_jax/xla (~/.cache/...); null: off")
    save_generated: bool = _opt(False, "write each cycle's generated rollouts to <run_dir>/generated/"
                                       "cycle_<c>_<generator>.npz (trajectories [M, L+1, *spatial, C], fields)")
    background: bool = _opt(True, "draw figures and TensorBoard images and make the tracker's calls on a worker "
                                  "thread, off the training's critical path (the run waits for it before "
                                  "summary.json; a failed job ends the run with exit code 3 after the rest is "
                                  "written); false: in the run's own thread, in turn")


@dataclass(frozen=True)
class Config:
    experiment_name: str = _opt("experiment", "name of the run directory", is_plain_name,
                                "must be a plain name (not '.' or '..', no path separator or control character)")
    seed: int = _opt(0, "seed of every PRNG key and shuffle", lambda v: 0 <= v < 2**32, "must be in [0, 2^32)")
    mode: Literal["synthetic", "physical", "hybrid"] = _opt("hybrid", "which models are trained")
    plugins: tuple[str, ...] = _opt(
        (), "modules (dotted names) or .py files imported before the rest of the config is read: they register PDE "
            "families or networks (hybrid_jax.register_family); a file is relative to the config file that names it "
            "(to the working directory on the command line) and is saved as an absolute path. Plugins are code: "
            "importing one runs it (name only files you trust); the run log names every file imported")
    tasks: tuple[Literal["generate", "train", "evaluate"], ...] = _opt(
        ("generate", "train", "evaluate"), "tasks run in order", lambda v: len(v) > 0, "must not be empty")
    physics: PhysicsConfig = _sub(_default_physics, "the PDE (section keys depend on `name`)")
    data: DataConfig = _sub(DataConfig, "trajectories and windows")
    network: NetworkConfig = _sub(_default_network, "synthetic model (section keys depend on `architecture`)")
    trainer: TrainerConfig = _sub(TrainerConfig, "optimisers, epochs, hybrid cycle")
    evaluation: EvaluationConfig = _sub(EvaluationConfig, "evaluation task")
    output: OutputConfig = _sub(OutputConfig, "run directory")
    parallel: ParallelConfig = _sub(ParallelConfig, "data parallelism over devices and hosts (docs/parallel.md)")


# ----------------------------------------------------------------------------- loading




def _check_coupling(cfg: Config) -> None:
    """The keys of the two coupling mechanisms that must agree (docs/coupling.md)."""
    h, phy = cfg.trainer.hybrid, cfg.trainer.physical
    field = cfg.network.architecture == "neural_field"
    if h.coupling == "augmentation":  # (a neural field in the windowed cycle is refused by build_experiment)
        if phy.initial_state != "data":
            raise ConfigError(f"trainer.physical.initial_state: {phy.initial_state} needs trainer.hybrid.coupling = "
                              f"interaction")
        return
    if phy.optimizer != "adam":
        raise ConfigError("trainer.physical.optimizer: interaction coupling takes one Adam step per epoch; "
                          f"must be adam, got {phy.optimizer}")
    if phy.initial_state == "synthetic" and not field:
        raise ConfigError("trainer.physical.initial_state: synthetic needs network.architecture = neural_field")
    ndim = len(cfg.physics.resolution)
    box = h.interaction.ghost_box
    if box and len(box) != ndim:
        raise ConfigError(f"trainer.hybrid.interaction.ghost_box: must have one [lo, hi] per dimension ({ndim}), "
                          f"got {[list(b) for b in box]}")
    for i, b in enumerate(box):
        if len(b) != 2 or not 0 <= b[0] < b[1] <= 1:
            raise ConfigError(f"trainer.hybrid.interaction.ghost_box[{i}]: must be [lo, hi] with 0 <= lo < hi <= 1, "
                              f"got {list(b)}")


def _check_consistency(cfg: Config) -> None:
    """Cross-field checks that one key alone cannot express."""
    _check_coupling(cfg)
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
    cfg.network.check_grid(p.resolution)




def load_config(path: str | Path | None, overrides: Sequence[str] = ()) -> Config:
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
        if "plugins" in data:  # files named relative to the config file (hybrid_jax.plugins)
            from hybrid_jax.plugins import resolve

            data["plugins"] = resolve(data["plugins"], path.resolve().parent)
    return config_from_dict(apply_overrides(data, list(overrides)))


def config_from_dict(data: dict) -> Config:
    if isinstance(data, dict) and "plugins" in data:
        from hybrid_jax.plugins import load

        data = {**data, "plugins": list(load(_coerce(tuple[str, ...], data["plugins"], "plugins")))}
    cfg = from_dict(Config, data)
    _check_consistency(cfg)
    return cfg


def load_plugins(plugins: tuple[str, ...]) -> tuple[str, ...]:
    """Import each plugin once (see `hybrid_jax.plugins.load`)."""
    from hybrid_jax.plugins import load

    return load(plugins)


def save_config(cfg: Config, path: str | Path) -> None:
    atomic_write(path, yaml.safe_dump(to_dict(cfg), sort_keys=False))




def reference(cls=None, prefix: str = "") -> list[tuple[str, str, str, str]]:
    """(dotted key, type, default, doc) of every key of `cls` (the whole `Config` by default)."""
    return _reference(cls or Config, prefix)


def print_reference() -> None:
    """Print the key reference as a Markdown table (docs/config.md)."""
    print("| key | type | default | meaning |\n|---|---|---|---|")
    for row in reference():
        print("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")


if __name__ == "__main__":  # python -m hybrid_jax.config
    print_reference()
