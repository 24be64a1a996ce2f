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
# # Quick start: a hybrid model of 2D Burgers
#
# Two models of one system are trained together: a learnable PDE solver (the viscosity ν is
# unknown, the guess starts 3× too high) and a neural network that predicts the next state.
# Each cycle, each model's rollouts join the other's training data with the weight `alpha`.
#
# Run as a script (`python examples/quickstart.py`) or open as a notebook (VS Code, or
# `jupytext --to notebook examples/quickstart.py`). Everything is written under
# `runs/examples/` (or `$HYBRID_JAX_EXAMPLE_OUT`); `HYBRID_JAX_EXAMPLE_SMALL=1` shrinks the run
# to a few seconds. The full size (configs/smoke.yaml) takes about 30 s on a 2-core CPU.

# %%
import jax
import matplotlib.pyplot as plt

import hybrid_jax as hj
from _example import OUT, ROOT, smoke_overrides

# %% [markdown]
# ## A config: a YAML file plus dotted overrides
#
# The same `key=value` overrides work on the command line
# (`python -m hybrid_jax.train --config configs/smoke.yaml trainer.hybrid.alpha=0.3`). A wrong key
# or value raises `hj.ConfigError` with one line naming the key.

# %%
cfg = hj.load_config(ROOT / "configs" / "smoke.yaml", ["trainer.hybrid.alpha=0.3", *smoke_overrides()])
print("physics:", hj.to_dict(cfg)["physics"])
print("hybrid:", hj.to_dict(cfg)["trainer"]["hybrid"])

try:
    hj.load_config(ROOT / "configs" / "smoke.yaml", ["trainer.hybrid.alpah=0.3"])
except hj.ConfigError as e:
    print("a typo is refused:", e)

# %% [markdown]
# ## Run it: generate data, train both models, evaluate
#
# `run_experiment` does what `python -m hybrid_jax.train` does and returns a `RunResult`.
# `overwrite=True` replaces an earlier run of this notebook; without it, rerunning the same config
# resumes from the last checkpoint.

# %%
result = hj.run_experiment(cfg, OUT / "quickstart", overwrite=True)

print("run directory:", result.run_dir)
print("files:", {k: p.name for k, p in result.paths.items()})
print("final losses:", result.summary["final"])
for name, learned in result.learned.items():
    true = result.summary["parameters"]["true"][name]
    print(f"{name}: learned {float(learned):.5f}, true {true:.5f} (guess {cfg.physics.viscosity.init})")
for model in ("synthetic", "physical"):
    print(f"{model} rollout: mean relative L2 error {result.evaluation['models'][model]['mean_rel_l2']:.3g}")

# %% [markdown]
# ## Plot a rollout from a new initial state
#
# `hj.load_run` reads the trained models back; `run.physical` is the PDE with the learned ν,
# `run.synthetic` the trained network, and `hj.simulate` the PDE with the true ν (the reference).

# %%
run = hj.load_run(result.run_dir)
steps = cfg.evaluation.horizon
x0 = run.pde.sample_initial_state(jax.random.key(42), 1)  # [1, 16 or 32, 16 or 32, 2]: vel_x, vel_y
rows = {"true PDE": hj.simulate(run.pde, x0, steps), "learned PDE": run.physical(x0, steps),
        "network": run.synthetic(x0, steps)}

shown = [0, steps // 2, steps - 1]
fig, axes = plt.subplots(len(rows), len(shown), figsize=(2.6 * len(shown), 2.4 * len(rows)), squeeze=False)
for i, (label, traj) in enumerate(rows.items()):
    for j, t in enumerate(shown):
        ax = axes[i, j]
        ax.imshow(traj[0, t, ..., 0].T, origin="lower", cmap="RdBu_r", vmin=-1, vmax=1)
        ax.set_xticks([]), ax.set_yticks([])
        ax.set_title(f"{label}, step {t + 1}", fontsize=9)
fig.suptitle("vel_x")
fig.tight_layout()
fig.savefig(OUT / "quickstart_rollout.png", dpi=80)
print("figure:", OUT / "quickstart_rollout.png")
