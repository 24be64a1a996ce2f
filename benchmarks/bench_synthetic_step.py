"""Synthetic-model training throughput (samples/s): hybrid_jax's jitted step vs the same UNet in PyTorch.

One training step = gather a batch of windows on the device, K-step autoregressive rollout of
the UNet (residual prediction), weighted masked MSE over the K steps, backward, Adam update.

- hybrid_jax: ``training.steps.make_train_step`` over ``training.models.synthetic_model`` (Flax NNX
  UNet of ``networks/unet.py``, the library's own jitted step with its NaN guard).
- PyTorch: the same architecture written here (levels, filters, 3×3 kernels, circular padding,
  tanh-GELU as ``nnx.gelu``'s default, 2×2 average pooling, nearest upsampling, concatenated
  skips, 1×1 output convolution), channels-first as PyTorch users write it, eager, ``torch.optim.Adam``.
  PyTorch's intra-op threads are set to the number of cores XLA's CPU backend uses.

The timed repeats alternate (JAX, PyTorch, JAX, ...) so that both see the same machine load;
PyTorch's OpenMP threads slow down by up to 10× when other processes compete for the cores.

Run: ``python benchmarks/bench_synthetic_step.py [--quick] [--resolution 64] [--batch 16] [--horizon 4]``
"""

from __future__ import annotations

import statistics

import _common as C

import jax
import jax.numpy as jnp
import numpy as np

from hybrid_jax.config import load_config
from hybrid_jax.physics import build_pde
from hybrid_jax.training.models import synthetic_model
from hybrid_jax.training.steps import init_state, make_train_step

NAME = "bench_synthetic_step"


def config(args):
    return load_config(C.ROOT / "configs" / "smoke.yaml", [
        f"physics.resolution=[{args.resolution},{args.resolution}]", "physics.substeps=8",
        f"data.rollout_steps={args.horizon}", f"data.num_frames={args.frames}",
        f"network.levels={args.levels}", f"network.filters={args.filters}", f"trainer.batch_size={args.batch}"])


def index_batches(rng, n_sims, n_frames, horizon, batch, count):
    return [{"source": np.zeros(batch, np.int32), "sim": rng.integers(0, n_sims, batch).astype(np.int32),
             "t": rng.integers(0, n_frames - horizon, batch).astype(np.int32), "weight": np.ones(batch, np.float32)}
            for _ in range(count)]


# ----------------------------------------------------------------------------- PyTorch UNet


def torch_unet(torch, in_ch, out_ch, levels, filters, kernel_size):
    nn, F = torch.nn, torch.nn.functional

    class Block(nn.Module):
        def __init__(self, cin, cout):
            super().__init__()
            pad = kernel_size // 2
            self.a = nn.Conv2d(cin, cout, kernel_size, padding=pad, padding_mode="circular")
            self.b = nn.Conv2d(cout, cout, kernel_size, padding=pad, padding_mode="circular")

        def forward(self, x):
            return F.gelu(self.b(F.gelu(self.a(x), approximate="tanh")), approximate="tanh")

    class UNet(nn.Module):
        def __init__(self):
            super().__init__()
            widths = [filters * 2**i for i in range(levels)]
            self.down = nn.ModuleList([Block(a, b) for a, b in zip([in_ch] + widths, widths)])
            self.up = nn.ModuleList([Block(widths[i] + widths[i + 1], widths[i]) for i in range(levels - 1)])
            self.out = nn.Conv2d(widths[0], out_ch, 1)

        def forward(self, x):  # [B, C, H, W]
            skips = []
            for i, block in enumerate(self.down):
                if i:
                    x = F.avg_pool2d(x, 2)
                x = block(x)
                skips.append(x)
            for block, skip in zip(reversed(self.up), reversed(skips[:-1])):
                x = F.interpolate(x, scale_factor=2, mode="nearest")
                x = block(torch.cat([x, skip], 1))
            return self.out(x)

    return UNet()


def make_torch_step(torch, device, args, num_channels, num_dynamic, real_np):
    model = torch_unet(torch, num_channels, num_dynamic, args.levels, args.filters, 3).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    real = torch.from_numpy(np.moveaxis(real_np, -1, 2).copy()).to(device)  # [N, T, C, H, W]
    steps_ar = torch.arange(args.horizon + 1, device=device)

    def step(idx):
        sims = torch.from_numpy(idx["sim"]).long().to(device)
        ts = torch.from_numpy(idx["t"]).long().to(device)
        weight = torch.from_numpy(idx["weight"]).to(device)
        frames = real[sims[:, None], ts[:, None] + steps_ar]  # [B, K+1, C, H, W]
        x, targets = frames[:, 0], frames[:, 1:]
        preds = []
        for _ in range(args.horizon):
            y = x[:, :num_dynamic] + model(x)
            x = torch.cat([y, x[:, num_dynamic:]], 1)
            preds.append(y)
        pred = torch.stack(preds, 1)
        per_sample = ((pred - targets[:, :, :num_dynamic]) ** 2).mean(dim=(1, 2, 3, 4))
        loss = (weight * per_sample).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    return model, step


