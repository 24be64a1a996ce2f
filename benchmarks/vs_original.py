"""End to end against the original system (HYCO-PhiFlow, PyTorch): the reduced 2D Burgers hybrid experiment.

Both systems run it as a user does, one process each, pinned to the same cores (``--cores``, default 1),
alternating original / ours with a cold compilation cache / ours warm (the cache the cold run filled):
the original's ``run.py --config-name burgers_2d`` cut down by Hydra overrides (`original_overrides`) in a
fresh working directory, ours ``python -m hybrid_jax.train --config configs/bench/burgers2d_reduced.yaml``.
Per system: total wall, CPU time, first and steady cycle (median of cycles 2 and 3), network and physics
phase per cycle (ours from ``metrics.jsonl``; the original's from its log: ``Cycle N completed in`` and the
``time=`` of its progress bars), medians over repeats, and the ratios original / ours (> 1: ours faster).
Where the original is: ``--original DIR`` or ``$HYBRID_JAX_ORIGINAL`` (a checkout with run.py), and a Python
with its dependencies, ``--original-python`` or ``$HYBRID_JAX_ORIGINAL_PYTHON``; without them it says so
and exits 0.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import sys
from pathlib import Path

from benchmarks import harness as H

NAME = "vs_original"
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
    cmd = [str(args.original_python), str(args.original / "run.py"),
           "--config-name", "burgers_2d", *original_overrides(n)]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{Path(args.original_python).parent}:{env.get('PATH', '')}"
    t = H.run_process(cmd, work / "log.txt", env=env, cwd=work)
    return figures(t["wall_s"], t["cpu_s"], parse_original((work / "log.txt").read_text(errors="replace"), 3))


def run_ours(args, n: int, work: Path, cache: Path) -> dict:
    work.mkdir(parents=True)
    cmd = [sys.executable, "-m", "hybrid_jax.train", "--config", str(H.ROOT / CONFIG),
           "--out", str(work / "run"), f"physics.resolution=[{n},{n}]", f"data.store_dir={work / 'data'}",
           f"output.compilation_cache={cache}"]
    t = H.run_process(cmd, work / "log.txt")
    return figures(t["wall_s"], t["cpu_s"], parse_ours(work / "run" / "metrics.jsonl"))


def median_of(runs: list[dict]) -> dict:
    return {k: statistics.median(r[k] for r in runs) for k in PHASES} | {
        "min_total_wall_s": min(r["total_wall_s"] for r in runs), "max_total_wall_s": max(r["total_wall_s"] for r in runs)}


def main(argv=None):
    p = H.parser(__doc__, NAME)
    p.add_argument("--original", type=Path, default=os.environ.get("HYBRID_JAX_ORIGINAL"),
                   help="checkout of HYCO-PhiFlow, the directory of its run.py (default $HYBRID_JAX_ORIGINAL)")
    p.add_argument("--original-python", type=Path, default=os.environ.get("HYBRID_JAX_ORIGINAL_PYTHON"),
                   help="a Python with the original's dependencies: torch, phiflow, hydra, numpy<2.4 "
                        "(default $HYBRID_JAX_ORIGINAL_PYTHON)")
    p.add_argument("--sizes", nargs="+", type=int, default=None, help="grid sizes n (n²); default 32 64, --quick 16")
    p.set_defaults(cores={1})
    args = H.parse(p, argv)
    args.repeats = H.q(args, 1, 2) if "--repeats" not in (argv or []) else args.repeats
    args.warmup = 0
    args.sizes = args.sizes or ([16] if args.quick else [32, 64])
    if args.no_torch:
        print("skipped: --no-torch (the original system is PyTorch)")
        return
    if not (args.original and (args.original / "run.py").is_file() and args.original_python
            and args.original_python.is_file()):
        print(f"skipped: the original is not available (run.py in --original / $HYBRID_JAX_ORIGINAL: {args.original}; "
              f"--original-python / $HYBRID_JAX_ORIGINAL_PYTHON: {args.original_python})")
        return
    env = H.header(NAME, args)
    results = {}
    with H.workdir(args) as tmp:
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
            print(H.table(rows, ["", *PHASES], f"{n}²: medians of {args.repeats} alternating repeats, pinned to cores "
                                               f"{sorted(args.cores)} (ratios > 1: ours faster)"))
    H.write_json(NAME, args, env, {"config": CONFIG, "original": str(args.original), "cores": sorted(args.cores),
                                   "original_overrides": original_overrides(args.sizes[0]), "sizes": results})

