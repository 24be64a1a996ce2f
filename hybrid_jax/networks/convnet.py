"""A small fully convolutional network: a stack of same-resolution convolutions."""

from __future__ import annotations

from dataclasses import dataclass

import jax
from flax import nnx

from hybrid_jax.networks.base import Footprint, Network, NetworkBase
from hybrid_jax.networks.layers import ConvNormAct, conv
from hybrid_jax.typed_config import option, positive


@dataclass(frozen=True)
class ConvNetConfig(NetworkBase):
    """``network.architecture: convnet``."""

    architecture: str = option("convnet", "Flax NNX architecture (see network[unet].architecture)")
    filters: int = positive(16, "channels of every hidden convolution")
    layers: int = positive(3, "number of hidden convolutions")

    def hidden_widths(self) -> tuple[int, ...]:
        return (self.filters,)

    def footprint(self, in_channels: int, out_channels: int, ndim: int) -> Footprint:
        widths = [in_channels] + [self.filters] * self.layers
        hidden = sum(self.conv_params(a, b, ndim) for a, b in zip(widths, widths[1:]))
        out = self.kernel_size**ndim * self.filters * out_channels + out_channels
        return Footprint(hidden + out, self.filters * self.layers * self.values_per_layer + in_channels + out_channels)


class ConvNet(nnx.Module):
    """``[B, *spatial, in_channels]`` -> ``[B, *spatial, out_channels]``, any number of spatial dims."""

    def __init__(self, in_channels: int, out_channels: int, *, ndim: int, filters: int = 16, layers: int = 3,
                 kernel_size: int = 3, periodic: bool = True, norm: str = "none", norm_groups: int = 8,
                 activation: str = "gelu", rngs: nnx.Rngs):
        ks = (kernel_size,) * ndim
        widths = [in_channels] + [filters] * layers
        self.hidden = nnx.List([ConvNormAct(a, b, ks, periodic, norm, norm_groups, rngs, activation)
                                for a, b in zip(widths, widths[1:])])
        self.out = conv(widths[-1], out_channels, ks, periodic, rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        for layer in self.hidden:
            x = layer(x)
        return self.out(x)


def build(net_cfg: ConvNetConfig, *, in_channels: int, out_channels: int, ndim: int, periodic: bool,
          rngs: nnx.Rngs) -> ConvNet:
    """The builder of ``network.architecture: convnet``."""
    return ConvNet(in_channels, out_channels, filters=net_cfg.filters, layers=net_cfg.layers, ndim=ndim,
                   kernel_size=net_cfg.kernel_size, periodic=periodic, norm=net_cfg.norm,
                   norm_groups=net_cfg.norm_groups, activation=net_cfg.activation, rngs=rngs)


NETWORK = Network("convnet", ConvNetConfig, build)
