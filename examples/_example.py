"""Plumbing shared by the example notebooks: where they write and how large they run.

- ``HYBRID_JAX_EXAMPLE_OUT``: the folder every example writes into (default ``<repo>/runs/examples``,
  which git ignores); never the repository tree itself.
- ``HYBRID_JAX_EXAMPLE_SMALL=1``: shrink each example to a few seconds of training
  (tests/test_examples.py runs them so).
"""

from __future__ import annotations

import os
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent
ROOT = EXAMPLES.parent
OUT = Path(os.environ.get("HYBRID_JAX_EXAMPLE_OUT") or ROOT / "runs" / "examples").resolve()
SMALL = os.environ.get("HYBRID_JAX_EXAMPLE_SMALL", "") not in ("", "0")

# every run's outputs and generated data stores go under OUT; no progress bars in notebook output
OUTPUT_OVERRIDES = [f"output.dir={OUT}", f"data.store_dir={OUT / 'data'}", "output.progress=false"]

# configs/smoke.yaml shrunk to seconds: 16x16 cells, 4 trajectories, one short cycle, a small UNet
SMALL_SMOKE = ["physics.resolution=[16,16]", "data.num_trajectories=4", "data.num_frames=8",
               "trainer.hybrid.cycles=1", "trainer.hybrid.warmup_epochs=0", "trainer.synthetic.epochs=1",
               "trainer.physical.epochs=2", "network.levels=1", "network.filters=8", "evaluation.horizon=6",
               "output.plots=false"]


def smoke_overrides() -> list[str]:
    """Overrides of configs/smoke.yaml used by the quick start (and by reading_results when it has no run)."""
    return OUTPUT_OVERRIDES + (SMALL_SMOKE if SMALL else [])
