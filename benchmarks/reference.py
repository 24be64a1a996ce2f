"""The full-size reference experiments (configs/reference/): cycles measured per curriculum horizon K, and the whole run projected.

Each measurement is one ``python -m hybrid_jax.train`` process (a fresh compilation cache, the config's data
store shared) with the curriculum pinned to one K, the epochs cut (``--warmup-epochs``, ``--epochs`` per
cycle, ``--cycles``) and ``tasks=[generate, train]``; each cycle's phases come from ``metrics.jsonl`` as it
is written, the time between two cycle lines is its whole wall ("other": checkpoint, tracking, logging).
Cycle 0 compiles: steady = the median of cycles 2.. (cycle 1 with 2 cycles), compile = cycle 0 − steady.
The first K runs a second time with twice the epochs and ``--pair-warmup-epochs`` more warm-up epochs: the
check that time is linear in epochs, and the warm-up's steady epoch time. The projection (`project`) adds
startup, compilation (warm-up, cycle 0, the train program of every further K), the warm-up's epochs, every
cycle (steady fixed phases + its epochs at their K, interpolated between the measured K) and the end.
``--reproject SAVED.json [--k-scale UTILISATION.json]`` projects again from saved measurements.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import harness as H

NAME = "reference"
# config name -> (file, overrides that make it the hybrid experiment it describes)
CONFIGS = {
    "inviscid_burgers_1d": ("configs/reference/inviscid_burgers_1d.yaml", []),
    "inviscid_burgers_2d": ("configs/reference/inviscid_burgers_2d.yaml", []),
    "burgers_2d": ("configs/reference/burgers_2d.yaml", ["mode=hybrid"]),  # shipped in physical mode
}
# the original's own GPU logs (notes on MJSteynberg/HYCO-PhiFlow *.out), for the printed comparison
ORIGINAL_LOGS = {
    "inviscid_burgers_1d": "RTX 2080 Ti: 1 h 32 min (20 warm-up + 80 cycles)",
    "inviscid_burgers_2d": "A100: 330 s/cycle at K=1 rising to 940 s at K=4; killed after 24 h at cycle 159 of 180",
}
PHASES = ["generate_physical", "train_synthetic", "generate_synthetic", "train_physical", "validate"]


def curriculum(cfg) -> list[int]:
    """K of every synthetic epoch of the run, warm-up first: the formula documented in
    `hybrid_jax.config.CurriculumConfig` (p = e/(E-1), p**exponent if exponential,
    K = min(start + floor(p·(end-start+1)), end))."""
    warm = cfg.trainer.hybrid.warmup_epochs if cfg.mode == "hybrid" else 0
    total = warm + cfg.trainer.hybrid.cycles * cfg.trainer.synthetic.epochs
    c = cfg.trainer.synthetic.rollout_curriculum
    if c.kind == "none":
        return [cfg.data.rollout_steps] * total
    end = cfg.data.rollout_steps if c.end is None else c.end
    ks = []
    for e in range(total):
        p = min(e / (total - 1), 1.0) if total > 1 else 1.0
        p = p**c.exponent if c.kind == "exponential" else p
        ks.append(min(c.start + math.floor(p * (end - c.start + 1)), end))
    return ks


def full_run(cfg) -> dict:
    """The full run's shape: warm-up epochs, cycles, epochs per cycle, its distinct K and epochs at each."""
    ks = curriculum(cfg)
    return {"warmup_epochs": cfg.trainer.hybrid.warmup_epochs if cfg.mode == "hybrid" else 0,
            "cycles": cfg.trainer.hybrid.cycles, "epochs_per_cycle": cfg.trainer.synthetic.epochs,
            "curriculum_ks": sorted(set(ks)), "epochs_at_k": {k: ks.count(k) for k in sorted(set(ks))}}


def choose_ks(distinct: list[int], requested: list[int] | None, most: int) -> list[int]:
    """The K to measure: `requested` (those in the curriculum), else up to `most` spread over `distinct`."""
    if requested:
        chosen = sorted({k for k in requested if k in distinct})
        if not chosen:
            raise SystemExit(f"--ks: none of {requested} occurs in the curriculum {distinct}")
        return chosen
    if len(distinct) <= most:
        return distinct
    idx = sorted({round(i * (len(distinct) - 1) / (most - 1)) for i in range(most)})
    return [distinct[i] for i in idx]


