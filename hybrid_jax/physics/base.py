"""What every PDE family provides: its channel layout and a pure single-sample step.

A state is a float32 array ``[*spatial, C]``, channels last, dynamic channels first
(predicted by the network) and static channels after them (read, never predicted).
Parameters are a dict pytree of float32 arrays (scalars or fields ``[*spatial]``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import jax

Params = dict[str, jax.Array]


@dataclass(frozen=True)
class FieldLayout:
    """Channel names of a state: `dynamic` ones are predicted, `static` ones only read."""

    dynamic: tuple[str, ...]
    static: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return self.dynamic + self.static

    @property
    def num_dynamic(self) -> int:
        return len(self.dynamic)

    @property
    def num_channels(self) -> int:
        return len(self.dynamic) + len(self.static)


class PDE(Protocol):
    """The protocol of a physics module (see `burgers.Burgers` for an implementation)."""

    layout: FieldLayout
    spatial_shape: tuple[int, ...]
    periodic: bool
    positive_params: tuple[str, ...]  # optimised in log space by the physical trainer

    def init_params(self) -> Params: ...

    def true_params(self) -> Params: ...

    def step(self, state: jax.Array, params: Params) -> jax.Array: ...

    def sample_initial_state(self, key: jax.Array, n: int) -> jax.Array: ...

    def constrain(self, params: Params) -> Params: ...
