"""End to end against the original system (HYCO-PhiFlow, PyTorch): the reduced 2D Burgers hybrid experiment.

Both systems run the same experiment the way a user runs it, one process each, pinned to the same
core (``taskset -c CORE``), alternating original / ours (cold cache) / ours (warm cache) per repeat:

- original: ``python <original>/run.py --config-name burgers_2d <overrides>`` (its own entry point, its
  own ``conf/burgers_2d.yaml`` cut down by Hydra overrides, see `original_overrides`), tasks
  generate + train, in a fresh working directory (it writes data/ and results/ there);
- ours: ``python -m hybrid_jax.train --config configs/bench/burgers2d_reduced.yaml`` (tasks generate +
  train; that file lists what still differs), fresh run directory and data store each time; "cold" with
  an empty compilation cache directory, "warm" with the one the cold run just filled.

The experiment: 32² or 64², 6 simulations × 20 frames, UNet 2 levels × 32 (56,130 parameters),
batch 16, K = 4, 3 warm-up cycles × 3 epochs, 3 hybrid cycles × 3 synthetic epochs, L-BFGS physics
(10 iterations). Reported per system: total wall (process start to exit), process CPU time, first
hybrid cycle, steady cycle (median of cycles 2 and 3), and per cycle the network phase (synthetic
training) and the physics phase (physical training), each the median over repeats; then the ratios
original / ours (> 1: ours is faster). Ours: from ``metrics.jsonl`` (``timings_s``). The original:
from its log (``Cycle N completed in``; the per-epoch ``time=`` of its Synthetic / Physical
Training progress bars, summed per cycle).

Headline figures (the lead, on a quiet machine; ~30 min on the 2-core CPU, ~10 min per repeat):
    python benchmarks/bench_vs_original.py --sizes 32 64 --repeats 3 --core 1
Check that it works: ``python benchmarks/bench_vs_original.py --quick`` (16², one repeat; ~3 min on a
quiet machine, 13.5 min under a load average of 15).
The original must be checked out with a working environment (see docs/benchmarks.md);
``--original`` (default /work/orig/src) and ``--original-python`` (default /work/orig/venv/bin/python)
say where; without them the script says so and exits 0.
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common as C

NAME = "bench_vs_original"
CONFIG = "configs/bench/burgers2d_reduced.yaml"
PHASES = ["total_wall_s", "cpu_s", "warmup_s", "first_cycle_s", "steady_cycle_s", "network_per_cycle_s",
          "physics_per_cycle_s"]


def original_overrides(n: int) -> list[str]:
    """Hydra overrides that turn the original's conf/burgers_2d.yaml into the reduced experiment at n²."""
    return ["general.mode=hybrid", "general.tasks=[generate,train]", "general.experiment_name=burgers_2d_reduced",
            "data.data_dir=data/burgers_2d_reduced", "data.num_simulations=6", "data.trajectory_length=20",
            f"model.physical.domain.dimensions.x.resolution={n}", f"model.physical.domain.dimensions.y.resolution={n}",
            "model.synthetic.architecture.levels=2", "model.synthetic.architecture.filters=32",
            "trainer.rollout_steps=4", "trainer.train_sim=[0,1,2,3,4,5]", "trainer.device=cpu",
            "trainer.physical.downsample_factor=0", "trainer.synthetic.epochs=3",
            "~trainer.synthetic.rollout_scheduler", "trainer.hybrid.cycles=3", "trainer.hybrid.warmup=3"]


