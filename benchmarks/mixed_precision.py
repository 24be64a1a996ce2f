"""Accuracy cost of mixed precision: the same network trained in float32 and in bfloat16 (``network.dtype``).

Per seed, the synthetic model of configs/smoke.yaml (synthetic mode) is trained the same epochs from the
same start on the same trajectories in float32, then bf16 (parameters, optimiser state and loss float32 in
both), and `hybrid_jax.evaluate.evaluate` rolls each out over the evaluation horizon: final training loss,
validation loss, mean and final rollout relative L2 error, and the bf16 / float32 ratios. The time per
epoch is a speed figure only on a GPU/TPU (a CPU emulates bf16).
"""

from __future__ import annotations

import statistics
import time

import jax

from benchmarks import harness as H
from hybrid_jax.config import load_config
from hybrid_jax.evaluate import evaluate
from hybrid_jax.training.loop import build_experiment, initial_states, train_cycles

NAME = "mixed_precision"
DTYPES = ("float32", "bfloat16")


def config(args, seed: int, dtype: str):
    return load_config(H.ROOT / "configs" / "smoke.yaml", [
        "mode=synthetic", "output.progress=false", f"seed={seed}", f"network.dtype={dtype}",
        "trainer.hybrid.cycles=1", "trainer.hybrid.warmup_epochs=0", f"trainer.synthetic.epochs={args.epochs}",
        *args.override])


def train_and_evaluate(cfg, pde, traj) -> dict:
    exp = build_experiment(cfg, pde, traj)
    t = time.perf_counter()
    (states, result), = list(train_cycles(exp, initial_states(exp), progress=False))
    wall = time.perf_counter() - t
    errors = evaluate(exp, states, noise_std=exp.cfg.data.truth.noise.std)["models"]["synthetic"]
    losses = result.epoch_losses["synthetic"]
    return {"final_train_loss": losses[-1], "val_loss": result.val_losses["synthetic"],
            "mean_rel_l2": errors["mean_rel_l2"], "final_rel_l2": errors["final_rel_l2"],
            "horizon": len(errors["rel_l2"]), "train_s_per_epoch": result.timings_s["train_synthetic"] / len(losses),
            "first_cycle_wall_s": wall}


def main(argv=None):
    ap = H.parser(__doc__, NAME)
    ap.add_argument("--epochs", type=int, default=None, help="synthetic epochs (default 20, --quick 4)")
    ap.add_argument("--seeds", default=None, help="config seeds, comma-separated (default 0,1; --quick 0)")
    ap.add_argument("--override", nargs="*", default=[], help="dotted key=value overrides of the smoke config")
    args = H.parse(ap, argv)
    args.epochs = args.epochs or (4 if args.quick else 20)
    seeds = [int(s) for s in (args.seeds or ("0" if args.quick else "0,1")).split(",")]
    env = H.header(NAME, args)
    print("(warm-up/repeats do not apply: one training run per dtype and seed, dtypes alternating)")

    rows = []
    for seed in seeds:
        cfg = config(args, seed, "float32")
        pde, traj = H.experiment_data(cfg)
        by = {}
        for dtype in DTYPES:
            by[dtype] = {"seed": seed, "dtype": dtype, **train_and_evaluate(config(args, seed, dtype), pde, traj)}
            print(f"  seed {seed} {dtype}: " + ", ".join(f"{k} {H.fmt(v)}" for k, v in by[dtype].items()
                                                         if k not in ("seed", "dtype")), flush=True)
        ratio = {k: by["bfloat16"][k] / by["float32"][k]
                 for k in ("final_train_loss", "val_loss", "mean_rel_l2", "final_rel_l2", "train_s_per_epoch")}
        rows += [by["float32"], by["bfloat16"], {"seed": seed, "dtype": "ratio bf16 / f32", **ratio}]
        H.write_json(NAME, args, env, {"dtype": list(DTYPES), "epochs": args.epochs, "seeds": seeds, "rows": rows})

    ratios = [r for r in rows if r["dtype"].startswith("ratio")]
    if len(ratios) > 1:
        rows.append({"seed": "median", "dtype": "ratio bf16 / f32",
                     **{k: statistics.median(r[k] for r in ratios) for k in ratios[0] if k not in ("seed", "dtype")}})
    cols = ["seed", "dtype", "final_train_loss", "val_loss", "mean_rel_l2", "final_rel_l2", "horizon",
            "train_s_per_epoch"]
    print(H.table(rows, cols, f"smoke UNet, {args.epochs} epochs, float32 vs bfloat16 ({H.device_kind()})"))
    if jax.devices()[0].platform == "cpu":
        print("train_s_per_epoch: not a speed figure on a CPU (bf16 is emulated there)")
    H.write_json(NAME, args, env, {"dtype": list(DTYPES), "epochs": args.epochs, "seeds": seeds, "rows": rows})

