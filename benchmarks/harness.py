"""The one harness every benchmark uses: arguments, pinning, processes, timing, alternation, tables, JSON.

Only the standard library, NumPy and JAX are imported here (hybrid_jax and torch lazily, where asked for).
Compile time and steady state are always reported apart: `compile_seconds` AOT-compiles, `repeat` times
calls of the compiled function after warm-up calls. `alternate` runs the candidate and its baseline in
turn, round after round, so both see the same machine load; `--cores` pins this process and every
measured child process to the same CPU cores (``os.sched_setaffinity``; XLA sizes its CPU thread pool
from it, torch gets as many threads; child processes inherit it). Results go to ``<results>/<name>-<device>.json`` (default
benchmarks/results/, or ``$HYBRID_JAX_BENCH_RESULTS``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Callable

import jax
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(os.environ.get("HYBRID_JAX_BENCH_RESULTS") or ROOT / "benchmarks" / "results")
SMOKE = ROOT / "configs" / "smoke.yaml"

# ----------------------------------------------------------------------------- arguments and pinning


def parser(doc: str, prog: str) -> argparse.ArgumentParser:
    """The options every benchmark takes; `doc`: the module docstring (its first line is the purpose)."""
    p = argparse.ArgumentParser(prog=f"python -m benchmarks {prog}", description=doc.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a short run (smaller sizes, fewer repeats)")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats (default 5, --quick 3)")
    p.add_argument("--warmup", type=int, default=None, help="untimed calls after compilation (default 2, --quick 1)")
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch baselines even if torch is installed")
    p.add_argument("--cores", type=cores, default=None,
                   help="pin this process and every measured child to these CPU cores, e.g. 1 or 0-1 (default: no pin)")
    p.add_argument("--out", type=Path, default=None, help="JSON path (default benchmarks/results/<name>-<device>.json)")
    p.add_argument("--keep", type=Path, default=None, help="keep the working directories and logs here")
    return p


def parse(p: argparse.ArgumentParser, argv) -> argparse.Namespace:
    args = p.parse_args(argv)
    args.repeats = args.repeats or (3 if args.quick else 5)
    args.warmup = (1 if args.quick else 2) if args.warmup is None else args.warmup
    if args.cores:
        os.sched_setaffinity(0, args.cores)
    return args


def cores(text: str) -> set[int]:
    """'1' -> {1}; '0-2,5' -> {0, 1, 2, 5}."""
    out = set()
    for part in text.split(","):
        a, _, b = part.partition("-")
        out |= set(range(int(a), int(b or a) + 1))
    return out


@contextlib.contextmanager
def workdir(args):
    """The folder of a benchmark's runs: ``--keep DIR``, else a temporary one removed at the end."""
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        yield args.keep
    else:
        with tempfile.TemporaryDirectory() as tmp:
            yield Path(tmp)


def q(args, quick, full):
    """`quick` under --quick, else `full`."""
    return quick if args.quick else full


def cpu_threads() -> int:
    """Threads XLA's CPU backend uses: one per core this process may run on."""
    return len(os.sched_getaffinity(0))


# ----------------------------------------------------------------------------- child processes


def child_env(root: Path = ROOT, **extra: str) -> dict:
    """Environment of a child running the code in `root`: that checkout first on PYTHONPATH."""
    path = os.pathsep.join([str(root), *filter(None, [os.environ.get("PYTHONPATH")])])
    return {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1", **extra}


def run_process(cmd: list[str], log: Path, *, env: dict | None = None, cwd: Path = ROOT) -> dict:
    """Run `cmd` to its end (on this process's cores), output to `log`; {wall_s, cpu_s} (CPU of it and its
    children: on a shared machine less disturbed than wall). Raises RuntimeError with the log's tail on failure."""
    before, t = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    with open(log, "w") as out:
        rc = subprocess.run(cmd, cwd=cwd, env=env or child_env(), stdout=out, stderr=subprocess.STDOUT).returncode
    wall, after = time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN)
    if rc:
        tail = "".join(log.read_text(errors="replace").replace("\r", "\n").splitlines(keepends=True)[-20:])
        raise RuntimeError(f"{' '.join(map(str, cmd))} exited with {rc}:\n{tail}")
    return {"wall_s": wall, "cpu_s": after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime}


