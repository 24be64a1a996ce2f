"""Rollout-horizon curriculum: what a synthetic epoch at K costs, against the full window K = Kmax.

Each epoch of a curriculum runs a K-step train program (one compilation per distinct K). Until this
change every epoch ran the Kmax program and masked the steps beyond K, so an epoch at any K cost what
the Kmax epoch here costs: the "masked" column is that cost, the Kmax row's, for every K.

The experiment is ``configs/reference/inviscid_burgers_1d.yaml`` (256 cells, UNet 2 × 32, batch 32,
K 1 → 12) reduced: half the simulations for training (``data.validation_fraction=0.5``: 3 × 38
windows, 3 steps per epoch) and real windows only (a warm-up epoch, through
`training.loop.run_epochs`, the library's epoch path with the curriculum pinned to each K). Printed
per K: XLA's FLOPs per train step (``compiled.cost_analysis()``, deterministic), compile seconds,
the median epoch time over `--repeats` epochs (the Ks alternate epoch by epoch, so all see the same
load), and both as a fraction of Kmax's. Then the config's whole curriculum (its warm-up and hybrid
synthetic epochs): the synthetic training compute it costs now as a fraction of what it cost masked,
from the FLOPs and from the epoch times (each interpolated linearly in K between the measured K).
Timings on a shared machine are noisy: pin the process (``taskset -c 1``) and read the ratios.

Run: ``taskset -c 1 python benchmarks/bench_curriculum.py [--quick] [--ks 1 6 12] [--repeats 5]``
"""

from __future__ import annotations

import statistics
import time

import _common as C

import jax
import numpy as np
from bench_reference import interpolate

from hybrid_jax.config import load_config
from hybrid_jax.data.sources import REAL, WindowSource
from hybrid_jax.data.store import generate_trajectories
from hybrid_jax.physics import build_pde
from hybrid_jax.training.loop import PHASE_WARMUP, build_experiment, initial_states, run_epochs
from hybrid_jax.training.plan import rollout_horizon, synthetic_epochs

NAME = "bench_curriculum"
CONFIG = C.ROOT / "configs" / "reference" / "inviscid_burgers_1d.yaml"


def flops_and_compile(exp, state, k: int) -> tuple[float, float]:
    """(XLA FLOPs of one synthetic train step at K, its lower + compile seconds)."""
    w = exp.train_windows[: exp.cfg.trainer.batch_size]
    idx = {"source": np.full(len(w), REAL, np.int32), "sim": w[:, 0], "t": w[:, 1],
           "weight": np.ones(len(w), np.float32)}
    t = time.perf_counter()
    compiled = exp.synthetic.train_step.lower(state, exp.data(), idx, horizon=k).compile()
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    return float(cost["flops"]), time.perf_counter() - t


def main():
    ap = C.parser(__doc__.splitlines()[0])
    ap.add_argument("--ks", type=int, nargs="+", default=None, help="K to measure (default 1 6 12, --quick 1 12)")
    args = C.finish_args(ap.parse_args())
    args.ks = sorted(set(args.ks or ([1, 12] if args.quick else [1, 6, 12])))
    env = C.header(NAME, args)
    cfg = load_config(CONFIG, ["data.validation_fraction=0.5", "output.progress=false"])
    kmax = cfg.data.rollout_steps
    if not all(1 <= k <= kmax for k in args.ks):
        raise SystemExit(f"--ks: each K must be in 1..{kmax} (data.rollout_steps)")
    pde = build_pde(cfg.physics)
    key = jax.random.fold_in(jax.random.PRNGKey(cfg.seed), 1)
    traj = np.asarray(generate_trajectories(pde, pde.true_params(), key, cfg.data.num_trajectories,
                                            cfg.data.num_frames))
    exp = build_experiment(cfg, pde, traj)
    sources = [WindowSource(exp.train_windows, REAL, 1.0)]
    steps = len(exp.train_windows) // cfg.trainer.batch_size
    ks = sorted(set(args.ks) | {kmax})
    start = initial_states(exp)["synthetic"]
    rows = {k: dict(zip(("flops", "compile_s"), flops_and_compile(exp, start, k))) for k in ks}
    states = {k: start for k in ks}
    times = {k: [] for k in ks}
    for e in range(args.warmup + args.repeats):  # one epoch per K in turn; the first `warmup` rounds untimed
        for k in ks:
            exp.synthetic.horizon_at = lambda _, k=k: k  # the curriculum pinned to K
            t = time.perf_counter()
            states[k], _ = run_epochs(exp, exp.synthetic, states[k], exp.data(), sources, 1, None, PHASE_WARMUP, False)
            C.block(states[k])
            if e >= args.warmup:
                times[k].append(time.perf_counter() - t)
    for k in ks:
        r = rows[k]
        r.update(K=k, steps_per_epoch=steps, epoch_s=statistics.median(times[k]), epoch_times_s=times[k])
        r.update(flops_vs_kmax=r["flops"] / rows[kmax]["flops"], masked_epoch_s=statistics.median(times[kmax]))
        r["epoch_vs_masked"] = r["epoch_s"] / r["masked_epoch_s"]
    table = [rows[k] for k in ks]
    print(C.table(table, ["K", "flops", "flops_vs_kmax", "compile_s", "steps_per_epoch", "epoch_s", "masked_epoch_s",
                          "epoch_vs_masked"], f"inviscid_burgers_1d (reduced) synthetic epochs at K, Kmax = {kmax}"),
          flush=True)
    curriculum = [rollout_horizon(cfg, e) for e in range(synthetic_epochs(cfg))]
    flops = {k: rows[k]["flops"] for k in ks}
    epoch_s = {k: rows[k]["epoch_s"] for k in ks}
    whole = {"epochs": len(curriculum), "distinct_k": sorted(set(curriculum)),
             "mean_k": float(np.mean(curriculum)),
             "flops_vs_masked": sum(interpolate(flops, k) for k in curriculum) / (len(curriculum) * flops[kmax]),
             "time_vs_masked": sum(interpolate(epoch_s, k) for k in curriculum) / (len(curriculum) * epoch_s[kmax])}
    print(f"whole curriculum ({whole['epochs']} synthetic epochs, K {curriculum[0]} -> {curriculum[-1]}, mean K "
          f"{whole['mean_k']:.2f}, {len(whole['distinct_k'])} distinct K, each compiled once): synthetic training "
          f"now costs {whole['flops_vs_masked']:.3f} of the masked version by FLOPs, "
          f"{whole['time_vs_masked']:.3f} by epoch time (interpolated in K)", flush=True)
    C.write_json(NAME, args, env, {"per_k": table, "curriculum": whole})


if __name__ == "__main__":
    main()
