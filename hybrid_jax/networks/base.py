"""What every network architecture provides: its config dataclass and a builder (no Flax here).

An architecture is one module (ours or a user's) exposing a :class:`Network`: its config
dataclass (the ``network`` section, tagged by ``architecture``, deriving from `NetworkBase`,
which holds the keys every network shares) and its builder ``(net_cfg, *, in_channels,
out_channels, ndim, periodic, rngs) -> nnx.Module`` mapping ``[B, *spatial, in]`` ->
``[B, *spatial, out]``. The config also checks its own keys (`validate`), the grid it can run on
(`check_grid`), and counts its parameters and activations (`footprint`, read by the preflight).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Callable, Literal, NamedTuple

from hybrid_jax.config import ConfigError, NetworkConfig
from hybrid_jax.typed_config import nonnegative, option, positive


class Footprint(NamedTuple):
    """Size of a network: `params` (trainable values) and `activations` (values per grid cell of one
    sample's forward pass that the backward pass keeps: the preflight's estimate, not a bound)."""

    params: int
    activations: float


@dataclass(frozen=True)
class NetworkBase(NetworkConfig):
    """Keys shared by every architecture. A subclass redefines `architecture` (default: its own name),
    adds its hyperparameters, and may override `hidden_widths`, `validate`, `check_grid` and `footprint`
    (see `NetworkConfig`)."""

    architecture: str = option("", "Flax NNX architecture: unet, convnet, resnet or a registered one "
                                    "(hybrid_jax.register_network); the other keys depend on it")
    kernel_size: int = option(3, "convolution kernel size", lambda v: v >= 1 and v % 2 == 1, "must be odd and >= 1")
    norm: Literal["none", "group", "layer"] = option(
        "none", "normalisation before each hidden activation: none, GroupNorm (statistics over space and a "
                "group of channels, per sample) or LayerNorm (over the channels of each cell)")
    norm_groups: int = positive(8, "norm = group: groups of every GroupNorm (must divide every hidden width)")
    input_noise: float = nonnegative(
        0.0, "σ of Gaussian noise added in training to the dynamic channels of the state each network step "
             "starts from (field units; the target stays clean, so the network learns to undo it); drawn from "
             "a key of (seed, step); off in evaluation and generation")
    prediction: Literal["residual", "next_state"] = option(
        "residual", "predict the increment (x + f(x)) or the next state directly")
    padding: Literal["domain", "zero"] = option(
        "domain", "convolution padding: domain (circular on periodic domains, zero otherwise) or zero everywhere "
                  "(cheaper on CPU; the original system's UNet pads with zeros)")
    activation: Literal["gelu", "relu"] = option("gelu", "nonlinearity of the hidden layers: gelu (tanh form) or relu")
    dtype: Literal["float32", "bfloat16"] = option(
        "float32", "compute dtype of the network's layers; bfloat16: mixed precision (bf16 convolutions, for "
                   "GPUs/TPUs; emulated and slow on CPU) with parameters, gradients, optimiser state, loss and "
                   "the rolled-out state kept float32")

    def __post_init__(self):
        self.validate()
        if self.norm == "group" and any(w % self.norm_groups for w in self.hidden_widths()):
            raise ConfigError(f"network.norm_groups: must divide every hidden width {list(self.hidden_widths())}, "
                              f"got {self.norm_groups}")

    def hidden_widths(self) -> tuple[int, ...]:
        """Channels of the normalised hidden layers."""
        return ()

    def validate(self) -> None:
        """Architecture-specific checks of its own keys; raise ConfigError naming the key."""

    def conv_params(self, cin: int, cout: int, ndim: int, kernel: int | None = None) -> int:
        """Parameters of one convolution (kernel and bias) with its normalisation (`norm`, if any) after it."""
        k = self.kernel_size if kernel is None else kernel
        return k**ndim * cin * cout + cout + (2 * cout if self.norm != "none" else 0)

    @property
    def values_per_layer(self) -> int:
        """Arrays a hidden layer keeps for its backward pass: convolution, normalisation (if any), activation."""
        return 3 if self.norm != "none" else 2


@dataclass(frozen=True)
class Network:
    """A network architecture: its `name` (the ``network.architecture`` that selects it), its config dataclass
    (deriving from `NetworkBase`, `architecture` defaulting to `name`) and its builder."""

    name: str
    config: type
    build: Callable


def check_network(name: str, network) -> None:
    """Refuse a malformed registry entry with a one-line TypeError/ValueError."""
    if not isinstance(network, Network):
        raise TypeError(f"network {name!r}: expected a hybrid_jax.Network, got {type(network).__name__}")
    if not (dataclasses.is_dataclass(network.config) and issubclass(network.config, NetworkBase)):
        raise TypeError(f"network {name!r}: its config must be a dataclass deriving from hybrid_jax.NetworkBase")
    default = {f.name: f.default for f in dataclasses.fields(network.config)}["architecture"]
    if network.name != name or default != name:
        raise ValueError(f"network {name!r}: the network's name and its config's `architecture` default must both "
                         f"be {name!r}")
    if not callable(network.build):
        raise TypeError(f"network {name!r}: its build must be a function")


def cells_fraction(level: int, ndim: int) -> float:
    """Cells of a grid coarsened `level` times by 2 per dimension, relative to the full grid."""
    return math.pow(2.0, -ndim * level)
