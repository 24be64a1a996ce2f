"""The translated configs of the original system's experiments (configs/reference/) and its sparsity
presets (configs/reference/sparsity/): every one loads; two run end to end tiny in the default
selection; the slow test runs every one reduced and records its wall time."""

from __future__ import annotations

import json
import math
import re
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from helpers import assert_valid_outputs
from hybrid_jax import run_experiment
from hybrid_jax.config import load_config

REF = Path(__file__).resolve().parents[1] / "configs" / "reference"
EXPERIMENTS = ("burgers_1d", "burgers_2d", "burgers_3d", "inviscid_burgers_1d", "inviscid_burgers_2d",
               "advection", "navier_stokes_2d")
PRESETS = ("full", "time_endpoints", "time_uniform", "space_centre", "space_partial", "combined")
BY_DIM = {1: "burgers_1d", 2: "burgers_2d", 3: "burgers_3d"}  # a reference config of each dimension
FAMILY = {"burgers_1d": "burgers", "burgers_2d": "burgers", "burgers_3d": "burgers",
          "inviscid_burgers_1d": "burgers_potential", "inviscid_burgers_2d": "burgers_potential",
          "advection": "vortex_advection", "navier_stokes_2d": "closed_smoke"}


def test_every_reference_experiment_has_a_file():
    assert sorted(p.stem for p in REF.glob("*.yaml")) == sorted(EXPERIMENTS)
    assert sorted(p.stem for p in (REF / "sparsity").glob("*.yaml")) == sorted(PRESETS)


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_reference_config_loads_at_the_original_size(name):
    cfg = load_config(REF / f"{name}.yaml")
    assert cfg.physics.name == FAMILY[name]
    assert all(length == 100.0 for length in cfg.physics.domain)       # the original's domain size
    assert min(cfg.physics.resolution) >= 128                          # its full grids (256 in 1D)
    assert cfg.data.num_frames >= 50 and cfg.data.num_trajectories >= 5
    assert cfg.experiment_name == name
    assert (REF / f"{name}.yaml").read_text().startswith("# Reference translation")  # the header


def _preset_overrides(preset: str) -> dict[str | None, str]:
    """The `# override[ nD]: ...` lines of a preset's header: {dimension or None (any): override}."""
    out = {}
    for line in (REF / "sparsity" / f"{preset}.yaml").read_text().splitlines():
        m = re.match(r"# override(?: (\d)D)?: (.+)$", line)
        if m:
            out[int(m.group(1)) if m.group(1) else None] = m.group(2)
    return out


@pytest.mark.parametrize("preset", PRESETS)
def test_sparsity_preset_applies_as_documented(preset):
    overrides = _preset_overrides(preset)
    assert overrides, f"{preset}: no '# override' line in its header"
    fragment = yaml.safe_load((REF / "sparsity" / f"{preset}.yaml").read_text())["data"]["observation"]
    for dim, name in BY_DIM.items():
        override = overrides.get(dim, overrides.get(None))
        assert override is not None, f"{preset}: no override for {dim}D"
        cfg = load_config(REF / f"{name}.yaml", [override])
        obs = cfg.data.observation
        expected = yaml.safe_load(override.split("=", 1)[1])
        assert obs.spatial == expected["spatial"]
        assert [list(b) for b in obs.box] == expected.get("box", [])
        if dim == 2:  # the YAML fragment is the 2D form (dimension-free presets: the same)
            assert obs.spatial == fragment["spatial"]
            assert [list(b) for b in obs.box] == fragment.get("box", [])
            assert list(obs.observed_steps) == fragment.get("observed_steps", [])
            assert obs.time_stride == fragment.get("time_stride", 1)
        if "time" in preset or preset == "combined":
            assert obs.time_stride > 1 or len(obs.observed_steps) == 20


