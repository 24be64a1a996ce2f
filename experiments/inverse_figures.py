"""Print the inverse-problem figures of issue 4 (runs the committed configs through the CLIs).

    python experiments/inverse_figures.py [--only 1d,field,sparse] [--out runs/inverse]

1d      configs/burgers1d_inverse.yaml: viscosity error and the wall time of the whole CLI run
field   configs/burgers2d_field.yaml: relative L2 error of the learned viscosity field
sparse  configs/burgers2d_sparse.yaml: the physical-only / synthetic-only / hybrid comparison table at equal
        epochs (the README's figure; `python -m hybrid_jax.compare` defaults to equal steps)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path


def cli(module: str, config: str, out: Path, *extra: str) -> float:
    """Run `python -m <module>` on a config; return its wall time in seconds."""
    cmd = [sys.executable, "-m", module, "--config", config, "--out", str(out), "--overwrite", *extra]
    print("$", " ".join(cmd[1:]), flush=True)
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", default="1d,field,sparse")
    p.add_argument("--out", default="runs/inverse")
    args = p.parse_args()
    out, only = Path(args.out), set(args.only.split(","))
    if "1d" in only:
        wall = cli("hybrid_jax.train", "configs/burgers1d_inverse.yaml", out / "burgers1d")
        s = json.loads((out / "burgers1d" / "summary.json").read_text())["parameters"]
        print(f"Burgers 1D, 128 cells, nu true {s['true']['viscosity']:.4g}, init 10x off: learned "
              f"{s['learned']['viscosity']:.6g}, relative error {s['relative_error']['viscosity']:.2e}, "
              f"whole CLI run {wall:.1f} s\n")
    if "field" in only:
        wall = cli("hybrid_jax.train", "configs/burgers2d_field.yaml", out / "burgers2d_field")
        s = json.loads((out / "burgers2d_field" / "summary.json").read_text())["parameters"]
        print(f"Burgers 2D 32², viscosity field (bump 1.0): relative L2 error {s['relative_error']['viscosity']:.2%} "
              f"(learned range {s['learned']['viscosity']['min']:.4g}..{s['learned']['viscosity']['max']:.4g}, "
              f"true {s['true']['viscosity']['min']:.4g}..{s['true']['viscosity']['max']:.4g}), CLI run {wall:.1f} s\n")
    if "sparse" in only:
        wall = cli("hybrid_jax.compare", "configs/burgers2d_sparse.yaml", out / "burgers2d_sparse", "--budget", "epochs")
        print((out / "burgers2d_sparse" / "comparison.md").read_text())
        print(f"(compare CLI run {wall:.1f} s)")


if __name__ == "__main__":
    main()
