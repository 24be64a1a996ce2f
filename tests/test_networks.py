"""Networks: the fast layer formulations equal the plain ones; periodic UNets are shift-equivariant."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from hybrid_jax.networks import ConvNet, UNet
from hybrid_jax.networks.layers import PeriodicConv
from hybrid_jax.networks.unet import upsample


@pytest.mark.parametrize("shape", [(2, 4, 3), (2, 4, 6, 3), (1, 2, 4, 6, 2)])
def test_upsample_equals_repeat(shape):
    x = jnp.asarray(np.random.default_rng(0).normal(size=shape), jnp.float32)
    ref = x
    for axis in range(1, len(shape) - 1):
        ref = jnp.repeat(ref, 2, axis=axis)
    np.testing.assert_array_equal(upsample(x), ref)


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_periodic_conv_equals_flax_circular_padding(ndim):
    x = jax.random.normal(jax.random.PRNGKey(0), (2,) + (8,) * ndim + (3,), jnp.float32)
    ours = PeriodicConv(3, 4, (3,) * ndim, rngs=nnx.Rngs(0))
    ref = nnx.Conv(3, 4, (3,) * ndim, padding="CIRCULAR", rngs=nnx.Rngs(1))
    ref.kernel[...], ref.bias[...] = ours.conv.kernel[...], ours.conv.bias[...]
    np.testing.assert_allclose(ours(x), ref(x), rtol=0, atol=1e-5)  # float32 summation order


@pytest.mark.parametrize("net", [lambda: UNet(2, 2, ndim=2, levels=3, filters=4, rngs=nnx.Rngs(0)),
                                 lambda: ConvNet(2, 2, ndim=2, filters=4, layers=2, rngs=nnx.Rngs(0))])
def test_periodic_networks_commute_with_shifts(net):
    model = net()
    x = jax.random.normal(jax.random.PRNGKey(1), (1, 16, 16, 2), jnp.float32)
    shift = (4, -8)  # multiples of 2^(levels-1): the pooling grid is preserved
    np.testing.assert_allclose(jnp.roll(model(x), shift, (1, 2)), model(jnp.roll(x, shift, (1, 2))), atol=1e-5)