class Stopped(TimeoutError):
    """A measured process stopped at the time limit; `records`: the metrics lines that arrived before."""

    def __init__(self, message: str, records: list[dict]):
        super().__init__(message)
        self.records = records


def run_measured(config: str, overrides: list[str], run_dir: Path, cache: Path, store: Path, log: Path,
                 timeout: float | None) -> dict:
    """One training process; returns its wall time and the metrics.jsonl records with their arrival times."""
    cmd = [sys.executable, "-m", "hybrid_jax.train", "--config", config, "--out", str(run_dir), *overrides,
           f"output.compilation_cache={cache}", f"data.store_dir={store}", "output.progress=false",
           "output.plots=false", "tasks=[generate,train]"]
    env = H.child_env()
    metrics = run_dir / "metrics.jsonl"
    records, offset = [], 0
    t0 = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=H.ROOT, stdout=out, stderr=subprocess.STDOUT)
        while True:
            done = proc.poll() is not None
            if metrics.is_file():
                text = metrics.read_text()
                if len(text) < offset:  # rewritten at start
                    offset = 0
                new, _, _ = text[offset:].rpartition("\n")
                if new:
                    now = time.perf_counter() - t0
                    for line in new.splitlines():
                        rec = json.loads(line)
                        if rec["kind"] != "epoch":
                            records.append({**rec, "arrival_s": now})
                    offset += len(new) + 1
            if done:
                break
            if timeout is not None and time.perf_counter() - t0 > timeout:
                proc.kill()
                proc.wait()
                raise Stopped(f"stopped after {timeout:.0f} s (--time-limit)", records)
            time.sleep(0.05)
    wall = time.perf_counter() - t0
    if proc.returncode:
        tail = "".join(log.read_text().splitlines(keepends=True)[-15:])
        why = (f"killed by signal {-proc.returncode}{' (out of memory?)' if proc.returncode == -9 else ''}"
               if proc.returncode < 0 else f"exited with {proc.returncode}")
        raise RuntimeError(f"{' '.join(cmd)}: {why} after {wall:.0f} s:\n{tail}")
    return {"wall_s": wall, "records": records}


def summarize_run(run: dict) -> dict:
    """Startup, warm-up, per-cycle phase timings (+ wall between cycle lines, other) and the end of one process."""
    warm = next((r for r in run["records"] if r["kind"] == "warmup"), None)
    cycles = [r for r in run["records"] if r["kind"] == "cycle"]
    prev = warm["arrival_s"] if warm else None
    out_cycles = []
    for r in cycles:
        t = dict(r["timings_s"])
        if prev is not None:
            t["wall"] = r["arrival_s"] - prev
            t["other"] = t["wall"] - t["cycle"]
        prev = r["arrival_s"]
        out_cycles.append(t)
    first = warm or (cycles[0] if cycles else None)
    first_s = (warm["timings_s"]["warmup"] if warm else cycles[0]["timings_s"]["cycle"]) if first else 0.0
    return {"wall_s": run["wall_s"], "startup_s": (first["arrival_s"] - first_s) if first else run["wall_s"],
            "warmup_s": warm["timings_s"]["warmup"] if warm else None, "cycles": out_cycles,
            "end_s": run["wall_s"] - cycles[-1]["arrival_s"] if cycles else None}


def steady(run: dict) -> dict:
    """Median of each phase (and cycle, wall, other) over the cycles from 2 on (from 1 with 2 cycles): cycle 0
    compiles, and the time before cycle 1 still holds one-off work after cycle 0 (the tracker's first images)."""
    later = run["cycles"][2:] or run["cycles"][1:]
    if not later:
        raise SystemExit("--cycles must be >= 2 (cycle 0 includes compilation)")
    keys = [k for k in later[0] if all(k in c for c in later)]
    return {k: statistics.median(c[k] for c in later) for k in keys}


def interpolate(points: dict[int, float], k: int) -> float:
    """Piecewise-linear in K through the measured points (linear extrapolation from the nearest two)."""
    ks = sorted(points)
    if len(ks) == 1:
        return points[ks[0]]
    lo = max([x for x in ks if x <= k] or [ks[0]])
    i = min(ks.index(lo), len(ks) - 2)
    a, b = ks[i], ks[i + 1]
    return points[a] + (points[b] - points[a]) * (k - a) / (b - a)


