"""Whether the smoke run's jitted programs lower to the same StableHLO in every process.

The persistent compilation cache keys a program by its HLO: a program whose HLO changes between
processes is recompiled by every run, warm cache or not. Each of ``--seeds`` runs in a fresh
process with that ``PYTHONHASHSEED`` (Python's string-hash salt, random per process by default),
builds the smoke experiment as ``hybrid_jax.run.run`` does (preflight, PDE, experiment) and hashes
the lowered train, eval and generate programs of both models; a program is deterministic if every
process gives it one hash.

Run: ``python benchmarks/check_trace_determinism.py [--seeds 1 2 3 4]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def hashes() -> dict:
    """{program: sha256 prefix of its lowered text} in this process."""
    sys.path.insert(0, str(ROOT))
    import numpy as np

    from hybrid_jax.backend import setup
    from hybrid_jax.config import load_config
    from hybrid_jax.data.sources import REAL
    from hybrid_jax.physics import build_pde
    from hybrid_jax.preflight import preflight
    from hybrid_jax.training.loop import build_experiment, initial_states

    setup()
    cfg = load_config(ROOT / "configs" / "smoke.yaml", ["output.progress=false"])
    preflight(cfg)
    pde = build_pde(cfg.physics)
    traj = np.zeros((cfg.data.num_trajectories, cfg.data.num_frames, *pde.spatial_shape, pde.layout.num_channels),
                    np.float32)
    exp = build_experiment(cfg, pde, traj)
    states = initial_states(exp)
    b = cfg.trainer.batch_size
    idx = {"source": np.full(b, REAL, np.int32), "sim": np.zeros(b, np.int32), "t": np.zeros(b, np.int32),
           "weight": np.ones(b, np.float32)}
    x0 = exp.real[:max(exp.num_generated, 1), 0]
    out = {}
    for name in ("synthetic", "physical"):
        fns, st = exp.model(name), states[name]
        for fn, args in [("train_step", (st, exp.data(name), idx)), ("eval_step", (st.params, exp.data(name), idx)),
                         ("generate", (st.params, x0))]:
            text = getattr(fns, fn).lower(*args).as_text()
            out[f"{name}.{fn}"] = hashlib.sha256(text.encode()).hexdigest()[:12]
    return out


def main() -> None:
    if os.environ.get("_HYBRID_JAX_HASH_CHILD"):
        print(json.dumps(hashes()))
        return
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", nargs="+", default=["1", "2", "3", "4"])
    args = p.parse_args()
    runs = {}
    for seed in args.seeds:
        env = {**os.environ, "PYTHONHASHSEED": seed, "_HYBRID_JAX_HASH_CHILD": "1"}
        r = subprocess.run([sys.executable, __file__], env=env, capture_output=True, text=True, check=True)
        runs[seed] = json.loads(r.stdout.strip().splitlines()[-1])
    for program in runs[args.seeds[0]]:
        distinct = {runs[s][program] for s in args.seeds}
        print(f"{program:22s} {'deterministic' if len(distinct) == 1 else f'{len(distinct)} different HLOs'}"
              f" over PYTHONHASHSEED {', '.join(args.seeds)}")


if __name__ == "__main__":
    main()
