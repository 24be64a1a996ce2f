"""Start-up of a whole training job, cold and warm compilation cache, and where each process's time goes.

Each repeat runs the job (default: the smoke job) twice in fresh processes under the command line's
environment (`hybrid_jax.backend.process_environment`): cold (an empty compilation cache) and warm (the
cache the cold one filled). Each runs ``hybrid_jax.run.run`` in-process with every phase timed (imports,
config, backend setup, data, building, warm-up, each cycle, checkpoint saves, tracking, evaluation, the wait
for the background outputs, summary) in wall and CPU seconds, with the CPU seconds of tracing, lowering and
compilation or cache load inside each phase (JAX's monitoring events); also traces per function and the
persistent cache's hits and misses. The figures, drawn on the background output worker
(`hybrid_jax.background`), are rows of their own below the total: they overlap the main thread's phases.
``--vary-hash-seed``: each warm process gets its own ``PYTHONHASHSEED``, so a warm miss is a program whose
HLO depends on it. ``--against REF`` (a git revision, or another checkout's directory) runs the same pair
from that code, alternating with this checkout, and prints the ratios. The data store is made once first.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

NAME = "startup"
EVENTS = {"/jax/core/compile/jaxpr_trace_duration": "trace",  # JAX monitoring event -> kind
          "/jax/core/compile/jaxpr_to_mlir_module_duration": "lower",
          "/jax/core/compile/backend_compile_duration": "compile"}
COLS = ["wall_s", "cpu_s", "trace_cpu_s", "lower_cpu_s", "compile_cpu_s"]
WORKER = " [worker thread]"

# ----------------------------------------------------------------------------- the profiled process


class Profile:
    """Wall and CPU seconds of named phases, and the JAX compile events inside each (nested events of one
    kind, such as an inner jit traced inside an outer one, count once, for the outermost function).

    A phase entered on another thread than the main one (the background output worker's figures) is a row
    of its own, named with `WORKER` appended, its CPU seconds that thread's; it overlaps the main thread's
    phases and is not part of their total (`worker_rows`)."""

    def __init__(self):
        self.rows: dict[str, dict] = {}
        self.stack: list[str] = []  # the main thread's
        self.cpu: dict[tuple[str, str], float] = defaultdict(float)
        self.functions: dict[str, dict[str, float]] = {}
        self.traces: dict[str, int] = defaultdict(int)
        self.cache: dict[str, int] = defaultdict(int)

    @contextmanager
    def phase(self, name: str):
        main = threading.current_thread() is threading.main_thread()
        if not main:
            name += WORKER
        else:
            self.stack.append(name)
        clock = time.process_time if main else time.thread_time
        w, c = time.perf_counter(), clock()
        try:
            yield
        finally:
            row = self.rows.setdefault(name, {"wall_s": 0.0, "cpu_s": 0.0})
            row["wall_s"] += time.perf_counter() - w
            row["cpu_s"] += clock() - c
            if main:
                self.stack.pop()

    def main_wall(self) -> float:
        """Wall seconds of the main thread's phases."""
        return sum(r["wall_s"] for n, r in self.rows.items() if not n.endswith(WORKER))

    def listen(self) -> None:
        """Listen to JAX's monitoring events (a scalar at an event's start, a duration at its end)."""
        import jax

        depth, start = defaultdict(int), {}

        def begin(event, value, **kw):
            if event in EVENTS and threading.current_thread() is threading.main_thread():
                kind = EVENTS[event]
                depth[kind] += 1
                if kind == "trace":
                    self.traces[f"{kw.get('fun_name', '?')} ({self.stack[-1] if self.stack else '-'})"] += 1
                if depth[kind] == 1:
                    start[kind] = time.process_time()

        def end(event, duration, **kw):
            if event in EVENTS and threading.current_thread() is threading.main_thread():
                kind = EVENTS[event]
                depth[kind] -= 1
                if depth[kind] == 0:
                    cpu = time.process_time() - start[kind]
                    if self.stack:
                        self.cpu[(self.stack[-1], kind)] += cpu
                    self.functions.setdefault(kw.get("fun_name", "?"), defaultdict(float))[kind] += cpu

        def count(event, **kw):
            if event.startswith("/jax/compilation_cache/cache_"):
                self.cache[event.rsplit("/", 1)[1]] += 1

        jax.monitoring.register_scalar_listener(begin)
        jax.monitoring.register_event_duration_secs_listener(end)
        jax.monitoring.register_event_listener(count)
        self._listeners = (begin, end, count)

    def stop(self) -> None:
        import jax

        begin, end, count = self._listeners
        jax.monitoring.unregister_scalar_listener(begin)
        jax.monitoring.unregister_event_duration_listener(end)
        jax.monitoring.unregister_event_listener(count)

    def table(self) -> dict:
        return {name: {**row, **{f"{kind}_cpu_s": self.cpu.get((name, kind), 0.0) for kind in EVENTS.values()}}
                for name, row in self.rows.items()}

    def wrap(self, owner, attr: str, phase: str) -> bool:
        """Time `owner.attr` as `phase`; False where this version of the code has no such attribute."""
        fn = getattr(owner, attr, None)
        if fn is None:
            return False

        def timed(*args, **kwargs):
            with self.phase(phase):
                return fn(*args, **kwargs)

        setattr(owner, attr, timed)
        return True


def child(root: str, config: str, overrides: list[str], run_dir: str) -> dict:
    """Run the job of the code in `root` in this process with every phase timed; the profile."""
    sys.path.insert(0, root)
    prof = Profile()
    with prof.phase("imports"):
        import jax  # noqa: F401

        prof.listen()
        from hybrid_jax.backend import enable_compilation_cache, setup
        from hybrid_jax.config import load_config
        from hybrid_jax.logs import setup_logging

        setup_logging()
        import hybrid_jax.checkpoint as ckpt
        import hybrid_jax.plots as plots
        import hybrid_jax.run as R
        import hybrid_jax.tracking as tracking
        from hybrid_jax.rundir import prepare_run_dir

        try:
            import hybrid_jax.background as background
        except ImportError:  # older code: no background worker
            background = None
    with prof.phase("config"):
        cfg = load_config(config, overrides + ["output.progress=false"])
    with prof.phase("backend setup"):  # in the order of hybrid_jax.lifecycle.start: PhiML compiles as it starts
        enable_compilation_cache(cfg.output.compilation_cache)
        setup()
    missing = [f"{getattr(o, '__name__', o)}.{a}" for o, a, ph in [
        *[(R, a, ph) for a, ph in [("preflight", "build: preflight, PDE"), ("build_pde", "build: preflight, PDE"),
                                   ("load_trajectories", "data"), ("build_experiment", "build: experiment"),
                                   ("initial_states", "build: initial states, restore"),
                                   ("validation_rollouts", "evaluate"), ("evaluate", "evaluate"),
                                   ("summarize", "summary")]],
        (ckpt.Checkpoints, "save", "checkpoint saves"), (ckpt.Checkpoints, "close", "checkpoint saves"),
        (ckpt.Checkpoints, "restore_intact", "build: initial states, restore"),
        (tracking.Tracker, "cycle", "tracking (per cycle)"), (plots, "write_plots", "plots"),
        *([(background.Background, "wait", "wait for background outputs")] if background else [])]
        if not prof.wrap(o, a, ph)]
    cycles = R.train_cycles

    def train_cycles(exp, states, start=0, *args, **kwargs):  # each cycle timed up to its yield
        it, n = cycles(exp, states, start, *args, **kwargs), start - (1 if exp.cfg.trainer.hybrid.warmup_epochs else 0)
        while True:
            name = "warm-up" if n < start else f"cycle {n}"
            try:
                with prof.phase(name):
                    item = next(it)
            except StopIteration:  # the loop's end: not a cycle
                prof.rows.pop(name, None)
                return
            n += 1
            yield item

    R.train_cycles = train_cycles
    t, before = time.perf_counter(), prof.main_wall()
    with prepare_run_dir(cfg, Path(run_dir), True):
        summary = R.run(cfg, Path(run_dir))
    run_s = time.perf_counter() - t
    phases = prof.table()
    phases["other (untimed parts of the run)"] = {"wall_s": run_s - (prof.main_wall() - before)}
    for name in [n for n in phases if n.endswith(WORKER)]:  # last, outside the total
        phases[name] = phases.pop(name)
    return {"phases": phases, "traces": dict(prof.traces), "functions": prof.functions, "cache": dict(prof.cache),
            "run_s": run_s, "steady_cycle_s": summary.get("steady_cycle_s"), "not_timed": missing}


# ----------------------------------------------------------------------------- the driver


def median_table(runs: list[dict]) -> list[dict]:
    """Per phase (those of the first run) the median over runs of each column; then their total."""
    rows = [{"phase": n, **{c: statistics.median(r["phases"].get(n, {}).get(c, 0.0) for r in runs) for c in COLS}}
            for n in runs[0]["phases"]]
    main = [r for r in rows if not r["phase"].endswith(WORKER)]
    worker = [r for r in rows if r["phase"].endswith(WORKER)]  # overlapping the main thread's: not in the total
    return main + [{"phase": "total (in process)", **{c: sum(r[c] for r in main) for c in COLS}}] + worker


def main(argv=None):
    if argv and argv[0] == "--child":  # before the harness: the imports phase includes jax's
        out, root, config, run_dir, *overrides = argv[1:]
        Path(out).write_text(json.dumps(child(root, config, overrides, run_dir)))
        return 0
    from benchmarks import harness as H

    p = H.parser(__doc__, NAME)
    p.add_argument("--config", default="configs/smoke.yaml")
    p.add_argument("--against", metavar="REF", help="also time the code of this git revision or checkout directory")
    p.add_argument("--vary-hash-seed", action="store_true", help="each warm process with its own PYTHONHASHSEED")
    p.add_argument("overrides", nargs="*", help="dotted key=value overrides of the config")
    args = H.parse(p, argv)
    from hybrid_jax.backend import process_environment
    env = H.header(NAME, args)
    with H.workdir(args) as tmp:
        roots = {"this checkout": H.ROOT}
        if args.against:
            ref = Path(args.against)
            if not ref.is_dir():
                (ref := tmp / "ref").mkdir()
                tar = subprocess.run(["git", "archive", args.against], cwd=H.ROOT, check=True, capture_output=True)
                subprocess.run(["tar", "-x", "-C", str(ref)], input=tar.stdout, check=True)
            roots[args.against] = ref
        config = str(H.ROOT / args.config)
        over = args.overrides + [f"data.store_dir={tmp}/data"]
        H.run_process([sys.executable, "-m", "hybrid_jax.train", "--config", config, "--out", str(tmp / "gen"),
                       *over, "tasks=[generate]", f"output.compilation_cache={tmp}/gen_cache"], tmp / "gen.log")
        count = iter(range(1, 10**6))

        def pair(name, root):
            def run():
                out, i = {}, next(count)
                cache = tmp / f"cache{i}"
                for kind in ("cold", "warm"):
                    seed = {"PYTHONHASHSEED": str(i)} if args.vary_hash_seed and kind == "warm" else {}
                    d = tmp / f"{kind}{i}"
                    cmd = [sys.executable, "-m", "benchmarks", NAME, "--child", str(tmp / f"{kind}{i}.json"),
                           str(root), config, str(d), *over, f"output.compilation_cache={cache}"]
                    t = H.run_process(cmd, tmp / f"{kind}{i}.log",
                                      env=H.child_env(root, **{**process_environment(), **seed}))
                    out[kind] = {**json.loads((tmp / f"{kind}{i}.json").read_text()), "process_s": t["wall_s"],
                                 "process_cpu_s": t["cpu_s"]}
                    print(f"  {name} {kind}: {t['wall_s']:.1f} s wall, {t['cpu_s']:.1f} s CPU", flush=True)
                return out
            return run

        runs = H.alternate({name: pair(name, root) for name, root in roots.items()}, args.repeats)
    result = {}
    for name, pairs in runs.items():
        res = result[name] = {kind: {"process_s": statistics.median(p[kind]["process_s"] for p in pairs),
                                     "process_cpu_s": statistics.median(p[kind]["process_cpu_s"] for p in pairs),
                                     "steady_cycle_s": statistics.median(p[kind]["steady_cycle_s"] or 0 for p in pairs),
                                     "phases": median_table([p[kind] for p in pairs]),
                                     "cache": pairs[-1][kind]["cache"]} for kind in ("cold", "warm")}
        res["runs"] = pairs
        print(H.table(res["warm"]["phases"], ["phase", *COLS], f"{name}: warm cache, median of {len(pairs)} "
                      "process(es) (compile: compilation or cache load)"))
        last = pairs[-1]["warm"]
        print("traces per function (phase) (last warm process; >1: re-traced):",
              ", ".join(f"{k} {v}" for k, v in sorted(last["traces"].items(), key=lambda kv: -kv[1])))
        functions = sorted(last["functions"].items(), key=lambda kv: -sum(kv[1].values()))
        print("CPU s of trace / lower / compile per outermost function (last warm process): " + "; ".join(
            f"{k} {v.get('trace', 0):.2f}/{v.get('lower', 0):.2f}/{v.get('compile', 0):.2f}"
            for k, v in functions[:12]))
        missing = f"; not timed (absent in this code): {', '.join(last['not_timed'])}" if last["not_timed"] else ""
        print(f"persistent cache, cold {res['cold']['cache']}, warm {res['warm']['cache']}{missing}")
    rows = [{"code": n, "cache": k, **{c: r[k][c] for c in ("process_s", "process_cpu_s", "steady_cycle_s")}}
            for n, r in result.items() for k in ("cold", "warm")]
    print(H.table(rows, ["code", "cache", "process_s", "process_cpu_s", "steady_cycle_s"],
                  f"{args.config}: whole process, median of {args.repeats} alternating repeat(s)"))
    if args.against:
        this, other = (result[n]["warm"] for n in roots)
        print(f"warm wall, this checkout / {args.against}: {this['process_s'] / other['process_s']:.3f}; CPU "
              f"{this['process_cpu_s'] / other['process_cpu_s']:.3f}")
    H.write_json(NAME, args, env, {"config": args.config, "overrides": args.overrides, "against": args.against,
                                   "results": result})
