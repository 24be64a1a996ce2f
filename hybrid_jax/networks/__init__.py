"""Flax NNX architectures of the synthetic model, found by name in a lazy registry.

An architecture is a `hybrid_jax.networks.base.Network`: its config dataclass (the ``network``
section's keys for ``network.architecture: <name>``, with their checks and a parameter/activation
count) and a builder ``(net_cfg, *, in_channels, out_channels, ndim, periodic, rngs) -> nnx.Module``
mapping ``[B, *spatial, in]`` -> ``[B, *spatial, out]``. `register_network` adds one (installed
packages: the entry-point group ``hybrid_jax.networks``). Importing this package imports neither
Flax nor an architecture.
"""

from __future__ import annotations

import importlib

from hybrid_jax._registry import architectures


def register_network(network, name: str | None = None) -> None:
    """Make a network available as ``network.architecture: <name>`` in configs.

    `network` is a `hybrid_jax.Network` (name, config dataclass deriving from `hybrid_jax.NetworkBase`,
    builder) or the import path ``"package.module:ATTRIBUTE"`` of one (imported when the name is first
    used; then `name` is required)."""
    if isinstance(network, str):
        if name is None:
            raise ValueError("register_network: a network given by import path needs its name")
        architectures.register(name, network)
    else:
        architectures.register(name or network.name, network)


JIT_INIT = frozenset({"unet", "convnet", "resnet"})
"""Built-in architectures whose parameters are drawn by one jitted program: eagerly, each layer's
initialiser is a few small XLA programs of its own, each traced, lowered and loaded from the compilation
cache in every process (0.27 s of 0.53 s for the smoke job's UNet). The values are bitwise those of the
eager initialisation (tests/test_networks.py). A registered network is built eagerly (its builder need not
be traceable)."""


def build_network(net_cfg, *, in_channels: int, out_channels: int, ndim: int, periodic: bool, rngs):
    """The network a `NetworkConfig` describes, mapping ``[B, *spatial, in]`` -> ``[B, *spatial, out]``,
    computing in ``net_cfg.dtype`` (`hybrid_jax.networks.precision`; parameters float32); `periodic`
    (the domain's) gives circular padding unless ``net_cfg.padding`` is ``zero``."""
    from hybrid_jax.networks.precision import set_compute_dtype

    def make(rngs):
        net = architectures.get(net_cfg.architecture).build(
            net_cfg, in_channels=in_channels, out_channels=out_channels, ndim=ndim,
            periodic=periodic and net_cfg.padding == "domain", rngs=rngs)
        return set_compute_dtype(net, net_cfg.dtype)

    if net_cfg.architecture in JIT_INIT:
        from flax import nnx

        return nnx.jit(make)(rngs)
    return make(rngs)


_LAZY = {"ConvNet": "convnet", "ResNet": "resnet", "UNet": "unet", "ConvNetConfig": "convnet",
         "ResNetConfig": "resnet", "UNetConfig": "unet", "Network": "base", "NetworkBase": "base",
         "Footprint": "base"}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f"hybrid_jax.networks.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'hybrid_jax.networks' has no attribute {name!r}")


__all__ = ["ConvNet", "ConvNetConfig", "Footprint", "Network", "NetworkBase", "ResNet", "ResNetConfig", "UNet",
           "UNetConfig", "JIT_INIT", "architectures", "build_network", "register_network"]
