"""Flax NNX architectures of the synthetic model, found by name in a lazy registry.

An architecture is a builder ``(net_cfg, *, in_channels, out_channels, ndim, periodic, rngs) ->
nnx.Module`` mapping ``[B, *spatial, in]`` -> ``[B, *spatial, out]``; `register_network` adds
one under a new ``network.architecture`` (installed packages: the entry-point group
``hybrid_jax.networks``). Importing this package imports neither Flax nor an architecture.
"""

from __future__ import annotations

import importlib

from hybrid_jax._registry import architectures


def check_builder(name, builder):
    """Refuse a registered network that is not a builder function."""
    if not callable(builder):
        raise TypeError(f"network {name!r}: expected a builder function, got {type(builder).__name__}")


def register_network(name: str, builder) -> None:
    """Make `builder` (or its import path ``"package.module:function"``) available as
    ``network.architecture: <name>``; it is called as ``builder(net_cfg, *, in_channels,
    out_channels, ndim, periodic, rngs)`` and returns an ``nnx.Module``."""
    architectures.register(name, builder)


def build_network(net_cfg, *, in_channels: int, out_channels: int, ndim: int, periodic: bool, rngs):
    """The network a `NetworkConfig` describes, mapping ``[B, *spatial, in]`` -> ``[B, *spatial, out]``,
    computing in ``net_cfg.dtype`` (`hybrid_jax.networks.precision`; parameters float32); `periodic`
    (the domain's) gives circular padding unless ``net_cfg.padding`` is ``zero``."""
    from hybrid_jax.networks.precision import set_compute_dtype

    net = architectures.get(net_cfg.architecture)(net_cfg, in_channels=in_channels, out_channels=out_channels,
                                                  ndim=ndim, periodic=periodic and net_cfg.padding == "domain", rngs=rngs)
    return set_compute_dtype(net, net_cfg.dtype)


def __getattr__(name):
    if name in ("ConvNet", "ResNet", "UNet"):
        return getattr(importlib.import_module(f"hybrid_jax.networks.{name.lower()}"), name)
    raise AttributeError(f"module 'hybrid_jax.networks' has no attribute {name!r}")


__all__ = ["ConvNet", "ResNet", "UNet", "architectures", "build_network", "register_network"]
