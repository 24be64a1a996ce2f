"""Physical rollout throughput (sample-steps/s): hybrid_jax's batched rollout against the design note's per-sample PhiFlow/PyTorch loop.

2D viscous Burgers (MacCormack + explicit diffusion substeps), 10 steps from B initial states. Ours: one
``jax.jit(rollout(batched_physics_step(pde, params), x0, 10))`` over the batch (PhiFlow's JAX backend).
Baseline: the note's ``_generate_physical_predictions``, PhiFlow on its PyTorch backend, one sample at a
time under ``torch.no_grad()``, the same scheme; timed on ``--baseline-samples`` states (a sequential loop:
its rate does not depend on B). Also PhiFlow/PyTorch on the whole batch, eager, to separate the gain of
batching from that of compilation, and the agreement of the two implementations.
"""

from __future__ import annotations

import jax
import numpy as np

from benchmarks import harness as H
from hybrid_jax.physics import build_pde
from hybrid_jax.rollout import batched_physics_step, rollout

NAME = "generation"


# ----------------------------------------------------------------------------- PyTorch baseline


def make_torch_baseline(torch, device: str, cfg):
    """The note's per-sample generation loop, PhiFlow on its PyTorch backend."""
    from phi import math
    from phi.flow import Box, CenteredGrid, advect, channel, diffuse, extrapolation, spatial
    from phiml.backend.torch import TORCH

    p = cfg.physics
    names = "x,y"
    bounds = Box(x=p.domain[0], y=p.domain[1])
    nu = p.viscosity.true

    def step(u):  # CenteredGrid -> CenteredGrid
        u = advect.mac_cormack(u, u, p.dt)
        return diffuse.explicit(u, nu, p.dt, substeps=p.substeps)

    def to_grid(x):  # [*spatial, 2] or [B, *spatial, 2] native -> grid
        shape = (math.batch("b"),) if x.ndim == 4 else ()
        return CenteredGrid(math.tensor(x, *shape, spatial(names), channel(vector=names)),
                            extrapolation.PERIODIC, bounds=bounds)

    def per_sample(x0s, steps):
        """x0s: list of native [*spatial, 2]; returns a list of [steps, *spatial, 2] trajectories."""
        out = []
        with TORCH, torch.no_grad():
            for x0 in x0s:
                u = to_grid(x0)
                frames = []
                for _ in range(steps):
                    u = step(u)
                    frames.append(u.values.native("x,y,vector"))
                out.append(torch.stack(frames, 0))
        H.torch_sync(torch, device)
        return out

    def batched(x0, steps):
        """x0: native [B, *spatial, 2]; returns [B, steps, *spatial, 2]."""
        with TORCH, torch.no_grad():
            u = to_grid(x0)
            frames = []
            for _ in range(steps):
                u = step(u)
                frames.append(u.values.native("b,x,y,vector"))
            out = torch.stack(frames, 1)
        H.torch_sync(torch, device)
        return out

    return per_sample, batched


# ----------------------------------------------------------------------------- main


