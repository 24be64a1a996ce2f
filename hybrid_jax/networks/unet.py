"""A UNet for 1D, 2D and 3D fields, with circular padding on periodic domains."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from hybrid_jax.networks.layers import conv


def upsample(x: jax.Array) -> jax.Array:
    """Nearest-neighbour 2x upsampling of ``[B, *spatial, C]`` by broadcast and reshape (XLA's CPU
    backend differentiates this ~1.7x faster than `jnp.repeat`: UNet 64² K=4 step 0.71 -> 0.42 s)."""
    b, *spatial, c = x.shape
    expanded = x.reshape([b] + [n for s in spatial for n in (s, 1)] + [c])
    target = [b] + [n for s in spatial for n in (s, 2)] + [c]
    return jnp.broadcast_to(expanded, target).reshape([b] + [2 * s for s in spatial] + [c])


class _Block(nnx.Module):
    """Two convolutions with GELU, same resolution."""

    def __init__(self, cin: int, cout: int, ks: tuple[int, ...], periodic: bool, rngs: nnx.Rngs):
        self.a = conv(cin, cout, ks, periodic, rngs)
        self.b = conv(cout, cout, ks, periodic, rngs)

    def __call__(self, x):
        return nnx.gelu(self.b(nnx.gelu(self.a(x))))


class UNet(nnx.Module):
    """``[B, *spatial, in_channels]`` -> ``[B, *spatial, out_channels]``.

    `levels` resolutions, each half the previous (average pooling down, nearest-neighbour
    up, skip connections by concatenation); level i has ``filters·2^i`` channels. Every
    spatial size must be divisible by ``2^(levels-1)``.
    """

    def __init__(self, in_channels: int, out_channels: int, *, ndim: int, levels: int = 2, filters: int = 16,
                 kernel_size: int = 3, periodic: bool = True, rngs: nnx.Rngs):
        ks = (kernel_size,) * ndim
        widths = [filters * 2**i for i in range(levels)]
        self.ndim = ndim
        self.down = nnx.List([_Block(cin, cout, ks, periodic, rngs) for cin, cout in zip([in_channels] + widths, widths)])
        self.up = nnx.List([_Block(widths[i] + widths[i + 1], widths[i], ks, periodic, rngs)
                            for i in range(levels - 1)])
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
    return UNet(in_channels, out_channels, ndim=ndim, filters=net_cfg.filters, levels=net_cfg.levels,
                kernel_size=net_cfg.kernel_size, periodic=periodic, rngs=rngs)
