"""Network training on one CPU core: hybrid_jax's synthetic train step against PyTorch, whole step and per layer.

The step is the library's own (``training.steps.make_train_step`` over ``training.models.synthetic_model``:
gather a batch of windows, K-step rollout of the UNet, weighted masked MSE, backward, Adam) for the reduced
2D Burgers experiment's network: a 2-level UNet, 32 channels at both levels (56,130 parameters), 3×3
kernels, 2 fields in and out, next-state prediction; ``--network orig`` (default) with zero padding and
ReLU as configs/bench/burgers2d_reduced.yaml, ``--network like`` with circular padding and tanh-GELU.
PyTorch runs the same step eagerly, in two forms:

- ``torch-like``: our default architecture (circular padding, tanh-GELU, 2×2 average pooling, nearest
  upsampling): the counterpart of ``--network like``;
- ``torch-orig``: the original system's (phiml ``u_net(levels=2, filters=32, batch_norm=False)`` as its
  UNet builds it: zero padding, ReLU, 2×2 max pooling, bilinear upsampling, [skip, up] concatenation):
  the counterpart of ``--network orig``, which differs from it only in pooling and upsampling.

The frameworks run in separate processes (torch need not share JAX's environment: ``--torch-python``),
each pinned with ``taskset -c CORE`` to one core (XLA sizes its thread pool from the affinity; torch gets
``set_num_threads(1)``), alternating jax, torch-like, torch-orig for ``--rounds`` rounds. Times are
process CPU seconds per step (on one pinned core the work done, which other processes' load does not
inflate the way it inflates wall time; wall time is recorded too). Per config: the median over rounds of
each round's median, and ``speed = torch time / jax time`` (> 1: ours is faster). Compilation (jax) and
the first step (torch) are reported apart from the steady state.

``--layers`` times each convolution of the UNet alone (forward, input gradient, kernel gradient) and the
other layer types, for ours (zero padding: flax's SAME convolution; circular: the library's
`circular_correlation`, and plain autodiff of the same SAME-form convolution), each compiled twice in the
same process, as XLA:CPU runs it by default (YNNPACK) and with YNNPACK off (Eigen), and for PyTorch
(circular and zero padding). Every worker also reports system (kernel) seconds and minor page faults per
step: XLA's per-execution temporary buffer is the large term. The 'jax' worker runs under the variables
hybrid_jax's command line sets (`hybrid_jax.backend.process_environment`: malloc's huge pages among them);
'jax-base' and PyTorch under this process's.

``--baseline DIR`` adds another hybrid_jax checkout's step to the rounds ('jax-base'), for before/after figures.

Run: ``python benchmarks/bench_network_cpu.py --torch-python /work/orig/venv/bin/python [--core 1] [--quick]
[--network orig|like] [--baseline /tmp/hybrid_jax_before] [--layers]``
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

NAME = "bench_network_cpu"
HERE = Path(__file__).resolve()
ARCHS = ("jax", "jax-base", "torch-like", "torch-orig")
LAYERS = [(2, 32, 1), (32, 32, 1), (32, 32, 2), (64, 32, 1)]  # (in, out, resolution divisor) of the 3×3 convs
N_SIMS, N_FRAMES, CHANNELS, WIDTH, LR = 6, 20, 2, 32, 1e-4
NETWORKS = {"orig": ("zero", "relu"), "like": ("domain", "gelu")}  # --network -> (network.padding, .activation)


def _configs(args) -> list[dict]:
    return [{"R": r, "B": b, "K": k} for r in args.resolutions for b in args.batches for k in args.horizons]


def _time_blocks(run_block, steps: int, repeats: int) -> dict:
    """`repeats` blocks of `steps` steps: median and min seconds per step, CPU and wall; the system
    (kernel) share of the CPU time and minor page faults per step over all blocks."""
    import resource

    cpu, wall = [], []
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    for _ in range(repeats):
        c, w = time.process_time(), time.perf_counter()
        run_block()
        cpu.append((time.process_time() - c) / steps)
        wall.append((time.perf_counter() - w) / steps)
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    return {"cpu_s": statistics.median(cpu), "cpu_min_s": min(cpu), "wall_s": statistics.median(wall),
            "sys_s": (r1.ru_stime - r0.ru_stime) / (steps * repeats),
            "faults": (r1.ru_minflt - r0.ru_minflt) / (steps * repeats)}


def _windows(rng, cfg, count):
    return [(rng.integers(0, N_SIMS, cfg["B"]), rng.integers(0, N_FRAMES - cfg["K"], cfg["B"])) for _ in range(count)]


# ----------------------------------------------------------------------------- JAX worker


def jax_worker(args) -> list[dict]:
    import _common as C
    import jax
    import jax.numpy as jnp
    import numpy as np

    sys.path.insert(0, os.environ.get("HYBRID_JAX_ROOT") or str(HERE.parent.parent))
    from hybrid_jax.config import load_config
    from hybrid_jax.physics import build_pde
    from hybrid_jax.training.models import synthetic_model
    from hybrid_jax.training.steps import init_state, make_train_step

    out = []
    padding, activation = NETWORKS[args.network]
    for cfg in _configs(args):
        R, B, K = cfg["R"], cfg["B"], cfg["K"]
        conf = load_config(HERE.parent.parent / "configs" / "reference" / "burgers_2d.yaml", [
            f"physics.resolution=[{R},{R}]", "network.levels=2", f"network.widths=[{WIDTH},{WIDTH}]",
            f"network.padding={padding}", f"network.activation={activation}",
            f"trainer.batch_size={B}", f"data.rollout_steps={K}", f"data.num_frames={N_FRAMES}",
            f"data.num_trajectories={N_SIMS}", "trainer.synthetic.rollout_curriculum={kind: none}",
            f"trainer.synthetic.learning_rate={LR}", "trainer.synthetic.lr_schedule={kind: constant}"])
        pde = build_pde(conf.physics)
        _, params, predict, tx = synthetic_model(pde, conf)
        step = make_train_step(predict, tx, pde.layout.num_dynamic, K)
        rng = np.random.default_rng(0)
        real = jnp.asarray(rng.standard_normal((N_SIMS, N_FRAMES, R, R, CHANNELS)), jnp.float32)
        data = {"real": real, "real_mask": jnp.ones((N_FRAMES, R, R), jnp.float32),
                "generated": jnp.zeros((1, K + 1, R, R, CHANNELS), jnp.float32)}
        batches = [{"source": jnp.zeros(B, jnp.int32), "sim": jnp.asarray(s, jnp.int32), "t": jnp.asarray(t, jnp.int32),
                    "weight": jnp.ones(B, jnp.float32)} for s, t in _windows(rng, cfg, 8)]
        state = init_state(params, tx)
        t0 = time.perf_counter()
        compiled = step.lower(state, data, batches[0]).compile()
        compile_s = time.perf_counter() - t0
        block = C.train_steps(compiled, state, data, batches, args.steps)
        block()  # warm-up
        out.append({**cfg, "compile_s": compile_s, "params": sum(int(x.size) for x in jax.tree.leaves(params)),
                    **_time_blocks(block, args.steps, args.repeats)})
        print(f"  jax {cfg}: {out[-1]['cpu_s']:.4f} s/step, {out[-1]['faults']:.0f} page faults/step", file=sys.stderr,
              flush=True)
    return out


def jax_layers(args) -> list[dict]:
    """Per-layer times of ours: each 3×3 convolution's forward, input and kernel gradients (zero padding:
    flax's SAME convolution; circular: the library's `circular_correlation` and plain autodiff of its SAME
    form), as XLA:CPU compiles them by default (YNNPACK) and with YNNPACK off (Eigen), alternating; the
    other layer types."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    sys.path.insert(0, str(HERE.parent.parent))
    from hybrid_jax.networks import layers
    from hybrid_jax.networks.unet import upsample

    def timed(fn, *a, backends=(("", None),)):
        """CPU ms per call of `fn` compiled once per (suffix, compiler options), timed alternately."""
        compiled = {k: jax.jit(fn).lower(*a).compile(compiler_options=opts) for k, opts in backends}
        blocks = {k: (lambda c=c: [jax.block_until_ready(c(*a)) for _ in range(args.steps)]) for k, c in compiled.items()}
        for block in blocks.values():
            block()
        cpu = {k: [] for k in blocks}
        for _ in range(args.repeats):
            for k, block in blocks.items():
                cpu[k].append(_time_blocks(block, args.steps, 1)["cpu_s"] * 1e3)
        return {k: statistics.median(v) for k, v in cpu.items()}

    def grads(f, x, *rest):
        return (lambda x, g, *r: jax.vjp(lambda x: f(x, *r), x)[1](g)[0],
                lambda x, g, *r: jax.vjp(lambda *r: f(x, *r), *r)[1](g))

    def zero_padded(x, kernel):
        return jax.lax.conv_general_dilated(x, kernel, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))

    backends = (("ynn", None), ("eigen", {"xla_cpu_experimental_ynn_fusion_type": ""}))
    rows, rng = [], np.random.default_rng(0)
    for R in args.resolutions:
        for B in args.batches:
            for cin, cout, div in LAYERS:
                r = R // div
                x = jnp.asarray(rng.standard_normal((B, r, r, cin)), jnp.float32)
                w = jnp.asarray(0.1 * rng.standard_normal((3, 3, cin, cout)), jnp.float32)
                g = jnp.asarray(rng.standard_normal((B, r, r, cout)), jnp.float32)
                for impl, f in (("zero", zero_padded), ("circular ours", layers.circular_correlation),
                                ("circular autodiff", layers._circular_correlation)):
                    bx, bw = grads(f, x, w)
                    fwd, dx, dw = timed(f, x, w, backends=backends), timed(bx, x, g, w, backends=backends), timed(
                        bw, x, g, w, backends=backends)
                    for be, _ in backends:
                        rows.append({"impl": f"jax {impl} {be}", "R": r, "B": B, "layer": f"conv3x3 {cin}->{cout}",
                                     "fwd_ms": fwd[be], "bwd_input_ms": dx[be], "bwd_kernel_ms": dw[be]})
            x = jnp.asarray(rng.standard_normal((B, R, R, WIDTH)), jnp.float32)
            half = x[:, ::2, ::2]
            for name, f, arg in (("gelu-tanh", jax.nn.gelu, x), ("relu", jax.nn.relu, x), ("avg-pool 2x2", lambda v: v.reshape(
                    B, R // 2, 2, R // 2, 2, WIDTH).mean((2, 4)), x), ("upsample nearest", upsample, half),
                    ("concat skip", lambda v: jnp.concatenate([v, v], -1), x)):
                y = f(arg)
                rows.append({"impl": "jax ours", "R": R, "B": B, "layer": name, "fwd_ms": timed(f, arg)[""],
                             "bwd_input_ms": timed(grads(f, arg)[0], arg, jnp.ones_like(y))[""]})
    return rows


# ----------------------------------------------------------------------------- PyTorch worker


def torch_unet(torch, arch: str):
    """The UNet of `arch` ('like': ours; 'orig': the original's phiml u_net), channels first."""
    nn, F = torch.nn, torch.nn.functional
    like = arch == "like"
    pad = "circular" if like else "zeros"

    def act(x):
        return F.gelu(x, approximate="tanh") if like else F.relu(x)

    class Block(nn.Module):
        def __init__(self, cin, cout):
            super().__init__()
            self.a = nn.Conv2d(cin, cout, 3, padding=1, padding_mode=pad)
            self.b = nn.Conv2d(cout, cout, 3, padding=1, padding_mode=pad)

        def forward(self, x):
            return act(self.b(act(self.a(x))))

    class UNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.inc, self.down, self.up = Block(CHANNELS, WIDTH), Block(WIDTH, WIDTH), Block(2 * WIDTH, WIDTH)
            self.out = nn.Conv2d(WIDTH, CHANNELS, 1)

        def forward(self, x):
            skip = self.inc(x)
            low = self.down(F.avg_pool2d(skip, 2) if like else F.max_pool2d(skip, 2))
            if like:
                return self.out(self.up(torch.cat([F.interpolate(low, scale_factor=2, mode="nearest"), skip], 1)))
            return self.out(self.up(torch.cat([skip, F.interpolate(low, scale_factor=2, mode="bilinear")], 1)))

    return UNet()


def torch_worker(args, arch: str) -> list[dict]:
    import numpy as np
    import torch

    torch.set_num_threads(1)
    out = []
    for cfg in _configs(args):
        R, B, K = cfg["R"], cfg["B"], cfg["K"]
        torch.manual_seed(0)
        model = torch_unet(torch, arch)
        opt = torch.optim.Adam(model.parameters(), lr=LR)
        rng = np.random.default_rng(0)
        real = torch.from_numpy(rng.standard_normal((N_SIMS, N_FRAMES, CHANNELS, R, R)).astype(np.float32))
        windows = [(torch.from_numpy(s), torch.from_numpy(t)) for s, t in _windows(rng, cfg, 8)]
        weight, offsets, holder = torch.ones(B), torch.arange(K + 1), {"i": 0}

        def step():
            sims, ts = windows[holder["i"] % len(windows)]
            holder["i"] += 1
            frames = real[sims[:, None], ts[:, None] + offsets]  # [B, K+1, C, H, W]
            x, preds = frames[:, 0], []
            for _ in range(K):
                x = model(x)
                preds.append(x)
            per_sample = ((torch.stack(preds, 1) - frames[:, 1:]) ** 2).mean(dim=(1, 2, 3, 4))
            loss = (weight * per_sample).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            return loss

        def block():
            for _ in range(args.steps):
                loss = step()
            loss.item()

        t0 = time.perf_counter()
        step().item()
        first_s = time.perf_counter() - t0
        block()
        out.append({**cfg, "first_step_s": first_s, "params": sum(p.numel() for p in model.parameters()),
                    **_time_blocks(block, args.steps, args.repeats)})
        print(f"  torch-{arch} {cfg}: {out[-1]['cpu_s']:.4f} s/step", file=sys.stderr, flush=True)
    return out


def torch_layers(args) -> list[dict]:
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(1)

    def timed(fn):
        fn()
        return _time_blocks(lambda: [fn() for _ in range(args.steps)], args.steps, args.repeats)["cpu_s"] * 1e3

    rows = []
    for R in args.resolutions:
        for B in args.batches:
            for cin, cout, div in LAYERS:
                r = R // div
                for pad in ("circular", "zeros"):
                    conv = torch.nn.Conv2d(cin, cout, 3, padding=1, padding_mode=pad)
                    x, g = torch.randn(B, cin, r, r, requires_grad=True), torch.randn(B, cout, r, r)
                    with torch.no_grad():
                        fwd = timed(lambda: conv(x))
                    fx = timed(lambda: torch.autograd.grad(conv(x), [x], g))
                    fw = timed(lambda: torch.autograd.grad(conv(x.detach()), [conv.weight, conv.bias], g))
                    rows.append({"impl": f"torch {pad}", "R": r, "B": B, "layer": f"conv3x3 {cin}->{cout}",
                                 "fwd_ms": fwd, "bwd_input_ms": fx - fwd, "bwd_kernel_ms": fw - fwd})
            x = torch.randn(B, WIDTH, R, R, requires_grad=True)
            half = torch.randn(B, WIDTH, R // 2, R // 2, requires_grad=True)
            for name, f, arg in (("gelu-tanh", lambda v: F.gelu(v, approximate="tanh"), x), ("relu", F.relu, x),
                                 ("avg-pool 2x2", lambda v: F.avg_pool2d(v, 2), x), ("max-pool 2x2",
                                 lambda v: F.max_pool2d(v, 2), x), ("upsample nearest", lambda v: F.interpolate(
                                     v, scale_factor=2, mode="nearest"), half), ("upsample bilinear",
                                 lambda v: F.interpolate(v, scale_factor=2, mode="bilinear"), half),
                                 ("concat skip", lambda v: torch.cat([v, v], 1), x)):
                y = f(arg)
                with torch.no_grad():
                    fwd = timed(lambda: f(arg))
                both = timed(lambda: torch.autograd.grad(f(arg), [arg], torch.ones_like(y)))
                rows.append({"impl": "torch", "R": R, "B": B, "layer": name, "fwd_ms": fwd, "bwd_input_ms": both - fwd})
    return rows


# ----------------------------------------------------------------------------- driver


def _run_worker(args, kind: str) -> list[dict]:
    """One worker process, pinned; 'jax' runs under the variables hybrid_jax's command line sets
    (`backend.process_environment`: the malloc setting among them), the others under this process's."""
    from hybrid_jax.backend import process_environment

    python = args.torch_python if kind.startswith("torch") else sys.executable
    env = {**os.environ, **(process_environment() if kind == "jax" else {}), "PYTHONWARNINGS": "ignore",
           "HYBRID_JAX_ROOT": str(args.baseline) if kind == "jax-base" else ""}
    cmd = ["taskset", "-c", str(args.core), python, str(HERE), "--worker", kind, "--steps", str(args.steps),
           "--repeats", str(args.repeats), "--resolutions", *map(str, args.resolutions),
           "--batches", *map(str, args.batches), "--horizons", *map(str, args.horizons), "--network", args.network] + (
              ["--layers"] if args.layers else [])
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"{kind} worker failed (exit {proc.returncode}): {' '.join(cmd)}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _torch_available(python: str) -> bool:
    return subprocess.run([python, "-c", "import torch"], capture_output=True).returncode == 0


def main():
    import _common as C

    ap = C.parser(__doc__.splitlines()[0])
    ap.add_argument("--torch-python", default=os.environ.get("HYBRID_JAX_TORCH_PYTHON", sys.executable),
                    help="a Python with torch for the PyTorch workers (default: $HYBRID_JAX_TORCH_PYTHON or this one)")
    ap.add_argument("--core", type=int, default=1, help="the CPU core every worker is pinned to (taskset -c)")
    ap.add_argument("--rounds", type=int, default=None, help="alternating rounds jax/torch-like/torch-orig (default 3, --quick 2)")
    ap.add_argument("--steps", type=int, default=None, help="train steps per timed block (default 5, --quick 3)")
    ap.add_argument("--resolutions", type=int, nargs="+", default=None, help="grid sizes (default 32 64, --quick 32)")
    ap.add_argument("--batches", type=int, nargs="+", default=None, help="batch sizes (default 8 16 32, --quick 16)")
    ap.add_argument("--horizons", type=int, nargs="+", default=None, help="rollout steps K (default 1 4, --quick 4)")
    ap.add_argument("--network", choices=NETWORKS, default="orig",
                    help="ours with zero padding and ReLU as the reduced experiment (orig, default) or circular "
                         "padding and tanh-GELU (like)")
    ap.add_argument("--layers", action="store_true", help="per-layer times instead of whole steps")
    ap.add_argument("--baseline", type=Path, default=None,
                    help="a checkout of another hybrid_jax version (e.g. `git archive REV | tar -x -C DIR`): its "
                         "step runs as 'jax-base' in the same rounds (before/after of a change)")
    args = C.finish_args(ap.parse_args())
    args.rounds = args.rounds or (2 if args.quick else 3)
    args.steps = args.steps or (3 if args.quick else 5)
    args.resolutions = args.resolutions or ([32] if args.quick else [32, 64])
    args.batches = args.batches or ([16] if args.quick else [8, 16, 32])
    args.horizons = args.horizons or ([4] if args.quick else [1, 4])
    env = C.header(NAME, args)
    have_torch = not args.no_torch and _torch_available(args.torch_python)
    kinds = ["jax"] + (["jax-base"] if args.baseline else []) + (["torch-like", "torch-orig"] if have_torch else [])
    if args.layers:
        kinds = ["jax"] + (["torch-like"] if have_torch else [])  # torch-like's worker times both paddings
    print(f"workers pinned to core {args.core}: {', '.join(kinds)}; torch from {args.torch_python}"
          f"{'' if have_torch else ' (not available: PyTorch skipped)'}", flush=True)
    results = {k: [] for k in kinds}
    for rnd in range(args.rounds):
        for kind in kinds:
            print(f"round {rnd + 1}/{args.rounds}: {kind}", flush=True)
            results[kind].append(_run_worker(args, kind))

    if args.layers:
        rows = []
        for kind in kinds:
            for i, row in enumerate(results[kind][0]):
                keys = [k for k in row if k.endswith("_ms")]
                rows.append({**row, **{k: statistics.median(r[i][k] for r in results[kind]) for k in keys}})
        print(C.table(rows, ["impl", "R", "B", "layer", "fwd_ms", "bwd_input_ms", "bwd_kernel_ms"],
                      f"per layer, CPU ms on core {args.core}, median of {args.rounds} rounds"))
        C.write_json(NAME + "-layers", args, env, {"core": args.core, "rounds": args.rounds, "rows": rows})
        return

    rows = []
    for i, cfg in enumerate(_configs(args)):
        row = {**cfg}
        for kind in kinds:
            per_round = [r[i] for r in results[kind]]
            row[f"{kind} s"] = statistics.median(p["cpu_s"] for p in per_round)
            row[f"{kind} wall s"] = statistics.median(p["wall_s"] for p in per_round)
            row[f"{kind} rounds"] = [p["cpu_s"] for p in per_round]
            row[f"{kind} sys s"] = statistics.median(p["sys_s"] for p in per_round)
            row[f"{kind} faults"] = statistics.median(p["faults"] for p in per_round)
        for kind in [k for k in kinds if k.startswith("jax")]:
            row[f"{kind} compile s"] = statistics.median(r[i]["compile_s"] for r in results[kind])
        for kind in kinds[1:]:
            row[f"speed vs {kind}"] = row[f"{kind} s"] / row["jax s"]
        rows.append(row)
    cols = ["R", "B", "K", "jax s", *[f"{k} s" for k in kinds[1:]], *[f"speed vs {k}" for k in kinds[1:]],
            *[f"{k} compile s" for k in kinds if k.startswith("jax")], *[f"{k} sys s" for k in kinds],
            *[f"{k} faults" for k in kinds]]
    print(C.table(rows, cols, f"train step, CPU s per step on core {args.core}, median of {args.rounds} rounds "
                              "(speed = other / jax: > 1 means this hybrid_jax is faster)"))
    C.write_json(NAME, args, env, {"core": args.core, "rounds": args.rounds, "steps_per_block": args.steps,
                                   "params": results["jax"][0][0]["params"], "rows": rows})


if __name__ == "__main__":
    if "--worker" in sys.argv:
        import argparse

        wp = argparse.ArgumentParser()
        wp.add_argument("--worker", choices=ARCHS)
        wp.add_argument("--steps", type=int)
        wp.add_argument("--repeats", type=int)
        wp.add_argument("--resolutions", type=int, nargs="+")
        wp.add_argument("--batches", type=int, nargs="+")
        wp.add_argument("--horizons", type=int, nargs="+")
        wp.add_argument("--network", choices=NETWORKS)
        wp.add_argument("--layers", action="store_true")
        wargs = wp.parse_args()
        if wargs.worker.startswith("jax"):
            result = jax_layers(wargs) if wargs.layers else jax_worker(wargs)
        else:
            result = torch_layers(wargs) if wargs.layers else torch_worker(wargs, wargs.worker.split("-")[1])
        print(json.dumps(result))
    else:
        main()
