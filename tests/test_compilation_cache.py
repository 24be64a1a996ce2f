"""The persistent compilation cache: on by default for runs, in the configured directory, off with null."""

import subprocess
import sys
import textwrap

from hybrid_jax.config import load_config

_PROGRAM = textwrap.dedent("""
    import sys, time, jax, jax.numpy as jnp
    from hybrid_jax.backend import enable_compilation_cache
    enable_compilation_cache(sys.argv[1] or None)

    @jax.jit
    def f(x):
        for i in range(40):
            x = jnp.tanh(x @ x) + i
        return x

    t = time.perf_counter()
    f(jnp.ones((32, 32), jnp.float32)).block_until_ready()
    print(time.perf_counter() - t)
""")


def _first_call_s(cache: str) -> float:
    out = subprocess.run([sys.executable, "-c", _PROGRAM, cache], capture_output=True, text=True, check=True)
    return float(out.stdout.split()[-1])


def test_a_second_process_reuses_the_compiled_program(tmp_path):
    cache = tmp_path / "xla"
    cold = _first_call_s(str(cache))
    entries = [p.name for p in cache.iterdir()]
    assert any(name.startswith("jit_f-") for name in entries), entries
    warm = _first_call_s(str(cache))
    assert warm < cold, (cold, warm)  # loaded, not compiled again


def test_off_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    _first_call_s("")
    assert not (tmp_path / "hybrid_jax").exists()


def test_default_directory_and_null():
    assert load_config(None).output.compilation_cache == "default"
    assert load_config(None, ["output.compilation_cache=null"]).output.compilation_cache is None
