"""Utilisation of the synthetic train step: FLOPs, achieved FLOP/s, fraction of the device's peak, memory per sample.

The library's step (``build_experiment(...).synthetic.train_step``) on configs/reference/inviscid_burgers_2d.yaml
(128², UNet 4 × 128, batch 32) with ``data.rollout_steps = K`` and ``network.dtype`` float32 or bfloat16.
Per (dtype, K): compile time; FLOPs per step counted from the jaxpr (`jaxpr_flops`; XLA's
``cost_analysis()`` printed beside it leaves out cuDNN/cuBLAS calls on a GPU); the steady step time;
FLOP/s and, on a GPU in `PEAKS`, the fraction of its dense peak (bf16 → bf16, float32 → TF32, which XLA
uses for float32 convolutions); memory per sample from ``memory_analysis()``. Then the phases of a steady
hybrid cycle with few epochs. ``--quick``: 16², UNet 2 × 16, batch 8.
"""

from __future__ import annotations

import jax
import numpy as np

from benchmarks import harness as H
from hybrid_jax.config import load_config
from hybrid_jax.data.sources import REAL
from hybrid_jax.parallel import shard
from hybrid_jax.training.loop import build_experiment, initial_states, train_cycles
from hybrid_jax.training.records import WarmupResult

NAME = "utilisation"
CONFIG = H.ROOT / "configs" / "reference" / "inviscid_burgers_2d.yaml"
# dense tensor-core peaks, FLOP/s (NVIDIA data sheets; SXM parts): compute dtype -> peak
PEAKS = {
    "H200": {"bfloat16": 989e12, "tf32": 494.5e12, "float32": 67e12},
    "H100 PCIe": {"bfloat16": 756e12, "tf32": 378e12, "float32": 51e12},
    "H100": {"bfloat16": 989e12, "tf32": 494.5e12, "float32": 67e12},
    "A100": {"bfloat16": 312e12, "tf32": 156e12, "float32": 19.5e12},
}


def device_peak(dtype: str) -> tuple[float | None, str]:
    """(peak FLOP/s of this device for `dtype`, which peak it is); (None, why) off the table or on a CPU."""
    dev = jax.devices()[0]
    if dev.platform != "gpu":
        return None, f"no peak on {dev.platform}"
    for name, peaks in PEAKS.items():  # most specific names first
        if name.lower() in dev.device_kind.lower():
            kind = "bfloat16" if dtype == "bfloat16" else "tf32"
            return peaks[kind], f"{name} dense {'bf16' if kind == 'bfloat16' else 'TF32'} {peaks[kind] / 1e12:g} TFLOP/s"
    return None, f"{dev.device_kind} not in the peak table"


def jaxpr_flops(fn, *args) -> float:
    """FLOPs of one call of `fn(*args)` counted from its jaxpr: convolutions and dot products (a multiply-add
    = 2), forward and backward alike, the same on every device. XLA's GPU cost analysis leaves out what it
    hands to cuDNN/cuBLAS (0.1 % of the real count for the UNet step), hence this count. A convolution with
    input dilation (a strided convolution's input gradient) counts only the taps that meet real inputs
    (÷ the dilation); a scan counts its body × length; a while loop's body once; a cond its costliest branch;
    equations whose results are unused are dropped first (XLA drops them too)."""
    from jax._src.interpreters.partial_eval import dce_jaxpr  # what XLA removes too: unused results

    jaxpr = jax.make_jaxpr(fn)(*args).jaxpr
    return _count(dce_jaxpr(jaxpr, [True] * len(jaxpr.outvars))[0])


def _count(jaxpr) -> float:
    total = 0.0
    for eqn in jaxpr.eqns:
        name = eqn.primitive.name
        if name == "conv_general_dilated":
            out, rhs = eqn.outvars[0].aval.shape, eqn.invars[1].aval.shape
            spec = eqn.params["dimension_numbers"].rhs_spec  # (out features, in features per group, spatial...)
            taps = rhs[spec[1]] * np.prod([rhs[d] for d in spec[2:]])
            total += 2.0 * np.prod(out) * taps / np.prod(eqn.params["lhs_dilation"])
        elif name == "dot_general":
            (contract, _), _ = eqn.params["dimension_numbers"]
            lhs = eqn.invars[0].aval.shape
            total += 2.0 * np.prod(eqn.outvars[0].aval.shape) * np.prod([lhs[d] for d in contract])
        subs = [v for v in eqn.params.values() if hasattr(v, "eqns") or hasattr(v, "jaxpr")]
        subs += [b for v in eqn.params.values() if isinstance(v, tuple) for b in v if hasattr(b, "jaxpr")]
        counts = [_count(getattr(j, "jaxpr", j)) for j in subs]
        if name == "cond":
            total += max(counts, default=0.0)
        else:
            total += sum(counts) * (eqn.params["length"] if name == "scan" else 1)
    return total


