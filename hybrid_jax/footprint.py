"""Working memory of what a run executes, estimated from its config (bytes, float32), for the preflight.

Each estimate counts what XLA keeps alive at the peak of one program, in units of one state
``[*spatial, C]``: the program's inputs and outputs plus its live temporaries. The per-step constants were
fitted to XLA's buffer assignment (`Compiled.memory_analysis`) and are checked against measured peak RSS
(tests/test_memory.py, docs/data.md "Memory"):

- generation, per chunk of c trajectories: c·T observed frames (the output) and c·GEN_WORK states of one
  solver step (at the refined truth grid, if data.truth refines);
- the physical training step (a batch of B K-step rollouts through the PDE, differentiated): B·K·PHYS_SAVED
  states of residuals kept for the backward pass, or B·(K + PHYS_WORK) with trainer.physical.checkpoint_rollout
  (one state per step, one step's residuals rematerialised at a time);
- the synthetic training step: B·(K+1) rollout states, B·K network steps of activations (UNet: about 4 feature
  maps of each level's width per convolution pair, at that level's resolution; ConvNet/ResNet: one per layer,
  ×2 for the GELU's input), parameters ×4 (values, gradients, two Adam moments);
- the generated set: M rollouts of L+1 frames per direction.
"""

from __future__ import annotations

import math

from hybrid_jax.config import Config
from hybrid_jax.memory import host_memory_available
from hybrid_jax.training.plan import num_generated

F32 = 4

GEN_WORK = 20  # states live within one vmapped solver step (PhiFlow advection + diffusion substeps): 7-21 measured
PHYS_SAVED = {1: 3, 2: 10, 3: 60}  # states of residuals per differentiated PDE step, by dimension (semi-Lagrangian
# Burgers, fitted to XLA; MacCormack keeps MACCORMACK times as many; other families: within about 2-3x)
MACCORMACK = 2.5
PHYS_WORK = 1.3  # one rematerialised step (checkpoint_rollout): its residuals and their cotangents, × PHYS_SAVED


def free_memory() -> int:
    """Bytes free now: the first device's limit less what it holds (GPU/TPU), else available host memory."""
    import jax

    stats = jax.local_devices()[0].memory_stats() or {}
    if "bytes_limit" in stats:
        return int(stats["bytes_limit"] - stats.get("bytes_in_use", 0))
    return host_memory_available()


def state_bytes(cfg: Config, channels: int, refine: int = 1) -> int:
    """Bytes of one state ``[*spatial · refine, C]`` float32."""
    return math.prod(n * refine for n in cfg.physics.resolution) * channels * F32


def generation_bytes(cfg: Config, chunk: int, channels: int = 1) -> int:
    """Working memory of simulating `chunk` real trajectories in one call: their initial states and frames,
    and one trajectory's rollout (its frames and one solver step's GEN_WORK states on the truth grid)."""
    state, fine = state_bytes(cfg, channels), state_bytes(cfg, channels, cfg.data.truth.refine.space)
    t = cfg.data.num_frames
    return chunk * (t + 1) * state + t * state + GEN_WORK * fine


def _split(cfg: Config) -> tuple[int, int]:
    """(training, validation) trajectories of the config's split (`split_simulations`)."""
    n = cfg.data.num_trajectories
    val = min(max(1, round(n * cfg.data.validation_fraction)), n - 1)
    return n - val, val


def _windows(cfg: Config, sims: int, frames: int) -> int:
    return sims * max(math.ceil((frames - cfg.data.rollout_steps) / cfg.data.window_stride), 1)


def generated_rollouts(cfg: Config) -> int:
    """M: rollouts per cycle and direction (`training.plan.num_generated` of the training split's windows)."""
    return num_generated(cfg, _windows(cfg, _split(cfg)[0], cfg.data.num_frames))


def _generated_lengths(cfg: Config) -> dict[str, int]:
    """L of the generated rollouts each model trains on (the other model's)."""
    g, k = cfg.trainer.hybrid.generation, cfg.data.rollout_steps
    return {"synthetic": g.physical_length or k, "physical": g.synthetic_length or k}


def generated_bytes(cfg: Config, channels: int) -> int:
    """The generated sets: a device slot of M·(L+1) states per distinct L, and one live set."""
    m, lengths = generated_rollouts(cfg), _generated_lengths(cfg)
    if not m:  # the empty slots, one window each
        return len(set(lengths.values())) * (cfg.data.rollout_steps + 1) * state_bytes(cfg, channels)
    slots = sum(m * (n + 1) for n in set(lengths.values()))
    return (slots + m * (max(lengths.values()) + 1)) * state_bytes(cfg, channels)


