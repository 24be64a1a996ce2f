"""A ResNet: residual blocks of same-resolution convolutions, for 1D, 2D and 3D fields."""

from __future__ import annotations

from dataclasses import dataclass

import jax
from flax import nnx

from hybrid_jax.networks.base import Footprint, Network, NetworkBase
from hybrid_jax.networks.layers import ACTIVATIONS, conv, norm_layer
from hybrid_jax.typed_config import option, positive


@dataclass(frozen=True)
class ResNetConfig(NetworkBase):
    """``network.architecture: resnet``."""

    architecture: str = option("resnet", "Flax NNX architecture (see network[unet].architecture)")
    filters: int = positive(16, "channels of every residual block")
    blocks: int = positive(2, "residual blocks (two convolutions each) at full resolution")

    def hidden_widths(self) -> tuple[int, ...]:
        return (self.filters,)

    def footprint(self, in_channels: int, out_channels: int, ndim: int) -> Footprint:
        """A lifting convolution, `blocks` × (norm, conv, norm, conv), a final norm and a 1×1 head."""
        f, k, norm = self.filters, self.kernel_size**ndim, 2 * self.filters * (self.norm != "none")
        blocks = self.blocks * 2 * (k * f * f + f + norm)
        params = k * in_channels * f + f + blocks + norm + f * out_channels + out_channels
        per_block = 2 * self.values_per_layer + 1  # and the residual sum
        return Footprint(params, f * (1 + self.blocks * per_block + self.values_per_layer) + in_channels + out_channels)


class _ResBlock(nnx.Module):
    """``x + conv(act(norm(conv(act(norm(x))))))`` (pre-activation: the identity path stays clean)."""

    def __init__(self, width: int, ks: tuple[int, ...], periodic: bool, norm: str, groups: int, rngs: nnx.Rngs,
                 activation: str):
        self.activation = activation
        self.norm_a = norm_layer(norm, width, groups, rngs)
        self.a = conv(width, width, ks, periodic, rngs)
        self.norm_b = norm_layer(norm, width, groups, rngs)
        self.b = conv(width, width, ks, periodic, rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        act = ACTIVATIONS[self.activation]
        return x + self.b(act(self.norm_b(self.a(act(self.norm_a(x))))))


class ResNet(nnx.Module):
    """``[B, *spatial, in_channels]`` -> ``[B, *spatial, out_channels]`` at full resolution.

    A lifting convolution to `filters` channels, `blocks` residual blocks of two convolutions
    each (periodic padding on periodic domains), then normalisation, GELU and a 1×1 projection.
    """

    def __init__(self, in_channels: int, out_channels: int, *, ndim: int, filters: int = 16, blocks: int = 2,
                 kernel_size: int = 3, periodic: bool = True, norm: str = "none", norm_groups: int = 8,
                 activation: str = "gelu", rngs: nnx.Rngs):
        ks = (kernel_size,) * ndim
        self.lift = conv(in_channels, filters, ks, periodic, rngs)
        self.blocks = nnx.List([_ResBlock(filters, ks, periodic, norm, norm_groups, rngs, activation)
                                for _ in range(blocks)])
        self.norm = norm_layer(norm, filters, norm_groups, rngs)
        self.out = nnx.Conv(filters, out_channels, (1,) * ndim, rngs=rngs)
        self.activation = activation

    def __call__(self, x: jax.Array) -> jax.Array:
        x = self.lift(x)
        for block in self.blocks:
            x = block(x)
        return self.out(ACTIVATIONS[self.activation](self.norm(x)))


def build(net_cfg: ResNetConfig, *, in_channels: int, out_channels: int, ndim: int, periodic: bool,
          rngs: nnx.Rngs) -> ResNet:
    """The builder of ``network.architecture: resnet``."""
    return ResNet(in_channels, out_channels, filters=net_cfg.filters, blocks=net_cfg.blocks, ndim=ndim,
                  kernel_size=net_cfg.kernel_size, periodic=periodic, norm=net_cfg.norm,
                  norm_groups=net_cfg.norm_groups, activation=net_cfg.activation, rngs=rngs)


NETWORK = Network("resnet", ResNetConfig, build)
