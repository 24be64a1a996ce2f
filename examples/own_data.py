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
# # Bring your own data: a PDEBench-style HDF5 file
#
# Trajectories from your own solver or experiment come in as a file; the library never needs
# to generate them. Here a 1D viscous Burgers simulation stands in for "your" data: it is written
# as a PDEBench HDF5 file with h5py, and the hybrid model is then trained on that file
# (`data.source: files`) to recover the viscosity ν that made it.
#
# Supported formats (README, "Data formats"): our `.npz`, PDEBench HDF5 (a `tensor` dataset, or
# one group per seed), PhiFlow `Scene` folders, and a memory-mapped `.npy`. Each is checked for
# its shape `[N, T, *resolution, C]`, NaN/inf and, where the file stores coordinates, against
# `physics.domain` and `physics.dt`: one frame of the data must be one physics step.
#
# Outputs go under `runs/examples/` (or `$HYBRID_JAX_EXAMPLE_OUT`); `HYBRID_JAX_EXAMPLE_SMALL=1`
# shrinks the run.

# %%
import h5py
import jax
import matplotlib.pyplot as plt
import numpy as np

import hybrid_jax as hj
from _example import OUT, OUTPUT_OVERRIDES, SMALL

N, T = (4, 8) if SMALL else (12, 20)  # trajectories, frames (the initial state included)
NU = 0.02  # the viscosity of "your" simulation, which training has to find

# %% [markdown]
# ## 1. Your simulation
#
# The physics section describes the grid the data lives on: 32 periodic cells on [0, 1), one frame
# every `dt = 0.01`. `hj.simulate` rolls the library's Burgers solver out from random smooth
# initial states; replace this cell with your own solver or measurements, as a float array
# `[N, T, 32]` (one field) or `[N, T, 32, C]`.

# %%
PHYSICS = ["physics.name=burgers", "physics.resolution=[32]", "physics.domain=[1.0]", "physics.dt=0.01",
           "physics.substeps=2"]
simulator = hj.build_pde(hj.load_config(None, PHYSICS + [f"physics.viscosity.true={NU}"]).physics)
x0 = simulator.sample_initial_state(jax.random.key(0), N)  # [N, 32, 1]
trajectories = np.concatenate([x0[:, None], hj.simulate(simulator, x0, T - 1)], axis=1)  # [N, T, 32, 1]
print("trajectories", trajectories.shape, trajectories.dtype)

# %% [markdown]
# ## 2. Write it as PDEBench does
#
# PDEBench's 1D files hold a `tensor` dataset `[N, T, X]` with the cell centres in `x-coordinate`
# and the frame times in `t-coordinate`.

# %%
OUT.mkdir(parents=True, exist_ok=True)
data_file = OUT / "own_data_burgers1d.h5"
dx, dt = 1.0 / 32, 0.01
with h5py.File(data_file, "w") as f:
    f["tensor"] = trajectories[..., 0]  # one field: no channel axis
    f["x-coordinate"] = (np.arange(32) + 0.5) * dx
    f["t-coordinate"] = np.arange(T) * dt

with h5py.File(data_file, "r") as f:
    for name, dataset in f.items():
        print(f"{name}: {dataset.shape} {dataset.dtype}")

# %% [markdown]
# ## 3. Train on the file
#
# `data.source=files` and `data.path` point the run at the file (the format follows from the
# extension, or `data.format`). The physical model starts from a guess of ν 2.5× too large;
# `physics.viscosity.true` is only used to report the error of the learned value (leave the
# default if you do not know it). A file whose `t-coordinate` spacing is not `physics.dt` is refused
# with a one-line error that names the key to change.

# %%
size = (["data.rollout_steps=2", "trainer.hybrid.cycles=1", "trainer.hybrid.warmup_epochs=0",
         "trainer.synthetic.epochs=1", "trainer.physical.epochs=4", "evaluation.horizon=5"] if SMALL else
        ["data.rollout_steps=4", "trainer.hybrid.cycles=3", "trainer.physical.epochs=10", "evaluation.horizon=15"])
cfg = hj.load_config(None, PHYSICS + size + OUTPUT_OVERRIDES + [
    "experiment_name=own_data", f"physics.viscosity.true={NU}", "physics.viscosity.init=0.05",
    "data.source=files", f"data.path={data_file}", "trainer.batch_size=4",
    "network.architecture=convnet", "network.filters=16", "network.layers=3", "output.plots=false"])
result = hj.run_experiment(cfg, OUT / "own_data", overwrite=True)

learned = float(result.learned["viscosity"])
print(f"viscosity: learned {learned:.5f}, used to make the data {NU} (started at 0.05)")
print("synthetic model, mean relative L2 rollout error:",
      round(result.evaluation["models"]["synthetic"]["mean_rel_l2"], 4))

# %% [markdown]
# ## 4. Look at the data and at the learned model's rollout of one trajectory

# %%
run = hj.load_run(result.run_dir)
real = trajectories[0, :, :, 0]  # [T, 32]
emulated = np.concatenate([real[:1], run.physical(trajectories[:1, 0], T - 1)[0, ..., 0]])
fig, axes = plt.subplots(1, 3, figsize=(11, 3), sharey=True)
for ax, (title, field) in zip(axes, {"your data": real, f"learned PDE (ν = {learned:.4f})": emulated,
                                     "difference": emulated - real}.items()):
    im = ax.imshow(field, aspect="auto", origin="lower", cmap="RdBu_r", extent=(0, 1, 0, (T - 1) * dt))
    ax.set_title(title), ax.set_xlabel("x")
    fig.colorbar(im, ax=ax)
axes[0].set_ylabel("t")
fig.tight_layout()
fig.savefig(OUT / "own_data.png", dpi=80)
print("figure:", OUT / "own_data.png")
