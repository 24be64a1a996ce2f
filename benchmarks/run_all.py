"""Run every benchmark in sequence; one command produces all figures on this machine.

    python benchmarks/run_all.py [--quick] [--no-torch] [--only NAME ...] [--skip NAME ...]
                                 [--results-dir DIR] [--logs] [--time-limit SECONDS]

Each script runs in its own process (a failure is reported and the others still run), prints its
tables and writes ``<results-dir>/<name>-<device>.json`` (default benchmarks/results/); with
``--logs`` the output of each also goes to ``<results-dir>/<name>.log``. With ``--time-limit`` a
script still running when the limit is reached is stopped and the rest are skipped (for a device
lease with a wall-clock limit). Where torch (or scipy) is not installed, the PyTorch baselines are skipped with a
note and the JAX figures are still measured. Exit status: the number of scripts that failed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ["bench_compilations", "bench_generation", "bench_synthetic_step", "bench_physical_fit", "bench_memory",
           "bench_hybrid_cycle", "bench_startup", "bench_curriculum"]
# end to end, long (tens of minutes on a CPU; bench_vs_original needs the original system): only with --only
LONG = ["bench_reference", "bench_vs_original"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="pass --quick to every script")
    ap.add_argument("--no-torch", action="store_true", help="skip the PyTorch baselines")
    ap.add_argument("--only", nargs="+", choices=SCRIPTS + LONG, default=None,
                    help=f"run these (the default: all but {', '.join(LONG)})")
    ap.add_argument("--skip", nargs="+", choices=SCRIPTS + LONG, default=[])
    ap.add_argument("--results-dir", type=Path, default=HERE / "results", help="where the JSON files go")
    ap.add_argument("--logs", action="store_true", help="also write each script's output to <results-dir>/<name>.log")
    ap.add_argument("--time-limit", type=float, default=None, help="seconds for the whole run (stop and skip past it)")
    args = ap.parse_args()
    t_start = time.perf_counter()

    import importlib.util

    missing = [m for m in ("torch", "scipy") if importlib.util.find_spec(m) is None]
    extra = ["--quick"] if args.quick else []
    if args.no_torch or "torch" in missing:
        extra.append("--no-torch")
        print(f"note: PyTorch baselines skipped ({'--no-torch' if args.no_torch else 'torch not installed'}); "
              f"the hybrid_jax figures are still measured", flush=True)
    results_dir = args.results_dir.resolve()
    results_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONUNBUFFERED="1", HYBRID_JAX_BENCH_RESULTS=str(results_dir))
    summary = []
    for name in args.only or SCRIPTS:
        if name in args.skip:
            continue
        cmd = [sys.executable, str(HERE / f"{name}.py"), *extra]
        if name == "bench_physical_fit" and "scipy" in missing and "--no-torch" not in extra:
            cmd.append("--no-torch")  # its baseline needs scipy too
        left = None if args.time_limit is None else args.time_limit - (time.perf_counter() - t_start)
        if left is not None and left < 10:
            summary.append((name, "skipped (time limit)", 0.0))
            continue
        print(f"\n===== {name}: {' '.join(cmd[1:])}", flush=True)
        t = time.perf_counter()
        log = open(results_dir / f"{name}.log", "w") if args.logs else None
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        timer = None
        if left is not None:
            import threading

            timer = threading.Timer(left, proc.kill)
            timer.start()
        for line in proc.stdout:
            if log:
                log.write(line)
            if "Warning" in line or "warnings.warn" in line:
                continue  # PhiFlow's deprecation chatter
            sys.stdout.write(line)
        rc = proc.wait()
        if timer:
            timer.cancel()
        if log:
            log.close()
        status = "ok" if rc == 0 else ("stopped (time limit)" if rc < 0 and left is not None else f"FAILED (rc {rc})")
        summary.append((name, status, time.perf_counter() - t))
    print("\n===== summary")
    for name, status, secs in summary:
        print(f"{name:24s} {status:22s} {secs:7.1f} s")
    print(f"results in {results_dir}")
    sys.exit(sum(status != "ok" for _, status, _ in summary))


if __name__ == "__main__":
    main()
