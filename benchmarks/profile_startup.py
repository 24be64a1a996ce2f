"""Where a run's non-steady wall time goes, per phase, with a warm compilation cache.

One ``hybrid_jax.train`` run (default: the smoke job) fills a compilation cache; then a fresh process,
pinned to one core (``--core``, default 1), runs the same job in-process with each phase timed: imports,
config, data, building the experiment, the warm-up, each cycle, checkpoint writes, the per-cycle
tracking, evaluation, plots, the summary. JAX's monitoring events split every phase's time into
tracing (jaxpr), lowering (jaxpr -> MLIR) and backend compilation or cache load; the rest of a phase
is execution and Python. Also printed: traces per function (a function traced more than once was
re-traced for a new shape or new Python objects) and the persistent cache's hits and misses.
Each figure is the median of ``--repeats`` profiled processes (wall and CPU seconds; CPU seconds
are less disturbed by other processes on a shared core).

Run: ``python benchmarks/profile_startup.py [--quick] [--config configs/smoke.yaml] [--core 1] [overrides ...]``
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EVENTS = {"/jax/core/compile/jaxpr_trace_duration": "trace",  # JAX monitoring event -> kind
          "/jax/core/compile/jaxpr_to_mlir_module_duration": "lower",
          "/jax/core/compile/backend_compile_duration": "compile"}

# ----------------------------------------------------------------------------- the profiled process


class Profile:
    """Wall and CPU seconds of named phases, and the JAX compile events inside each (nested events,
    such as an inner jit traced inside an outer one, are counted once)."""

    def __init__(self):
        self.rows: dict[str, dict] = {}
        self.stack: list[str] = []
        self.cpu: dict[tuple[str, str], float] = defaultdict(float)
        self.functions: dict[str, dict[str, float]] = {}
        self.traces: dict[str, int] = defaultdict(int)
        self.cache: dict[str, int] = defaultdict(int)

    @contextmanager
    def phase(self, name: str):
        self.stack.append(name)
        w, c = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            row = self.rows.setdefault(name, {"wall_s": 0.0, "cpu_s": 0.0})
            row["wall_s"] += time.perf_counter() - w
            row["cpu_s"] += time.process_time() - c
            self.stack.pop()

    def listen(self) -> None:
        """Count CPU seconds of tracing, lowering and compilation (or cache load) per phase and per function,
        from JAX's monitoring events (a scalar at the start, a duration at the end); nested events of one
        kind (an inner jit traced inside an outer one) count once, for the outermost function."""
        import jax

        depth, start = defaultdict(int), {}

        def begin(event, value, **kw):
            if event in EVENTS:
                kind = EVENTS[event]
                depth[kind] += 1
                if kind == "trace":
                    self.traces[f"{kw.get('fun_name', '?')} ({self.stack[-1] if self.stack else '-'})"] += 1
                if depth[kind] == 1:
                    start[kind] = time.process_time()

        def end(event, duration, **kw):
            if event in EVENTS:
                kind = EVENTS[event]
                depth[kind] -= 1
                if depth[kind] == 0:
                    cpu = time.process_time() - start[kind]
                    if self.stack:
                        self.cpu[(self.stack[-1], kind)] += cpu
                    f = self.functions.setdefault(kw.get("fun_name", "?"), defaultdict(float))
                    f[kind] += cpu

        def count(event, **kw):
            if event.startswith("/jax/compilation_cache/cache_"):
                self.cache[event.rsplit("/", 1)[1]] += 1

        jax.monitoring.register_scalar_listener(begin)
        jax.monitoring.register_event_duration_secs_listener(end)
        jax.monitoring.register_event_listener(count)
        self._listeners = (begin, end, count)

    def stop(self) -> None:
        """Stop listening to JAX's events."""
        import jax

        begin, end, count = self._listeners
        jax.monitoring.unregister_scalar_listener(begin)
        jax.monitoring.unregister_event_duration_listener(end)
        jax.monitoring.unregister_event_listener(count)

    def table(self) -> dict:
        return {name: {**row, **{f"{kind}_cpu_s": self.cpu.get((name, kind), 0.0) for kind in EVENTS.values()}}
                for name, row in self.rows.items()}


def wrap(profile: Profile, module, attr: str, phase: str | None = None):
    """Replace `module.attr` by a version timed as `phase` (default `attr`)."""
    fn = getattr(module, attr)

    def timed(*args, **kwargs):
        with profile.phase(phase or attr):
            return fn(*args, **kwargs)

    setattr(module, attr, timed)


