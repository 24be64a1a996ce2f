"""Memory of a K-step differentiable rollout, with and without `jax.checkpoint` per step.

For each K, ``jax.grad`` of a K-step rollout loss of the synthetic model (the smoke UNet at n², batch B,
with respect to its parameters) and of the physical model (2D Burgers, with respect to log ν) is compiled
with ``checkpoint_rollout`` false ("none") and true ("remat"), and for the UNet also remat with the rollout
as a loop ("remat+loop"); reported: the executable's ``memory_analysis()`` (temp: the activations kept for
the backward pass; arguments, outputs, their sum) on every backend, and where the device reports
``memory_stats()`` (GPU, TPU) the measured ``peak_bytes_in_use``, one process per series, K increasing.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import jax
import jax.numpy as jnp
from flax import nnx

from benchmarks import harness as H
from hybrid_jax.config import load_config
from hybrid_jax.physics import build_pde
from hybrid_jax.rollout import network_step, rollout
from hybrid_jax.training.models import physical_model, synthetic_model

NAME = "memory"
MIB = 2.0**20


def config(args, remat: bool):
    flag = "true" if remat else "false"
    return load_config(H.ROOT / "configs" / "smoke.yaml", [
        f"physics.resolution=[{args.resolution},{args.resolution}]", "physics.substeps=2",
        f"network.levels={args.levels}", f"network.filters={args.filters}",
        f"trainer.synthetic.checkpoint_rollout={flag}", f"trainer.physical.checkpoint_rollout={flag}"])


VARIANTS = {"unet": ["none", "remat", "remat+loop"], "physics": ["none", "remat"]}


def grad_fn(model: str, args, variant: str):
    """(k -> jitted grad of the K-step loss of (params, x0, targets), params, x0).

    variant "none" / "remat": the library's model with ``checkpoint_rollout`` false / true (the
    UNet's rollout is unrolled, the physics' is a loop); "remat+loop" (UNet only): remat with the
    rollout as a loop (``rollout(..., remat=True, unroll=False)``), built from the same pieces.
    """
    cfg = config(args, variant != "none")
    pde = build_pde(cfg.physics)
    if model == "unet":
        graphdef, params, predict, _ = synthetic_model(pde, cfg)
        if variant == "remat+loop":
            nd, residual = pde.layout.num_dynamic, cfg.network.prediction == "residual"

            def predict(p, x0, k):
                return rollout(network_step(nnx.merge(graphdef, p), nd, residual), x0, k, remat=True, unroll=False)
    else:
        params, predict, _ = physical_model(pde, cfg.physics, cfg.trainer.physical)
    x0 = pde.sample_initial_state(jax.random.PRNGKey(0), args.batch)

    def make(k):
        def loss(p, x0, targets):
            return jnp.mean((predict(p, x0, k) - targets) ** 2)

        return jax.jit(jax.grad(loss))

    return make, params, x0


def targets_for(x0, k):
    return jnp.broadcast_to(x0[:, None], (x0.shape[0], k) + x0.shape[1:]).astype(jnp.float32)


def analyse(model, variant, ks, args, quiet=False, peak=None) -> list[dict]:
    """Compile the gradient for each K and read its memory analysis; with --time (or `peak`) also
    time it, and with `peak` (a function returning the device's peak MiB) read the peak after the runs."""
    make, params, x0 = grad_fn(model, args, variant)
    run = peak is not None
    if run:
        H.block((params, x0))
        base = jax.devices()[0].memory_stats()["bytes_in_use"] / MIB
    rows = []
    for k in ks:
        tg = H.block(targets_for(x0, k))
        compiled, ct = H.compile_seconds(make(k), params, x0, tg)
        m = compiled.memory_analysis()
        row = {"model": model, "K": k, "variant": variant, "compile_s": ct["compile_s"]}
        if run or (args.time and k <= args.time_max_k):
            row["run_median_s"] = H.repeat(lambda: H.block(compiled(params, x0, tg)), 1, args.repeats)["median_s"]
        if run:
            row.update({"runtime_peak_MiB": peak(), "resident_before_MiB": base})
        if m is not None:
            row.update({"temp_MiB": m.temp_size_in_bytes / MIB, "args_MiB": m.argument_size_in_bytes / MIB,
                        "out_MiB": m.output_size_in_bytes / MIB, "alias_MiB": m.alias_size_in_bytes / MIB,
                        "code_MiB": m.generated_code_size_in_bytes / MIB})
            row["total_MiB"] = row["temp_MiB"] + row["args_MiB"] + row["out_MiB"] - row["alias_MiB"]
            xla_peak = getattr(m, "peak_memory_in_bytes", 0)
            if xla_peak:
                row["xla_peak_MiB"] = xla_peak / MIB
        rows.append(row)
        if not quiet:
            print(H.table([row], ["model", "K", "variant", "temp_MiB", "total_MiB", "run_median_s", "compile_s"]),
                  flush=True)
    return rows


def worker(model, variant, ks, args):
    """One (model, variant) series in its own process: for each K (increasing) the compiled
    memory analysis, then one run, and the device's peak bytes in use after it."""
    dev = jax.devices()[0]
    for row in analyse(model, variant, ks, args, quiet=True, peak=lambda: dev.memory_stats()["peak_bytes_in_use"] / MIB):
        print("RESULT " + json.dumps(row), flush=True)


def main(argv=None):
    ap = H.parser(__doc__, NAME)
    ap.add_argument("--ks", type=int, nargs="+", default=None, help="rollout lengths (default 1 2 4 8 16 32; --quick 1 2 4 8)")
    ap.add_argument("--models", nargs="+", default=["unet", "physics"], choices=["unet", "physics"])
    ap.add_argument("--resolution", type=int, default=64)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--levels", type=int, default=2)
    ap.add_argument("--filters", type=int, default=16)
    ap.add_argument("--no-runtime-peak", action="store_true", help="skip the measured peak even where the device has one")
    ap.add_argument("--time", action="store_true", help="also time each compiled gradient (always on where runtime peaks run)")
    ap.add_argument("--time-max-k", type=int, default=1000, help="with --time: only for K up to this")
    ap.add_argument("--worker", nargs=2, metavar=("MODEL", "VARIANT"), help=argparse.SUPPRESS)
    args = H.parse(ap, argv)
    ks = args.ks or ([1, 2, 4, 8] if args.quick else [1, 2, 4, 8, 16, 32])
    if args.worker:
        worker(args.worker[0], args.worker[1], ks, args)
        return
    env = H.header(NAME, args)
    runtime = jax.devices()[0].memory_stats() is not None and not args.no_runtime_peak
    rows = []
    for model in args.models:
        for variant in VARIANTS[model]:
            if not runtime:
                rows += analyse(model, variant, ks, args)
                continue
            cmd = [sys.executable, "-m", "benchmarks", NAME, "--worker", model, variant, "--ks", *map(str, ks),
                   "--repeats", str(args.repeats), "--resolution", str(args.resolution), "--batch", str(args.batch),
                   "--levels", str(args.levels), "--filters", str(args.filters)]
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=H.ROOT)
            got = [json.loads(line[7:]) for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
            rows += got
            print(H.table(got, ["model", "K", "variant", "temp_MiB", "total_MiB", "runtime_peak_MiB", "run_median_s",
                                "compile_s"]) if got else "", flush=True)
            if proc.returncode:
                print(f"worker {model} {variant} failed (rc {proc.returncode}):\n{proc.stderr[-3000:]}", flush=True)
    if not runtime:
        print("\n(the device reports no memory_stats(): runtime peaks skipped; compiled memory_analysis() only)")

    cols = ["model", "K", "variant", "temp_MiB", "args_MiB", "out_MiB", "total_MiB", "runtime_peak_MiB", "run_median_s",
            "compile_s"]
    print(H.table(rows, cols, f"grad of a K-step rollout loss, {args.resolution}², batch {args.batch} "
                              f"({H.device_kind()})"))
    # summary: memory per extra step (slope of temp vs K between the two largest K)
    summary = []
    for model in args.models:
        for variant in VARIANTS[model]:
            rs = sorted((r for r in rows if r["model"] == model and r["variant"] == variant), key=lambda r: r["K"])
            if len(rs) >= 2 and "temp_MiB" in rs[-1]:
                a, b = rs[-2], rs[-1]
                summary.append({"model": model, "variant": variant, "temp_MiB_per_step": (b["temp_MiB"] - a["temp_MiB"]) / (b["K"] - a["K"]),
                                f"temp_MiB_K{b['K']}": b["temp_MiB"]})
    if summary:
        print(H.table(summary, list(summary[0].keys()), "temp memory per extra rollout step (largest two K)"))
    H.write_json(NAME, args, env, {"resolution": args.resolution, "batch": args.batch, "ks": ks,
                                   "levels": args.levels, "filters": args.filters, "runtime_peak": runtime,
                                   "rows": rows, "summary": summary})

