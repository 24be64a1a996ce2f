"""Weighted, masked, multi-step losses."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def per_sample_loss(pred: jax.Array, target: jax.Array, mask: jax.Array) -> jax.Array:
    """Mask-normalised mean squared error per sample.

    pred, target: ``[B, K, *spatial, C]``; mask: ``[B, K, *spatial]`` (1 observed, 0 not).
    Returns ``[B]``: the squared error summed over observed cells, steps and channels, divided by
    the number of observed (cell, step, channel) entries, so masked and unmasked losses share one
    scale. A sample with nothing observed has loss 0.
    """
    err = jnp.sum((pred - target) ** 2, axis=-1)  # [B, K, *spatial]
    axes = tuple(range(1, err.ndim))
    observed = jnp.sum(mask, axis=axes) * pred.shape[-1]
    return jnp.sum(err * mask, axis=axes) / jnp.maximum(observed, 1.0)


def weighted_loss(pred: jax.Array, target: jax.Array, mask: jax.Array, weight: jax.Array) -> jax.Array:
    """Batch loss: mean over the batch of ``weight × per_sample_loss`` (weight ``[B]``)."""
    return jnp.mean(weight * per_sample_loss(pred, target, mask))