def project(cfg, ks: list[int], per_k: dict[int, dict], pair: dict, scaled_epoch_s: dict | None = None) -> dict:
    """Projected wall of the full run from the measurements (see the module docstring); `scaled_epoch_s`:
    epoch times at unmeasured K (`--reproject --k-scale`)."""
    warm_n = cfg.trainer.hybrid.warmup_epochs if cfg.mode == "hybrid" else 0
    epochs, cycles = cfg.trainer.synthetic.epochs, cfg.trainer.hybrid.cycles
    epoch_s = {**(scaled_epoch_s or {}), **{k: m["epoch_s"] for k, m in per_k.items()}}
    fixed_keys = [p for p in PHASES if p != "train_synthetic"] + ["other"]
    fixed = statistics.median(sum(m["steady"].get(p, 0.0) for p in fixed_keys) for m in per_k.values())
    k_pair = pair["k"]
    warm_epoch = pair["warmup_epoch_s"]
    warm_s = sum(warm_epoch * interpolate(epoch_s, k) / epoch_s[k_pair] for k in ks[:warm_n])
    cycle_s = [fixed + sum(interpolate(epoch_s, k) for k in ks[warm_n + c * epochs: warm_n + (c + 1) * epochs])
               for c in range(cycles)]
    first_k = ks[warm_n] if len(ks) > warm_n else k_pair
    nearest = min(per_k, key=lambda k: abs(k - first_k))
    compile_s = pair["warmup_compile_s"] + per_k[nearest]["cycle0_excess_s"]
    # every further distinct K compiles its own train program: at a measured K, its process's warm-up less
    # its epochs (scaled from the pair's steady warm-up epoch like a cycle epoch); interpolated in K
    w1 = pair["warmup_epochs"][0]
    k_compile = {k: max(m["warmup_s"] - w1 * warm_epoch * epoch_s[k] / epoch_s[k_pair], 0.0)
                 for k, m in per_k.items()} if w1 else {}
    later_ks = sorted(set(ks) - {ks[0]}) if ks else []
    k_programs_s = sum(interpolate(k_compile, k) for k in later_ks) if k_compile else 0.0
    total = pair["startup_s"] + compile_s + k_programs_s + warm_s + sum(cycle_s) + pair["end_s"]
    return {"startup_s": pair["startup_s"], "compile_s": compile_s, "k_programs_compile_s": k_programs_s,
            "k_program_compile_s": k_compile, "warmup_s": warm_s,
            "cycles_s": sum(cycle_s), "cycle_first_s": cycle_s[0] if cycle_s else None,
            "cycle_last_s": cycle_s[-1] if cycle_s else None, "fixed_per_cycle_s": fixed, "end_s": pair["end_s"],
            "total_s": total, "total_h": total / 3600}