def physical_batch(cfg: Config) -> int:
    """Windows per physical training step: trainer.batch_size, or all of them (batching = full)."""
    if cfg.trainer.physical.batching != "full":
        return cfg.trainer.batch_size
    train, m = _windows(cfg, _split(cfg)[0], cfg.data.num_frames), generated_rollouts(cfg)
    return train + _windows(cfg, m, _generated_lengths(cfg)["physical"] + 1) if m else train


def residual_states(cfg: Config) -> int:
    """States of residuals one differentiated PDE step keeps per window (on the grid it runs on)."""
    scheme = MACCORMACK if getattr(cfg.physics, "advection", None) == "maccormack" else 1
    return round(PHYS_SAVED[len(cfg.physics.resolution)] * scheme)


def physical_step_bytes(cfg: Config, channels: int, checkpoint: bool | None = None) -> int:
    """Working memory of one physical training step (`checkpoint`: trainer.physical.checkpoint_rollout
    unless given): the gathered windows of K+1 states, the K-step rollout through the PDE (on the grid reduced
    by trainer.physical.downsample_factor) with its residuals, and the upsampled prediction."""
    phy = cfg.trainer.physical
    checkpoint = phy.checkpoint_rollout if checkpoint is None else checkpoint
    window = cfg.data.rollout_steps
    k = phy.rollout_steps or window
    full = state_bytes(cfg, channels)
    reduced = full / 2 ** (phy.downsample_factor * len(cfg.physics.resolution))
    saved = residual_states(cfg)
    rollout = (k + PHYS_WORK * saved) * reduced if checkpoint else k * saved * reduced
    upsampled = k * full if phy.downsample_factor else 0
    return int(physical_batch(cfg) * ((window + 1) * full + rollout + upsampled))


XLA_RETAINED = 2  # XLA keeps about twice the values per layer of a network's own `footprint` (fitted: 0.8-1.1x)


def _network(cfg: Config, channels: int) -> tuple[int, int]:
    """(feature-map elements per network step and sample, parameters) of the synthetic network, from the
    network config's own count (`NetworkConfig.footprint`; a network without one counts nothing)."""
    cells, ndim = math.prod(cfg.physics.resolution), len(cfg.physics.resolution)
    size = cfg.network.footprint(channels, channels, ndim)
    if size is None:
        return 0, 0
    params, per_cell = size
    return int(XLA_RETAINED * per_cell * cells), params


def synthetic_step_bytes(cfg: Config, channels: int) -> int:
    """Working memory of one synthetic training step: B windows of K+1 states, B·K network steps of
    activations kept for the backward pass (one step's with trainer.synthetic.checkpoint_rollout), and the
    parameters with their gradients and two Adam moments."""
    b, k = cfg.trainer.batch_size, cfg.data.rollout_steps
    maps, params = _network(cfg, channels)
    steps = 1 if cfg.trainer.synthetic.checkpoint_rollout else k
    return b * (k + 1) * state_bytes(cfg, channels) + b * steps * maps * F32 + 4 * params * F32


DEVICE_SHARE = 0.5  # data.placement auto: the real trajectories stay on the device if they fit this share of it
PREFETCH = 4  # host-streamed batches in flight (data.placement host): Grain's read-ahead plus the one in use


def real_on_device(cfg: Config, real_bytes: int, free: int) -> bool:
    """Whether training keeps the real trajectories (`real_bytes`) on the device (data.placement)."""
    return {"device": True, "host": False}.get(cfg.data.placement, real_bytes <= DEVICE_SHARE * free)


def evaluation_bytes(cfg: Config, channels: int, num_frames: int) -> int:
    """The evaluate task: each validation trajectory's truth and, per trained model, its rollout on the
    device, on the host and concatenated with x0 (H+1 frames each)."""
    horizon = min(cfg.evaluation.horizon or num_frames - 1, num_frames - 1)
    models = 2 if cfg.mode == "hybrid" else 1
    return _split(cfg)[1] * (horizon + 1) * (1 + 3 * models) * state_bytes(cfg, channels)


