"""Whole-job wall time of ``python -m hybrid_jax.train`` with a cold and a warm compilation cache.

Each repeat runs the smoke job twice in fresh processes, alternating: once with an empty
compilation cache directory (cold: every program compiles) and once with the cache the cold run
just filled (warm: programs are loaded). The data store is generated once before timing, so both
runs read it; each run writes its own run directory under a temporary folder. Reported: wall time
of the process (imports, data, training, evaluation, plots), its CPU seconds (user + system; less disturbed
than wall time by other processes on a shared core), and from its ``summary.json`` the first
cycle (compilation included when cold) and the steady cycle.

With ``--against REF`` (a git revision of this repository, e.g. ``main`` or a commit, exported to a temporary
folder; or another checkout's directory) the same job also runs from that code: each variant fills its own cache once
(cold), then the warm runs alternate between the two, and the ratio of their median wall times is printed.
Pin the whole benchmark to one core for figures that compare (``taskset -c 1 python benchmarks/...``).

Run: ``python benchmarks/bench_startup.py [--quick] [--config configs/smoke.yaml] [--against REF] [overrides ...]``
"""

from __future__ import annotations

import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common as C

NAME = "bench_startup"


def run_job(config: str, overrides: list[str], run_dir: Path, cache: Path, store: Path, root: Path = C.ROOT) -> dict:
    """One ``python -m hybrid_jax.train`` process of the code in `root`; its wall time and summary timings."""
    cmd = [sys.executable, "-m", "hybrid_jax.train", "--config", config, "--out", str(run_dir), *overrides,
           f"output.compilation_cache={cache}", f"data.store_dir={store}", "output.progress=false"]
    env = C.child_env(root)
    t, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, check=True, env=env, cwd=root, capture_output=True)
    wall, after = time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime  # less disturbed by other processes
    summary_file = run_dir / "summary.json"  # absent after the generate task alone
    summary = json.loads(summary_file.read_text()) if summary_file.is_file() else {}
    return {"wall_s": wall, "cpu_s": cpu, "first_cycle_s": summary.get("first_cycle_s"), "steady_cycle_s": summary.get("steady_cycle_s")}


def main() -> None:
    p = C.parser(__doc__.splitlines()[0])
    p.add_argument("--config", default="configs/smoke.yaml")
    p.add_argument("--against", metavar="REF", help="also time the code of this git revision (or checkout directory), "
                                                    "alternating warm runs")
    p.add_argument("overrides", nargs="*")
    args = C.finish_args(p.parse_args())
    env = C.header(NAME, args)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        store = tmp / "data"
        run_job(args.config, args.overrides + ["tasks=[generate]"], tmp / "gen", tmp / "gen_cache", store)
        if args.against:
            return against(args, env, tmp, store)
        rows = {"cold": [], "warm": []}
        for i in range(args.repeats):
            cache = tmp / f"cache{i}"
            rows["cold"].append(run_job(args.config, args.overrides, tmp / f"cold{i}", cache, store))
            rows["warm"].append(run_job(args.config, args.overrides, tmp / f"warm{i}", cache, store))
            shutil.rmtree(cache)
    result = {kind: {k: statistics.median(r[k] for r in runs) for k in runs[0]} | {"runs": runs}
              for kind, runs in rows.items()}
    table = [{"cache": kind, **{k: v for k, v in result[kind].items() if k != "runs"}} for kind in rows]
    print(C.table(table, ["cache", "wall_s", "cpu_s", "first_cycle_s", "steady_cycle_s"],
                  f"{args.config}: whole job, median of {args.repeats} alternating pairs"))
    print(f"warm / cold wall: {result['warm']['wall_s'] / result['cold']['wall_s']:.2f}")
    C.write_json(NAME, args, env, {"config": args.config, "overrides": args.overrides, **result})


def against(args, env: dict, tmp: Path, store: Path) -> None:
    """Warm runs of this checkout and of revision `args.against`, alternating (each fills its cache first)."""
    ref = Path(args.against)
    if not ref.is_dir():
        ref = tmp / "ref"
        ref.mkdir()
        archive = subprocess.run(["git", "archive", args.against], cwd=C.ROOT, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(ref)], input=archive, check=True)
    variants = {"this checkout": C.ROOT, args.against: ref}
    rows = {name: {"cold": run_job(args.config, args.overrides, tmp / f"cold-{i}", tmp / f"cache-{i}", store, root),
                   "warm": []} for i, (name, root) in enumerate(variants.items())}
    for r in range(args.repeats):
        for i, (name, root) in enumerate(variants.items()):
            rows[name]["warm"].append(run_job(args.config, args.overrides, tmp / f"warm-{i}-{r}", tmp / f"cache-{i}",
                                              store, root))
    result = {name: {k: statistics.median(w[k] for w in row["warm"]) for k in row["warm"][0]} | row
              for name, row in rows.items()}
    table = [{"code": name, **{k: v for k, v in result[name].items() if k not in ("cold", "warm")}} for name in rows]
    print(C.table(table, ["code", "wall_s", "cpu_s", "first_cycle_s", "steady_cycle_s"],
                  f"{args.config}: whole job, warm cache, median of {args.repeats} alternating runs"))
    for k in ("wall_s", "cpu_s"):
        this, other = (result[name][k] for name in variants)
        print(f"warm {k[:-2]}, this checkout / {args.against}: {this / other:.3f}")
    C.write_json(NAME, args, env, {"config": args.config, "overrides": args.overrides, "against": args.against,
                                   **result})


if __name__ == "__main__":
    main()