def measure_config(name: str, args, tmp: Path, deadline: float | None) -> dict:
    from hybrid_jax.config import load_config

    path, extra = CONFIGS[name]
    cfg = load_config(H.ROOT / path, extra + args.overrides)
    ks_all = curriculum(cfg)
    distinct = sorted(set(ks_all))
    ks = choose_ks(distinct, args.ks, 2 if args.quick else args.max_ks)
    curr = cfg.trainer.synthetic.rollout_curriculum
    store, logs = tmp / f"{name}_data", tmp / f"{name}_logs"
    logs.mkdir(parents=True, exist_ok=True)

    def one(k: int, warm_epochs: int, epochs: int, tag: str) -> dict:
        left = None if deadline is None else deadline - time.perf_counter()
        if left is not None and left < 30:
            raise TimeoutError("time limit reached")
        pin = [] if curr.kind == "none" else ["trainer.synthetic.rollout_curriculum.kind=linear",
                                               f"trainer.synthetic.rollout_curriculum.start={k}",
                                               f"trainer.synthetic.rollout_curriculum.end={k}"]
        over = [*extra, *args.overrides, *pin, f"trainer.synthetic.epochs={epochs}",
                f"trainer.hybrid.cycles={args.cycles}", f"trainer.hybrid.warmup_epochs={warm_epochs}"]
        print(f"  {name} K={k} warm-up {warm_epochs} + {args.cycles} cycles x {epochs} epochs ...", flush=True)
        run = summarize_run(run_measured(path, over, tmp / f"{name}_{tag}", tmp / f"{name}_{tag}_cache", store,
                                         logs / f"{tag}.log", left))
        run["steady"] = steady(run)
        c0 = run["cycles"][0]
        run["cycle0_excess_s"] = c0.get("wall", c0["cycle"]) - run["steady"].get("wall", run["steady"]["cycle"])
        run["epoch_s"] = run["steady"]["train_synthetic"] / epochs
        print(f"    wall {run['wall_s']:.1f} s, startup {run['startup_s']:.1f} s, steady cycle "
              f"{run['steady']['cycle']:.2f} s (synthetic {run['epoch_s']:.3f} s/epoch), cycle 0 "
              f"{c0['cycle']:.2f} s", flush=True)
        return run

    warm = cfg.trainer.hybrid.warmup_epochs if cfg.mode == "hybrid" else 0
    w1 = args.warmup_epochs if warm else 0
    per_k, double, note = {}, None, None
    try:
        # the first K twice (epochs E and 2E): the linearity check and the warm-up's steady epoch time
        per_k[ks[0]] = one(ks[0], w1, args.epochs, f"K{ks[0]}")
        w2 = w1 + args.pair_warmup_epochs if warm else 0
        double = one(ks[0], w2, 2 * args.epochs, f"K{ks[0]}_x2")
        for k in ks[1:]:
            per_k[k] = one(k, w1, args.epochs, f"K{k}")
    except TimeoutError as e:
        note = f"stopped early: {e}; projection from the K measured so far"
        print(f"    {note}", flush=True)
        if double is None:
            partial = getattr(e, "records", None)  # what the stopped process logged: startup, warm-up, cycles
            if partial:
                print(f"    logged before the stop: {json.dumps(partial)}", flush=True)
            return {"config": path, "overrides": extra + args.overrides, "measured": per_k, "note": note,
                    "stopped_process_records": partial}
    first = per_k[ks[0]]
    ratio = double["steady"]["train_synthetic"] / first["steady"]["train_synthetic"]
    warm_epoch = (double["warmup_s"] - first["warmup_s"]) / (w2 - w1) if w2 > w1 else 0.0
    if not 1.6 <= ratio <= 2.4 or warm_epoch < 0:
        note = (f"the pair is not linear in epochs (ratio {ratio:.2f}, warm-up difference {warm_epoch:.2f} s/epoch): "
                f"timings too noisy (other load?); warm-up epochs projected at the first process's warm-up time "
                f"(compilation included: an upper bound)")
        print(f"    WARNING: {note}", flush=True)
        warm_epoch = first["warmup_s"] / w1 if w1 else 0.0
    pair = {"k": ks[0], "epochs": [args.epochs, 2 * args.epochs], "warmup_epochs": [w1, w2],
            "train_synthetic_s": [first["steady"]["train_synthetic"], double["steady"]["train_synthetic"]],
            "linearity_ratio": ratio, "warmup_epoch_s": warm_epoch,
            "warmup_compile_s": max(first["warmup_s"] - w1 * warm_epoch, 0.0) if w1 else 0.0,
            "startup_s": first["startup_s"], "end_s": statistics.median(r["end_s"] for r in per_k.values())}
    proj = project(cfg, ks_all, per_k, pair)
    return {"config": path, "overrides": extra + args.overrides, "full": full_run(cfg), "measured_ks": sorted(per_k), "measured": per_k, "double": double, "pair": pair, "projection": proj,
        "note": note}


