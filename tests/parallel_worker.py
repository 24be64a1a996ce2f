"""Subprocess body of tests/test_parallel.py: train a config and dump the final state.

usage: python tests/parallel_worker.py CONFIG.yaml OUT_DIR [key=value ...]
Writes OUT_DIR/state-<process>.npz (every leaf of both final train states, flattened) and
OUT_DIR/metrics-<process>.json (every metrics line of the warm-up and the cycles). JAX flags come from the environment.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jax
import numpy as np

from hybrid_jax.backend import setup
from hybrid_jax.config import load_config
from hybrid_jax.parallel import initialize, to_host
from hybrid_jax.physics import build_pde
from hybrid_jax.run import load_trajectories
from hybrid_jax.training.loop import build_experiment, initial_states, train_cycles


def main(config: str, out: str, *overrides: str) -> None:
    cfg = load_config(config, list(overrides))
    initialize(cfg.parallel)  # importing hybrid_jax starts no XLA: the processes connect first
    setup()
    pde = build_pde(cfg.physics)
    exp = build_experiment(cfg, pde, load_trajectories(cfg, pde))
    metrics = []
    for states, result in train_cycles(exp, initial_states(exp), progress=False):
        metrics += [{k: v for k, v in line.items() if k != "timings_s"} for line in result.lines()]
    leaves = {str(i): to_host(x) for i, x in enumerate(jax.tree.leaves(states))}
    pid = jax.process_index()
    Path(out).mkdir(parents=True, exist_ok=True)
    np.savez(Path(out) / f"state-{pid}.npz", **leaves)
    (Path(out) / f"metrics-{pid}.json").write_text(json.dumps(
        {"metrics": metrics, "devices": exp.mesh.devices.size, "processes": jax.process_count()}))


if __name__ == "__main__":
    main(*sys.argv[1:])
