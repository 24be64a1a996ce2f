"""Print the optimiser steps each run of a comparison is allowed, at equal steps and at equal epochs.

    python experiments/budget_plan.py --config configs/burgers2d_sparse.yaml [key=value ...]

Builds the config's data and windows (no training) and prints the hybrid run's allowed steps per model
(`training.budget.planned_steps`), and for each baseline the epochs per cycle `compare --budget steps`
gives it, with its steps, beside its steps at equal epochs (`--budget epochs`).
"""

from __future__ import annotations

import argparse

from hybrid_jax.backend import setup
from hybrid_jax.compare import budget_config, mode_config
from hybrid_jax.config import load_config
from hybrid_jax.data.store import load_or_generate
from hybrid_jax.physics import build_pde
from hybrid_jax.training.budget import planned_steps
from hybrid_jax.training.loop import build_experiment


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", required=True)
    p.add_argument("overrides", nargs="*", metavar="key=value")
    args = p.parse_args()
    setup()
    cfg = mode_config(load_config(args.config, args.overrides), "hybrid")
    pde = build_pde(cfg.physics)
    exp = build_experiment(cfg, pde, load_or_generate(cfg, pde)[0])
    w = {"train": len(exp.train_windows), "generated": {k: len(v) for k, v in exp.generated_windows.items()}}
    print(f"windows: {w['train']} real training, generated per model {w['generated']}")
    print(f"hybrid: allowed steps {planned_steps(cfg, w['train'], w['generated'])}")
    for mode in ("synthetic", "physical"):
        equal = budget_config(cfg, mode, "steps", {"windows": w})
        print(f"{mode}-only: {getattr(equal.trainer, mode).epochs} epochs per cycle, "
              f"{planned_steps(equal, w['train'], {})[mode]} steps at equal steps; "
              f"{planned_steps(mode_config(cfg, mode), w['train'], {})[mode]} at equal epochs")


if __name__ == "__main__":
    main()