def reproject(name: str, res: dict, saved_args: dict, k_scale: Path | None) -> dict:
    """The projection of a saved result whose pair process was stopped by the time limit: the pair from
    what that process logged (its warm-up, with `--pair-warmup-epochs` more epochs, and its cycle 0, with
    twice the epochs), and, with `k_scale` (a bench_utilisation JSON of the same config and device), the
    epoch time at every unmeasured K as the measured K's scaled by the train step's time ratio (for the
    config's network dtype; interpolated in K between the utilisation's K)."""
    from hybrid_jax.config import load_config

    path, extra = CONFIGS[name]
    cfg = load_config(H.ROOT / path, extra + res.get("overrides", [])[len(extra):])
    per_k = {int(k): m for k, m in res["measured"].items()}
    k0, first = min(per_k.items())
    warm, c0 = (next((r for r in res.get("stopped_process_records", []) if r["kind"] == kind), None)
                for kind in ("warmup", "cycle"))
    if warm is None or c0 is None:
        raise SystemExit(f"{name}: the stopped pair process logged no warm-up and cycle 0: nothing to project from")
    epochs, w1 = saved_args["epochs"], saved_args["warmup_epochs"]
    w2 = w1 + saved_args.get("pair_warmup_epochs", 20)
    warm_epoch = (warm["timings_s"]["warmup"] - first["warmup_s"]) / (w2 - w1)
    ratio = c0["timings_s"]["train_synthetic"] / first["cycles"][0]["train_synthetic"]
    pair = {"k": k0, "epochs": [epochs, 2 * epochs], "warmup_epochs": [w1, w2],
            "train_synthetic_s": [first["cycles"][0]["train_synthetic"], c0["timings_s"]["train_synthetic"]],
            "linearity_ratio": ratio, "linearity_from": "cycle 0 of both processes (the pair stopped after it)",
            "warmup_epoch_s": warm_epoch, "warmup_compile_s": max(first["warmup_s"] - w1 * warm_epoch, 0.0),
            "startup_s": first["startup_s"], "end_s": statistics.median(r["end_s"] for r in per_k.values())}
    ks_all = curriculum(cfg)
    distinct = sorted(set(ks_all))
    scaled = None
    if k_scale is not None:
        rows = [r for r in json.loads(k_scale.read_text())["rows"] if r["dtype"] == cfg.network.dtype]
        step = {r["K"]: r["step_s"] for r in rows}
        if k0 not in step:
            raise SystemExit(f"{k_scale}: no {cfg.network.dtype} step time at K {k0}, the measured K")
        scaled = {k: first["epoch_s"] * interpolate(step, k) / step[k0] for k in distinct}
    return {**res, "full": full_run(cfg), "pair": pair, "scaled_epoch_s": scaled, "k_scale": str(k_scale) if k_scale else None,
            "projection": project(cfg, ks_all, per_k, pair, scaled)}


def print_config(name: str, res: dict, args) -> None:
    rows = []
    for k, m in sorted(res["measured"].items()):
        s = m["steady"]
        rows.append({"K": k, "startup s": m["startup_s"], "warm-up s": m["warmup_s"], "cycle 0 s": m["cycles"][0]["cycle"],
                     "compile s (c0-steady)": m["cycle0_excess_s"], "steady cycle s": s["cycle"],
                     "syn. s/epoch": m["epoch_s"], **{p: s.get(p) for p in PHASES}, "other": s.get("other")})
    cols = ["K", "startup s", "warm-up s", "cycle 0 s", "compile s (c0-steady)", "steady cycle s", "syn. s/epoch",
            *PHASES, "other"]
    print(H.table(rows, cols, f"{name}: measured ({args.epochs} synthetic epochs/cycle, {args.warmup_epochs} "
                              f"warm-up epochs, {args.cycles} cycles; steady = median of cycles >= 2, or cycle 1)"))
    if "projection" not in res:
        print(res.get("note"))
        return
    p, pair, full = res["projection"], res["pair"], res["full"]
    print(f"\nlinearity in epochs (K={pair['k']}): steady synthetic phase {pair['train_synthetic_s'][0]:.2f} s at "
          f"{pair['epochs'][0]} epochs, {pair['train_synthetic_s'][1]:.2f} s at {pair['epochs'][1]}: ratio "
          f"{pair['linearity_ratio']:.2f} (2.00 if linear); warm-up {pair['warmup_epoch_s']:.3f} s/epoch steady "
          f"({pair['warmup_epochs'][0]} and {pair['warmup_epochs'][1]} epochs), "
          f"its compile {pair['warmup_compile_s']:.1f} s")
    rows = [{"part": "startup (imports, data generation, build)", "s": p["startup_s"]},
            {"part": "compilation (warm-up + cycle 0)", "s": p["compile_s"]},
            {"part": f"compilation of the train program at the other {len(full['curriculum_ks']) - 1} K "
                     f"(a fresh cache; per measured K: {', '.join(f'{k}: {v:.1f} s' for k, v in sorted(p['k_program_compile_s'].items()))})",
             "s": p["k_programs_compile_s"]},
            {"part": f"warm-up ({full['warmup_epochs']} epochs)", "s": p["warmup_s"]},
            {"part": f"{full['cycles']} cycles x {full['epochs_per_cycle']} epochs (first {H.fmt(p['cycle_first_s'])} s, "
                     f"last {H.fmt(p['cycle_last_s'])} s)", "s": p["cycles_s"]},
            {"part": "end (last checkpoint)", "s": p["end_s"]},
            {"part": "total", "s": p["total_s"], "h": p["total_h"]}]
    print(H.table(rows, ["part", "s", "h"], f"{name}: projected full run (K over epochs: {full['epochs_at_k']})"))
    if name in ORIGINAL_LOGS:
        print(f"original ({ORIGINAL_LOGS[name]})")


