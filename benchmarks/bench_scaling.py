"""Synthetic train-step throughput against the number of devices (data parallel, weak scaling).

On a CPU machine the devices are forced host devices (`--xla_force_host_platform_device_count`),
which share the machine's cores: the figure then shows the overhead of sharding, not a speed-up.
On GPUs, every visible GPU is used. Each device count runs in its own subprocess (XLA flags must
be set before JAX starts). Prints a table and writes benchmarks/results/bench_scaling-<device>.json.

usage: python benchmarks/bench_scaling.py [--devices 1 2 4] [--per-device-batch 8] [--repeats 20]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def measure(n: int, per_device_batch: int, repeats: int, resolution: int) -> dict:
    """Run in a child process with `n` devices: compile + median step time of the synthetic step."""
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
    state = initial_states(exp)["synthetic"]
    data = exp.data()
    w = exp.train_windows[np.arange(b) % len(exp.train_windows)]
    idx = shard(exp.mesh, {"source": np.zeros(b, np.int32), "sim": w[:, 0], "t": w[:, 1],
                           "weight": np.ones(b, np.float32)})
    t = time.perf_counter()
    state, m = exp.synthetic.train_step(state, data, idx)
    jax.block_until_ready(state)
    compile_s = time.perf_counter() - t
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        state, m = exp.synthetic.train_step(state, data, idx)
        jax.block_until_ready(state)
        times.append(time.perf_counter() - t)
    return {"devices": n, "device_kind": jax.devices()[0].device_kind, "global_batch": b,
            "compile_s": compile_s, "median_step_s": float(np.median(times)), "min_step_s": float(np.min(times)),
            "samples_per_s": b / float(np.median(times)), "repeats": repeats, "warmup": 1,
            "jax": jax.__version__, "dtype": "float32"}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--devices", type=int, nargs="+", default=None, help="device counts (default: 1 2 4 on CPU, "
                                                                         "1..all GPUs in powers of 2)")
    p.add_argument("--per-device-batch", type=int, default=8)
    p.add_argument("--resolution", type=int, default=64)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--quick", action="store_true", help="5 repeats, 32x32")
    p.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.quick:
        args.repeats, args.resolution = 5, 32
    if args.child:
        print(json.dumps(measure(args.child, args.per_device_batch, args.repeats, args.resolution)))
        return
    import jax

    gpu = jax.default_backend() != "cpu"
    counts = args.devices or ([2**i for i in range(8) if 2**i <= jax.device_count()] if gpu else [1, 2, 4])
    rows = []
    for n in counts:
        env = dict(os.environ)
        if not gpu:
            env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={n}"
        cmd = [sys.executable, __file__, "--child", str(n), "--per-device-batch", str(args.per_device_batch),
               "--repeats", str(args.repeats), "--resolution", str(args.resolution)]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
    base = rows[0]["samples_per_s"] / rows[0]["devices"]
    print(f"synthetic train step, UNet {args.resolution}², K=4, {args.per_device_batch} samples per device "
          f"({rows[0]['device_kind']})")
    print(f"{'devices':>7} {'batch':>6} {'compile s':>10} {'median s':>9} {'samples/s':>10} {'efficiency':>10}")
    for r in rows:
        r["scaling_efficiency"] = r["samples_per_s"] / (base * r["devices"])
        print(f"{r['devices']:>7} {r['global_batch']:>6} {r['compile_s']:>10.2f} {r['median_step_s']:>9.4f} "
              f"{r['samples_per_s']:>10.1f} {r['scaling_efficiency']:>10.2f}")
    RESULTS.mkdir(exist_ok=True)
    kind = rows[0]["device_kind"].replace(" ", "_")
    (RESULTS / f"bench_scaling-{kind}.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