def _reduced(tmp_path, cfg, *, cells: int, frames: int, cycles: int, epochs: int) -> list[str]:
    """Overrides that shrink a reference config (grid, trajectories, frames, epochs, cycles, network)
    while keeping its mode, family, coupling, curriculum kind, generation and reversion settings."""
    k = min(cfg.data.rollout_steps, 3)
    dims = len(cfg.physics.resolution)
    net = cfg.network
    shrink_net = (["network.blocks=1", "network.filters=8"] if net.architecture == "resnet"
                  else ["network.levels=2", "network.widths=[8, 8]"])
    gen = cfg.trainer.hybrid.generation
    out = [f"physics.resolution={[cells] * dims}", f"data.num_frames={frames}", "data.num_trajectories=3",
           "data.validation_fraction=0.34", f"data.rollout_steps={k}", f"data.store_dir={tmp_path / 'store'}",
           "trainer.batch_size=4", f"trainer.synthetic.epochs={epochs}", f"trainer.physical.epochs={epochs}",
           f"trainer.synthetic.lr_schedule.decay_steps={10 * epochs * cycles}",
           f"trainer.hybrid.cycles={cycles}", f"trainer.hybrid.warmup_epochs={epochs}",
           f"trainer.hybrid.generation.num_rollouts={min(gen.num_rollouts or 2, 2)}",
           f"trainer.hybrid.generation.physical_length={frames - 1}", f"trainer.hybrid.generation.synthetic_length={k}",
           f"trainer.physical.rollout_steps={min(cfg.trainer.physical.rollout_steps or 1, k)}",
           f"evaluation.horizon={frames - 1}", "output.progress=false", "output.tensorboard=false",
           *shrink_net]
    if cfg.trainer.synthetic.rollout_curriculum.kind != "none":
        out.append(f"trainer.synthetic.rollout_curriculum.end={k}")
    if cfg.data.observation.observed_steps:
        out.append("data.observation.observed_steps=[]")
    return out


def _run_reduced(tmp_path, name: str, **size) -> tuple[object, float]:
    cfg = load_config(REF / f"{name}.yaml")
    overrides = _reduced(tmp_path, cfg, **size)
    t0 = time.perf_counter()
    result = run_experiment(REF / f"{name}.yaml", tmp_path / "runs" / name, overrides=tuple(overrides))
    wall = time.perf_counter() - t0
    assert result.config.mode == cfg.mode and result.config.physics.name == cfg.physics.name
    assert result.summary["cycles_done"] == size["cycles"]
    assert result.evaluation is not None
    if cfg.mode != "synthetic":
        assert result.learned and all(np.all(np.isfinite(v)) for v in result.learned.values())
    lines = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert lines and all(math.isfinite(v) for line in lines for v in line.values() if isinstance(v, float))
    assert_valid_outputs(result.run_dir)
    return result, wall


@pytest.mark.parametrize("name", ["burgers_1d", "inviscid_burgers_1d"])
def test_reference_config_runs_tiny(tmp_path, name):
    """Hybrid, prior generation, curriculum, coupling, downsampling (and reversion / sparse space): tiny."""
    result, wall = _run_reduced(tmp_path, name, cells=32, frames=10, cycles=2, epochs=1)
    assert result.config.trainer.physical.downsample_factor == 1
    assert result.config.trainer.hybrid.generation_source == "prior"
    print(f"{name}: tiny run {wall:.1f} s")


@pytest.mark.slow
def test_every_reference_config_runs_reduced(tmp_path, record_property):
    """Every reference experiment, reduced (grid 32², 16³ in 3D; 3 trajectories × 12 frames; 2 cycles of
    2 epochs; small network): prints the wall time of each and records it as a test property
    (`--junitxml`) and in reference_wall_times.json in tmp_path."""
    times = {}
    for name in EXPERIMENTS:
        cells = 16 if name == "burgers_3d" else 32
        _, times[name] = _run_reduced(tmp_path / name, name, cells=cells, frames=12, cycles=2, epochs=2)
        record_property(f"wall_s_{name}", round(times[name], 1))
        print(f"{name}: reduced run {times[name]:.1f} s", flush=True)
    (tmp_path / "reference_wall_times.json").write_text(json.dumps(times, indent=2))
    assert set(times) == set(EXPERIMENTS)
