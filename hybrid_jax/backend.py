"""The one explicit runtime setup: PhiFlow's JAX backend and float precision.

Importing hybrid_jax (or loading a config) starts no XLA backend; `setup()` does, so entry
points call it after `jax.distributed.initialize` (hybrid_jax.parallel.initialize).
`build_pde` calls it too, so library users need not.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def setup() -> None:
    """Make JAX PhiFlow's default backend and PhiML's float precision 32 bits (idempotent).

    Importing ``phi.jax`` enables JAX x64 globally (PhiFlow needs it); arrays stay float32 because
    every boundary of the library gives explicit dtypes.
    """
    import phi.jax.flow  # noqa: F401  (JAX becomes PhiFlow's default backend)
    from phiml import math

    math.set_global_precision(32)


def default_compilation_cache() -> str:
    """``$XDG_CACHE_HOME/hybrid_jax/xla`` (default ``~/.cache/hybrid_jax/xla``)."""
    return str(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hybrid_jax" / "xla")


def enable_compilation_cache(directory: str | None) -> None:
    """Keep compiled XLA executables in `directory` (``~`` expanded; "default":
    `default_compilation_cache`) across processes, so a second run of the same shapes skips
    compilation (every program, however small: a rollout curriculum's K-step train programs, one per
    distinct K, are each compiled once and then read from here); None or "" turns the cache off. A
    directory that cannot be created turns it off with a warning rather than failing the run."""
    import jax

    if directory == "default":
        directory = default_compilation_cache()
    if not directory:
        jax.config.update("jax_compilation_cache_dir", None)
        return
    path = Path(directory).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        import logging

        logging.getLogger("hybrid_jax").warning("compilation cache off: cannot create %s (%s)", path, e.strerror)
        return
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)  # every program: the small ones add up


def process_environment(environ=os.environ) -> dict[str, str]:
    """The variables a command-line process runs under and `environ` lacks (an empty dict: none); a
    variable that is set, even to "", is the user's and stays.

    - ``PYTHONHASHSEED=0``: PhiML orders some dimensions by string hash, so with Python's per-process
      hash seed the physical model's programs lower to a different HLO in every process and miss the
      persistent compilation cache (`python -m benchmarks startup --vary-hash-seed`); results are unaffected.
    - ``GLIBC_TUNABLES=glibc.malloc.hugetlb=1`` (Linux): XLA's CPU runtime allocates each execution's
      temporary buffer afresh (84 MiB for the reduced 2D Burgers train step at 32², 340 MiB at 64²),
      which glibc maps anew and the kernel zero-fills page by page on first touch: 21,600 page faults
      and 50-60 ms of system time in a 0.28 s step at 32². With transparent huge pages for malloc's
      mappings (glibc >= 2.35, where the kernel's THP mode is ``madvise`` or ``always``; ignored
      otherwise) that is about 150 faults and 7 ms (`python -m benchmarks network`, 'faults').
      glibc reads it only at process start, hence here.
    """
    wanted = {"PYTHONHASHSEED": "0"}
    if sys.platform == "linux":
        wanted["GLIBC_TUNABLES"] = "glibc.malloc.hugetlb=1"
    return {k: v for k, v in wanted.items() if k not in environ}


def reexec_with_process_environment() -> None:
    """Re-execute this program with `process_environment` (called first by the command-line entry points)
    unless every variable it names is already set. The process keeps its pid (``exec``)."""
    missing = process_environment()
    if missing:
        os.execve(sys.executable, list(sys.orig_argv), {**os.environ, **missing})
