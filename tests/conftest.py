"""Shared fixtures: tiny configs that exercise the full pipeline in seconds."""

from __future__ import annotations

import pytest

from hybrid_jax.backend import setup
from hybrid_jax.config import config_from_dict

setup()  # PhiFlow's JAX backend (turns on x64), as the entry points do


def tiny_dict(tmp_path, **sections) -> dict:
    """A 1D Burgers hybrid config small enough to train in a few seconds."""
    d = {
        "experiment_name": "tiny",
        "seed": 0,
        "mode": "hybrid",
        "physics": {"name": "burgers", "resolution": [16], "domain": [1.0], "dt": 0.01, "substeps": 2,
                    "viscosity": {"true": 0.01, "init": 0.02}},
        "data": {"store_dir": str(tmp_path / "store"), "num_trajectories": 4, "num_frames": 6, "rollout_steps": 2},
        "network": {"architecture": "convnet", "filters": 4, "layers": 1},
        "trainer": {"batch_size": 4, "synthetic": {"epochs": 2}, "physical": {"epochs": 2},
                    "hybrid": {"cycles": 2, "alpha": 0.5, "warmup_epochs": 0}},
        "output": {"dir": str(tmp_path / "runs"), "progress": False},
    }
    for key, value in sections.items():
        node = d
        *parents, leaf = key.split("__")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return d


@pytest.fixture
def tiny_config(tmp_path):
    """Factory: `tiny_config(mode="synthetic", trainer__hybrid__alpha=0.0)` -> Config."""
    return lambda **kw: config_from_dict(tiny_dict(tmp_path, **kw))


def train_run(cfg):
    """Generate the config's data, build and train every cycle in memory: (experiment, initial states,
    final states, [warm-up/cycle results])."""
    from hybrid_jax.data.store import load_or_generate
    from hybrid_jax.physics import build_pde
    from hybrid_jax.training.loop import build_experiment, initial_states, train_cycles

    pde = build_pde(cfg.physics)
    traj, _ = load_or_generate(cfg, pde)
    exp = build_experiment(cfg, pde, traj)
    states = start = initial_states(exp)
    history = []
    for states, result in train_cycles(exp, start, progress=False):
        history.append(result)
    return exp, start, states, history


def assert_valid_outputs(run_dir) -> None:
    """Validate a run directory's summary.json, evaluation.json and metrics.jsonl lines (those present)
    against the package's JSON Schemas (hybrid_jax/schemas, docs/outputs.md)."""
    import json
    from pathlib import Path

    import jsonschema

    from hybrid_jax.schemas import schema

    def check(name, value):
        jsonschema.validate(value, schema(name), cls=jsonschema.Draft202012Validator)

    run_dir = Path(run_dir)
    for name in ("summary", "evaluation"):
        if (run_dir / f"{name}.json").is_file():
            check(name, json.loads((run_dir / f"{name}.json").read_text()))
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert lines
    for line in lines:
        check("metrics_line", json.loads(line))
