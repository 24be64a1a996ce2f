"""python -m benchmarks NAME [--quick] [options]  |  --list  |  all [--quick] [--only NAME ...]

Each NAME is a module of this package whose docstring's first line says its one job; ``NAME --help``
gives its options. ``all`` runs the default set in sequence, each in its own process (a failure is
reported and the rest still run); its exit status is the number that failed.
"""

from __future__ import annotations

import argparse
import ast
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
NAMES = ["generation", "physical_fit", "network", "cycle", "epoch_loop", "memory", "curriculum", "scan", "startup",
         "utilisation", "mixed_precision", "scaling", "reference", "vs_original", "gpu"]
DEFAULT = ["generation", "physical_fit", "network", "cycle", "memory", "curriculum", "startup"]


def purpose(name: str) -> str:
    """The first line of the module's docstring (read without importing it)."""
    return ast.get_docstring(ast.parse((HERE / f"{name}.py").read_text())).splitlines()[0]


def run_all(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks all", description="Run benchmarks in sequence.")
    ap.add_argument("--quick", action="store_true", help="pass --quick to each")
    ap.add_argument("--no-torch", action="store_true", help="pass --no-torch to each")
    ap.add_argument("--only", nargs="+", choices=NAMES, default=DEFAULT, help=f"default: {' '.join(DEFAULT)}")
    ap.add_argument("--results-dir", type=Path, default=HERE / "results", help="where the JSON files go")
    ap.add_argument("--time-limit", type=float, default=None, help="seconds for the whole run (stop past it)")
    args = ap.parse_args(argv)
    t0, summary = time.perf_counter(), []
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "HYBRID_JAX_BENCH_RESULTS": str(args.results_dir.resolve())}
    for name in args.only:
        left = None if args.time_limit is None else args.time_limit - (time.perf_counter() - t0)
        if left is not None and left < 10:
            summary.append((name, "skipped (time limit)", 0.0))
            continue
        cmd = [sys.executable, "-m", "benchmarks", name] + ["--quick"] * args.quick + ["--no-torch"] * args.no_torch
        print(f"\n===== {' '.join(cmd[2:])}", flush=True)
        t = time.perf_counter()
        try:
            rc = subprocess.run(cmd, cwd=HERE.parent, env=env, timeout=left).returncode
            status = "ok" if rc == 0 else f"FAILED (rc {rc})"
        except subprocess.TimeoutExpired:
            status = "stopped (time limit)"
        summary.append((name, status, time.perf_counter() - t))
    print("\n===== summary")
    for name, status, secs in summary:
        print(f"{name:16s} {status:22s} {secs:7.1f} s")
    return sum(status != "ok" for _, status, _ in summary)


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help", "--list"):
        if not argv or argv[0] != "--list":
            print(__doc__)
        for name in NAMES:
            print(f"{name:16s} {purpose(name)}")
        return 0
    if argv[0] == "all":
        return run_all(argv[1:])
    if argv[0] not in NAMES:
        print(f"unknown benchmark {argv[0]!r}; python -m benchmarks --list names them", file=sys.stderr)
        return 2
    from importlib import import_module

    return import_module(f"benchmarks.{argv[0]}").main(argv[1:]) or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