def timed_process(cmd: list[str], cwd: Path, log: Path, env: dict) -> tuple[float, float]:
    """Run `cmd` to its end; (wall seconds, CPU seconds of it and its children). Raises on failure."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    with open(log, "w") as out:
        rc = subprocess.run(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT).returncode
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if rc:
        tail = "".join(log.read_text(errors="replace").replace("\r", "\n").splitlines(keepends=True)[-20:])
        raise RuntimeError(f"{' '.join(cmd)} exited with {rc}:\n{tail}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _bars(text: str, name: str) -> list[list[float]]:
    """Per progress bar `name` (one per call of a trainer), the ``time=`` of each of its epochs."""
    bars: list[dict[int, float]] = []
    pat = re.compile(rf"{name} Training:\s+\d+%\|[^|]*\|\s*(\d+)/(\d+) \[[^\]]*?(?:time=([\d.]+)s)?\]")
    for line in re.split(r"[\r\n]", text):
        m = pat.search(line)
        if not m:
            continue
        k = int(m.group(1))
        if k == 0 and m.group(3) is None:  # a new bar starts
            bars.append({})
        elif k >= 1 and m.group(3) is not None and bars:
            bars[-1].setdefault(k, float(m.group(3)))
    return [[b[k] for k in sorted(b)] for b in bars]


def parse_original(text: str, warmup_cycles: int) -> dict:
    """Timings of one original run from its log (see the module docstring)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    warm = [float(x) for x in re.findall(r"Warmup cycle \d+ completed in ([\d.]+)s", text)]
    cycles = [float(x) for x in re.findall(r"\bCycle \d+ completed in ([\d.]+)s", text)]
    syn, phys = _bars(text, "Synthetic"), _bars(text, "Physical")
    network = [sum(b) for b in syn[warmup_cycles:]]
    physics = [sum(b) for b in phys]
    if len(cycles) < 2 or len(network) != len(cycles) or len(physics) != len(cycles):
        raise RuntimeError(f"original log: found {len(cycles)} cycles, {len(network)} network and {len(physics)} "
                           f"physics phases; expected 3 of each")
    return {"warmup_s": sum(warm), "cycles_s": cycles, "network_s": network, "physics_s": physics}


def parse_ours(metrics: Path) -> dict:
    recs = [json.loads(ln) for ln in metrics.read_text().splitlines() if ln.strip()]
    cycles = [r["timings_s"] for r in recs if r["kind"] == "cycle"]
    warm = [r["timings_s"]["warmup"] for r in recs if r["kind"] == "warmup"]
    return {"warmup_s": sum(warm), "cycles_s": [c["cycle"] for c in cycles],
            "network_s": [c.get("train_synthetic", 0.0) for c in cycles],
            "physics_s": [c.get("train_physical", 0.0) for c in cycles]}


def figures(wall: float, cpu: float, t: dict) -> dict:
    """The reported figures of one run from its total wall/CPU time and phase timings."""
    later = slice(1, None)
    return {"total_wall_s": wall, "cpu_s": cpu, "warmup_s": t["warmup_s"], "first_cycle_s": t["cycles_s"][0],
            "steady_cycle_s": statistics.median(t["cycles_s"][later]),
            "network_per_cycle_s": statistics.median(t["network_s"][later]),
            "physics_per_cycle_s": statistics.median(t["physics_s"][later]), "raw": t}


def run_original(args, n: int, work: Path) -> dict:
    work.mkdir(parents=True)
    cmd = ["taskset", "-c", str(args.core), str(args.original_python), str(args.original / "run.py"),
           "--config-name", "burgers_2d", *original_overrides(n)]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{Path(args.original_python).parent}:{env.get('PATH', '')}"
    wall, cpu = timed_process(cmd, work, work / "log.txt", env)
    return figures(wall, cpu, parse_original((work / "log.txt").read_text(errors="replace"), warmup_cycles=3))


def run_ours(args, n: int, work: Path, cache: Path) -> dict:
    work.mkdir(parents=True)
    cmd = ["taskset", "-c", str(args.core), sys.executable, "-m", "hybrid_jax.train", "--config", str(C.ROOT / CONFIG),
           "--out", str(work / "run"), f"physics.resolution=[{n},{n}]", f"data.store_dir={work / 'data'}",
           f"output.compilation_cache={cache}"]
    env = C.child_env()
    wall, cpu = timed_process(cmd, C.ROOT, work / "log.txt", env)
    return figures(wall, cpu, parse_ours(work / "run" / "metrics.jsonl"))