def flops_of(compiled) -> float:
    """FLOPs of one call from XLA's cost analysis (a dict; older jax: a list of one dict per program)."""
    cost = compiled.cost_analysis()
    if isinstance(cost, (list, tuple)):
        return float(sum(c.get("flops", 0.0) for c in cost))
    return float(cost.get("flops", 0.0))


def config(args, overrides=()):
    size = ["physics.resolution=[16,16]", "network.levels=2", "network.widths=[16,16]", "trainer.batch_size=8",
            "data.num_frames=16", "trainer.hybrid.generation.physical_length=15",
            "trainer.hybrid.generation.synthetic_length=5"] if args.quick else []
    return load_config(CONFIG, ["output.progress=false", "trainer.synthetic.rollout_curriculum.kind=none",
                                *size, *args.override, *overrides])


def measure_step(args, dtype: str, horizon: int, traj: np.ndarray, pde) -> dict:
    """Compile and time the synthetic train step at this dtype and K; its FLOPs and memory."""
    cfg = config(args, [f"network.dtype={dtype}", f"data.rollout_steps={horizon}"])
    exp = build_experiment(cfg, pde, traj)
    state = initial_states(exp)["synthetic"]
    data, b = exp.data(), cfg.trainer.batch_size
    rng = np.random.default_rng(0)
    windows = exp.train_windows
    batches = []
    for _ in range(4):
        pick = windows[rng.integers(0, len(windows), b)]
        batches.append(shard(exp.mesh, {"source": np.full(b, REAL, np.int32), "sim": pick[:, 0].astype(np.int32),
                                        "t": pick[:, 1].astype(np.int32), "weight": np.ones(b, np.float32)}))
    flops = jaxpr_flops(exp.synthetic.train_step, state, data, batches[0])
    compiled, ct = H.compile_seconds(exp.synthetic.train_step, state, data, batches[0])
    xla_flops = flops_of(compiled)
    mem = compiled.memory_analysis()
    t = H.repeat(H.train_steps(compiled, state, data, batches, args.steps_per_repeat), args.warmup, args.repeats)
    step_s = t["median_s"] / args.steps_per_repeat
    peak, peak_name = device_peak(dtype)
    n_params = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(state.params))
    row = {"dtype": dtype, "K": horizon, "B": b, "params": n_params, "flops_per_step": flops, "xla_flops": xla_flops,
           "step_s": step_s, "min_step_s": t["min_s"] / args.steps_per_repeat, "compile_s": ct["compile_s"],
           "tflops_per_s": flops / step_s / 1e12, "fraction_of_peak": flops / step_s / peak if peak else None,
           "peak": peak_name, "samples_per_s": b / step_s, "timing": t}
    if mem is not None:
        row.update(temp_bytes=mem.temp_size_in_bytes, argument_bytes=mem.argument_size_in_bytes,
                   mib_per_sample=(mem.temp_size_in_bytes + mem.argument_size_in_bytes) / b / 2**20,
                   temp_mib_per_sample=mem.temp_size_in_bytes / b / 2**20)
    print(f"  {dtype} K={horizon}: {step_s * 1e3:.2f} ms/step, {row['tflops_per_s']:.3g} TFLOP/s"
          + (f" = {row['fraction_of_peak']:.1%} of {peak_name}" if peak else f" ({peak_name})"), flush=True)
    return row


def cycle_profile(args, traj: np.ndarray, pde, dtype: str) -> list[dict]:
    """Phases of the steady (second) hybrid cycle of the config, with few epochs, per epoch where it has epochs."""
    cfg = config(args, [f"network.dtype={dtype}", "trainer.hybrid.cycles=2", "trainer.hybrid.warmup_epochs=0",
                        f"trainer.synthetic.epochs={args.profile_epochs}",
                        f"trainer.physical.epochs={args.profile_epochs}"])
    exp = build_experiment(cfg, pde, traj)
    results = [r for _, r in train_cycles(exp, initial_states(exp), progress=False) if not isinstance(r, WarmupResult)]
    steady = results[-1]
    rows = []
    for phase, seconds in steady.timings_s.items():
        model = phase.split("_", 1)[-1]
        epochs = len(steady.epoch_losses.get(model, [])) if phase.startswith("train_") else None
        rows.append({"phase": phase, "dtype": dtype, "seconds": seconds, "epochs": epochs,
                     "per_epoch_s": seconds / epochs if epochs else None})
    return rows


