"""Network training against PyTorch: hybrid_jax's synthetic train step and the same UNet's PyTorch step, whole step or per layer.

A step: gather a batch of windows, K-step rollout of the UNet (next-state prediction), weighted MSE,
backward, Adam. Ours is the library's (``make_train_step`` over ``synthetic_model``; configs/reference/
burgers_2d.yaml with a 2-level UNet, 32 channels at both levels: 56,130 parameters). ``--network orig``
(default): zero padding and ReLU as configs/bench/burgers2d_reduced.yaml, whose counterpart ``torch-orig`` is the
original system's phiml ``u_net`` (2×2 max pooling, bilinear upsampling, [skip, up] concatenation);
``--network like``: circular padding and tanh-GELU, counterpart ``torch-like``, our architecture (2×2 average
pooling, nearest upsampling); both PyTorch forms run. Each framework runs in its own process (torch in ``--torch-python``), all
pinned to ``--cores`` (default 1), the workers alternating for ``--rounds``; per config the median over
rounds of CPU seconds per step (wall too) and ``speed = other / jax`` (> 1: ours faster), compilation
(jax) and the first step (torch) apart, system seconds and page faults per step. ``--baseline DIR``:
another hybrid_jax checkout's step as 'jax-base' in the same rounds. ``--layers``: each 3×3 convolution
alone (forward, input and kernel gradients; ours zero-padded, the library's `circular_correlation` and
plain autodiff of it, on a CPU with YNNPACK on and off) and the other layer types, ours and PyTorch's.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import sys
import time

NAME = "network"
LAYERS = [(2, 32, 1), (32, 32, 1), (32, 32, 2), (64, 32, 1)]  # (in, out, resolution divisor) of the 3×3 convs
N_SIMS, N_FRAMES, CHANNELS, WIDTHS, LR = 6, 20, 2, [32, 32], 1e-4
NETWORKS = {"orig": ("zero", "relu"), "like": ("domain", "gelu")}  # --network -> (network.padding, .activation)


def configs(spec) -> list[dict]:
    return [{"R": r, "B": b, "K": k} for r in spec["resolutions"] for b in spec["batches"] for k in spec["horizons"]]


def time_blocks(run_block, steps: int, repeats: int) -> dict:
    """`repeats` blocks of `steps` steps: median (and min) CPU and wall seconds per step; system seconds and
    minor page faults per step over all blocks."""
    cpu, wall, r0 = [], [], resource.getrusage(resource.RUSAGE_SELF)
    for _ in range(repeats):
        c, w = time.process_time(), time.perf_counter()
        run_block()
        cpu.append((time.process_time() - c) / steps)
        wall.append((time.perf_counter() - w) / steps)
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    return {"cpu_s": statistics.median(cpu), "cpu_min_s": min(cpu), "wall_s": statistics.median(wall),
            "sys_s": (r1.ru_stime - r0.ru_stime) / (steps * repeats),
            "faults": (r1.ru_minflt - r0.ru_minflt) / (steps * repeats)}


def windows(rng, cfg, count):
    return [(rng.integers(0, N_SIMS, cfg["B"]), rng.integers(0, N_FRAMES - cfg["K"], cfg["B"])) for _ in range(count)]


# ----------------------------------------------------------------------------- JAX


def jax_steps(spec) -> list[dict]:
    sys.path.insert(0, os.environ.get("HYBRID_JAX_ROOT") or os.getcwd())  # a --baseline checkout first
    import jax
    import jax.numpy as jnp
    import numpy as np

    from benchmarks import harness as H
    from hybrid_jax.config import load_config
    from hybrid_jax.physics import build_pde
    from hybrid_jax.training.models import synthetic_model
    from hybrid_jax.training.steps import init_state, make_train_step

    out, (padding, activation) = [], NETWORKS[spec["network"]]
    for cfg in configs(spec):
        R, B, K = cfg["R"], cfg["B"], cfg["K"]
        conf = load_config(H.ROOT / "configs" / "reference" / "burgers_2d.yaml", [
            f"physics.resolution=[{R},{R}]", f"network.levels={len(WIDTHS)}", f"network.widths={WIDTHS}",
            f"network.padding={padding}", f"network.activation={activation}", f"trainer.batch_size={B}",
            f"data.rollout_steps={K}", f"data.num_frames={N_FRAMES}", f"data.num_trajectories={N_SIMS}",
            "trainer.synthetic.rollout_curriculum={kind: none}", f"trainer.synthetic.learning_rate={LR}",
            "trainer.synthetic.lr_schedule={kind: constant}"])
        pde = build_pde(conf.physics)
        _, params, predict, tx = synthetic_model(pde, conf)
        step = make_train_step(predict, tx, pde.layout.num_dynamic, K)
        rng = np.random.default_rng(0)
        data = {"real": jnp.asarray(rng.standard_normal((N_SIMS, N_FRAMES, R, R, CHANNELS)), jnp.float32),
                "real_mask": jnp.ones((N_FRAMES, R, R), jnp.float32),
                "generated": jnp.zeros((1, K + 1, R, R, CHANNELS), jnp.float32)}
        batches = [{"source": jnp.zeros(B, jnp.int32), "sim": jnp.asarray(s, jnp.int32), "t": jnp.asarray(t, jnp.int32),
                    "weight": jnp.ones(B, jnp.float32)} for s, t in windows(rng, cfg, 8)]
        state = init_state(params, tx)
        compiled, ct = H.compile_seconds(step, state, data, batches[0])
        block = H.train_steps(compiled, state, data, batches, spec["steps"])
        block()  # warm-up
        out.append({**cfg, "compile_s": ct["trace_lower_s"] + ct["compile_s"],
                    "params": sum(int(x.size) for x in jax.tree.leaves(params)),
                    **time_blocks(block, spec["steps"], spec["repeats"])})
    return out


def jax_layers(spec) -> list[dict]:
    """CPU ms of each layer of ours, compiled once per backend option (on a CPU: YNNPACK and Eigen), alternating."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from hybrid_jax.networks import layers
    from hybrid_jax.networks.unet import upsample

    backends = (("ynn", None), ("eigen", {"xla_cpu_experimental_ynn_fusion_type": ""})) \
        if jax.devices()[0].platform == "cpu" else (("", None),)

    def timed(fn, *a, backends=(("", None),)):
        compiled = {k: jax.jit(fn).lower(*a).compile(compiler_options=o) for k, o in backends}
        blocks = {k: (lambda c=c: [jax.block_until_ready(c(*a)) for _ in range(spec["steps"])]) for k, c in compiled.items()}
        cpu = {k: [] for k in blocks}
        for r in range(spec["repeats"] + 1):
            for k, block in blocks.items():
                ms = time_blocks(block, spec["steps"], 1)["cpu_s"] * 1e3
                cpu[k] += [ms] if r else []
        return {k: statistics.median(v) for k, v in cpu.items()}

    def grads(f):
        return (lambda x, g, *r: jax.vjp(lambda x: f(x, *r), x)[1](g)[0],
                lambda x, g, *r: jax.vjp(lambda *r: f(x, *r), *r)[1](g))

    def zero_padded(x, kernel):
        return jax.lax.conv_general_dilated(x, kernel, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))

    rows, rng, W = [], np.random.default_rng(0), WIDTHS[0]
    for R in spec["resolutions"]:
        for B in spec["batches"]:
            for cin, cout, div in LAYERS:
                r = R // div
                x, g = (jnp.asarray(rng.standard_normal((B, r, r, c)), jnp.float32) for c in (cin, cout))
                w = jnp.asarray(0.1 * rng.standard_normal((3, 3, cin, cout)), jnp.float32)
                for impl, f in (("zero", zero_padded), ("circular ours", layers.circular_correlation),
                                ("circular autodiff", layers._circular_correlation)):
                    bx, bw = grads(f)
                    fwd, dx, dw = (timed(fn, *a, backends=backends) for fn, a in ((f, (x, w)), (bx, (x, g, w)),
                                                                                   (bw, (x, g, w))))
                    rows += [{"impl": f"jax {impl} {be}".strip(), "R": r, "B": B, "layer": f"conv3x3 {cin}->{cout}",
                              "fwd_ms": fwd[be], "bwd_input_ms": dx[be], "bwd_kernel_ms": dw[be]} for be, _ in backends]
            x = jnp.asarray(rng.standard_normal((B, R, R, W)), jnp.float32)
            for name, f, arg in (("gelu-tanh", jax.nn.gelu, x), ("relu", jax.nn.relu, x),
                                 ("avg-pool 2x2", lambda v: v.reshape(B, R // 2, 2, R // 2, 2, W).mean((2, 4)), x),
                                 ("upsample nearest", upsample, x[:, ::2, ::2]),
                                 ("concat skip", lambda v: jnp.concatenate([v, v], -1), x)):
                rows.append({"impl": "jax ours", "R": R, "B": B, "layer": name, "fwd_ms": timed(f, arg)[""],
                             "bwd_input_ms": timed(grads(f)[0], arg, jnp.ones_like(f(arg)))[""]})
    return rows


# ----------------------------------------------------------------------------- PyTorch


def torch_unet(torch, channels: int, widths: list[int], like: bool):
    """The UNet in PyTorch, channels first: like=True ours (circular padding, tanh-GELU, average pooling,
    nearest upsampling, [up, skip]); like=False the original's phiml u_net (zero padding, ReLU, max
    pooling, bilinear upsampling, [skip, up])."""
    nn, F = torch.nn, torch.nn.functional
    pad = "circular" if like else "zeros"

    def act(x):
        return F.gelu(x, approximate="tanh") if like else F.relu(x)

    def block(cin, cout):
        return nn.ModuleList([nn.Conv2d(cin, cout, 3, padding=1, padding_mode=pad),
                              nn.Conv2d(cout, cout, 3, padding=1, padding_mode=pad)])

    class UNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.down = nn.ModuleList([block(a, b) for a, b in zip([channels] + widths, widths)])
            self.up = nn.ModuleList([block(widths[i] + widths[i + 1], widths[i]) for i in range(len(widths) - 1)])
            self.out = nn.Conv2d(widths[0], channels, 1)

        def forward(self, x):
            skips = []
            for i, (a, b) in enumerate(self.down):
                x = act(b(act(a(x if i == 0 else F.avg_pool2d(x, 2) if like else F.max_pool2d(x, 2)))))
                skips.append(x)
            for (a, b), skip in zip(reversed(self.up), reversed(skips[:-1])):
                x = F.interpolate(x, scale_factor=2, mode="nearest" if like else "bilinear")
                x = act(b(act(a(torch.cat([x, skip] if like else [skip, x], 1)))))
            return self.out(x)

    return UNet()


def torch_steps(spec, like: bool) -> list[dict]:
    import numpy as np
    import torch

    out = []
    for cfg in configs(spec):
        R, B, K = cfg["R"], cfg["B"], cfg["K"]
        torch.manual_seed(0)
        model = torch_unet(torch, CHANNELS, WIDTHS, like)
        opt = torch.optim.Adam(model.parameters(), lr=LR)
        rng = np.random.default_rng(0)
        real = torch.from_numpy(rng.standard_normal((N_SIMS, N_FRAMES, CHANNELS, R, R)).astype(np.float32))
        batches = [(torch.from_numpy(s), torch.from_numpy(t)) for s, t in windows(rng, cfg, 8)]
        weight, offsets, holder = torch.ones(B), torch.arange(K + 1), {"i": 0}

        def step():
            sims, ts = batches[holder["i"] % len(batches)]
            holder["i"] += 1
            frames = real[sims[:, None], ts[:, None] + offsets]  # [B, K+1, C, H, W]
            x, preds = frames[:, 0], []
            for _ in range(K):
                x = model(x)
                preds.append(x)
            loss = (weight * ((torch.stack(preds, 1) - frames[:, 1:]) ** 2).mean(dim=(1, 2, 3, 4))).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            return loss

        def block():
            for _ in range(spec["steps"]):
                loss = step()
            loss.item()

        t0 = time.perf_counter()
        step().item()
        first_s = time.perf_counter() - t0
        block()
        out.append({**cfg, "first_step_s": first_s, "params": sum(p.numel() for p in model.parameters()),
                    **time_blocks(block, spec["steps"], spec["repeats"])})
    return out


def torch_layers(spec) -> list[dict]:
    import torch
    import torch.nn.functional as F

    def timed(fn):
        fn()
        return time_blocks(lambda: [fn() for _ in range(spec["steps"])], spec["steps"], spec["repeats"])["cpu_s"] * 1e3

    rows, W = [], WIDTHS[0]
    for R in spec["resolutions"]:
        for B in spec["batches"]:
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
            x = torch.randn(B, W, R, R, requires_grad=True)
            half = torch.randn(B, W, R // 2, R // 2, requires_grad=True)
            for name, f, arg in (("gelu-tanh", lambda v: F.gelu(v, approximate="tanh"), x), ("relu", F.relu, x),
                                 ("avg-pool 2x2", lambda v: F.avg_pool2d(v, 2), x),
                                 ("max-pool 2x2", lambda v: F.max_pool2d(v, 2), x),
                                 ("upsample nearest", lambda v: F.interpolate(v, scale_factor=2, mode="nearest"), half),
                                 ("upsample bilinear", lambda v: F.interpolate(v, scale_factor=2, mode="bilinear"), half),
                                 ("concat skip", lambda v: torch.cat([v, v], 1), x)):
                y = f(arg)
                with torch.no_grad():
                    fwd = timed(lambda: f(arg))
                both = timed(lambda: torch.autograd.grad(f(arg), [arg], torch.ones_like(y)))
                rows.append({"impl": "torch", "R": R, "B": B, "layer": name, "fwd_ms": fwd, "bwd_input_ms": both - fwd})
    return rows


def worker(kind: str, spec: dict) -> list[dict]:
    if kind.startswith("jax"):
        return jax_layers(spec) if spec["layers"] else jax_steps(spec)
    import torch

    torch.set_num_threads(len(os.sched_getaffinity(0)))
    return torch_layers(spec) if spec["layers"] else torch_steps(spec, kind == "torch-like")


# ----------------------------------------------------------------------------- driver


def main(argv=None):
    if argv and argv[0] == "--worker":  # no jax imported before: the torch Python need not have it
        print(json.dumps(worker(argv[1], json.loads(argv[2]))))
        return 0
    import subprocess

    from benchmarks import harness as H
    from hybrid_jax.backend import process_environment

    ap = H.parser(__doc__, NAME)
    ap.set_defaults(cores={1})
    ap.add_argument("--torch-python", default=os.environ.get("HYBRID_JAX_TORCH_PYTHON", sys.executable),
                    help="a Python with torch for the PyTorch workers (default $HYBRID_JAX_TORCH_PYTHON or this one)")
    ap.add_argument("--rounds", type=int, default=None, help="alternating rounds (default 3, --quick 2)")
    ap.add_argument("--steps", type=int, default=None, help="train steps per timed block (default 5, --quick 3)")
    ap.add_argument("--resolutions", type=int, nargs="+", default=None, help="grid sizes (default 32 64, --quick 32)")
    ap.add_argument("--batches", type=int, nargs="+", default=None, help="batch sizes (default 8 16 32, --quick 16)")
    ap.add_argument("--horizons", type=int, nargs="+", default=None, help="rollout steps K (default 1 4, --quick 4)")
    ap.add_argument("--network", choices=NETWORKS, default="orig", help="zero padding + ReLU (orig) or circular + GELU")
    ap.add_argument("--layers", action="store_true", help="per-layer times instead of whole steps")
    ap.add_argument("--baseline", default=None, help="another hybrid_jax checkout: its step as 'jax-base'")
    args = H.parse(ap, argv)
    spec = {"steps": args.steps or H.q(args, 3, 5), "repeats": args.repeats, "network": args.network,
            "resolutions": args.resolutions or H.q(args, [32], [32, 64]), "layers": args.layers,
            "batches": args.batches or H.q(args, [16], [8, 16, 32]), "horizons": args.horizons or H.q(args, [4], [1, 4])}
    rounds = args.rounds or H.q(args, 2, 3)
    env = H.header(NAME, args)
    torch_ok = not args.no_torch and subprocess.run([args.torch_python, "-c", "import torch"],
                                                    capture_output=True).returncode == 0
    kinds = ["jax"] + ["jax-base"] * bool(args.baseline) + ["torch-like", "torch-orig"][args.layers:] * torch_ok
    print(f"workers pinned to cores {sorted(args.cores)}: {', '.join(kinds)}; torch from {args.torch_python}"
          f"{'' if torch_ok else ' (not available: PyTorch skipped)'}", flush=True)
    envs = {"jax": {**H.child_env(), **process_environment()}, "jax-base": H.child_env(HYBRID_JAX_ROOT=str(args.baseline))}

    def run(kind):
        python = args.torch_python if kind.startswith("torch") else sys.executable
        return lambda: H.worker(NAME, "--worker", kind, json.dumps(spec), python=python,
                                env=envs.get(kind, H.child_env()))

    results = H.alternate({k: run(k) for k in kinds}, rounds)
    if args.layers:
        rows = [{**row, **{k: statistics.median(r[i][k] for r in results[kind]) for k in row if k.endswith("_ms")}}
                for kind in kinds for i, row in enumerate(results[kind][0])]
        print(H.table(rows, ["impl", "R", "B", "layer", "fwd_ms", "bwd_input_ms", "bwd_kernel_ms"],
                      f"per layer, CPU ms on cores {sorted(args.cores)}, median of {rounds} rounds"))
        H.write_json(NAME + "-layers", args, env, {"cores": sorted(args.cores), "rounds": rounds, "rows": rows})
        return 0
    rows = []
    for i, cfg in enumerate(configs(spec)):
        row = dict(cfg)
        for kind in kinds:
            per = [r[i] for r in results[kind]]
            row |= {f"{kind} {c.replace('cpu_', '').replace('_s', ' s')}": statistics.median(p[c] for p in per)
                    for c in ("cpu_s", "wall_s", "sys_s", "faults")}
            row[f"{kind} rounds"] = [p["cpu_s"] for p in per]
            if kind.startswith("jax"):
                row[f"{kind} compile s"] = statistics.median(p["compile_s"] for p in per)
        row |= {f"speed vs {k}": row[f"{k} s"] / row["jax s"] for k in kinds[1:]}
        rows.append(row)
    cols = ["R", "B", "K", "jax s", *[f"{k} s" for k in kinds[1:]], *[f"speed vs {k}" for k in kinds[1:]],
            *[f"{k} compile s" for k in kinds if k.startswith("jax")], *[f"{k} sys s" for k in kinds],
            *[f"{k} faults" for k in kinds]]
    print(H.table(rows, cols, f"train step, CPU s per step on cores {sorted(args.cores)}, median of {rounds} rounds "
                              "(speed = other / jax: > 1 means this hybrid_jax is faster)"))
    H.write_json(NAME, args, env, {"cores": sorted(args.cores), "rounds": rounds, "spec": spec,
                                   "params": results["jax"][0][0]["params"], "rows": rows})
    return 0