def run_parts(cfg: Config, channels: int, num_trajectories: int, num_frames: int, free: int) -> dict[str, dict]:
    """Bytes of what each phase of the run holds at once: ``{phase: {part: bytes}}`` (phases generation,
    training, evaluation), and the config key that reduces each part."""
    real = num_trajectories * num_frames * state_bytes(cfg, channels)
    phases: dict[str, dict] = {}
    if cfg.data.source == "generate" and "generate" in cfg.tasks:
        from hybrid_jax.data.generation import choose_chunk

        fixed = generation_bytes(cfg, 0, channels)
        chunk = choose_chunk(cfg.data.generation_chunk, num_trajectories,
                             (generation_bytes(cfg, 1, channels) - fixed, fixed), free)
        phases["generation"] = {
            "initial states": num_trajectories * state_bytes(cfg, channels, cfg.data.truth.refine.space),
            f"generation of {chunk} trajectories per chunk": generation_bytes(cfg, chunk, channels)}
    if "train" in cfg.tasks:
        steps = {"synthetic training step": synthetic_step_bytes(cfg, channels),
                 "physical training step": physical_step_bytes(cfg, channels)}
        trained = {"synthetic": ["synthetic"], "physical": ["physical"], "hybrid": ["synthetic", "physical"]}[cfg.mode]
        train = {k: v for k, v in steps.items() if k.split()[0] in trained}
        worst = max(train, key=lambda name: train[name])
        training = {worst: train[worst], "generated sets": generated_bytes(cfg, channels)}
        if real_on_device(cfg, real, free):
            training["real data on the device"] = real
        else:
            training["host-streamed batches"] = PREFETCH * cfg.trainer.batch_size * (cfg.data.rollout_steps + 1) \
                * state_bytes(cfg, channels)
        if cfg.data.truth.noise.std > 0:
            training["noisy real data on the host"] = real
        phases["training"] = training
    if "evaluate" in cfg.tasks:
        phases["evaluation"] = {"evaluation rollouts": evaluation_bytes(cfg, channels, num_frames)}
    return phases


KEYS = {"generation": "data.generation_chunk or physics.resolution",
        "initial states": "data.num_trajectories",
        "synthetic training step": "trainer.batch_size, trainer.synthetic.checkpoint_rollout or network.widths",
        "physical training step": "trainer.physical.checkpoint_rollout, trainer.physical.batching or "
                                  "trainer.physical.downsample_factor",
        "generated sets": "trainer.hybrid.generation.num_rollouts",
        "real data on the device": "data.placement=host",
        "host-streamed batches": "trainer.batch_size",
        "noisy real data on the host": "data.num_trajectories",
        "evaluation rollouts": "evaluation.horizon"}


def channels_of(cfg: Config) -> int:
    """Channels of the config's PDE state (builds the PDE: cheap, PhiFlow is imported)."""
    from hybrid_jax.physics import build_pde

    return build_pde(cfg.physics).layout.num_channels


def check_memory(cfg: Config, channels: int, num_trajectories: int, num_frames: int) -> None:
    """Raise ResourceError (one line: the estimate, the limit, the key to change) if a phase of the run
    cannot fit the free memory (`free_memory`: the device's, or available host memory on CPU), or the
    generated store cannot fit its disk."""
    import shutil
    from pathlib import Path

    from hybrid_jax.errors import ResourceError
    from hybrid_jax.memory import size_text

    free = free_memory()
    for phase, parts in run_parts(cfg, channels, num_trajectories, num_frames, free).items():
        total = sum(parts.values())
        if total > free:
            biggest = max(parts, key=lambda name: parts[name])
            detail = ", ".join(f"{k} {size_text(v)}" for k, v in parts.items())
            key = KEYS.get(biggest.split(" of ")[0], KEYS["generation"])
            raise ResourceError(f"this config needs about {size_text(total)} for its {phase} ({detail}), more than "
                                f"the {size_text(free)} free; reduce {key}")
    if cfg.data.source == "generate" and "generate" in cfg.tasks:
        store = num_trajectories * num_frames * state_bytes(cfg, channels)
        folder = Path(cfg.data.store_dir).absolute()
        while not folder.exists():
            folder = folder.parent
        disk = shutil.disk_usage(folder).free
        if store > disk:
            raise ResourceError(f"this config needs about {size_text(store)} of disk for its data store, more than "
                                f"the {size_text(disk)} free in {folder}; reduce data.num_trajectories or "
                                f"data.num_frames")
