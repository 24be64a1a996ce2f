"""A UNet for 1D, 2D and 3D fields, with circular padding on periodic domains."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from hybrid_jax.config import ConfigError
from hybrid_jax.networks.base import Footprint, Network, NetworkBase, cells_fraction
from hybrid_jax.networks.layers import ConvNormAct
from hybrid_jax.typed_config import option, positive


@dataclass(frozen=True)
class UNetConfig(NetworkBase):
    """``network.architecture: unet``."""

    architecture: str = option("unet", "Flax NNX architecture: unet (levels, filters or widths), convnet (layers, "
                                       "filters), resnet (blocks, filters) or a registered one "
                                       "(hybrid_jax.register_network)")
    levels: int = positive(2, "resolution levels (each halves the grid; the resolution must divide by 2^(levels-1))")
    filters: int = positive(16, "channels of the first level (doubled per level, unless `widths` is given)")
    widths: tuple[int, ...] = option((), "channels of each level, one entry per level (e.g. [32, 32] keeps one "
                                         "width at every level); empty: filters·2^level",
                                     lambda v: all(w >= 1 for w in v), "must be >= 1 in every entry")

    def unet_widths(self) -> tuple[int, ...]:
        """Channels of each level: `widths`, or `filters` doubled per level."""
        return self.widths or tuple(self.filters * 2**i for i in range(self.levels))

    def hidden_widths(self) -> tuple[int, ...]:
        return self.unet_widths()

    def validate(self) -> None:
        if self.widths and len(self.widths) != self.levels:
            raise ConfigError(f"network.widths: must have one entry per UNet level (network.levels = {self.levels}), "
                              f"got {list(self.widths)}")

    def check_grid(self, resolution: tuple[int, ...]) -> None:
        factor = 2 ** (self.levels - 1)
        for i, n in enumerate(resolution):
            if n % factor:
                raise ConfigError(f"physics.resolution[{i}]: must be divisible by 2^(network.levels-1) = "
                                  f"{factor} for the UNet, got {n}")

    def footprint(self, in_channels: int, out_channels: int, ndim: int) -> Footprint:
        """Two convolutions per level down and per level up (skip concatenated), a 1×1 head."""
        w = self.unet_widths()
        down = sum(self.conv_params(a, b, ndim) + self.conv_params(b, b, ndim) for a, b in zip((in_channels,) + w, w))
        up = sum(self.conv_params(w[i] + w[i + 1], w[i], ndim) + self.conv_params(w[i], w[i], ndim)
                 for i in range(len(w) - 1))
        head = w[0] * out_channels + out_channels
        convs = [4 if i < len(w) - 1 else 2 for i in range(len(w))]  # the bottom level has no up block
        activations = sum(cells_fraction(i, ndim) * wi * n * self.values_per_layer
                          for i, (wi, n) in enumerate(zip(w, convs)))
        return Footprint(down + up + head, activations + in_channels + out_channels)


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


def build(net_cfg: UNetConfig, *, in_channels: int, out_channels: int, ndim: int, periodic: bool,
          rngs: nnx.Rngs) -> UNet:
    """The builder of ``network.architecture: unet``."""
    return UNet(in_channels, out_channels, widths=net_cfg.unet_widths(), ndim=ndim, kernel_size=net_cfg.kernel_size,
                periodic=periodic, norm=net_cfg.norm, norm_groups=net_cfg.norm_groups,
                activation=net_cfg.activation, rngs=rngs)


NETWORK = Network("unet", UNetConfig, build)