def main(argv=None):
    ap = H.parser(__doc__, NAME)
    ap.add_argument("--dtypes", default="float32,bfloat16", help="network.dtype values, comma-separated")
    ap.add_argument("--horizons", default="1,5", help="rollout horizons K, comma-separated")
    ap.add_argument("--steps-per-repeat", type=int, default=None, help="train steps per timed repeat (default 10, --quick 2)")
    ap.add_argument("--profile-epochs", type=int, default=None, help="epochs per model in the cycle profile (default 2, --quick 1)")
    ap.add_argument("--no-profile", action="store_true", help="skip the profile of the rest of a cycle")
    ap.add_argument("--override", nargs="*", default=[], help="dotted key=value overrides of the config")
    args = H.parse(ap, argv)
    args.steps_per_repeat = args.steps_per_repeat or (2 if args.quick else 10)
    args.profile_epochs = args.profile_epochs or (1 if args.quick else 2)
    dtypes, horizons = args.dtypes.split(","), [int(k) for k in args.horizons.split(",")]
    env = H.header(NAME, args)

    cfg = config(args)
    pde, traj = H.experiment_data(cfg)
    grid = "x".join(map(str, cfg.physics.resolution))
    print(f"{CONFIG.name}: {grid}, UNet {list(cfg.network.unet_widths())}, batch {cfg.trainer.batch_size}", flush=True)

    def save(rows, profile):  # after every measurement: a run stopped by a timeout keeps what it measured
        H.write_json(NAME, args, env, {"config": str(CONFIG.relative_to(H.ROOT)), "grid": grid, "dtype": dtypes,
                                       "horizons": horizons, "steps_per_repeat": args.steps_per_repeat,
                                       "peaks_flops_per_s": PEAKS, "rows": rows, "cycle_profile": profile})

    rows = []
    for d in dtypes:
        for k in horizons:
            rows.append(measure_step(args, d, k, traj, pde))
            save(rows, [])
    by = {(r["dtype"], r["K"]): r for r in rows}
    for d in dtypes:
        if (d, 1) in by and (d, max(horizons)) in by and max(horizons) > 1:
            by[(d, max(horizons))]["flops_ratio_vs_K1"] = by[(d, max(horizons))]["flops_per_step"] / by[(d, 1)]["flops_per_step"]
        if d != "float32" and ("float32", max(horizons)) in by:
            r = by[(d, max(horizons))]
            r["speedup_vs_float32"] = by[("float32", max(horizons))]["step_s"] / r["step_s"]
    save(rows, [])
    print(H.table(rows, ["dtype", "K", "B", "params", "flops_per_step", "xla_flops", "flops_ratio_vs_K1", "step_s", "compile_s",
                         "tflops_per_s", "fraction_of_peak", "peak", "samples_per_s", "speedup_vs_float32"],
                  f"synthetic train step, {grid} ({H.device_kind()})"))
    print(H.table(rows, ["dtype", "K", "temp_bytes", "argument_bytes", "temp_mib_per_sample", "mib_per_sample"],
                  "memory (compiled.memory_analysis(); per sample = (temp + arguments) / batch)"))
    best = max((r for r in rows if r["fraction_of_peak"] is not None), key=lambda r: r["fraction_of_peak"], default=None)
    if best is not None:
        print(f"best: {best['dtype']} K={best['K']} at {best['fraction_of_peak']:.1%} of {best['peak']} "
              f"(target >= 40% of the bf16 peak: {'met' if best['dtype'] == 'bfloat16' and best['fraction_of_peak'] >= 0.4 else 'MISSED'})")

    if not args.no_profile:
        # the cycle in bf16 where it is fast (GPU), else in the first dtype (bf16 is emulated on a CPU)
        on_gpu = jax.devices()[0].platform == "gpu"
        profile = cycle_profile(args, traj, pde, "bfloat16" if on_gpu and "bfloat16" in dtypes else dtypes[0])
        print(H.table(profile, ["phase", "dtype", "seconds", "epochs", "per_epoch_s"],
                      f"steady hybrid cycle with {args.profile_epochs} epochs per model ({H.device_kind()})"))
        save(rows, profile)

