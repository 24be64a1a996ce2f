"""Convolution layers shared by the architectures."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx


class PeriodicConv(nnx.Module):
    """A convolution with circular (periodic) padding, ``[B, *spatial, in]`` -> ``[B, *spatial, out]``.

    Written as wrap-padding, a SAME convolution and a crop rather than flax's 'CIRCULAR' padding
    (wrap-padding and a VALID convolution): same result, but XLA's CPU backend computes the kernel
    gradient of the SAME convolution about 1.7x faster (measured: 64x64x16 channels, batch 64).
    """

    def __init__(self, cin: int, cout: int, kernel: tuple[int, ...], *, rngs: nnx.Rngs):
        self.conv = nnx.Conv(cin, cout, kernel, padding="SAME", rngs=rngs)
        self.halo = tuple(k // 2 for k in kernel)

    def __call__(self, x: jax.Array) -> jax.Array:
        if not any(self.halo):
            return self.conv(x)
        pad = [(0, 0)] + [(h, h) for h in self.halo] + [(0, 0)]
        y = self.conv(jnp.pad(x, pad, mode="wrap"))
        return y[(slice(None),) + tuple(slice(h, y.shape[i + 1] - h) for i, h in enumerate(self.halo))]


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
