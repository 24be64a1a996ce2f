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


def proportional_loss(per_sample: jax.Array, weight: jax.Array, generated: jax.Array) -> jax.Array:
    """Batch loss whose generated-data term equals its weight × the real-data term in value.

    per_sample, weight: ``[B]``; generated: ``[B]`` bool. real term R = mean over real samples of
    ``weight × loss``; generated term = mean over generated samples of ``weight × loss`` ×
    stop_gradient(R / (their mean loss + 1e-8)): its value is w·R (w the generated samples'
    weight) while its gradient is the generated samples' own, rescaled. A batch without real
    samples has R = 0, so its generated term is 0 too.
    """
    n_real = jnp.maximum(jnp.sum(~generated), 1)
    n_gen = jnp.maximum(jnp.sum(generated), 1)
    real = jnp.sum(jnp.where(generated, 0.0, weight * per_sample)) / n_real
    gen_mean = jnp.sum(jnp.where(generated, per_sample, 0.0)) / n_gen
    gen = jnp.sum(jnp.where(generated, weight * per_sample, 0.0)) / n_gen
    return real + gen * jax.lax.stop_gradient(real / (gen_mean + 1e-8))