def worker(name: str, *argv: str, python: str = sys.executable, env: dict | None = None) -> object:
    """Run ``python -m benchmarks NAME ARGV`` (a worker mode of a benchmark); the JSON of its last line."""
    proc = subprocess.run([python, "-m", "benchmarks", name, *argv], stdout=subprocess.PIPE, text=True, cwd=ROOT,
                          env={**(env or child_env()), "PYTHONWARNINGS": "ignore"})
    if proc.returncode:
        raise SystemExit(f"worker {name} {' '.join(argv)} failed (exit {proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- timing


def block(x):
    """`block_until_ready` on every JAX array of a pytree; returns it."""
    return jax.block_until_ready(x)


def repeat(fn: Callable[[], object], warmup: int, repeats: int) -> dict:
    """Call `fn` (which blocks on its outputs) `warmup` times untimed, then `repeats` times timed."""
    times = alternate({"fn": lambda: [fn()] and None}, repeats, warmup)["fn"]  # None: the time is kept
    return {"median_s": statistics.median(times), "min_s": min(times), "times_s": times, "warmup": warmup,
            "repeats": repeats}


def alternate(variants: dict[str, Callable[[], object]], rounds: int, warmup: int = 0) -> dict[str, list]:
    """Call each variant in turn, round after round (candidate and baseline see the same load); per variant
    the results of the `rounds` timed rounds after `warmup` untimed ones (a float result: its time)."""
    out = {k: [] for k in variants}
    for r in range(warmup + rounds):
        for k, fn in variants.items():
            t = time.perf_counter()
            res = fn()
            if r >= warmup:
                out[k].append(time.perf_counter() - t if res is None else res)
    return out


def train_steps(compiled, state, data: dict, batches: list, steps: int) -> Callable[[], None]:
    """A blocking closure running `steps` calls ``state, _ = compiled(state, data, batch)`` over `batches`,
    the state carried from one call of the closure to the next."""
    holder = {"state": state, "i": 0}

    def run():
        s = holder["state"]
        for _ in range(steps):
            s, m = compiled(s, data, batches[holder["i"] % len(batches)])
            holder["i"] += 1
        holder["state"] = block((s, m))[0]

    return run


def compile_seconds(jitted, *args, **kwargs) -> tuple[object, dict]:
    """AOT-compile `jitted` for these arguments; (compiled, {trace_lower_s, compile_s})."""
    t = time.perf_counter()
    lowered = jitted.lower(*args, **kwargs)
    t1 = time.perf_counter()
    compiled = lowered.compile()
    return compiled, {"trace_lower_s": t1 - t, "compile_s": time.perf_counter() - t1}


# ----------------------------------------------------------------------------- hybrid_jax and torch


def experiment_data(cfg):
    """(pde, trajectories [N, T, *spatial, C] simulated in memory with the true parameters) of a config."""
    from hybrid_jax.data.store import generate_trajectories
    from hybrid_jax.physics import build_pde

    pde = build_pde(cfg.physics)
    key = jax.random.fold_in(jax.random.PRNGKey(cfg.seed), 1)
    return pde, np.asarray(generate_trajectories(pde, pde.true_params(), key, cfg.data.num_trajectories,
                                                 cfg.data.num_frames))


def smoke_at(n: int, overrides=()):
    """configs/smoke.yaml at n² cells, its substeps raised until the true ν is stable (2D: ν ≤ dx²/(4·dt_sub))."""
    from hybrid_jax.config import load_config

    p = load_config(SMOKE).physics
    substeps = max(p.substeps, math.ceil(4 * p.viscosity.true * p.dt * (n / p.domain[0]) ** 2 * 1.05))
    return load_config(SMOKE, [f"physics.resolution=[{n},{n}]", f"physics.substeps={substeps}", *overrides])


def import_torch(args) -> tuple[object | None, str]:
    """(torch or None, a note saying why it is absent); torch's threads = XLA's CPU threads."""
    if getattr(args, "no_torch", False):
        return None, "PyTorch baseline skipped (--no-torch)"
    try:
        import torch
    except ImportError:
        return None, "PyTorch baseline skipped: torch is not installed (pip install -e '.[bench]')"
    torch.set_num_threads(cpu_threads())
    return torch, f"torch {torch.__version__}, {torch.get_num_threads()} threads (= XLA CPU threads)"


def torch_device(torch) -> str:
    """CUDA when JAX runs on a GPU and torch sees one, else CPU."""
    return "cuda" if jax.devices()[0].platform == "gpu" and torch.cuda.is_available() else "cpu"


def torch_sync(torch, device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


# ----------------------------------------------------------------------------- output


def device_kind() -> str:
    return jax.devices()[0].device_kind


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def environment() -> dict:
    """What the figures were measured on."""
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        cpu = next(ln.split(":", 1)[1].strip() for ln in lscpu.splitlines() if ln.startswith("Model name"))
    except (OSError, subprocess.SubprocessError, StopIteration):
        cpu = platform.processor() or platform.machine()
    return {"device_kind": device_kind(), "platform": jax.devices()[0].platform, "num_devices": jax.device_count(),
            "cpu_model": cpu, "cpu_threads": cpu_threads(), "load_average": list(os.getloadavg()),
            "python": platform.python_version(), "jax_enable_x64": bool(jax.config.jax_enable_x64),
            "versions": {n: _version(n) for n in ("jax", "jaxlib", "flax", "optax", "phiflow", "phiml", "numpy",
                                                 "scipy", "torch", "grain", "orbax-checkpoint")},
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def header(name: str, args) -> dict:
    env = environment()
    print(f"# {name}: {env['device_kind']} ({env['platform']}), {env['cpu_threads']} CPU threads, load "
          f"{', '.join(f'{x:.2f}' for x in env['load_average'])}; jax {env['versions']['jax']}"
          f"{', quick' if args.quick else ''}; warm-up {args.warmup}, repeats {args.repeats}", flush=True)
    return env


def fmt(v) -> str:
    if v is None:
        return "-"
    if not isinstance(v, float):
        return str(v)
    a = abs(v)
    if v != v or a == 0:
        return "nan" if v != v else "0"
    return f"{v:.3g}" if a >= 1e5 or a < 1e-3 or a < 10 else f"{v:.1f}" if a < 100 else f"{v:.0f}"


def table(rows: list[dict], columns: list[str], title: str | None = None) -> str:
    """A Markdown table of `rows` restricted to `columns` (missing cells print '-')."""
    cells = [[fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    lines = [f"\n### {title}\n"] if title else []
    lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(columns, widths)) + " |")
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    lines += ["| " + " | ".join(v.ljust(w) for v, w in zip(row, widths)) + " |" for row in cells]
    return "\n".join(lines)


def write_json(name: str, args, env: dict, payload: dict) -> Path:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", device_kind()).strip("_") or "unknown"
    path = args.out or RESULTS / f"{name}-{slug}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"benchmark": name, "quick": bool(args.quick), "warmup": args.warmup, "repeats": args.repeats,
           "dtype": "float32", "environment": {**env, "load_average_end": list(os.getloadavg())}, **payload}
    path.write_text(json.dumps(doc, indent=1, default=lambda o: o.item() if isinstance(o, np.generic) else
                               o.tolist() if isinstance(o, np.ndarray) else str(o)))
    print(f"\nwrote {path}", flush=True)
    return path
