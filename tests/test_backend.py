"""The command-line process environment (`backend.process_environment`, `reexec_with_process_environment`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hybrid_jax.backend import process_environment

ROOT = Path(__file__).resolve().parent.parent


def test_process_environment_fills_only_unset_variables():
    wanted = process_environment({})
    assert wanted["PYTHONHASHSEED"] == "0"
    assert ("GLIBC_TUNABLES" in wanted) == (sys.platform == "linux")
    # a variable the user set, even to "", is theirs
    assert process_environment({"PYTHONHASHSEED": "7", "GLIBC_TUNABLES": ""}) == {}
    assert "PYTHONHASHSEED" not in process_environment({"PYTHONHASHSEED": ""})


def _thp_mode() -> str:
    try:
        text = Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text()
    except OSError:
        return "never"
    return text.split("[")[1].split("]")[0]


def _glibc_at_least(major: int, minor: int) -> bool:
    try:
        version = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (ValueError, OSError):
        return False
    parts = version.split()[-1].split(".") if version.startswith("glibc") else []
    return len(parts) >= 2 and (int(parts[0]), int(parts[1])) >= (major, minor)


_CHILD = """
import json, os, resource, sys
sys.path.insert(0, sys.argv[1])
from hybrid_jax.backend import reexec_with_process_environment
reexec_with_process_environment()
import jax, jax.numpy as jnp
f = jax.jit(lambda x, y: (jnp.sin(jnp.outer(x, x)) @ y).sum())
x = jnp.ones(4608, jnp.float32)
c = f.lower(x, x).compile()
c(x, x).block_until_ready()
r0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(4):
    c(x, x).block_until_ready()
faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - r0) / 4
print(json.dumps({"env": {k: os.environ.get(k) for k in ("PYTHONHASHSEED", "GLIBC_TUNABLES")},
                  "temp_bytes": c.memory_analysis().temp_size_in_bytes, "faults": faults}))
"""


@pytest.mark.skipif(sys.platform != "linux" or not _glibc_at_least(2, 35) or _thp_mode() == "never",
                    reason="malloc's huge pages need Linux, glibc >= 2.35 and transparent huge pages")
def test_command_line_process_reexecutes_with_huge_page_malloc():
    """A program that calls `reexec_with_process_environment` first runs again under both variables; then XLA's
    per-execution
    temporary buffer (81 MiB here: 20,700 pages of 4 KiB) costs a few huge-page faults per call, not one
    fault per 4 KiB page (bound: 10 % of those)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONHASHSEED", "GLIBC_TUNABLES")}
    out = subprocess.run([sys.executable, "-c", _CHILD, str(ROOT)], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["env"] == {"PYTHONHASHSEED": "0", "GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}
    pages = result["temp_bytes"] / 4096
    assert pages > 16_000  # the program does allocate a large temporary buffer
    assert result["faults"] < 0.1 * pages, result
