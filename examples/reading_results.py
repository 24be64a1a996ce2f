# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Reading a run's results
#
# A finished run directory holds everything: the resolved config, checkpoints of both models,
# `metrics.jsonl`, `summary.json`, `evaluation.json` and TensorBoard event files (README, "The run
# directory"). `hj.load_run` turns it back into models you can use.
#
# Set `HYBRID_JAX_RUN_DIR` to any run directory (e.g. `runs/smoke` after
# `python -m hybrid_jax.train --config configs/smoke.yaml`). By default this notebook reads the
# quick start's run (`runs/examples/quickstart`), and trains it first if it is not there.
# Outputs go under `runs/examples/` (or `$HYBRID_JAX_EXAMPLE_OUT`).

# %%
import json
import os
from pathlib import Path

import jax
import matplotlib.pyplot as plt
import numpy as np

import hybrid_jax as hj
from _example import OUT, ROOT, smoke_overrides

run_dir = Path(os.environ.get("HYBRID_JAX_RUN_DIR") or OUT / "quickstart")
if not (run_dir / "summary.json").is_file():
    print(f"no finished run in {run_dir}: training the quick start's config there")
    hj.run_experiment(ROOT / "configs" / "smoke.yaml", run_dir, overrides=tuple(smoke_overrides()))

# %% [markdown]
# ## The config and the learned parameters
#
# `run.params` are the physical model's learned coefficients (scalars or fields), `run.true_params`
# those of the config (which generated the data, unless the data came from a file).

# %%
run = hj.load_run(run_dir)
cfg = hj.to_dict(run.config)
print("experiment:", cfg["experiment_name"], "| mode:", cfg["mode"], "| physics:", cfg["physics"]["name"],
      cfg["physics"]["resolution"])
for name, learned in run.params.items():
    learned, true = np.asarray(learned), np.asarray(run.true_params[name])
    error = np.linalg.norm(learned - true) / np.linalg.norm(true)
    shown = f"{float(learned):.5g}, true {float(true):.5g}" if learned.ndim == 0 else f"field {learned.shape}"
    print(f"{name}: learned {shown} (relative error {error:.2%})")

# %% [markdown]
# ## Roll both models out from new initial states
#
# `run.synthetic(x0, steps)` and `run.physical(x0, steps)` take any states `[B, *resolution, C]`
# (channels as in `run.pde.layout.names`) and return `[B, steps, *resolution, C]`. Here: three
# random states the models never saw, plus one made by hand. The reference is the PDE with the
# true parameters.

# %%
spatial, channels = run.pde.spatial_shape, len(run.pde.layout.names)
x = (np.arange(spatial[0]) + 0.5) / spatial[0]  # cell centres along the first axis, as a fraction of the domain
own = np.broadcast_to((0.5 * np.sin(2 * np.pi * x)).reshape((-1,) + (1,) * len(spatial)), (*spatial, channels))
x0 = np.concatenate([run.pde.sample_initial_state(jax.random.key(2026), 3), own[None]]).astype(np.float32)

steps = 2 * run.config.evaluation.horizon
reference = hj.simulate(run.pde, x0, steps)
errors = {}
for model in ("synthetic", "physical"):
    predicted = getattr(run, model)(x0, steps)
    axes = tuple(range(2, predicted.ndim))  # relative L2 error per state and step: [B, steps]
    errors[model] = np.sqrt(np.sum((predicted - reference) ** 2, axis=axes) / np.sum(reference**2, axis=axes))
    print(f"{model}: relative L2 error after 1 step {errors[model][:, 0].mean():.3g}, "
          f"after {steps} steps {errors[model][:, -1].mean():.3g}")

fig, ax = plt.subplots(figsize=(5, 3.2))
for (model, err), colour in zip(errors.items(), ("tab:orange", "tab:blue")):
    ax.semilogy(np.arange(1, steps + 1), err.T, color=colour, alpha=0.4)
    ax.semilogy(np.arange(1, steps + 1), err.mean(0), color=colour, lw=2, label=model)
ax.axvline(run.config.evaluation.horizon, color="grey", ls=":", lw=1)
ax.set_xlabel("rollout step"), ax.set_ylabel("relative L2 error"), ax.legend()
fig.tight_layout()
OUT.mkdir(parents=True, exist_ok=True)
fig.savefig(OUT / "reading_results_rollout_error.png", dpi=80)

# %% [markdown]
# ## The training history: `metrics.jsonl`
#
# One JSON object per line: `kind: epoch` (model, loss), `kind: cycle` (train and validation losses
# of both models, alpha, timings of each phase) and `kind: warmup`.

# %%
records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
epochs = [r for r in records if r["kind"] == "epoch"]
cycles = [r for r in records if r["kind"] == "cycle"]
print(f"{len(epochs)} epoch records, {len(cycles)} cycle records; last cycle:",
      {k: round(v, 6) for k, v in cycles[-1].items() if k.endswith("loss")})

fig, ax = plt.subplots(figsize=(5, 3.2))
for model in sorted({r["model"] for r in epochs}):
    losses = [r["loss"] for r in epochs if r["model"] == model]
    ax.semilogy(np.arange(1, len(losses) + 1), losses, marker="o", label=f"{model} (train)")
ax.set_xlabel("epoch of that model"), ax.set_ylabel("loss"), ax.legend()
fig.tight_layout()
fig.savefig(OUT / "reading_results_losses.png", dpi=80)

# %% [markdown]
# ## TensorBoard
#
# The same scalars (and rollout images once per cycle) are in the run directory's event files:
# `tensorboard --logdir runs` shows every run at once. TensorBoard's own reader gives them to
# Python too, when the `tensorboard` package is installed.

# %%
print("tensorboard --logdir", run_dir)
try:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
except ImportError:
    print("(pip install tensorboard to read the event files from Python)")
else:
    events = EventAccumulator(str(run_dir))
    events.Reload()
    tags = events.Tags()["scalars"]
    print(f"{len(tags)} scalar series, e.g.:")
    for tag in tags[:6]:
        last = events.Scalars(tag)[-1]
        print(f"  {tag}: {last.value:.4g} at step {last.step}")
