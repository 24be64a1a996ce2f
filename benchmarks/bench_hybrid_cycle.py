"""Wall time per hybrid cycle, split into its phases, with compilation apart.

Runs `training.loop.train_cycles` (the loop `python -m hybrid_jax.train` runs, without checkpoints,
metrics files or evaluation) on

- smoke: ``configs/smoke.yaml`` as it is (32², 8 trajectories, 3 cycles, 2 warm-up epochs);
- medium: the smoke config at 64² with more trajectories (built with
  ``hybrid_jax.config.load_config(path, overrides)``; sizes from the command line).

The trajectories are simulated in memory (no data store is written). The loop records
``CycleResult.timings_s`` per cycle: generate_physical, train_synthetic, generate_synthetic,
train_physical, validate and the whole cycle. Cycle 0 includes the compilation of every step it
calls (the warm-up, cycle -1, compiles the synthetic train step); the steady figure is the
median of cycles 1.., and compile ≈ first − steady. Independently, each jitted function of a
freshly built experiment is AOT-compiled (``.lower().compile()``) and timed.

Run: ``python benchmarks/bench_hybrid_cycle.py [--quick] [--medium-resolution 64] [--medium-trajectories 16]``
"""

from __future__ import annotations

import math
import statistics
import time

import _common as C

import jax
import jax.numpy as jnp
import numpy as np

from hybrid_jax.config import load_config
from hybrid_jax.data.sources import REAL
from hybrid_jax.data.store import generate_trajectories
from hybrid_jax.physics import build_pde
from hybrid_jax.training.loop import build_experiment, initial_states, train_cycles
from hybrid_jax.training.records import WarmupResult

NAME = "bench_hybrid_cycle"
PHASES = ["generate_physical", "train_synthetic", "generate_synthetic", "train_physical", "validate", "total"]


def configs(args) -> dict:
    smoke = C.ROOT / "configs" / "smoke.yaml"
    out = {"smoke": load_config(smoke, ["output.progress=false"] + args.smoke_override)}
    if not args.quick or args.medium_in_quick:
        n = args.medium_resolution
        p = out["smoke"].physics
        # explicit diffusion bound in 2D: ν ≤ dx²/(4·dt_sub)  =>  substeps ≥ 4·ν·dt/dx²
        substeps = max(p.substeps, math.ceil(4 * p.viscosity.true * p.dt * (n / p.domain[0]) ** 2 * 1.05))
        out["medium"] = load_config(smoke, [
            "experiment_name=medium", "output.progress=false",
            f"physics.resolution=[{n},{n}]", f"physics.substeps={substeps}",
            f"data.num_trajectories={args.medium_trajectories}", f"data.num_frames={args.medium_frames}",
            f"trainer.batch_size={args.medium_batch}", f"trainer.hybrid.cycles={args.cycles}",
            f"trainer.synthetic.epochs={args.medium_epochs}", f"trainer.physical.epochs={args.medium_epochs}",
            "trainer.hybrid.warmup_epochs=1"] + args.medium_override)
    return out


def aot_compile_times(cfg, pde, traj) -> list[dict]:
    """Trace+lower and compile seconds of each jitted function of a fresh experiment."""
    exp = build_experiment(cfg, pde, traj)
    states = initial_states(exp)
    b = cfg.trainer.batch_size
    data = exp.data()
    idx = {"source": jnp.full(b, REAL, jnp.int32), "sim": jnp.zeros(b, jnp.int32), "t": jnp.zeros(b, jnp.int32),
           "weight": jnp.ones(b, jnp.float32)}
    x0 = exp.real[:max(exp.num_generated, 1), 0]
    try:  # place the index batch as the loop does (data-parallel mesh), where the library has one
        from hybrid_jax.parallel import shard

        idx = shard(exp.mesh, jax.tree.map(np.asarray, idx))
    except (ImportError, AttributeError):
        pass
    rows = []
    for name in ("synthetic", "physical"):
        fns, st = getattr(exp, name), states[name]
        for fn_name, fn, a in [("train_step", fns.train_step, (st, data, idx)),
                               ("eval_step", fns.eval_step, (st.params, data, idx)),
                               ("generate", fns.generate, (st.params, x0))]:
            _, ct = C.compile_seconds(fn, *a)
            rows.append({"function": f"{name}.{fn_name}", **ct})
    return rows


