"""Subprocess body of tests/test_memory.py: measure the peak resident memory of one part of a run.

usage: python tests/memory_worker.py PART CONFIG.yaml [key=value ...]   (PART: generation | synthetic | physical)
The part's program is compiled first; then the peak RSS (VmHWM) is reset (/proc/self/clear_refs) and the
program runs once. Prints one JSON line: {"measured": VmHWM after − VmRSS before (bytes), "maxrss": the
process's resource.getrusage peak (bytes), "channels"}.
"""

from __future__ import annotations

import json
import resource
import sys

import jax
import jax.numpy as jnp
import numpy as np

from hybrid_jax.backend import setup
from hybrid_jax.config import load_config
from hybrid_jax.physics import build_pde


def _status(field: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(field + ":"))


def main(part: str, config: str, *overrides: str) -> None:
    cfg = load_config(config, list(overrides))
    setup()
    pde = build_pde(cfg.physics)
    c = pde.layout.num_channels
    if part == "generation":
        from hybrid_jax.data.store import real_simulation

        sim, params = real_simulation(cfg, pde)
        x0 = sim.initial(jax.random.PRNGKey(0), cfg.data.num_trajectories).block_until_ready()
        compiled = sim.frames.lower(x0, params).compile()
        run = lambda: np.asarray(compiled(x0, params))  # noqa: E731 - the chunk, copied to the host as stored
    else:
        from hybrid_jax.data.sources import REAL, WindowSource, full_batch
        from hybrid_jax.training.loop import build_experiment, initial_states

        shape = (cfg.data.num_trajectories, cfg.data.num_frames) + pde.spatial_shape + (c,)
        traj = np.asarray(pde.sample_initial_state(jax.random.PRNGKey(0), shape[0]))[:, None].repeat(shape[1], 1)
        exp = build_experiment(cfg, pde, traj)
        fns, state = exp.model(part), initial_states(exp)[part]
        idx = full_batch([WindowSource(exp.train_windows, REAL, 1.0)])
        if not fns.full_batch:
            idx = {k: v[:cfg.trainer.batch_size] for k, v in idx.items()}
        idx, data = {k: jnp.asarray(v) for k, v in idx.items()}, exp.data(part)
        compiled = fns.train_step.lower(state, data, idx, True, horizon=fns.horizon).compile()
        run = lambda: jax.block_until_ready(compiled(state, data, idx, True))  # noqa: E731
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current RSS
    before = _status("VmRSS")
    run()
    print(json.dumps({"measured": _status("VmHWM") - before, "channels": c,
                      "maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))


if __name__ == "__main__":
    main(*sys.argv[1:])