def median_of(runs: list[dict]) -> dict:
    return {k: statistics.median(r[k] for r in runs) for k in PHASES} | {
        "min_total_wall_s": min(r["total_wall_s"] for r in runs), "max_total_wall_s": max(r["total_wall_s"] for r in runs)}


def main() -> None:
    p = C.parser(__doc__.splitlines()[0])
    p.add_argument("--original", type=Path, default=Path("/work/orig/src"), help="checkout of HYCO-PhiFlow (run.py)")
    p.add_argument("--original-python", type=Path, default=Path("/work/orig/venv/bin/python"),
                   help="a Python with the original's dependencies (torch, phiflow, hydra; numpy<2.4)")
    p.add_argument("--sizes", nargs="+", type=int, default=None, help="grid sizes n (n²); default 32 64, --quick 16")
    p.add_argument("--core", type=int, default=1, help="the one core both systems are pinned to (taskset -c)")
    p.add_argument("--keep", type=Path, default=None, help="keep the working directories and logs here")
    args = p.parse_args()
    if args.repeats is None:
        args.repeats = 1 if args.quick else 2
    args.warmup = 0
    args.sizes = args.sizes or ([16] if args.quick else [32, 64])
    if args.no_torch:
        print("skipped: --no-torch (the original system is PyTorch)")
        return
    if not (args.original / "run.py").is_file() or not args.original_python.is_file():
        print(f"skipped: the original is not available ({args.original}/run.py and {args.original_python} are needed; "
              f"set --original and --original-python)")
        return
    if shutil.which("taskset") is None:
        raise SystemExit("taskset (util-linux) is needed to pin both systems to one core")
    env = C.header(NAME, args)
    tmp_ctx = tempfile.TemporaryDirectory() if args.keep is None else None
    tmp = Path(tmp_ctx.name) if tmp_ctx else args.keep
    results = {}
    try:
        for n in args.sizes:
            runs = {"original": [], "ours_cold": [], "ours_warm": []}
            for i in range(args.repeats):
                cache = tmp / f"cache_{n}_{i}"
                for kind, fn in [("original", lambda d: run_original(args, n, d)),
                                 ("ours_cold", lambda d: run_ours(args, n, d, cache)),
                                 ("ours_warm", lambda d: run_ours(args, n, d, cache))]:
                    load = os.getloadavg()[0]
                    r = fn(tmp / f"{kind}_{n}_{i}") | {"load_before": load, "load_after": os.getloadavg()[0]}
                    runs[kind].append(r)
                    print(f"  {n}² repeat {i} {kind}: wall {r['total_wall_s']:.1f} s (cpu {r['cpu_s']:.1f}), first "
                          f"cycle {r['first_cycle_s']:.1f} s, steady {r['steady_cycle_s']:.2f} s (network "
                          f"{r['network_per_cycle_s']:.2f}, physics {r['physics_per_cycle_s']:.2f}); load "
                          f"{r['load_before']:.1f} -> {r['load_after']:.1f}", flush=True)
                shutil.rmtree(cache, ignore_errors=True)
            med = {kind: median_of(rs) for kind, rs in runs.items()}
            ratios = {f"original/{kind}": {k: med["original"][k] / med[kind][k] if med[kind][k] else None for k in PHASES}
                      for kind in ("ours_cold", "ours_warm")}
            results[n] = {"runs": runs, "median": med, "ratios": ratios}
            rows = [{"": kind, **m} for kind, m in med.items()] + [{"": k, **r} for k, r in ratios.items()]
            print(C.table(rows, ["", *PHASES], f"{n}²: medians of {args.repeats} alternating repeats, pinned to core "
                                               f"{args.core} (ratios > 1: ours faster)"))
    finally:
        if tmp_ctx:
            tmp_ctx.cleanup()
    C.write_json(NAME, args, env, {"config": CONFIG, "original": str(args.original), "core": args.core,
                                   "original_overrides": original_overrides(args.sizes[0]), "sizes": results})


if __name__ == "__main__":
    main()