def child(config: str, overrides: list[str], run_dir: str) -> dict:
    """Run the job in this process with every phase timed; return the profile."""
    prof = Profile()
    with prof.phase("imports"):
        import jax  # noqa: F401

        prof.listen()
        from hybrid_jax.backend import enable_compilation_cache, setup
        from hybrid_jax.config import load_config
        from hybrid_jax.logs import setup_logging

        setup_logging()
        setup()
        import hybrid_jax.run as R
        from hybrid_jax.rundir import prepare_run_dir
    with prof.phase("config"):
        cfg = load_config(config, overrides + ["output.progress=false"])
        enable_compilation_cache(cfg.output.compilation_cache)
    import hybrid_jax.checkpoint as ckpt
    import hybrid_jax.plots as plots
    import hybrid_jax.tracking as tracking

    for attr, phase in [("preflight", "build: preflight, PDE"), ("build_pde", "build: preflight, PDE"),
                        ("load_trajectories", "data"), ("build_experiment", "build: experiment"),
                        ("initial_states", "build: initial states, restore"),
                        ("validation_rollouts", "evaluate"), ("evaluate", "evaluate"), ("summarize", "summary")]:
        wrap(prof, R, attr, phase)
    wrap(prof, ckpt.Checkpoints, "save", "checkpoint saves")
    wrap(prof, ckpt.Checkpoints, "close", "checkpoint saves")  # waits for the last asynchronous save
    wrap(prof, ckpt.Checkpoints, "restore_intact", "build: initial states, restore")
    wrap(prof, tracking.Tracker, "cycle", "tracking (per cycle)")
    wrap(prof, plots, "write_plots", "plots")
    cycles = R.train_cycles

    def train_cycles(exp, states, start=0, *args, **kwargs):  # each cycle timed up to its yield
        it, n = cycles(exp, states, start, *args, **kwargs), start - (1 if exp.cfg.trainer.hybrid.warmup_epochs else 0)
        while True:
            with prof.phase("warm-up" if n < start else f"cycle {n}"):
                try:
                    item = next(it)
                except StopIteration:
                    return
            n += 1
            yield item

    R.train_cycles = train_cycles
    t = time.perf_counter()
    before = sum(r["wall_s"] for r in prof.rows.values())
    with prepare_run_dir(cfg, Path(run_dir), True):
        summary = R.run(cfg, Path(run_dir))
    run_s = time.perf_counter() - t
    phases = prof.table()
    phases["other (untimed parts of the run)"] = {"wall_s": run_s - (sum(r["wall_s"] for r in prof.rows.values()) - before)}
    return {"phases": phases, "traces": dict(prof.traces), "functions": prof.functions, "cache": dict(prof.cache),
            "run_s": run_s, "steady_cycle_s": summary.get("steady_cycle_s")}


# ----------------------------------------------------------------------------- the driver


def run_child(config, overrides, run_dir, core) -> dict:
    out = Path(run_dir) / "profile.json"
    cmd = [sys.executable, __file__, "--child", str(out), "--config", config, "--run-dir", str(run_dir), *overrides]
    if core is not None:
        cmd = ["taskset", "-c", str(core), *cmd]
    t = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": "0"},
                   capture_output=True)
    return {"process_s": time.perf_counter() - t, **json.loads(out.read_text())}


def median_table(runs: list[dict]) -> list[dict]:
    names = list(runs[0]["phases"])
    cols = ["wall_s", "cpu_s", "trace_cpu_s", "lower_cpu_s", "compile_cpu_s"]
    rows = [{"phase": n, **{c: statistics.median(r["phases"].get(n, {}).get(c, 0.0) for r in runs) for c in cols}}
            for n in names]
    rows.append({"phase": "total (in process)", **{c: sum(r[c] for r in rows) for c in cols}})
    return rows


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        import argparse

        p = argparse.ArgumentParser()
        p.add_argument("--child", type=Path)
        p.add_argument("--config")
        p.add_argument("--run-dir")
        p.add_argument("overrides", nargs="*")
        a = p.parse_args()
        a.child.write_text(json.dumps(child(a.config, a.overrides, a.run_dir)))
        return
    import _common as C

    p = C.parser(__doc__.splitlines()[0])
    p.add_argument("--config", default="configs/smoke.yaml")
    p.add_argument("--core", type=int, default=1, help="CPU core to pin the profiled processes to (-1: none)")
    p.add_argument("overrides", nargs="*")
    args = C.finish_args(p.parse_args())
    args.repeats = 1 if args.quick else args.repeats
    env = C.header("profile_startup", args)
    core = None if args.core < 0 else args.core
    with tempfile.TemporaryDirectory() as tmp:
        over = args.overrides + [f"output.compilation_cache={tmp}/cache", f"data.store_dir={tmp}/data"]
        run_child(args.config, over, f"{tmp}/fill", core)  # fills the cache and the data store
        runs = [run_child(args.config, over, f"{tmp}/run{i}", core) for i in range(args.repeats)]
    rows = median_table(runs)
    print(C.table(rows, ["phase", "wall_s", "cpu_s", "trace_cpu_s", "lower_cpu_s", "compile_cpu_s"],
                  f"{args.config}, warm cache, median of {len(runs)} process(es)"
                  f"{'' if core is None else f' pinned to core {core}'} (compile: compilation or cache load)"))
    print(f"process wall (median): {statistics.median(r['process_s'] for r in runs):.2f} s; "
          f"steady cycle {statistics.median(r['steady_cycle_s'] or 0 for r in runs):.2f} s")
    traces = runs[-1]["traces"]
    print("traces per function (phase) (last process; >1: re-traced):",
          ", ".join(f"{k} {v}" for k, v in sorted(traces.items(), key=lambda kv: -kv[1])))
    functions = sorted(runs[-1]["functions"].items(), key=lambda kv: -sum(kv[1].values()))
    print("CPU s of trace / lower / compile per outermost function (last process): " + "; ".join(
        f"{k} {v.get('trace', 0):.2f}/{v.get('lower', 0):.2f}/{v.get('compile', 0):.2f}" for k, v in functions[:12]))
    print("persistent cache (last process):", runs[-1]["cache"])
    C.write_json("profile_startup", args, env, {"config": args.config, "overrides": args.overrides, "rows": rows,
                                                  "runs": runs})


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
