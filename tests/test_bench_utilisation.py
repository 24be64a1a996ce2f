"""The utilisation benchmark's own logic (no training run): XLA's FLOP count as it reads it, and the
peak it divides by."""

from __future__ import annotations

import sys
from pathlib import Path

import jax
import jax.numpy as jnp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import bench_utilisation as U  # noqa: E402


def test_flops_of_reads_xla_cost_analysis_of_a_matmul():
    n = 64
    compiled = jax.jit(lambda a, b: a @ b).lower(jnp.ones((n, n)), jnp.ones((n, n))).compile()
    assert abs(U.flops_of(compiled) - 2 * n**3) <= 0.05 * 2 * n**3  # a multiply-add counts 2


def test_flops_of_sums_a_per_program_list():
    class Old:  # older jax returned one dict per program
        def cost_analysis(self):
            return [{"flops": 3.0}, {"flops": 4.0, "bytes accessed": 1.0}]

    assert U.flops_of(Old()) == 7.0


def test_peak_table_most_specific_name_first_and_no_peak_on_cpu():
    names = list(U.PEAKS)
    assert names.index("H100 PCIe") < names.index("H100")  # "H100" would match a PCIe part first otherwise
    assert U.PEAKS["H100"]["bfloat16"] == 989e12 and U.PEAKS["A100"]["bfloat16"] == 312e12
    if jax.devices()[0].platform == "cpu":
        peak, why = U.device_peak("bfloat16")
        assert peak is None and "cpu" in why
