"""The compute dtype of a network: one mechanism for every architecture, registered ones included.

Mixed precision (``network.dtype: bfloat16``) sets the ``dtype`` attribute of every Flax layer of a
built network (every submodule with both ``dtype`` and ``param_dtype``: ``nnx.Conv``, ``nnx.Linear``,
``nnx.GroupNorm``, ``nnx.LayerNorm``, ...), the attribute their ``__call__`` casts inputs, kernel and
bias to before computing. ``param_dtype`` stays float32, so parameters, gradients and optimiser state
stay float32; the normalisations compute their statistics in float32 regardless. The caller casts the
network's output back to float32 (`hybrid_jax.rollout.network_step`).
"""

from __future__ import annotations

import jax.numpy as jnp
from flax import nnx

from hybrid_jax.errors import ConfigError

COMPUTE_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def _is_flax_layer(_path, module) -> bool:
    return hasattr(module, "dtype") and hasattr(module, "param_dtype")


def set_compute_dtype(net: nnx.Module, dtype: str) -> nnx.Module:
    """`net`, its Flax layers computing in `dtype` ("float32": unchanged, the layers' default promotion
    of float32 inputs and parameters); raises ConfigError if a lower precision is asked of a network
    that has no Flax layer to apply it to."""
    if dtype == "float32":
        return net
    try:
        net.set_attributes(_is_flax_layer, dtype=COMPUTE_DTYPES[dtype])
    except ValueError:
        raise ConfigError(f"network.dtype = {dtype}: the network {type(net).__name__} has no Flax layer with a "
                         "`dtype` and `param_dtype` attribute to compute in it") from None
    return net
