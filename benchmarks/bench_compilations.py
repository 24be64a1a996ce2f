"""Compilations per jitted function do not grow with epochs or cycles.

Runs the smoke config (``configs/smoke.yaml``, hybrid mode: warm-up, generation both ways, both
trainers, validation; once as it is, once with the physical model on L-BFGS with full batches) through `training.loop.train_cycles` and reads ``jitted._cache_size()`` — the
number of compiled variants JAX holds — of the train, eval and generate steps of both models and of
the generation-state selection after the warm-up, after 1 cycle and after 3 cycles. Every count must
stay at 1 (one shape, one trace) and the counts after 3 cycles must equal those after 1.

Run: ``python benchmarks/bench_compilations.py [--quick] [--cycles 3]``
"""

from __future__ import annotations

import sys
import time

import _common as C

import jax
import numpy as np

from hybrid_jax.config import load_config
from hybrid_jax.data.store import generate_trajectories
from hybrid_jax.physics import build_pde
from hybrid_jax.training.loop import build_experiment, initial_states, train_cycles
from hybrid_jax.training.records import WarmupResult

NAME = "bench_compilations"
FUNCTIONS = [(m, f) for m in ("synthetic", "physical") for f in ("train_step", "eval_step", "generate")]


def counts(exp) -> dict:
    return {**{f"{m}.{f}": getattr(getattr(exp, m), f)._cache_size() for m, f in FUNCTIONS},
            "generation_states": exp.generation_states._cache_size()}


SCENARIOS = {
    "adam": [],  # the smoke config as it is: Adam, shuffled batches for both models
    "lbfgs-full": ["trainer.physical.optimizer=lbfgs", "trainer.physical.batching=full"],
}


def run_scenario(name, args) -> tuple[dict, bool]:
    quick = ["trainer.synthetic.epochs=1", "trainer.physical.epochs=2", "trainer.hybrid.warmup_epochs=1"] if args.quick else []
    cfg = load_config(C.ROOT / "configs" / "smoke.yaml", ["output.progress=false", f"trainer.hybrid.cycles={args.cycles}"]
                      + quick + SCENARIOS[name] + args.override)
    pde = build_pde(cfg.physics)
    key = jax.random.fold_in(jax.random.PRNGKey(cfg.seed), 1)
    traj = np.asarray(generate_trajectories(pde, pde.true_params(), key, cfg.data.num_trajectories, cfg.data.num_frames))
    exp = build_experiment(cfg, pde, traj)
    snapshots = {"built": counts(exp)}
    t0 = time.perf_counter()
    for _, result in train_cycles(exp, initial_states(exp), progress=False):
        label = ("after warm-up" if isinstance(result, WarmupResult)
                 else f"after {result.cycle + 1} cycle{'s' if result.cycle else ''}")
        snapshots[label] = counts(exp)
        print(f"  {name} {label}: {snapshots[label]} ({time.perf_counter() - t0:.1f}s)", flush=True)
    labels = list(snapshots)
    rows = [{"scenario": name, "function": fn, **{lab: snapshots[lab][fn] for lab in labels}} for fn in snapshots["built"]]
    print(C.table(rows, ["scenario", "function"] + labels,
                  f"{name}: compiled variants per jitted function, smoke config, epochs syn/phy "
                  f"{cfg.trainer.synthetic.epochs}/{cfg.trainer.physical.epochs} per cycle ({C.device_kind()})"),
          flush=True)
    first, last = snapshots.get("after 1 cycle"), snapshots[labels[-1]]
    ok = first is not None and first == last and all(v <= 1 for v in last.values())
    return {"overrides": SCENARIOS[name], "snapshots": snapshots, "rows": rows, "constant": ok}, ok


def main():
    ap = C.parser(__doc__.splitlines()[0])
    ap.add_argument("--cycles", type=int, default=3)
    ap.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=list(SCENARIOS),
                    help="adam: the smoke config; lbfgs-full: physical model trained by L-BFGS on full batches")
    ap.add_argument("--override", nargs="*", default=[], help="dotted key=value overrides of the smoke config")
    args = C.finish_args(ap.parse_args())
    env = C.header(NAME, args)
    results, all_ok, rows = {}, True, []
    for name in args.scenarios:
        results[name], ok = run_scenario(name, args)
        all_ok &= ok
        rows += results[name]["rows"]
    labels = [k for k in rows[0] if k not in ("scenario", "function")]
    print(C.table(rows, ["scenario", "function"] + labels, f"compiled variants per jitted function ({C.device_kind()})"))
    print(f"\ncounts constant from 1 to {args.cycles} cycles and at most 1: {'yes' if all_ok else 'NO'}")
    C.write_json(NAME, args, env, {"cycles": args.cycles, "scenarios": results, "constant": all_ok})
    sys.exit(0 if all_ok else 1)


if __name__ == "__main__":
    main()
