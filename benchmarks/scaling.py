"""Synthetic train-step throughput against the number of devices (data parallel, weak scaling).

Each device count runs in its own process (XLA flags must be set before JAX starts): every visible GPU in
powers of 2, or on a CPU forced host devices (``--xla_force_host_platform_device_count``), which share the
machine's cores, so there the figure is the overhead of sharding, not a speed-up. Per count: compile time,
the median step time, samples/s and the efficiency against one device.
"""

from __future__ import annotations

import json
import os
import time

NAME = "scaling"


def measure(n: int, per_device_batch: int, repeats: int, resolution: int) -> dict:
    """In a process with `n` devices: compile + median step time of the synthetic step."""
    import jax
    import numpy as np

    from hybrid_jax.config import load_config
    from hybrid_jax.parallel import shard
    from hybrid_jax.physics import build_pde
    from hybrid_jax.training.loop import build_experiment, initial_states

    b = per_device_batch * n
    cfg = load_config(None, [f"parallel.devices={n}", f"trainer.batch_size={b}", "mode=synthetic",
                             f"physics.resolution=[{resolution}, {resolution}]", "data.num_trajectories=4"])
    pde = build_pde(cfg.physics)
    traj = np.asarray(pde.sample_initial_state(jax.random.PRNGKey(0), 4 * cfg.data.num_frames)).reshape(
        (4, cfg.data.num_frames) + pde.spatial_shape + (pde.layout.num_channels,))
    exp = build_experiment(cfg, pde, traj)
    state, data = initial_states(exp)["synthetic"], exp.data()
    w = exp.train_windows[np.arange(b) % len(exp.train_windows)]
    idx = shard(exp.mesh, {"source": np.zeros(b, np.int32), "sim": w[:, 0], "t": w[:, 1],
                           "weight": np.ones(b, np.float32)})
    times = []
    for _ in range(repeats + 1):  # the first call compiles
        t = time.perf_counter()
        state, _ = jax.block_until_ready(exp.synthetic.train_step(state, data, idx))
        times.append(time.perf_counter() - t)
    return {"devices": n, "global_batch": b, "compile_s": times[0], "median_step_s": float(np.median(times[1:])),
            "min_step_s": float(np.min(times[1:])), "samples_per_s": b / float(np.median(times[1:]))}


def main(argv=None):
    if argv and argv[0] == "--child":  # before JAX starts: XLA_FLAGS set by the parent
        print(json.dumps(measure(*map(int, argv[1:]))))
        return 0
    from benchmarks import harness as H

    p = H.parser(__doc__, NAME)
    p.add_argument("--devices", type=int, nargs="+", default=None,
                   help="device counts (default: 1 2 4 on a CPU, 1..all GPUs in powers of 2)")
    p.add_argument("--per-device-batch", type=int, default=8)
    p.add_argument("--resolution", type=int, default=None, help="grid size (default 64, --quick 32)")
    args = H.parse(p, argv)
    args.repeats = args.repeats if "--repeats" in (argv or []) else H.q(args, 5, 20)
    env = H.header(NAME, args)
    gpu = H.jax.default_backend() != "cpu"
    counts = args.devices or ([2**i for i in range(8) if 2**i <= H.jax.device_count()] if gpu else [1, 2, 4])
    rows = []
    for n in counts:
        flags = {} if gpu else {"XLA_FLAGS": f"{os.environ.get('XLA_FLAGS', '')} "
                                             f"--xla_force_host_platform_device_count={n}"}
        rows.append(H.worker(NAME, "--child", str(n), str(args.per_device_batch), str(args.repeats),
                             str(args.resolution or H.q(args, 32, 64)), env=H.child_env(**flags)))
        rows[-1]["scaling_efficiency"] = rows[-1]["samples_per_s"] / (rows[0]["samples_per_s"] / rows[0]["devices"] * n)
    print(H.table(rows, ["devices", "global_batch", "compile_s", "median_step_s", "samples_per_s", "scaling_efficiency"],
                  f"synthetic train step, {args.per_device_batch} samples per device ({H.device_kind()})"))
    H.write_json(NAME, args, env, {"per_device_batch": args.per_device_batch, "rows": rows})
    return 0