def main():
    ap = C.parser(__doc__.splitlines()[0])
    ap.add_argument("--resolution", type=int, default=64)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--horizon", type=int, default=4, help="K: rollout steps of the loss")
    ap.add_argument("--levels", type=int, default=2)
    ap.add_argument("--filters", type=int, default=16)
    ap.add_argument("--frames", type=int, default=16, help="frames per trajectory of the synthetic data")
    ap.add_argument("--sims", type=int, default=8, help="trajectories of the synthetic data")
    ap.add_argument("--steps-per-repeat", type=int, default=None, help="train steps per timed repeat (default 5, --quick 3)")
    args = C.finish_args(ap.parse_args())
    spr = args.steps_per_repeat or (3 if args.quick else 5)
    env = C.header(NAME, args)
    torch, torch_note = C.import_torch(args)
    print(torch_note, flush=True)

    cfg = config(args)
    pde = build_pde(cfg.physics)
    nd, nc = pde.layout.num_dynamic, pde.layout.num_channels
    rng = np.random.default_rng(0)
    real_np = (0.5 * rng.standard_normal((args.sims, args.frames, args.resolution, args.resolution, nc))).astype(np.float32)
    n_batches = args.warmup * spr + args.repeats * spr + 1
    batches = index_batches(rng, args.sims, args.frames, args.horizon, args.batch, n_batches)

    # --- hybrid_jax
    _, params, predict, tx = synthetic_model(pde, cfg)
    n_params = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(params))
    step = make_train_step(predict, tx, nd, args.horizon)
    data = {"real": jnp.asarray(real_np), "real_mask": jnp.ones((args.frames, args.resolution, args.resolution)),
            "generated": jnp.zeros((1, args.horizon + 1) + real_np.shape[2:], jnp.float32)}
    dev_batches = [jax.tree.map(jnp.asarray, b) for b in batches]
    state = init_state(params, tx)
    compiled, ct = C.compile_seconds(step, state, data, dev_batches[0])
    run_jax = C.train_steps(compiled, state, data, dev_batches, spr)

    run_torch = model = tdev = None
    if torch is not None:
        tdev = C.torch_device(torch)
        model, tstep = make_torch_step(torch, tdev, args, nc, nd, real_np)
        th = {"i": 0}

        def _run_torch():
            for _ in range(spr):
                loss = tstep(batches[th["i"] % len(batches)])
                th["i"] += 1
            loss.item()
            C.torch_sync(torch, tdev)

        run_torch = _run_torch

    # interleaved repeats (jax, torch, jax, torch, ...) so that both see the same machine load
    for _ in range(args.warmup):
        run_jax()
        if run_torch:
            run_torch()
    tj, tt = [], []
    for _ in range(args.repeats):
        tj.append(C.timed(run_jax))
        if run_torch:
            tt.append(C.timed(run_torch))
    t = {"median_s": statistics.median(tj), "min_s": min(tj), "times_s": tj, "warmup": args.warmup,
         "repeats": args.repeats}
    rows = [{"impl": "hybrid_jax make_train_step (jit)", "params": n_params, "B": args.batch, "K": args.horizon,
             "median_s_per_step": t["median_s"] / spr, "min_s_per_step": t["min_s"] / spr,
             "compile_s": ct["compile_s"], "trace_s": ct["trace_lower_s"],
             "samples_per_s": args.batch * spr / t["median_s"], "timing": t}]
    if run_torch:
        tparams = sum(p.numel() for p in model.parameters())
        tt = {"median_s": statistics.median(tt), "min_s": min(tt), "times_s": tt, "warmup": args.warmup,
              "repeats": args.repeats}
        rows.append({"impl": f"PyTorch eager ({tdev})", "params": tparams, "B": args.batch, "K": args.horizon,
                     "median_s_per_step": tt["median_s"] / spr, "min_s_per_step": tt["min_s"] / spr,
                     "samples_per_s": args.batch * spr / tt["median_s"], "timing": tt})
        rows.append({"impl": "ratio hybrid_jax / PyTorch (median)",
                     "speedup": rows[0]["samples_per_s"] / rows[1]["samples_per_s"]})
        rows.append({"impl": "ratio hybrid_jax / PyTorch (min)",
                     "speedup": rows[1]["min_s_per_step"] / rows[0]["min_s_per_step"]})

    cols = ["impl", "params", "B", "K", "median_s_per_step", "min_s_per_step", "compile_s", "samples_per_s", "speedup"]
    print(C.table(rows, cols, f"UNet {args.resolution}² train step, levels {args.levels}, filters {args.filters} "
                              f"({C.device_kind()})"))
    print(torch_note)
    if torch is not None:
        s = rows[2]["speedup"]
        print(f"target >= 1.0x: {'met' if s >= 1.0 else 'MISSED'} ({s:.2f}x on medians, {rows[3]['speedup']:.2f}x on minima)")
    C.write_json(NAME, args, env, {"resolution": args.resolution, "batch": args.batch, "horizon": args.horizon,
                                   "levels": args.levels, "filters": args.filters, "steps_per_repeat": spr,
                                   "torch": torch_note, "rows": rows})


if __name__ == "__main__":
    main()
