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
# # A PDE of your own: Fisher–KPP
#
# `u_t = D Δu + r u (1 − u)` on a periodic 1D domain, with the diffusivity D and the reaction rate r
# unknown. The whole family — its config section, its PDE step, its registration — is the one
# file [`fisher_kpp.py`](fisher_kpp.py) next to this notebook (README, "Use as a library";
# docs/physics.md, "Adding a family"). Importing it registers the family `fisher_kpp`; a config
# then names it like any built-in family, here from Python, or on the command line through
# `plugins:` (`python -m hybrid_jax.train --config examples/fisher_kpp.yaml`).
#
# Outputs go under `runs/examples/` (or `$HYBRID_JAX_EXAMPLE_OUT`); `HYBRID_JAX_EXAMPLE_SMALL=1`
# shrinks the run.

# %%
import jax
import matplotlib.pyplot as plt
import numpy as np

import fisher_kpp  # registers the family "fisher_kpp" (hj.register_family at the end of the file)
import hybrid_jax as hj
from _example import OUT, OUTPUT_OVERRIDES, SMALL

print(fisher_kpp.FAMILY.name, "config:", fisher_kpp.FisherKPPConfig.__name__, "PDE:", fisher_kpp.FisherKPP.__name__)

# %% [markdown]
# ## The physics section of the new family
#
# Its keys are the fields of `FisherKPPConfig`: the grid (`resolution`, `domain`, `dt`), the
# scheme's `substeps`, the two learnable coefficients (`true` makes the data, `init` is the
# physical model's starting guess, half the truth here) and the initial states' bumps. The
# stability bound of the explicit scheme is checked when the config loads.

# %%
physics = {"name": "fisher_kpp", "resolution": [32 if SMALL else 64], "domain": [1.0], "dt": 0.01, "substeps": 4,
           "diffusivity": {"true": 0.002, "init": 0.001}, "rate": {"true": 2.0, "init": 1.0}}
pde = hj.build_pde(hj.config_from_dict({"physics": physics}).physics)
print("channels:", pde.layout.names, "| true parameters:", {k: float(v) for k, v in pde.true_params().items()})

try:
    hj.config_from_dict({"physics": {**physics, "diffusivity": {"true": 1.0}}})
except hj.ConfigError as e:
    print("refused:", e)

# %% [markdown]
# ## Simulate it: fronts invading the domain from three bumps

# %%
steps = 60
x0 = pde.sample_initial_state(jax.random.key(1), 1)  # [1, X, 1]
traj = np.concatenate([x0[:, None], hj.simulate(pde, x0, steps)], axis=1)[0, ..., 0]  # [steps + 1, X]
fig, ax = plt.subplots(figsize=(5, 3))
im = ax.imshow(traj, aspect="auto", origin="lower", cmap="viridis", extent=(0, 1, 0, steps * physics["dt"]))
ax.set_xlabel("x"), ax.set_ylabel("t"), ax.set_title("Fisher–KPP, u")
fig.colorbar(im, ax=ax)
fig.tight_layout()
OUT.mkdir(parents=True, exist_ok=True)
fig.savefig(OUT / "custom_pde_simulation.png", dpi=80)

# %% [markdown]
# ## Train the hybrid model on it
#
# The rest of the config is as for any family. The physical model fits D and r with full-batch
# L-BFGS (the small setting uses a few Adam epochs instead); the network is a small ConvNet.

# %%
trainer = ({"batch_size": 8, "synthetic": {"epochs": 1},
            "physical": {"optimizer": "adam", "learning_rate": 0.1, "epochs": 3},
            "hybrid": {"cycles": 1, "alpha": 0.1, "warmup_epochs": 0}} if SMALL else
           {"batch_size": 8, "synthetic": {"epochs": 2},
            "physical": {"optimizer": "lbfgs", "batching": "full", "epochs": 10},
            "hybrid": {"cycles": 2, "alpha": 0.1, "warmup_epochs": 1}})
config = {"experiment_name": "custom_pde", "seed": 0, "mode": "hybrid", "physics": physics,
          "data": {"num_trajectories": 8, "num_frames": 8 if SMALL else 12, "rollout_steps": 3},
          "network": {"architecture": "convnet", "filters": 8, "layers": 2},
          "trainer": trainer, "output": {"plots": False}}
result = hj.run_experiment(config, OUT / "custom_pde", overrides=OUTPUT_OVERRIDES, overwrite=True)

true = result.summary["parameters"]["true"]
for name, value in result.learned.items():
    print(f"{name}: learned {float(value):.4g}, true {true[name]:.4g}, "
          f"initial guess {physics[name]['init']:.4g}")
