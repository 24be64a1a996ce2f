"""The smoke job's steady hybrid cycle with its epochs driven by the host against the device epoch loop.

Two experiments of configs/smoke.yaml (trajectories simulated in memory), ``trainer.epoch_loop`` host and
device (``--variants`` adds auto), run `training.loop.hybrid_cycle` alternately, cycle after cycle, each from
its own states (the warm-up is skipped): cycle 0 compiles, so per phase steady = the median of cycles 1..
and compile ≈ cycle 0 − steady. Prints each phase's device/host ratio (< 1: the device loop is faster); the
per-model default of ``epoch_loop: auto`` (`training.loop.device_loop`) is read from these phase times.
Then (``--forms``) the smoke job's physical train step, one call per batch, in the three forms of
`training.models.physical_model`'s ``unroll`` (none: K-step `lax.scan` and substep `fori_loop`; steps; substeps):
AOT compile seconds and the median step time, alternated (`training.models.flat_physics` is read from these).
"""

from __future__ import annotations

import statistics

import numpy as np

from benchmarks import harness as H

NAME = "epoch_loop"
PHASES = ["train_synthetic", "train_physical", "validate", "cycle"]


def physical_forms(cfg, pde, traj, rounds: int) -> list[dict]:
    import jax.numpy as jnp

    from hybrid_jax.data.sources import REAL
    from hybrid_jax.training.models import physical_model
    from hybrid_jax.training.steps import init_state, make_train_step

    k, b = cfg.data.rollout_steps, cfg.trainer.batch_size
    data = {"real": jnp.asarray(traj), "real_mask": jnp.ones(traj.shape[1:-1], np.float32),
            "generated": jnp.zeros((1, k + 1) + traj.shape[2:], np.float32)}
    rng = np.random.default_rng(0)
    batches = [{"source": np.full(b, REAL, np.int32), "sim": rng.integers(0, len(traj), b).astype(np.int32),
                "t": rng.integers(0, traj.shape[1] - k, b).astype(np.int32), "weight": np.ones(b, np.float32)}
               for _ in range(9)]
    rows, runs = [], {}
    for form in ("none", "steps", "substeps"):
        params, predict, tx = physical_model(pde, cfg.physics, cfg.trainer.physical, unroll=form)
        state = init_state(params, tx)
        compiled, ct = H.compile_seconds(make_train_step(predict, tx, pde.layout.num_dynamic, k), state, data,
                                         batches[0])
        runs[form] = H.train_steps(compiled, state, data, batches, len(batches))
        rows.append({"unroll": form, "K": k, **ct})
    times = H.alternate(runs, rounds, warmup=1)
    for row in rows:
        row["step_ms"] = 1e3 * statistics.median(times[row["unroll"]]) / len(batches)
    return rows


def main(argv=None):
    from hybrid_jax.config import load_config
    from hybrid_jax.training.loop import build_experiment, hybrid_cycle, initial_states

    p = H.parser(__doc__, NAME)
    p.add_argument("--cycles", type=int, default=None, help="cycles per variant, the first compiles (default 8; "
                                                            "--quick 4; 0: no cycles, the forms only)")
    p.add_argument("--variants", nargs="+", choices=["host", "device", "auto"], default=["host", "device"])
    p.add_argument("--override", nargs="*", default=[], help="dotted key=value overrides of the config")
    p.add_argument("--forms", type=int, default=None, help="rounds of the physical train step's forms "
                                                          "(default 5; --quick 3; 0: skip)")
    args = H.parse(p, argv)
    env = H.header(NAME, args)
    cycles = H.q(args, 4, 8) if args.cycles is None else args.cycles
    base = ["output.progress=false", f"trainer.hybrid.cycles={max(cycles, 1)}", *args.override]
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
    for v, ts in times.items() if cycles > 1 else ():  # --cycles 0: the physical forms only
        steady = {k: statistics.median(t[k] for t in ts[1:]) for k in PHASES}
        rows += [{"variant": v, "row": "steady (median 1..)", **steady},
                 {"variant": v, "row": "compile ≈ cycle 0 − steady", **{k: ts[0][k] - steady[k] for k in PHASES}}]
    if rows:
        print(H.table(rows, ["variant", "row", *PHASES], f"smoke cycle seconds by phase ({H.device_kind()}, "
                                                         f"{cycles} cycles per variant, alternated)"))
    steady = {r["variant"]: r for r in rows if r["row"].startswith("steady")}
    ratios = {v: {k: steady[v][k] / steady["host"][k] for k in PHASES if steady["host"][k]} for v in steady
              if v != "host"} \
        if "host" in steady else {}
    for v, r in ratios.items():
        print(f"{v} / host, steady: " + ", ".join(f"{k} {x:.2f}×" for k, x in r.items()), flush=True)
    forms = []
    if (rounds := H.q(args, 3, 5) if args.forms is None else args.forms) > 0:
        forms = physical_forms(cfgs[args.variants[0]], pde, traj, rounds)
        print(H.table(forms, ["unroll", "K", "trace_lower_s", "compile_s", "step_ms"],
                      f"smoke physical train step by rollout form ({H.device_kind()}, {rounds} rounds of 9 "
                      f"steps, alternated)"), flush=True)
    H.write_json(NAME, args, env, {"rows": rows, "ratios": ratios, "cycles": times, "physical_forms": forms})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
