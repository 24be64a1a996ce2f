"""The rollout-horizon curriculum: what a synthetic epoch at K costs, against the full window K = Kmax.

Each K of a curriculum runs its own K-step train program; before, every epoch ran the Kmax program with
the steps beyond K masked, so the Kmax row's cost is the "masked" cost of every K. The experiment:
configs/reference/inviscid_burgers_1d.yaml (256 cells, UNet 2 × 32, batch 32, K 1 → 12) with half the
simulations for training and real windows only (`run_epochs`, the curriculum pinned to each K). Per K:
XLA's FLOPs per train step, compile seconds, the median epoch time (the Ks alternate epoch by epoch) and
both against Kmax; then the whole curriculum's synthetic compute as a fraction of the masked version's."""

from __future__ import annotations

import statistics

import numpy as np

from benchmarks import harness as H
from benchmarks.reference import interpolate
from benchmarks.utilisation import flops_of
from hybrid_jax.config import load_config
from hybrid_jax.data.sources import REAL, WindowSource
from hybrid_jax.training.loop import PHASE_WARMUP, build_experiment, initial_states, run_epochs
from hybrid_jax.training.plan import rollout_horizon, synthetic_epochs

NAME = "curriculum"
CONFIG = H.ROOT / "configs" / "reference" / "inviscid_burgers_1d.yaml"


def flops_and_compile(exp, state, k: int) -> tuple[float, float]:
    """(XLA FLOPs of one synthetic train step at K, its lower + compile seconds)."""
    w = exp.train_windows[: exp.cfg.trainer.batch_size]
    idx = {"source": np.full(len(w), REAL, np.int32), "sim": w[:, 0], "t": w[:, 1],
           "weight": np.ones(len(w), np.float32)}
    compiled, t = H.compile_seconds(exp.synthetic.train_step, state, exp.data(), idx, horizon=k)
    return flops_of(compiled), t["trace_lower_s"] + t["compile_s"]


def main(argv=None):
    ap = H.parser(__doc__, NAME)
    ap.add_argument("--ks", type=int, nargs="+", default=None, help="K to measure (default 1 6 12, --quick 1 12)")
    args = H.parse(ap, argv)
    args.ks = sorted(set(args.ks or ([1, 12] if args.quick else [1, 6, 12])))
    env = H.header(NAME, args)
    cfg = load_config(CONFIG, ["data.validation_fraction=0.5", "output.progress=false"])
    kmax = cfg.data.rollout_steps
    if not all(1 <= k <= kmax for k in args.ks):
        raise SystemExit(f"--ks: each K must be in 1..{kmax} (data.rollout_steps)")
    pde, traj = H.experiment_data(cfg)
    exp = build_experiment(cfg, pde, traj)
    sources = [WindowSource(exp.train_windows, REAL, 1.0)]
    steps = len(exp.train_windows) // cfg.trainer.batch_size
    ks = sorted(set(args.ks) | {kmax})
    start = initial_states(exp)["synthetic"]
    rows = {k: dict(zip(("flops", "compile_s"), flops_and_compile(exp, start, k))) for k in ks}
    states = {k: start for k in ks}

    def epoch(k):  # one epoch with the curriculum pinned to K
        exp.synthetic.horizon_at = lambda _: k
        states[k] = H.block(run_epochs(exp, exp.synthetic, states[k], exp.data(), sources, 1, None, PHASE_WARMUP,
                                       False)[0])

    times = H.alternate({k: lambda k=k: epoch(k) for k in ks}, args.repeats, args.warmup)  # Ks epoch by epoch
    for k in ks:
        r = rows[k]
        r.update(K=k, steps_per_epoch=steps, epoch_s=statistics.median(times[k]), epoch_times_s=times[k])
        r.update(flops_vs_kmax=r["flops"] / rows[kmax]["flops"], masked_epoch_s=statistics.median(times[kmax]))
        r["epoch_vs_masked"] = r["epoch_s"] / r["masked_epoch_s"]
    table = [rows[k] for k in ks]
    print(H.table(table, ["K", "flops", "flops_vs_kmax", "compile_s", "steps_per_epoch", "epoch_s", "masked_epoch_s",
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
    H.write_json(NAME, args, env, {"per_k": table, "curriculum": whole})

