"""Flax NNX architectures of the synthetic model."""

from flax import nnx

from hybrid_jax.networks.convnet import ConvNet
from hybrid_jax.networks.unet import UNet


def build_network(net_cfg, *, in_channels: int, out_channels: int, ndim: int, periodic: bool,
                  rngs: nnx.Rngs) -> nnx.Module:
    """The network a `NetworkConfig` describes, mapping ``[B, *spatial, in]`` -> ``[B, *spatial, out]``."""
    common = dict(ndim=ndim, filters=net_cfg.filters, kernel_size=net_cfg.kernel_size, periodic=periodic, rngs=rngs)
    if net_cfg.architecture == "unet":
        return UNet(in_channels, out_channels, levels=net_cfg.levels, **common)
    return ConvNet(in_channels, out_channels, layers=net_cfg.layers, **common)


__all__ = ["ConvNet", "UNet", "build_network"]
