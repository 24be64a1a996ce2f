"""A UNet for 1D, 2D and 3D fields, with circular padding on periodic domains."""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from hybrid_jax.networks.layers import ConvNormAct


def upsample(x: jax.Array) -> jax.Array:
    """Nearest-neighbour 2x upsampling of ``[B, *spatial, C]`` by broadcast and reshape (XLA's CPU
    backend differentiates this ~1.7x faster than `jnp.repeat`: UNet 64² K=4 step 0.71 -> 0.42 s)."""
    b, *spatial, c = x.shape
    expanded = x.reshape([b] + [n for s in spatial for n in (s, 1)] + [c])
    target = [b] + [n for s in spatial for n in (s, 2)] + [c]
    return jnp.broadcast_to(expanded, target).reshape([b] + [2 * s for s in spatial] + [c])


class _Block(nnx.Module):
    """Two convolutions, each followed by the normalisation (if any) and the activation, same resolution."""

    def __init__(self, cin: int, cout: int, ks: tuple[int, ...], periodic: bool, norm: str, groups: int,
                 rngs: nnx.Rngs, activation: str):
        self.a = ConvNormAct(cin, cout, ks, periodic, norm, groups, rngs, activation)
        self.b = ConvNormAct(cout, cout, ks, periodic, norm, groups, rngs, activation)

    def __call__(self, x):
        return self.b(self.a(x))


class UNet(nnx.Module):
    """``[B, *spatial, in_channels]`` -> ``[B, *spatial, out_channels]``.

    ``len(widths)`` resolutions, each half the previous (average pooling down, nearest-neighbour
    up, skip connections by concatenation); level i has ``widths[i]`` channels. Every spatial
    size must be divisible by ``2^(len(widths)-1)``.
    """

    def __init__(self, in_channels: int, out_channels: int, *, ndim: int, widths: Sequence[int] = (16, 32),
                 kernel_size: int = 3, periodic: bool = True, norm: str = "none", norm_groups: int = 8,
                 activation: str = "gelu", rngs: nnx.Rngs):
        ks = (kernel_size,) * ndim
        widths = list(widths)
        self.ndim = ndim
        self.down = nnx.List([_Block(cin, cout, ks, periodic, norm, norm_groups, rngs, activation)
                              for cin, cout in zip([in_channels] + widths, widths)])
        self.up = nnx.List([_Block(widths[i] + widths[i + 1], widths[i], ks, periodic, norm, norm_groups, rngs,
                                   activation)
                            for i in range(len(widths) - 1)])
        self.out = nnx.Conv(widths[0], out_channels, (1,) * ndim, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        window = (2,) * self.ndim
        skips = []
        for i, block in enumerate(self.down):
            if i:
                x = nnx.avg_pool(x, window, strides=window)
            x = block(x)
            skips.append(x)
        for block, skip in zip(reversed(self.up), reversed(skips[:-1])):
            x = block(jnp.concatenate([upsample(x), skip], axis=-1))
        return self.out(x)


def build(net_cfg, *, in_channels: int, out_channels: int, ndim: int, periodic: bool, rngs: nnx.Rngs) -> UNet:
    """The registry's builder of ``network.architecture: unet``."""
    return UNet(in_channels, out_channels, widths=net_cfg.unet_widths(), ndim=ndim, kernel_size=net_cfg.kernel_size,
                periodic=periodic, norm=net_cfg.norm, norm_groups=net_cfg.norm_groups,
                activation=net_cfg.activation, rngs=rngs)