def main(argv=None):
    ap = H.parser(__doc__, NAME)
    ap.add_argument("--resolutions", type=int, nargs="+", default=None, help="grid sizes n (n² cells); default 64 128")
    ap.add_argument("--batches", type=int, nargs="+", default=None, help="initial states per rollout; default 16 32 64")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--baseline-samples", type=int, default=None,
                    help="states the per-sample baseline is timed on (default 4, --quick 2)")
    args = H.parse(ap, argv)
    resolutions = args.resolutions or ([64] if args.quick else [64, 128])
    batches = args.batches or ([16] if args.quick else [16, 32, 64])
    n_base = args.baseline_samples or (2 if args.quick else 4)
    base_repeats = min(args.repeats, 3)
    env = H.header(NAME, args)
    torch, torch_note = H.import_torch(args)
    print(torch_note, flush=True)
    tdev = H.torch_device(torch) if torch else None

    rows, checks = [], []
    for n in resolutions:
        cfg = H.smoke_at(n)
        pde = build_pde(cfg.physics)
        params = pde.true_params()
        gen = jax.jit(lambda params, x0: rollout(batched_physics_step(pde, params), x0, args.steps))
        jax_rates = {}
        for b in batches:
            x0 = pde.sample_initial_state(jax.random.PRNGKey(b), b)
            compiled, ct = H.compile_seconds(gen, params, x0)
            t = H.repeat(lambda: H.block(compiled(params, x0)), args.warmup, args.repeats)
            rate = b * args.steps / t["median_s"]
            jax_rates[b] = rate
            rows.append({"impl": "hybrid_jax vmap+jit", "grid": f"{n}x{n}", "substeps": cfg.physics.substeps,
                         "B": b, "median_s": t["median_s"], "min_s": t["min_s"], "compile_s": ct["compile_s"],
                         "trace_s": ct["trace_lower_s"], "sample_steps_per_s": rate, "timing": t})
            print(H.table(rows[-1:], ["impl", "grid", "B", "median_s", "min_s", "compile_s", "sample_steps_per_s"]),
                  flush=True)

        if torch is None:
            continue
        x0 = pde.sample_initial_state(jax.random.PRNGKey(batches[0]), max(batches[0], n_base))
        x0_np = np.asarray(x0)
        subset = [torch.from_numpy(x0_np[i].copy()).to(tdev) for i in range(n_base)]
        per_sample, batched = make_torch_baseline(torch, tdev, cfg)
        t = H.repeat(lambda: per_sample(subset, args.steps), min(args.warmup, 1), base_repeats)
        base_rate = n_base * args.steps / t["median_s"]
        rows.append({"impl": "phiflow-torch per-sample (note)", "grid": f"{n}x{n}", "substeps": cfg.physics.substeps,
                     "B": n_base, "median_s": t["median_s"], "min_s": t["min_s"], "sample_steps_per_s": base_rate,
                     "timing": t})
        # agreement of the two implementations on the subset (same scheme, float32)
        ref = np.stack([np.asarray(tr.cpu()) for tr in per_sample(subset, args.steps)])
        ours = np.asarray(gen(params, x0[:n_base]))
        rel = float(np.max(np.abs(ours - ref)) / np.max(np.abs(ref)))
        checks.append({"grid": f"{n}x{n}", "max_abs_diff_over_max_abs": rel})
        xb = torch.from_numpy(np.asarray(x0[: batches[0]]).copy()).to(tdev)
        tb = H.repeat(lambda: batched(xb, args.steps), min(args.warmup, 1), base_repeats)
        rows.append({"impl": "phiflow-torch batched (eager)", "grid": f"{n}x{n}", "substeps": cfg.physics.substeps,
                     "B": batches[0], "median_s": tb["median_s"], "min_s": tb["min_s"],
                     "sample_steps_per_s": batches[0] * args.steps / tb["median_s"], "timing": tb})
        for b, rate in jax_rates.items():
            rows.append({"impl": f"ratio hybrid_jax(B={b}) / per-sample", "grid": f"{n}x{n}", "B": b,
                         "speedup": rate / base_rate})
        print(H.table(rows[-(2 + len(jax_rates)):], ["impl", "grid", "B", "median_s", "min_s", "sample_steps_per_s",
                                                     "speedup"]), flush=True)

    cols = ["impl", "grid", "substeps", "B", "median_s", "min_s", "compile_s", "sample_steps_per_s", "speedup"]
    print(H.table(rows, cols, f"Physical rollout, 2D Burgers, {args.steps} steps ({H.device_kind()})"))
    for c in checks:
        print(f"agreement {c['grid']}: max|jax - torch| / max|torch| = {c['max_abs_diff_over_max_abs']:.2e}")
    target = [r["speedup"] for r in rows if "speedup" in r and r["grid"] == "64x64"]
    if target:
        print(f"target >= 10x at 64x64: {'met' if min(target) >= 10 else 'MISSED'} "
              f"(min {min(target):.1f}x, max {max(target):.1f}x)")
    H.write_json(NAME, args, env, {"steps": args.steps, "baseline_samples": n_base, "torch": torch_note,
                                   "rows": rows, "agreement": checks})

