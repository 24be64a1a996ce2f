"""Convolution layers shared by the architectures."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx


def _circular_correlation(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """Circular cross-correlation of ``[B, *spatial, in]`` with an odd-sized kernel ``[*k, in, out]``.

    Written as wrap-padding, a SAME convolution and a crop rather than flax's 'CIRCULAR' padding
    (wrap-padding and a VALID convolution): same result, but XLA's CPU backend runs the SAME form
    faster (measured: kernel gradient 1.7x at 64x64x16 channels, batch 64; forward 3.6x at 32²,
    64 -> 32 channels, batch 16, where the VALID form leaves YNNPACK's fast path).
    """
    halo = tuple(k // 2 for k in kernel.shape[:-2])
    spatial = "DHW"[3 - len(halo):]
    dims = (f"N{spatial}C", f"{spatial}IO", f"N{spatial}C")
    y = jax.lax.conv_general_dilated(jnp.pad(x, [(0, 0)] + [(h, h) for h in halo] + [(0, 0)], mode="wrap"), kernel,
                                     (1,) * len(halo), "SAME", dimension_numbers=dims)
    return y[(slice(None),) + tuple(slice(h, y.shape[i + 1] - h) for i, h in enumerate(halo))]


@jax.custom_vjp
def circular_correlation(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """`_circular_correlation` whose input gradient is itself a circular correlation (of the output
    gradient with the kernel flipped in space and transposed in channels).

    Same values as differentiating `_circular_correlation`, to float32 round-off; XLA's CPU backend
    runs the transposed convolution autodiff gives (of the SAME form, on the halo-padded grid) on a
    slower path than a forward one: measured input gradient at 32², batch 16, 3.73 -> 1.41 ms
    for 2 <- 32 channels, 5.74 -> 4.91 ms for 32 <- 32 (`python -m benchmarks network --layers`).
    """
    return _circular_correlation(x, kernel)


def _circular_correlation_fwd(x, kernel):
    return _circular_correlation(x, kernel), (x, kernel)


def _circular_correlation_bwd(residuals, g):
    x, kernel = residuals
    spatial_axes = tuple(range(kernel.ndim - 2))
    dx = _circular_correlation(g, jnp.swapaxes(jnp.flip(kernel, spatial_axes), -1, -2))
    dkernel, = jax.linear_transpose(lambda k: _circular_correlation(x, k), kernel)(g)  # no forward pass
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


ACTIVATIONS = {"gelu": nnx.gelu, "relu": nnx.relu}
"""``network.activation`` -> the hidden layers' nonlinearity (elementwise)."""


class ConvNormAct(nnx.Module):
    """A convolution, a normalisation (or none) and the activation (GELU or ReLU), same resolution."""

    def __init__(self, cin: int, cout: int, kernel: tuple[int, ...], periodic: bool, norm: str, groups: int,
                 rngs: nnx.Rngs, activation: str = "gelu"):
        self.conv = conv(cin, cout, kernel, periodic, rngs)
        self.norm = norm_layer(norm, cout, groups, rngs)
        self.activation = activation

    def __call__(self, x: jax.Array) -> jax.Array:
        return ACTIVATIONS[self.activation](self.norm(self.conv(x)))
