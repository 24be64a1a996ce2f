"""The smoke job's steady hybrid cycle with its epochs driven by the host against the device epoch loop.

Two experiments of configs/smoke.yaml (trajectories simulated in memory), ``trainer.epoch_loop`` host and
device (``--variants`` adds auto), run `training.loop.hybrid_cycle` alternately, cycle after cycle, each from
its own states (the warm-up is skipped): cycle 0 compiles, so per phase steady = the median of cycles 1..
and compile ≈ cycle 0 − steady. Prints each phase's device/host ratio (< 1: the device loop is faster); the
per-model default of ``epoch_loop: auto`` (`training.loop.device_loop`) is read from these phase times.
"""

from __future__ import annotations

import statistics

from benchmarks import harness as H

NAME = "epoch_loop"
PHASES = ["train_synthetic", "train_physical", "validate", "cycle"]


def main(argv=None):
    from hybrid_jax.config import load_config
    from hybrid_jax.training.loop import build_experiment, hybrid_cycle, initial_states

    p = H.parser(__doc__, NAME)
    p.add_argument("--cycles", type=int, default=None, help="cycles per variant, the first compiles (default 8; "
                                                            "--quick 4)")
    p.add_argument("--variants", nargs="+", choices=["host", "device", "auto"], default=["host", "device"])
    p.add_argument("--override", nargs="*", default=[], help="dotted key=value overrides of the config")
    args = H.parse(p, argv)
    env = H.header(NAME, args)
    cycles = args.cycles or H.q(args, 4, 8)
    base = ["output.progress=false", f"trainer.hybrid.cycles={cycles}", *args.override]
    cfgs = {v: load_config(H.SMOKE, [*base, f"trainer.epoch_loop={v}"]) for v in args.variants}
    pde, traj = H.experiment_data(cfgs[args.variants[0]])
    exps = {v: build_experiment(cfg, pde, traj) for v, cfg in cfgs.items()}
    states = {v: initial_states(exp) for v, exp in exps.items()}
    times: dict[str, list[dict]] = {v: [] for v in exps}
    for cycle in range(cycles):
        for v, exp in exps.items():
            states[v], result = hybrid_cycle(exp, states[v], cycle, progress=False)
            times[v].append({k: result.timings_s.get(k, 0.0) for k in PHASES})  # 0: a phase the mode lacks
            print(f"  {v} cycle {cycle}: " + ", ".join(f"{k} {times[v][-1][k]:.3f}s" for k in PHASES), flush=True)
    rows = []
    for v, ts in times.items():
        steady = {k: statistics.median(t[k] for t in ts[1:]) for k in PHASES}
        rows += [{"variant": v, "row": "steady (median 1..)", **steady},
                 {"variant": v, "row": "compile ≈ cycle 0 − steady", **{k: ts[0][k] - steady[k] for k in PHASES}}]
    steady = {r["variant"]: r for r in rows if r["row"].startswith("steady")}
    ratios = {v: {k: steady[v][k] / steady["host"][k] for k in PHASES if steady["host"][k]} for v in steady
              if v != "host"} \
        if "host" in steady else {}
    print(H.table(rows, ["variant", "row", *PHASES], f"smoke cycle seconds by phase ({H.device_kind()}, "
                                                     f"{cycles} cycles per variant, alternated)"))
    for v, r in ratios.items():
        print(f"{v} / host, steady: " + ", ".join(f"{k} {x:.2f}×" for k, x in r.items()), flush=True)
    H.write_json(NAME, args, env, {"rows": rows, "ratios": ratios, "cycles": times})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
