"""The GPU figures in one prepared run: the 2D headline at K 1 and 5, the 1D reference, utilisation in both network forms, the smoke steady cycle.

Each part is ``python -m benchmarks ...`` under its own time limit (and within ``--budget`` seconds in all);
its JSON is written as it ends, and a part that runs out of time leaves its log. Parts (``--parts``, default
all but rollout_tests): reference_2d (inviscid_burgers_2d, K 1 and 5, projected), reference_1d (K 1 and 12),
cycle (the smoke job's steady cycle by phase), cycle_graphs (the same with XLA command buffers, loops
included), utilisation (periodic padding + GELU: float32 and bf16 at K 1 and 5, and the rest of a cycle),
utilisation_zero_relu (zero padding + ReLU, bf16 K 1), mixed_precision (bf16's accuracy cost); rollout_tests
(``pytest -k rollout`` on the device). Output in RESULTS (the argument, else $OUT, else benchmarks/results):
one JSON per part and gpu.log (every part's output and a summary line each): at most 8 files, as the
device tool brings back. Where phiflow, phiml or grain are missing (the GPU image), the wheels in .whl/
(``bash benchmarks/gpu_wheels.sh``, run where pip works) are installed offline into /tmp/site first:
``run(command="python3 -m benchmarks gpu", carry=[".whl"], timeout_s=600)``. ``--cpu-dry-run``: the same
parts at tiny sizes on the CPU (checks the plumbing, not the figures).
"""

from __future__ import annotations

import argparse
import glob
import os
import subprocess
import sys
import time
from pathlib import Path

NAME = "gpu"
ROOT = Path(__file__).resolve().parent.parent
REF1D = ["physics.resolution=[64]", "data.num_frames=16", "data.rollout_steps=2",
         "trainer.synthetic.rollout_curriculum.end=2", "trainer.hybrid.generation.physical_length=8",
         "trainer.hybrid.generation.synthetic_length=2", "trainer.batch_size=8", "trainer.physical.epochs=2",
         "evaluation.horizon=8"]
SMOKE_TINY = ["physics.resolution=[16,16]", "data.num_frames=8", "evaluation.horizon=6"]
GRAPHS = "--xla_gpu_enable_command_buffer=FUSION,CUBLAS,CUBLASLT,CUDNN,CUSTOM_CALL,CONDITIONAL,WHILE"
# name: (limit s, arguments of `python -m` (R: the results folder), the same at tiny sizes on a CPU, its limit)
PARTS = {
    "reference_2d": (120, lambda R: ["benchmarks", "reference", "--configs", "inviscid_burgers_2d", "--ks", "1", "5",
                                     "--epochs", "2", "--time-limit", "110", "--out", f"{R}/reference-2d.json"], None, 0),
    "reference_1d": (80, lambda R: ["benchmarks", "reference", "--configs", "inviscid_burgers_1d", "--ks", "1", "12",
                                    "--epochs", "4", "--time-limit", "70", "--out", f"{R}/reference-1d.json"],
                     lambda R: ["benchmarks", "reference", "--configs", "inviscid_burgers_1d", "--ks", "1", "--epochs",
                                "1", "--cycles", "2", "--out", f"{R}/reference-1d.json", *REF1D], 300),
    "cycle": (50, lambda R: ["benchmarks", "cycle", "--quick", "--configs", "smoke"],
              lambda R: ["benchmarks", "cycle", "--quick", "--configs", "smoke", "--override", *SMOKE_TINY,
                         "trainer.hybrid.cycles=2"], 240),
    "cycle_graphs": (50, lambda R: ["benchmarks", "cycle", "--quick", "--configs", "smoke", "--out",
                                    f"{R}/cycle-command_buffers.json"], None, 0),
    "utilisation": (150, lambda R: ["benchmarks", "utilisation", "--no-torch"],
                    lambda R: ["benchmarks", "utilisation", "--quick", "--repeats", "1", "--warmup", "0",
                               "--steps-per-repeat", "1", "--horizons", "1,2"], 420),
    "utilisation_zero_relu": (45, lambda R: ["benchmarks", "utilisation", "--no-profile", "--dtypes", "bfloat16",
                                             "--horizons", "1", "--out", f"{R}/utilisation-zero_relu.json",
                                             "--override", "network.padding=zero", "network.activation=relu"], None, 0),
    "mixed_precision": (90, lambda R: ["benchmarks", "mixed_precision"],
                        lambda R: ["benchmarks", "mixed_precision", "--quick", "--epochs", "1", "--override",
                                   *SMOKE_TINY, "data.num_trajectories=4", "trainer.batch_size=4"], 240),
    "rollout_tests": (90, lambda R: ["pytest", "-q", "-rf", "-p", "no:cacheprovider", "-k", "rollout", "tests"],
                      lambda R: ["pytest", "-q", "-rf", "-p", "no:cacheprovider", "-k", "rollout and smoke", "tests"],
                      300),
}


