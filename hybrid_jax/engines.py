"""Where the runs of a sweep or a comparison execute: ``local`` (this machine; the default), ``submitit``
(one SLURM job per run, through submitit) or ``ray`` (one Ray task per run, on a Ray cluster).

A job is one ``python -m hybrid_jax.train --config FILE --out DIR`` in a fresh process of its own,
its output appended to a log file; an engine only runs jobs and returns their exit codes. What a
run produced is read back from its run directory, so the tables are the same whichever engine ran
it, and a job whose run directory holds a finished run is never submitted (the callers skip it).
The jobs import the submitting checkout's `hybrid_jax` (``PYTHONPATH``), so every path must be on a
file system the workers share.

Engine options (``--engine-option key=value``, values parsed as YAML):

- submitit: ``executor`` (``slurm``, or ``local``: local processes with the same interface, for
  tests and debugging; default: SLURM where ``sbatch`` exists, else local), ``folder`` (submitit's
  job files; default ``<out>/submitit``), and any parameter of ``AutoExecutor.update_parameters``
  (``slurm_partition``, ``timeout_min``, ``gpus_per_node``, ``cpus_per_task``, ``mem_gb``, …);
- ray: ``address`` (of a running cluster; default: the one ``ray.init()`` finds or starts; none when
  Ray is already initialised), and any option of ``ray.remote`` (``num_cpus`` (default 1),
  ``num_gpus``, ``resources``, …).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from hybrid_jax.errors import ConfigError

ENGINES = ("local", "submitit", "ray")


@dataclass(frozen=True)
class Job:
    """One training run: ``python -m hybrid_jax.train ARGS``, its output appended to `log`."""

    name: str
    args: tuple[str, ...]  # absolute paths only: a worker's working directory is not ours
    log: Path
    env: tuple[tuple[str, str], ...] = ()  # extra environment variables (e.g. CUDA_VISIBLE_DEVICES)


def train_args(config_file: Path, run_dir: Path, *extra: str) -> tuple[str, ...]:
    """The `hybrid_jax.train` arguments of a run of `config_file` into `run_dir`."""
    return ("--config", str(Path(config_file).resolve()), "--out", str(Path(run_dir).resolve()), *extra)


def _package_root() -> str:
    return str(Path(__file__).resolve().parents[1])


def start(job: Job) -> subprocess.Popen:
    """Start `job` as a subprocess (it imports this checkout's `hybrid_jax`)."""
    path = os.pathsep.join(p for p in (_package_root(), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONPATH": path, **dict(job.env)}
    with open(job.log, "a") as log:
        return subprocess.Popen([sys.executable, "-m", "hybrid_jax.train", *job.args], stdout=log,
                                stderr=subprocess.STDOUT, env=env)


def run_job(job: Job) -> int:
    """Run `job` to its end; its exit code (what a submitit job or a Ray task executes)."""
    return start(job).wait()


def parse_options(items: list[str] | None) -> dict:
    """``["key=value", …]`` (values as YAML) -> ``{key: value}``; a malformed item is a ConfigError."""
    out = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip().isidentifier():
            raise ConfigError(f"--engine-option: must look like name=value, got {item!r}")
        out[key.strip()] = yaml.safe_load(value)
    return out


def check_engine(engine: str) -> None:
    if engine not in ENGINES:
        raise ConfigError(f"--engine: must be one of {', '.join(ENGINES)}, got {engine!r}")
    if engine != "local" and importlib.util.find_spec(engine) is None:
        raise ConfigError(f"--engine {engine}: the {engine} package is not installed "
                          f"(pip install 'hybrid_jax[cluster]')")


def run_jobs(jobs: list[Job], engine: str, options: dict, folder: Path) -> dict[str, int]:
    """Run `jobs` on `engine` (``submitit`` or ``ray``), all submitted at once; ``{job name: exit code}``
    once every job has ended. `folder`: the default of submitit's ``folder``."""
    check_engine(engine)
    if not jobs:
        return {}
    if engine == "submitit":
        return _submitit(jobs, dict(options), folder)
    if engine == "ray":
        return _ray(jobs, dict(options))
    raise ConfigError(f"--engine {engine}: run_jobs runs the cluster engines; the local runner is the caller's")


def _submitit(jobs: list[Job], options: dict, folder: Path) -> dict[str, int]:
    import submitit

    executor = submitit.AutoExecutor(folder=options.pop("folder", folder), cluster=options.pop("executor", None))
    executor.update_parameters(**options)
    with executor.batch():  # one array job on SLURM
        futures = [executor.submit(run_job, job) for job in jobs]
    return {job.name: future.result() for job, future in zip(jobs, futures)}


def _ray(jobs: list[Job], options: dict) -> dict[str, int]:
    import ray

    address = options.pop("address", None)
    if not ray.is_initialized():
        ray.init(address=address)
    env = {"PYTHONPATH": os.pathsep.join(p for p in (_package_root(), os.environ.get("PYTHONPATH")) if p)}
    task = ray.remote(run_job).options(**{"num_cpus": 1, "runtime_env": {"env_vars": env}, **options})
    refs = [task.remote(job) for job in jobs]
    return {job.name: code for job, code in zip(jobs, ray.get(refs))}
