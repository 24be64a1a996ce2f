"""Accuracy cost of mixed precision: the same network training in float32 and in bfloat16 (``network.dtype``).

For each seed, the synthetic model of ``configs/smoke.yaml`` (2D Burgers 32², UNet 2 levels; synthetic
mode: the network alone, on the real data) is trained the same number of epochs from the same
initial parameters on the same trajectories with ``network.dtype`` float32, then bfloat16 (parameters,
optimiser state and loss float32 in both); `hybrid_jax.evaluate.evaluate` then rolls each out from the
validation trajectories' first frames over the evaluation horizon. Printed per dtype: final training
loss, validation loss, mean and final rollout relative L2 error against the true trajectories, and
the bf16 / float32 ratios. The training time per epoch is printed too, but it is a speed figure only
on a GPU/TPU: on a CPU, XLA emulates bf16 convolutions (slower than float32).

Run: ``python benchmarks/bench_mixed_precision.py [--quick] [--epochs 20] [--seeds 0,1] [--override key=value ...]``
"""

from __future__ import annotations

import statistics
import time

import _common as C

import jax
import numpy as np

from hybrid_jax.config import load_config
from hybrid_jax.data.store import generate_trajectories
from hybrid_jax.evaluate import evaluate
from hybrid_jax.physics import build_pde
from hybrid_jax.training.loop import build_experiment, initial_states, train_cycles

NAME = "bench_mixed_precision"
DTYPES = ("float32", "bfloat16")


def config(args, seed: int, dtype: str):
    return load_config(C.ROOT / "configs" / "smoke.yaml", [
        "mode=synthetic", "output.progress=false", f"seed={seed}", f"network.dtype={dtype}",
        "trainer.hybrid.cycles=1", "trainer.hybrid.warmup_epochs=0", f"trainer.synthetic.epochs={args.epochs}",
        *args.override])


def train_and_evaluate(cfg, pde, traj) -> dict:
    exp = build_experiment(cfg, pde, traj)
    t = time.perf_counter()
    (states, result), = list(train_cycles(exp, initial_states(exp), progress=False))
    wall = time.perf_counter() - t
    errors = evaluate(exp, states)["models"]["synthetic"]
    losses = result.epoch_losses["synthetic"]
    return {"final_train_loss": losses[-1], "val_loss": result.val_losses["synthetic"],
            "mean_rel_l2": errors["mean_rel_l2"], "final_rel_l2": errors["final_rel_l2"],
            "horizon": len(errors["rel_l2"]), "train_s_per_epoch": result.timings_s["train_synthetic"] / len(losses),
            "first_cycle_wall_s": wall}


def main():
    ap = C.parser(__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=None, help="synthetic epochs (default 20, --quick 4)")
    ap.add_argument("--seeds", default=None, help="config seeds, comma-separated (default 0,1; --quick 0)")
    ap.add_argument("--override", nargs="*", default=[], help="dotted key=value overrides of the smoke config")
    args = C.finish_args(ap.parse_args())
    args.epochs = args.epochs or (4 if args.quick else 20)
    seeds = [int(s) for s in (args.seeds or ("0" if args.quick else "0,1")).split(",")]
    env = C.header(NAME, args)
    print("(warm-up/repeats do not apply: one training run per dtype and seed, dtypes alternating)")

    rows = []
    for seed in seeds:
        cfg = config(args, seed, "float32")
        pde = build_pde(cfg.physics)
        key = jax.random.fold_in(jax.random.PRNGKey(seed), 1)
        traj = np.asarray(generate_trajectories(pde, pde.true_params(), key, cfg.data.num_trajectories,
                                                cfg.data.num_frames))
        by = {}
        for dtype in DTYPES:
            by[dtype] = {"seed": seed, "dtype": dtype, **train_and_evaluate(config(args, seed, dtype), pde, traj)}
            print(f"  seed {seed} {dtype}: " + ", ".join(f"{k} {C.fmt(v)}" for k, v in by[dtype].items()
                                                         if k not in ("seed", "dtype")), flush=True)
        ratio = {k: by["bfloat16"][k] / by["float32"][k]
                 for k in ("final_train_loss", "val_loss", "mean_rel_l2", "final_rel_l2", "train_s_per_epoch")}
        rows += [by["float32"], by["bfloat16"], {"seed": seed, "dtype": "ratio bf16 / f32", **ratio}]
        C.write_json(NAME, args, env, {"dtype": list(DTYPES), "epochs": args.epochs, "seeds": seeds, "rows": rows})

    ratios = [r for r in rows if r["dtype"].startswith("ratio")]
    if len(ratios) > 1:
        rows.append({"seed": "median", "dtype": "ratio bf16 / f32",
                     **{k: statistics.median(r[k] for r in ratios) for k in ratios[0] if k not in ("seed", "dtype")}})
    cols = ["seed", "dtype", "final_train_loss", "val_loss", "mean_rel_l2", "final_rel_l2", "horizon",
            "train_s_per_epoch"]
    print(C.table(rows, cols, f"smoke UNet, {args.epochs} epochs, float32 vs bfloat16 ({C.device_kind()})"))
    if jax.devices()[0].platform == "cpu":
        print("train_s_per_epoch: not a speed figure on a CPU (bf16 is emulated there)")
    C.write_json(NAME, args, env, {"dtype": list(DTYPES), "epochs": args.epochs, "seeds": seeds, "rows": rows})


if __name__ == "__main__":
    main()