def main(argv=None):
    p = H.parser(__doc__, NAME)
    p.add_argument("--configs", nargs="+", choices=sorted(CONFIGS), default=["inviscid_burgers_1d", "inviscid_burgers_2d"])
    p.add_argument("--ks", nargs="+", type=int, default=None, help="K to measure (default: up to --max-ks spread "
                                                                     "over the curriculum's distinct K)")
    p.add_argument("--max-ks", type=int, default=4, help="K measured when --ks is not given (--quick: 2)")
    p.add_argument("--epochs", type=int, default=None, help="synthetic epochs per measured cycle (default 2, --quick 1)")
    p.add_argument("--warmup-epochs", type=int, default=1, help="warm-up epochs of a measured process")
    p.add_argument("--pair-warmup-epochs", type=int, default=None,
                   help="extra warm-up epochs of the pair's second process (default 20, --quick 10): their time "
                        "over the first's is the warm-up's steady epoch time")
    p.add_argument("--cycles", type=int, default=3, help="cycles per measured process (>= 2: cycle 0 compiles; "
                                                         "steady = cycles from 2 on)")
    p.add_argument("--time-limit", type=float, default=None, help="seconds for the whole script; later runs skipped")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="extra overrides for every config")
    p.add_argument("--reproject", type=Path, default=None, help="no runs: project again from this saved JSON "
                   "(a pair process stopped by the time limit: from what it logged)")
    p.add_argument("--k-scale", type=Path, default=None, help="with --reproject: a bench_utilisation JSON of the "
                   "same config and device; epoch time at unmeasured K scaled by its train-step times")
    args = H.parse(p, argv)
    if args.reproject is not None:
        saved = json.loads(args.reproject.read_text())
        env, results = H.header(NAME, args), {}
        for name, res in saved["configs"].items():
            if "measured" not in res:
                continue
            results[name] = res if "projection" in res else reproject(name, res, saved, args.k_scale)
            print(f"\n## {name} (from {args.reproject})")
            print_config(name, results[name], argparse.Namespace(**{**vars(args), **{
                k: saved[k] for k in ("epochs", "warmup_epochs", "cycles")}}))
        H.write_json(NAME, args, {**env, "reprojected_from": str(args.reproject)},
                     {**{k: saved[k] for k in ("epochs", "warmup_epochs", "cycles")}, "configs": results})
        return
    if args.epochs is None:
        args.epochs = 1 if args.quick else 2
    if args.pair_warmup_epochs is None:
        args.pair_warmup_epochs = 10 if args.quick else 20
    env = H.header(NAME, args)
    deadline = None if args.time_limit is None else time.perf_counter() + args.time_limit
    results = {}
    with H.workdir(args) as tmp:
        for name in args.configs:
            print(f"\n## {name}", flush=True)
            try:
                results[name] = measure_config(name, args, tmp, deadline)
            except RuntimeError as e:  # a failed training process: say so, go on with the next config
                print(f"    FAILED: {e}", flush=True)
                results[name] = {"error": str(e)}
                continue
            print_config(name, results[name], args)
    H.write_json(NAME, args, env, {"epochs": args.epochs, "warmup_epochs": args.warmup_epochs, "cycles": args.cycles,
                                   "pair_warmup_epochs": args.pair_warmup_epochs, "configs": results})
    if all("error" in r for r in results.values()):
        raise SystemExit(1)

