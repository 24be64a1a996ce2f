"""Helpers shared by the tests, imported explicitly (``from helpers import tiny_dict``): tiny configs,
in-memory training, comparisons of two runs, and NumPy diagnostics of the smoke families."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import orbax.checkpoint as ocp

from hybrid_jax.lifecycle import checkpoint_steps


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


def final_states(run_dir: Path) -> dict:
    """The train states of a run's latest checkpoint, read with Orbax directly."""
    steps = checkpoint_steps(run_dir)
    return ocp.StandardCheckpointer().restore((run_dir / "checkpoints" / str(steps[-1]) / "states").absolute())


def run_metrics(run_dir: Path) -> list[dict]:
    """The records of a run's metrics.jsonl without their timings."""
    records = [json.loads(ln) for ln in (run_dir / "metrics.jsonl").read_text().splitlines()]
    for r in records:
        r.pop("timings_s", None)
    return records


def assert_same_run(a: Path, b: Path) -> None:
    """Bitwise-equal final states (on CPU) and the same metrics lines."""
    import jax

    sa, sb = final_states(a), final_states(b)
    assert jax.tree.structure(sa) == jax.tree.structure(sb)
    for x, y in zip(jax.tree.leaves(sa), jax.tree.leaves(sb)):
        np.testing.assert_array_equal(x, y)  # bitwise on CPU
    assert run_metrics(a) == run_metrics(b)


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


def central_divergence(state, dx: tuple[float, float]) -> np.ndarray:
    """∂u/∂x + ∂v/∂y of a `smoke` state's velocity by periodic central differences (the projection's
    divergence), as a NumPy array ``[x, y]``."""
    state = np.asarray(state, np.float64)
    u, v = state[..., 0], state[..., 1]
    return ((np.roll(u, -1, 0) - np.roll(u, 1, 0)) / (2 * dx[0])
            + (np.roll(v, -1, 1) - np.roll(v, 1, 1)) / (2 * dx[1]))


def staggered_divergence(state, dx: tuple[float, float]) -> np.ndarray:
    """Divergence of a `closed_smoke` state's staggered velocity in every cell ``[x, y]`` (NumPy, float64),
    the wall faces taken as 0: the projection makes it vanish."""
    state = np.asarray(state, np.float64)
    u = np.pad(state[:-1, :, 0], ((1, 1), (0, 0)))  # faces x_0 … x_n, walls 0
    v = np.pad(state[:, :-1, 1], ((0, 0), (1, 1)))
    return np.diff(u, axis=0) / dx[0] + np.diff(v, axis=1) / dx[1]