def run_config(label, cfg, args):
    pde = build_pde(cfg.physics)
    key = jax.random.fold_in(jax.random.PRNGKey(cfg.seed), 1)
    traj = np.asarray(generate_trajectories(pde, pde.true_params(), key, cfg.data.num_trajectories,
                                            cfg.data.num_frames))
    t0 = time.perf_counter()
    exp = build_experiment(cfg, pde, traj)
    states = initial_states(exp)
    cycles = []
    for states, result in train_cycles(exp, states, progress=False):
        if isinstance(result, WarmupResult):
            cycles.append({"cycle": "warm-up", "warmup": time.perf_counter() - t0})
            t0 = time.perf_counter()
            continue
        timings = {("total" if k == "cycle" else k): v for k, v in result.timings_s.items()}
        cycles.append({**timings, "cycle": result.cycle})
        print(f"  {label} cycle {result.cycle}: " + ", ".join(f"{k} {v:.2f}s" for k, v in result.timings_s.items()),
              flush=True)
    info = {"config": label, "grid": "x".join(map(str, cfg.physics.resolution)),
            "trajectories": cfg.data.num_trajectories, "frames": cfg.data.num_frames, "batch": cfg.trainer.batch_size,
            "train_windows": len(exp.train_windows), "generated": exp.num_generated,
            "epochs_syn_phy": f"{cfg.trainer.synthetic.epochs}/{cfg.trainer.physical.epochs}",
            "warmup_epochs": cfg.trainer.hybrid.warmup_epochs}
    real = [c for c in cycles if c["cycle"] != "warm-up"]
    rows = []
    for c in cycles:
        rows.append({**info, "cycle": c["cycle"], **{k: v for k, v in c.items() if k != "cycle"}})
    if len(real) > 1:
        steady = {k: statistics.median([c.get(k, 0.0) for c in real[1:]]) for k in PHASES}
        rows.append({**info, "cycle": "steady (median 1..)", **steady})
        rows.append({**info, "cycle": "compile ≈ first − steady",
                     **{k: real[0].get(k, 0.0) - steady[k] for k in PHASES}})
    aot = aot_compile_times(cfg, pde, traj)
    return rows, aot, info


def main():
    ap = C.parser(__doc__.splitlines()[0])
    ap.add_argument("--cycles", type=int, default=3, help="cycles of the medium config")
    ap.add_argument("--medium-resolution", type=int, default=64)
    ap.add_argument("--medium-trajectories", type=int, default=16)
    ap.add_argument("--medium-frames", type=int, default=12)
    ap.add_argument("--medium-batch", type=int, default=16)
    ap.add_argument("--medium-epochs", type=int, default=2)
    ap.add_argument("--medium-in-quick", action="store_true", help="also run the medium config with --quick")
    ap.add_argument("--smoke-override", nargs="*", default=[], help="dotted key=value overrides of the smoke config")
    ap.add_argument("--medium-override", nargs="*", default=[], help="dotted key=value overrides of the medium config")
    args = C.finish_args(ap.parse_args())
    env = C.header(NAME, args)
    print("(warm-up/repeats do not apply: each cycle is one sample; steady = median of cycles after the first)")

    all_rows, all_aot = [], []
    for label, cfg in configs(args).items():
        print(f"{label}: running {cfg.trainer.hybrid.cycles} cycles ...", flush=True)
        rows, aot, info = run_config(label, cfg, args)
        all_rows += rows
        all_aot += [{"config": label, **r} for r in aot]
        print(C.table(rows, ["config", "grid", "cycle", "warmup"] + PHASES,
                      f"{label}: seconds per cycle ({C.device_kind()})"), flush=True)
        print(C.table([{"config": label, **r} for r in aot], ["config", "function", "trace_lower_s", "compile_s"],
                      f"{label}: AOT compile seconds per jitted function"), flush=True)

    cfg_cols = ["config", "grid", "trajectories", "frames", "batch", "train_windows", "generated", "epochs_syn_phy",
                "warmup_epochs"]
    seen, cfg_rows = set(), []
    for r in all_rows:
        if r["config"] not in seen:
            seen.add(r["config"])
            cfg_rows.append(r)
    print(C.table(cfg_rows, cfg_cols, "configs"))
    print(C.table(all_rows, ["config", "cycle", "warmup"] + PHASES, f"seconds per cycle ({C.device_kind()})"))
    print(C.table(all_aot, ["config", "function", "trace_lower_s", "compile_s"], "AOT compile seconds"))
    C.write_json(NAME, args, env, {"rows": all_rows, "aot_compile": all_aot})


if __name__ == "__main__":
    main()
