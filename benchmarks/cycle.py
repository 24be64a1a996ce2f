"""Wall time of a hybrid cycle by phase, compilation apart, and that no jitted step compiles twice.

Runs `training.loop.train_cycles` (the loop of ``python -m hybrid_jax.train`` without checkpoints, metrics
files or evaluation) on trajectories simulated in memory, for ``--configs``: smoke (configs/smoke.yaml),
smoke-lbfgs (its physical model on L-BFGS with full batches) and, without --quick, medium (64², more
trajectories and frames). Per cycle ``CycleResult.timings_s``; cycle 0 compiles, so steady = the median of
cycles 1.. and compile ≈ first − steady; each jitted function is also AOT-compiled apart on a fresh
experiment. After the warm-up and every cycle, ``_cache_size()`` of each jitted step: all must stay at 1
(exit status 1 otherwise).
"""

from __future__ import annotations

import statistics
import time

import jax.numpy as jnp
import numpy as np

from benchmarks import harness as H

NAME = "cycle"
PHASES = ["generate_physical", "train_synthetic", "generate_synthetic", "train_physical", "validate", "total"]
STEPS = [(m, f) for m in ("synthetic", "physical") for f in ("train_step", "eval_step", "generate")]


def configs(args) -> dict:
    from hybrid_jax.config import load_config

    base = ["output.progress=false", f"trainer.hybrid.cycles={args.cycles}", *args.override]
    out = {"smoke": base, "smoke-lbfgs": base + ["trainer.physical.optimizer=lbfgs", "trainer.physical.batching=full"]}
    medium = ["data.num_trajectories=16", "data.num_frames=12", "trainer.batch_size=16", "trainer.synthetic.epochs=2",
              "trainer.physical.epochs=2", "trainer.hybrid.warmup_epochs=1"]
    chosen = args.configs or H.q(args, ["smoke", "smoke-lbfgs"], [*out, "medium"])
    return {k: H.smoke_at(args.medium_resolution, base + medium) if k == "medium" else load_config(H.SMOKE, out[k])
            for k in chosen}


def counts(exp) -> dict:
    return {**{f"{m}.{f}": getattr(getattr(exp, m), f)._cache_size() for m, f in STEPS},
            "generation_states": exp.generation_states._cache_size()}


def aot_compile(cfg, pde, traj) -> list[dict]:
    """Trace+lower and compile seconds of each jitted function of a fresh experiment."""
    from hybrid_jax.data.sources import REAL
    from hybrid_jax.parallel import shard
    from hybrid_jax.training.loop import build_experiment, initial_states

    exp = build_experiment(cfg, pde, traj)
    states, b, data = initial_states(exp), cfg.trainer.batch_size, exp.data()
    idx = shard(exp.mesh, {"source": np.full(b, REAL, np.int32), "sim": np.zeros(b, np.int32),
                           "t": np.zeros(b, np.int32), "weight": np.ones(b, np.float32)})
    x0 = exp.real[:max(exp.num_generated, 1), 0]
    rows = []
    for m in ("synthetic", "physical"):
        fns, st = getattr(exp, m), states[m]
        for f, a in [("train_step", (st, data, idx)), ("eval_step", (st.params, data, idx)),
                     ("generate", (st.params, jnp.asarray(x0)))]:
            rows.append({"function": f"{m}.{f}", **H.compile_seconds(getattr(fns, f), *a)[1]})
    return rows


def run_config(label, cfg) -> dict:
    from hybrid_jax.training.loop import build_experiment, initial_states, train_cycles
    from hybrid_jax.training.records import WarmupResult

    pde, traj = H.experiment_data(cfg)
    t0 = time.perf_counter()
    exp = build_experiment(cfg, pde, traj)
    rows, snapshots = [], {"built": counts(exp)}
    for _, result in train_cycles(exp, initial_states(exp), progress=False):
        if isinstance(result, WarmupResult):
            rows.append({"cycle": "warm-up", "warmup": time.perf_counter() - t0})
            snapshots["after warm-up"] = counts(exp)
            continue
        rows.append({"cycle": result.cycle, **{("total" if k == "cycle" else k): v for k, v in result.timings_s.items()}})
        snapshots[f"after cycle {result.cycle}"] = counts(exp)
        print(f"  {label} cycle {result.cycle}: " + ", ".join(f"{k} {v:.2f}s" for k, v in result.timings_s.items()),
              flush=True)
    real = [r for r in rows if r["cycle"] != "warm-up"]
    if len(real) > 1:
        steady = {k: statistics.median(r.get(k, 0.0) for r in real[1:]) for k in PHASES}
        rows += [{"cycle": "steady (median 1..)", **steady},
                 {"cycle": "compile ≈ first − steady", **{k: real[0].get(k, 0.0) - steady[k] for k in PHASES}}]
    last = snapshots[list(snapshots)[-1]]
    constant = snapshots.get("after cycle 0") == last and all(v <= 1 for v in last.values())
    return {"grid": "x".join(map(str, cfg.physics.resolution)), "rows": rows, "compilations": snapshots,
            "constant": constant, "aot_compile": aot_compile(cfg, pde, traj)}


def main(argv=None):
    p = H.parser(__doc__, NAME)
    p.add_argument("--configs", nargs="+", choices=["smoke", "smoke-lbfgs", "medium"], default=None,
                   help="default smoke smoke-lbfgs medium (--quick: the first two)")
    p.add_argument("--cycles", type=int, default=3)
    p.add_argument("--medium-resolution", type=int, default=64)
    p.add_argument("--override", nargs="*", default=[], help="dotted key=value overrides of every config")
    args = H.parse(p, argv)
    env = H.header(NAME, args)
    results = {}
    for label, cfg in configs(args).items():
        res = results[label] = run_config(label, cfg)
        print(H.table(res["rows"], ["cycle", "warmup"] + PHASES, f"{label} ({res['grid']}): seconds per cycle "
                                                                  f"({H.device_kind()})"))
        print(H.table(res["aot_compile"], ["function", "trace_lower_s", "compile_s"], f"{label}: AOT compile seconds"))
        snaps = res["compilations"]
        print(H.table([{"function": f, **{k: s[f] for k, s in snaps.items()}} for f in snaps["built"]],
                      ["function", *snaps], f"{label}: compiled variants per jitted function "
                                            f"(constant and ≤ 1: {'yes' if res['constant'] else 'NO'})"), flush=True)
    H.write_json(NAME, args, env, {"configs": results})
    return 0 if all(r["constant"] for r in results.values()) else 1
