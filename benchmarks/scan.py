"""An epoch as one jitted call per train step against one `lax.scan`, and compile time against the horizon K, rollout unrolled or rolled.

1. epochs: the smoke config's synthetic model (real windows only) trains epochs through `run_epochs` with
   ``steps_per_call`` 1 (one call per step) and the whole epoch (one scan), alternating: the first epoch
   (compilation included) and the median of the later ones.
2. horizon: the synthetic train step (smoke UNet, batch 8) AOT-compiled for each K with the rollout
   unrolled (the default) and rolled (`lax.scan`): compile seconds and the median step time."""

from __future__ import annotations

import statistics

import jax
import numpy as np
from flax import nnx

from benchmarks import harness as H
from hybrid_jax.config import load_config
from hybrid_jax.data.sources import REAL, WindowSource
from hybrid_jax.rollout import network_step, rollout
from hybrid_jax.training.loop import PHASE_WARMUP, build_experiment, initial_states, run_epochs
from hybrid_jax.training.models import synthetic_model
from hybrid_jax.training.steps import init_state, make_train_step

NAME = "scan"


def epochs(cfg, pde, traj, args) -> list[dict]:
    exp = build_experiment(cfg, pde, traj)
    sources = [WindowSource(exp.train_windows, REAL, 1.0)]
    max_steps = len(exp.train_windows) // cfg.trainer.batch_size
    state = {n: initial_states(exp)["synthetic"] for n in (1, max_steps)}

    def epoch(n):
        exp.steps_per_call = n
        state[n] = H.block(run_epochs(exp, exp.synthetic, state[n], exp.data(), sources, 1, None, PHASE_WARMUP,
                                      False)[0])

    times = H.alternate({n: lambda n=n: epoch(n) for n in state}, args.epochs)
    return [{"steps_per_call": n, "steps_per_epoch": max_steps, "first_epoch_s": ts[0],
             "steady_epoch_s": statistics.median(ts[1:]), "steady_step_ms": 1e3 * statistics.median(ts[1:]) / max_steps}
            for n, ts in times.items()]


def horizon(cfg, pde, traj, k: int, unroll: bool, args) -> dict:
    graphdef, params, _, tx = synthetic_model(pde, cfg)
    nd, residual = pde.layout.num_dynamic, cfg.network.prediction == "residual"

    def predict(p, x0, steps):
        return rollout(network_step(nnx.merge(graphdef, p), nd, residual), x0, steps, unroll=unroll)

    step = make_train_step(predict, tx, nd, k)
    b = cfg.trainer.batch_size
    data = {"real": jax.numpy.asarray(traj), "real_mask": jax.numpy.ones(traj.shape[1:-1], np.float32),
            "generated": jax.numpy.zeros((1, k + 1) + traj.shape[2:], np.float32)}
    idx = {"source": np.full(b, REAL, np.int32), "sim": np.arange(b, dtype=np.int32) % len(traj),
           "t": np.zeros(b, np.int32), "weight": np.ones(b, np.float32)}
    state = init_state(params, tx)
    compiled, ct = H.compile_seconds(step, state, data, idx)
    run = H.repeat(lambda: H.block(compiled(state, data, idx)), args.warmup, args.repeats)
    return {"K": k, "rollout": "unrolled" if unroll else "lax.scan", **ct, "step_ms": 1e3 * run["median_s"]}


def main(argv=None):
    ap = H.parser(__doc__, NAME)
    ap.add_argument("--horizons", type=int, nargs="+", default=[4, 12])
    ap.add_argument("--epochs", type=int, default=4, help="epochs per variant (the first compiles)")
    args = H.parse(ap, argv)
    env = H.header(NAME, args)
    cfg = load_config(H.ROOT / "configs" / "smoke.yaml", ["output.progress=false"])
    pde, traj = H.experiment_data(cfg)
    epoch_rows = epochs(cfg, pde, traj, args)
    print(H.table(epoch_rows, ["steps_per_call", "steps_per_epoch", "first_epoch_s", "steady_epoch_s",
                               "steady_step_ms"], "smoke synthetic epochs: per-step calls vs one scan"), flush=True)
    k_rows = [horizon(cfg, pde, traj, k, unroll, args) for k in args.horizons for unroll in (True, False)]
    print(H.table(k_rows, ["K", "rollout", "trace_lower_s", "compile_s", "step_ms"],
                  "synthetic train step: compile time against K"), flush=True)
    H.write_json(NAME, args, env, {"epochs": epoch_rows, "horizons": k_rows})

