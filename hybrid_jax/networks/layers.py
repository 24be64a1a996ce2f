"""Convolution layers shared by the architectures."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx


def _circular_correlation(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """Circular cross-correlation of ``[B, *spatial, in]`` with an odd-sized kernel ``[*k, in, out]``.

    Written in the form XLA's CPU backend (YNNPACK) runs fastest: wrap-padding along every spatial axis
    but the last, a convolution that is VALID along those and zero-padded SAME along the last (whose
    output keeps the input's width), plus two thin convolutions that add the wrapped-around columns'
    contributions at the last axis' two edges. Measured against wrap-padding every axis (forward, kernel
    gradient; batch 16, one core): 32² 32 -> 32 channels 5.2 -> 4.6 ms, 6.4 -> 5.1 ms; 64² 64 -> 32
    channels 53 -> 30 ms, 87 -> 70 ms. A VALID convolution along the last axis (flax's 'CIRCULAR'
    padding) is slower still (64² 64 -> 32: 174 ms), as is a SAME one on a wrap-padded grid and a crop.
    """
    halo = tuple(k // 2 for k in kernel.shape[:-2])
    spatial = "DHW"[3 - len(halo):]
    dims = (f"N{spatial}C", f"{spatial}IO", f"N{spatial}C")
    h, width = halo[-1], x.shape[-2]
    if width <= 2 * h:  # fewer cells than the kernel spans: wrap every axis
        pads = [(0, 0)] + [(a, a) for a in halo] + [(0, 0)]
        return jax.lax.conv_general_dilated(jnp.pad(x, pads, mode="wrap"), kernel, (1,) * len(halo), "VALID",
                                            dimension_numbers=dims)
    x = jnp.pad(x, [(0, 0)] + [(a, a) for a in halo[:-1]] + [(0, 0), (0, 0)], mode="wrap")

    def conv(v, last_pad):
        return jax.lax.conv_general_dilated(v, kernel, (1,) * len(halo), [(0, 0)] * (len(halo) - 1) + [last_pad],
                                            dimension_numbers=dims)

    def widen(v, last_pad):  # zero-pad the last spatial axis to the full width
        return jnp.pad(v, [(0, 0)] * (v.ndim - 2) + [last_pad, (0, 0)])

    y = conv(x, (h, h))
    if not h:
        return y
    left = conv(x[..., width - h:, :], (0, 2 * h))  # outputs 0..h-1: the last h columns wrapped to the left
    right = conv(x[..., :h, :], (2 * h, 0))  # outputs width-h..width-1: the first h columns wrapped to the right
    return y + widen(left, (0, width - h)) + widen(right, (width - h, 0))


@jax.custom_vjp
def circular_correlation(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """`_circular_correlation` whose input gradient is itself a circular correlation (of the output
    gradient with the kernel flipped in space and transposed in channels).

    Same values as differentiating `_circular_correlation`, to float32 round-off; XLA's CPU backend
    runs the transposed convolutions autodiff gives on a slower path than forward ones (measured with
    the earlier wrap-pad/SAME/crop form: input gradient at 32², batch 16, 3.73 -> 1.41 ms for
    2 <- 32 channels, 5.74 -> 4.91 ms for 32 <- 32; benchmarks/bench_network_cpu.py --layers).
    """
    return _circular_correlation(x, kernel)


def _circular_correlation_fwd(x, kernel):
    return _circular_correlation(x, kernel), (x, kernel)


def _circular_correlation_bwd(residuals, g):
    x, kernel = residuals
    spatial_axes = tuple(range(kernel.ndim - 2))
    dx = _circular_correlation(g, jnp.swapaxes(jnp.flip(kernel, spatial_axes), -1, -2))
    dkernel = jax.vjp(lambda k: _circular_correlation(x, k), kernel)[1](g)[0]
    return dx.astype(x.dtype), dkernel


circular_correlation.defvjp(_circular_correlation_fwd, _circular_correlation_bwd)


class PeriodicConv(nnx.Module):
    """A convolution with circular (periodic) padding, ``[B, *spatial, in]`` -> ``[B, *spatial, out]``;
    odd kernel sizes. The parameters (and dtype promotion) are those of the wrapped ``nnx.Conv``; the
    convolution is `circular_correlation`."""

    def __init__(self, cin: int, cout: int, kernel: tuple[int, ...], *, rngs: nnx.Rngs):
        if any(k % 2 == 0 for k in kernel):
            raise ValueError(f"PeriodicConv: kernel sizes must be odd, got {kernel}")
        self.conv = nnx.Conv(cin, cout, kernel, padding="SAME", rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        if all(k == 1 for k in self.conv.kernel_size):
            return self.conv(x)
        x, kernel, bias = self.conv.promote_dtype((x, self.conv.kernel[...], self.conv.bias[...]),
                                                  dtype=self.conv.dtype)
        return circular_correlation(x, kernel) + bias


def conv(cin: int, cout: int, kernel: tuple[int, ...], periodic: bool, rngs: nnx.Rngs) -> nnx.Module:
    """A convolution with periodic padding on periodic domains, zero ('SAME') padding otherwise."""
    if periodic:
        return PeriodicConv(cin, cout, kernel, rngs=rngs)
    return nnx.Conv(cin, cout, kernel, padding="SAME", rngs=rngs)


class Identity(nnx.Module):
    """``x -> x``: the normalisation of `norm = none`."""

    def __call__(self, x: jax.Array) -> jax.Array:
        return x


def norm_layer(kind: str, channels: int, groups: int, rngs: nnx.Rngs) -> nnx.Module:
    """A normalisation of ``[B, *spatial, C]``, per sample: GroupNorm (statistics over all cells and each
    of `groups` channel groups), LayerNorm (over the channels of each cell), or none. Both are invariant
    under circular shifts of the grid; BatchNorm is not offered (its statistics couple the samples of a
    batch and need running state outside the parameters)."""
    if kind == "group":
        return nnx.GroupNorm(channels, num_groups=groups, rngs=rngs)
    if kind == "layer":
        return nnx.LayerNorm(channels, rngs=rngs)
    return Identity()


class ConvNormAct(nnx.Module):
    """A convolution, a normalisation (or none) and GELU, same resolution."""

    def __init__(self, cin: int, cout: int, kernel: tuple[int, ...], periodic: bool, norm: str, groups: int,
                 rngs: nnx.Rngs):
        self.conv = conv(cin, cout, kernel, periodic, rngs)
        self.norm = norm_layer(norm, cout, groups, rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return nnx.gelu(self.norm(self.conv(x)))
