"""Shared helpers of the benchmark scripts: timing, environment description, tables, JSON.

Imported first by every script: it puts the repository root on `sys.path`, so the scripts run as
``python benchmarks/<name>.py`` from a checkout where hybrid_jax is not installed (the GPU machine).
Only the standard library, NumPy and JAX are imported here; torch is optional (`import_torch`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
# where the JSON results go: benchmarks/results/, or $HYBRID_JAX_BENCH_RESULTS (run_all.py --results-dir)
RESULTS = Path(os.environ.get("HYBRID_JAX_BENCH_RESULTS") or Path(__file__).resolve().parent / "results")

import jax  # noqa: E402
import numpy as np  # noqa: E402

# ----------------------------------------------------------------------------- arguments


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="a short run (smaller sizes, fewer repeats)")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats (default 5, --quick 3)")
    p.add_argument("--warmup", type=int, default=None, help="untimed warm-up calls after compilation (default 2, --quick 1)")
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch baselines even if torch is installed")
    p.add_argument("--out", type=Path, default=None, help="JSON output path (default benchmarks/results/<name>-<device>.json)")
    return p


def finish_args(args: argparse.Namespace) -> argparse.Namespace:
    if args.repeats is None:
        args.repeats = 3 if args.quick else 5
    if args.warmup is None:
        args.warmup = 1 if args.quick else 2
    return args


def child_env(root: Path = ROOT, **extra: str) -> dict:
    """Environment of a ``python -m hybrid_jax.…`` child process running the code in `root`: that checkout
    first on PYTHONPATH, what was there kept (packages installed beside the image, as on the GPU machine)."""
    path = os.pathsep.join([str(root), *filter(None, [os.environ.get("PYTHONPATH")])])
    return {**os.environ, "PYTHONPATH": path, **extra}


# ----------------------------------------------------------------------------- environment


def device_kind() -> str:
    return jax.devices()[0].device_kind


def device_slug() -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", device_kind()).strip("_") or "unknown"


def cpu_threads() -> int:
    """Threads XLA's CPU backend uses: one per core this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            if line.startswith("Model name"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return platform.processor() or platform.machine()


def environment() -> dict:
    """What the figures were measured on."""
    dev = jax.devices()[0]
    env = {
        "device_kind": dev.device_kind,
        "platform": dev.platform,
        "num_devices": jax.device_count(),
        "cpu_model": _cpu_model(),
        "cpu_threads": cpu_threads(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "versions": {n: _version(n) for n in ("jax", "jaxlib", "flax", "optax", "phiflow", "phiml", "numpy",
                                             "scipy", "torch", "grain", "orbax-checkpoint")},
        "jax_enable_x64": bool(jax.config.jax_enable_x64),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    return env


# ----------------------------------------------------------------------------- torch (optional)


def import_torch(args) -> tuple[object | None, str]:
    """(torch module or None, a note saying why it is absent). Threads set equal to XLA's CPU threads."""
    if getattr(args, "no_torch", False):
        return None, "PyTorch baseline skipped (--no-torch)"
    try:
        import torch
    except ImportError:
        return None, "PyTorch baseline skipped: torch is not installed (pip install torch==2.13.0 for it)"
    n = cpu_threads()
    torch.set_num_threads(n)
    try:
        torch.set_num_interop_threads(n)
    except RuntimeError:  # already set in this process
        pass
    return torch, f"torch {torch.__version__}, {torch.get_num_threads()} intra-op threads (= XLA CPU threads)"


def torch_device(torch) -> str:
    """The torch device matching JAX's: CUDA when JAX runs on a GPU and torch sees one, else CPU."""
    if jax.devices()[0].platform == "gpu" and torch.cuda.is_available():
        return "cuda"
    return "cpu"


def torch_sync(torch, device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


# ----------------------------------------------------------------------------- timing


def block(x):
    """`block_until_ready` on every JAX array of a pytree; returns it."""
    return jax.block_until_ready(x)


def train_steps(compiled, state, data: dict, batches: list, steps: int) -> Callable[[], None]:
    """A blocking closure that runs `steps` calls ``state, metrics = compiled(state, data, batch)``,
    cycling over `batches` and carrying the state from one call of the closure to the next."""
    holder = {"state": state, "i": 0}

    def run():
        s = holder["state"]
        for _ in range(steps):
            s, m = compiled(s, data, batches[holder["i"] % len(batches)])
            holder["i"] += 1
        block((s, m))
        holder["state"] = s

    return run


def timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def repeat(fn: Callable[[], object], warmup: int, repeats: int) -> dict:
    """Call `fn` (which must block on its outputs) `warmup` times untimed, then `repeats` times timed."""
    for _ in range(warmup):
        fn()
    times = [timed(fn) for _ in range(repeats)]
    return {"median_s": statistics.median(times), "min_s": min(times), "times_s": times,
            "warmup": warmup, "repeats": repeats}


def compile_seconds(jitted, *args, **kwargs) -> tuple[object, dict]:
    """AOT-compile `jitted` for these arguments; return (compiled, {trace_lower_s, compile_s})."""
    t = time.perf_counter()
    lowered = jitted.lower(*args, **kwargs)
    t1 = time.perf_counter()
    compiled = lowered.compile()
    t2 = time.perf_counter()
    return compiled, {"trace_lower_s": t1 - t, "compile_s": t2 - t1}


# ----------------------------------------------------------------------------- output


def fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if v != v:
            return "nan"
        a = abs(v)
        if a == 0:
            return "0"
        if a >= 1e5 or a < 1e-3:
            return f"{v:.3g}"
        if a >= 100:
            return f"{v:.0f}"
        if a >= 10:
            return f"{v:.1f}"
        return f"{v:.3g}"
    return str(v)


def table(rows: list[dict], columns: list[str], title: str | None = None) -> str:
    """A Markdown table of `rows` restricted to `columns` (missing cells print '-')."""
    cells = [[fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) if cells else len(c) for i, c in enumerate(columns)]
    lines = []
    if title:
        lines.append(f"\n### {title}\n")
    lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(columns, widths)) + " |")
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells:
        lines.append("| " + " | ".join(v.ljust(w) for v, w in zip(row, widths)) + " |")
    return "\n".join(lines)


def header(name: str, args) -> dict:
    env = environment()
    print(f"# {name}: {env['device_kind']} ({env['platform']}), {env['cpu_threads']} CPU threads, "
          f"load {', '.join(f'{x:.2f}' for x in env['load_average'] or [])}; jax {env['versions']['jax']}"
          f"{', quick' if args.quick else ''}; warm-up {args.warmup}, repeats {args.repeats} (median, min)",
          flush=True)
    return env


def write_json(name: str, args, env: dict, payload: dict) -> Path:
    path = args.out or RESULTS / f"{name}-{device_slug()}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    env = {**env, "load_average_end": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}
    doc = {"benchmark": name, "quick": bool(args.quick), "warmup": args.warmup, "repeats": args.repeats,
           "dtype": "float32", "environment": env, **payload}
    path.write_text(json.dumps(doc, indent=1, default=_json_default))
    print(f"\nwrote {path}", flush=True)
    return path


def _json_default(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    return str(o)