def site_packages(log) -> dict:
    """The environment for the parts: phiflow, phiml and grain from .whl/ into /tmp/site where missing."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if subprocess.run([sys.executable, "-c", "import phi, phiml, grain"], capture_output=True).returncode == 0:
        return env
    wheels = glob.glob(str(ROOT / ".whl" / "*.whl"))
    if not wheels:
        raise SystemExit("phiflow/phiml/grain missing and no .whl/: run benchmarks/gpu_wheels.sh where pip works")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                    "--no-cache-dir", "--upgrade", "--target", "/tmp/site", *wheels], check=True)
    env["PYTHONPATH"] = os.pathsep.join(["/tmp/site", *filter(None, [os.environ.get("PYTHONPATH")])])
    moved = "from jax.core import Tracer; from jax.interpreters.ad import JVPTracer"
    if subprocess.run([sys.executable, "-c", moved], capture_output=True).returncode:  # a newer jax moved them
        log("this jax moved Tracer/JVPTracer: pointing PhiML at jax._src")
        for f in ("/tmp/site/phiml/backend/jax/_jax_backend.py", "/tmp/site/phiml/_troubleshoot.py"):
            text = Path(f).read_text().replace("from jax.core import Tracer", "from jax._src.core import Tracer")
            Path(f).write_text(text.replace("from jax.interpreters.ad import JVPTracer",
                                            "from jax._src.interpreters.ad import JVPTracer"))
    return env


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks gpu", description=__doc__.split("\n\n")[0])
    ap.add_argument("results", nargs="?", default=os.environ.get("OUT") or str(ROOT / "benchmarks" / "results"))
    ap.add_argument("--parts", default=",".join(p for p in PARTS if p != "rollout_tests"), help="comma-separated")
    ap.add_argument("--budget", type=float, default=570, help="seconds for all parts (each within what is left)")
    ap.add_argument("--cpu-dry-run", action="store_true", help="tiny sizes on the CPU: checks the plumbing")
    args = ap.parse_args(argv)
    if unknown := set(args.parts.split(",")) - set(PARTS):
        ap.error(f"unknown parts {', '.join(sorted(unknown))}; the parts: {', '.join(PARTS)}")
    results = Path(args.results).resolve()
    results.mkdir(parents=True, exist_ok=True)
    logfile, t0, summary = open(results / "gpu.log", "w"), time.perf_counter(), []

    def log(line):
        print(line, flush=True)
        logfile.write(line + "\n")
        logfile.flush()

    env = {**site_packages(log), "HYBRID_JAX_BENCH_RESULTS": str(results)}
    if args.cpu_dry_run:
        env["JAX_PLATFORMS"] = "cpu"
    versions = ("import importlib.metadata as m, jax; print({n: m.version(n) for n in ('jax', 'jaxlib', 'flax', "
                "'optax', 'orbax-checkpoint', 'phiflow', 'phiml', 'grain')}, jax.devices())")
    log(subprocess.run([sys.executable, "-c", versions], env=env, capture_output=True, text=True).stdout.strip())
    for name in args.parts.split(","):
        limit, full, dry, dry_limit = PARTS[name]
        if args.cpu_dry_run:
            if dry is None:
                continue
            full, limit = dry, dry_limit
        else:
            limit = min(limit, args.budget - (time.perf_counter() - t0))
        if limit < 15:
            summary.append(f"{name}: skipped (budget)")
            continue
        cmd = [sys.executable, "-m", *full(results)]
        part_env = {**env, "XLA_FLAGS": f"{env.get('XLA_FLAGS', '')} {GRAPHS}"} if name == "cycle_graphs" else env
        log(f"\n===== {name} (limit {limit:.0f} s): {' '.join(cmd[2:])}")
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, env=part_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            out, _ = proc.communicate(timeout=limit)
            rc = proc.returncode
        except subprocess.TimeoutExpired:
            proc.kill()
            out, rc = proc.communicate()[0] + "\n(timed out)", 124
        log("\n".join(ln for ln in out.splitlines() if "Warning" not in ln and "warnings.warn" not in ln))
        summary.append(f"{name}: exit {rc}{' (timed out)' if rc == 124 else ''} after {time.perf_counter() - t:.0f} s")
        log(summary[-1])
    log("\n===== summary\n" + "\n".join(summary))
    return sum(" exit 0 " not in s for s in summary)
