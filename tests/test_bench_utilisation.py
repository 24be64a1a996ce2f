"""The utilisation benchmark's own logic (no training run): XLA's FLOP count as it reads it, and the
peak it divides by."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from benchmarks import utilisation as U


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


def test_jaxpr_flops_counts_convolutions_and_matmuls_forward_and_backward_like_xla_on_cpu():
    """The jaxpr count against XLA's CPU cost analysis (which counts convolutions there) and by hand."""
    x, w = jnp.ones((2, 64, 64, 8)), jnp.ones((3, 3, 8, 12))
    a, b = jnp.ones((32, 48)), jnp.ones((48, 24))

    def conv(x, w):
        return jax.lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))

    assert U.jaxpr_flops(conv, x, w) == 2 * 2 * 64 * 64 * 12 * 3 * 3 * 8
    assert U.jaxpr_flops(lambda a, b: a @ b, a, b) == 2 * 32 * 24 * 48

    def loss(x, w):  # forward, input and kernel gradients: three convolutions of the same size
        return jnp.sum(jnp.tanh(conv(x, w)))

    grad = jax.grad(loss, argnums=(0, 1))
    count = U.jaxpr_flops(grad, x, w)
    assert count == 3 * U.jaxpr_flops(conv, x, w)
    xla = U.flops_of(jax.jit(grad).lower(x, w).compile())
    # XLA counts only the taps that meet the input (3 % fewer at the edges of 64²) and adds the elementwise work
    assert abs(count - xla) <= 0.05 * count


def test_jaxpr_flops_multiplies_a_scan_body_by_its_length_and_enters_jitted_calls():
    a = jnp.ones((16, 16))
    step = jax.jit(lambda c: c @ a)

    def rolled(c):
        return jax.lax.scan(lambda c, _: (step(c), None), c, None, length=5)[0]

    assert U.jaxpr_flops(rolled, a) == 5 * 2 * 16**3


def test_jaxpr_flops_leaves_out_results_nobody_uses():
    a = jnp.ones((16, 16))

    def f(x):
        unused = x @ a  # XLA removes it; so does the count
        del unused
        return x @ a @ a

    assert U.jaxpr_flops(f, a) == 2 * 2 * 16**3
