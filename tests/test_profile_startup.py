"""The start-up benchmark's accounting (`python -m benchmarks startup`) (no training run): phases, and the JAX
compile events inside them."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from benchmarks import startup as P


def test_profile_attributes_traces_and_compilations_to_the_phase_they_ran_in():
    prof = P.Profile()
    prof.listen()

    @jax.jit
    def double(x):
        return 2 * x

    with prof.phase("first"):
        double(jnp.ones(3, jnp.float32))
        double(jnp.ones(3, jnp.float32))  # cached: no second trace
    with prof.phase("second"):
        double(jnp.ones(5, jnp.float32))  # a new shape: traced again
    prof.stop()
    with prof.phase("after"):
        double(jnp.ones(7, jnp.float32))
    table = prof.table()
    assert prof.traces["double (first)"] == 1 and prof.traces["double (second)"] == 1
    for name in ("first", "second"):
        row = table[name]
        assert row["trace_cpu_s"] > 0 and row["lower_cpu_s"] > 0 and row["compile_cpu_s"] > 0
        assert row["trace_cpu_s"] + row["lower_cpu_s"] + row["compile_cpu_s"] <= row["cpu_s"] + 1e-3
    assert prof.functions["jit(double)"]["compile"] > 0
    assert table["after"]["trace_cpu_s"] == 0 and "double (after)" not in prof.traces


def test_median_table_adds_a_total_row():
    runs = [{"phases": {"a": {"wall_s": w, "cpu_s": 1.0, "trace_cpu_s": 0.5, "lower_cpu_s": 0.0, "compile_cpu_s": 0.0},
                        "b": {"wall_s": 2.0}}} for w in (1.0, 3.0, 2.0)]
    rows = P.median_table(runs)
    assert [r["phase"] for r in rows] == ["a", "b", "total (in process)"]
    assert rows[0]["wall_s"] == 2.0 and rows[1]["cpu_s"] == 0.0
    assert rows[2]["wall_s"] == 4.0 and rows[2]["trace_cpu_s"] == 0.5


def test_phases_on_another_thread_are_rows_of_their_own_outside_the_total():
    import threading

    prof = P.Profile()

    def worker():
        with prof.phase("plots"):
            sum(i * i for i in range(200_000))

    with prof.phase("evaluate"):
        t = threading.Thread(target=worker)
        t.start()
        t.join()
    assert set(prof.rows) == {"evaluate", "plots" + P.WORKER}
    assert prof.stack == []  # the worker never touched the main thread's stack
    assert prof.main_wall() == prof.rows["evaluate"]["wall_s"]
    assert 0 < prof.rows["plots" + P.WORKER]["cpu_s"] <= prof.rows["plots" + P.WORKER]["wall_s"] + 1e-3
    rows = P.median_table([{"phases": prof.table()}])
    assert [r["phase"] for r in rows] == ["evaluate", "total (in process)", "plots" + P.WORKER]
    assert rows[1]["wall_s"] == rows[0]["wall_s"]
