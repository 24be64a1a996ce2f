"""A network architecture defined outside hybrid_jax, with a hyperparameter of its own.

``stack``: a stack of same-resolution convolutions whose widths are one new key,
``network.hidden`` (e.g. ``[8, 16, 8]``), checked when the config loads. This one file is the
whole architecture: its config section, its checks, its size for the preflight, its builder and
its registration. Use it from the command line through the config's ``plugins`` key::

    python -m hybrid_jax.train plugins=[examples/custom_network.py] network.architecture=stack \
        network.hidden=[8,16,8]
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
from flax import nnx

import hybrid_jax as hj
from hybrid_jax.networks.base import Footprint
from hybrid_jax.networks.layers import ConvNormAct, conv


@dataclass(frozen=True)
class StackConfig(hj.NetworkBase):
    """The ``network`` section of ``architecture: stack`` (plus the keys every network has)."""

    architecture: str = hj.option("stack", "Flax NNX architecture")
    hidden: tuple[int, ...] = hj.option((8, 8), "channels of each hidden convolution, one entry per layer")

    def hidden_widths(self) -> tuple[int, ...]:
        return self.hidden

    def validate(self) -> None:
        if not self.hidden or min(self.hidden) < 1:
            raise hj.ConfigError(f"network.hidden: must be a non-empty list of widths >= 1, got {list(self.hidden)}")

    def footprint(self, in_channels: int, out_channels: int, ndim: int) -> Footprint:
        widths = (in_channels,) + self.hidden
        params = sum(self.conv_params(a, b, ndim) for a, b in zip(widths, widths[1:]))
        params += self.kernel_size**ndim * widths[-1] * out_channels + out_channels
        return Footprint(params, sum(self.hidden) * self.values_per_layer + in_channels + out_channels)


class Stack(nnx.Module):
    """``[B, *spatial, in_channels]`` -> ``[B, *spatial, out_channels]``."""

    def __init__(self, cfg: StackConfig, in_channels: int, out_channels: int, ndim: int, periodic: bool,
                 rngs: nnx.Rngs):
        ks = (cfg.kernel_size,) * ndim
        widths = (in_channels,) + cfg.hidden
        self.hidden = nnx.List([ConvNormAct(a, b, ks, periodic, cfg.norm, cfg.norm_groups, rngs, cfg.activation)
                                for a, b in zip(widths, widths[1:])])
        self.out = conv(widths[-1], out_channels, ks, periodic, rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        for layer in self.hidden:
            x = layer(x)
        return self.out(x)


def build(cfg: StackConfig, *, in_channels: int, out_channels: int, ndim: int, periodic: bool,
          rngs: nnx.Rngs) -> Stack:
    return Stack(cfg, in_channels, out_channels, ndim, periodic, rngs)


NETWORK = hj.Network("stack", StackConfig, build)
hj.register_network(NETWORK)
