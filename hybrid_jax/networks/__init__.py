"""Flax NNX architectures of the synthetic model."""

from flax import nnx

from hybrid_jax.networks.convnet import ConvNet
from hybrid_jax.networks.resnet import ResNet
from hybrid_jax.networks.unet import UNet


def build_network(net_cfg, *, in_channels: int, out_channels: int, ndim: int, periodic: bool,
                  rngs: nnx.Rngs) -> nnx.Module:
    """The network a `NetworkConfig` describes, mapping ``[B, *spatial, in]`` -> ``[B, *spatial, out]``."""
    common = dict(ndim=ndim, kernel_size=net_cfg.kernel_size, periodic=periodic, norm=net_cfg.norm,
                  norm_groups=net_cfg.norm_groups, rngs=rngs)
    if net_cfg.architecture == "unet":
        return UNet(in_channels, out_channels, widths=net_cfg.unet_widths(), **common)
    if net_cfg.architecture == "resnet":
        return ResNet(in_channels, out_channels, filters=net_cfg.filters, blocks=net_cfg.blocks, **common)
    return ConvNet(in_channels, out_channels, filters=net_cfg.filters, layers=net_cfg.layers, **common)


__all__ = ["ConvNet", "ResNet", "UNet", "build_network"]
