"""Whole-job wall time of ``python -m hybrid_jax.train`` with a cold and a warm compilation cache.

Each repeat runs the smoke job twice in fresh processes, alternating: once with an empty
compilation cache directory (cold: every program compiles) and once with the cache the cold run
just filled (warm: programs are loaded). The data store is generated once before timing, so both
runs read it; each run writes its own run directory under a temporary folder. Reported: wall time
of the process (imports, data, training, evaluation, plots), and from its ``summary.json`` the first
cycle (compilation included when cold) and the steady cycle.

Run: ``python benchmarks/bench_startup.py [--quick] [--config configs/smoke.yaml] [overrides ...]``
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common as C

NAME = "bench_startup"


def run_job(config: str, overrides: list[str], run_dir: Path, cache: Path, store: Path) -> dict:
    """One ``python -m hybrid_jax.train`` process; its wall time and summary timings."""
    cmd = [sys.executable, "-m", "hybrid_jax.train", "--config", config, "--out", str(run_dir), *overrides,
           f"output.compilation_cache={cache}", f"data.store_dir={store}", "output.progress=false"]
    env = C.child_env()
    t = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, cwd=C.ROOT, capture_output=True)
    wall = time.perf_counter() - t
    summary_file = run_dir / "summary.json"  # absent after the generate task alone
    summary = json.loads(summary_file.read_text()) if summary_file.is_file() else {}
    return {"wall_s": wall, "first_cycle_s": summary.get("first_cycle_s"), "steady_cycle_s": summary.get("steady_cycle_s")}


def main() -> None:
    p = C.parser(__doc__.splitlines()[0])
    p.add_argument("--config", default="configs/smoke.yaml")
    p.add_argument("overrides", nargs="*")
    args = C.finish_args(p.parse_args())
    env = C.header(NAME, args)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        store = tmp / "data"
        run_job(args.config, args.overrides + ["tasks=[generate]"], tmp / "gen", tmp / "gen_cache", store)
        rows = {"cold": [], "warm": []}
        for i in range(args.repeats):
            cache = tmp / f"cache{i}"
            rows["cold"].append(run_job(args.config, args.overrides, tmp / f"cold{i}", cache, store))
            rows["warm"].append(run_job(args.config, args.overrides, tmp / f"warm{i}", cache, store))
            shutil.rmtree(cache)
    result = {kind: {k: statistics.median(r[k] for r in runs) for k in runs[0]} | {"runs": runs}
              for kind, runs in rows.items()}
    table = [{"cache": kind, **{k: v for k, v in result[kind].items() if k != "runs"}} for kind in rows]
    print(C.table(table, ["cache", "wall_s", "first_cycle_s", "steady_cycle_s"],
                  f"{args.config}: whole job, median of {args.repeats} alternating pairs"))
    print(f"warm / cold wall: {result['warm']['wall_s'] / result['cold']['wall_s']:.2f}")
    C.write_json(NAME, args, env, {"config": args.config, "overrides": args.overrides, **result})


if __name__ == "__main__":
    main()
