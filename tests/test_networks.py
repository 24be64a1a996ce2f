"""Networks: the fast layer formulations equal the plain ones; periodic networks are shift-equivariant;
widths, blocks and normalisations are what the config says."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from hybrid_jax.config import ConfigError, NetworkConfig, config_from_dict, from_dict
from hybrid_jax.networks import ConvNet, ResNet, ResNetConfig, UNet, UNetConfig, build_network
from hybrid_jax.networks.layers import PeriodicConv, norm_layer
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


@pytest.mark.parametrize("ndim, kernel", [(1, 5), (2, 3), (3, 3)])
def test_periodic_conv_gradients_equal_flax_circular_padding(ndim, kernel):
    """The hand-written input gradient (a circular correlation with the flipped, transposed kernel) and the
    kernel gradient equal autodiff of flax's CIRCULAR convolution."""
    x = jax.random.normal(jax.random.PRNGKey(0), (2,) + (8,) * ndim + (3,), jnp.float32)
    ours = PeriodicConv(3, 2, (kernel,) * ndim, rngs=nnx.Rngs(0))
    ref = nnx.Conv(3, 2, (kernel,) * ndim, padding="CIRCULAR", rngs=nnx.Rngs(1))
    ref.kernel[...], ref.bias[...] = ours.conv.kernel[...], ours.conv.bias[...]
    g = jax.random.normal(jax.random.PRNGKey(1), (2,) + (8,) * ndim + (2,), jnp.float32)

    def grads(model):  # d<g, model(x)>/d(x, kernel, bias)
        _, params = nnx.split(model)
        return jax.grad(lambda p, x: jnp.sum(g * nnx.merge(nnx.graphdef(model), p)(x)), argnums=(0, 1))(params, x)

    (p_ours, x_ours), (p_ref, x_ref) = grads(ours), grads(ref)
    np.testing.assert_allclose(x_ours, x_ref, rtol=0, atol=1e-5)
    np.testing.assert_allclose(p_ours["conv"]["kernel"][...], p_ref["kernel"][...], rtol=0, atol=1e-4)
    np.testing.assert_allclose(p_ours["conv"]["bias"][...], p_ref["bias"][...], rtol=0, atol=1e-4)
    assert float(jnp.max(jnp.abs(x_ref))) > 0.1  # a gradient that could differ


def test_periodic_conv_rejects_even_kernels():
    with pytest.raises(ValueError, match="odd"):
        PeriodicConv(2, 2, (4, 4), rngs=nnx.Rngs(0))


ARCHITECTURES = {  # small periodic networks of every architecture (few distinct kernel shapes: fast to build)
    "unet": lambda **kw: UNet(2, 2, ndim=2, widths=(4, 4, 4), rngs=nnx.Rngs(0), **kw),
    "convnet": lambda **kw: ConvNet(2, 2, ndim=2, filters=4, layers=2, rngs=nnx.Rngs(0), **kw),
    "resnet": lambda **kw: ResNet(2, 2, ndim=2, filters=4, blocks=2, rngs=nnx.Rngs(0), **kw),
}


@pytest.mark.parametrize("arch, norm", [("unet", "none"), ("unet", "group"), ("convnet", "none"),
                                        ("convnet", "layer"), ("resnet", "none"), ("resnet", "group")])
def test_periodic_networks_commute_with_shifts(arch, norm):
    model = ARCHITECTURES[arch](norm=norm, norm_groups=2)
    x = jax.random.normal(jax.random.PRNGKey(1), (1, 16, 16, 2), jnp.float32)
    shift = (4, -8)  # multiples of 2^(levels-1): the pooling grid is preserved
    y = nnx.jit(lambda m, x: m(x))(model, jnp.concatenate([x, jnp.roll(x, shift, (1, 2))]))  # per-sample norms
    np.testing.assert_allclose(jnp.roll(y[:1], shift, (1, 2)), y[1:], atol=1e-5)


@pytest.mark.parametrize("ndim", [1, 2, 3])
@pytest.mark.parametrize("arch", ["unet", "convnet", "resnet"])
def test_network_shapes_in_every_dimension(arch, ndim):
    keys = {"unet": {"widths": [4, 6]}, "convnet": {"filters": 4, "layers": 1}, "resnet": {"filters": 4, "blocks": 1}}
    cfg = from_dict(NetworkConfig, {"architecture": arch, "norm": "layer", **keys[arch]}, "network")
    x = jnp.ones((2,) + (8,) * ndim + (3,), jnp.float32)
    # traced, not run: the shapes and dtype of the whole forward pass
    y = nnx.eval_shape(lambda: build_network(cfg, in_channels=3, out_channels=2, ndim=ndim, periodic=ndim != 2,
                                             rngs=nnx.Rngs(0))(x))
    assert y.shape == (2,) + (8,) * ndim + (2,) and y.dtype == jnp.float32


def _num_params(module) -> int:
    return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(nnx.state(module, nnx.Param)))


def _unet_params(cin, cout, widths, k, ndim, norm_per_channel):
    """Independent count: per block two k^d convolutions (+bias, + norm scale/bias per output channel), a 1×1 head."""
    def conv(a, b):
        return k**ndim * a * b + b + norm_per_channel * b

    down = sum(conv(a, b) + conv(b, b) for a, b in zip([cin] + list(widths), widths))
    up = sum(conv(widths[i] + widths[i + 1], widths[i]) + conv(widths[i], widths[i]) for i in range(len(widths) - 1))
    return down + up + widths[0] * cout + cout


@pytest.mark.parametrize("net_cfg, widths", [
    (dict(levels=3, filters=4), (4, 8, 16)),  # `filters` doubled per level (the default meaning)
    (dict(levels=3, widths=(6, 6, 6)), (6, 6, 6)),  # the original system's one width at every level
    (dict(levels=2, widths=(8, 4), norm="group", norm_groups=4), (8, 4)),
])
def test_unet_widths_are_honoured(net_cfg, widths):
    cfg = UNetConfig(kernel_size=3, **net_cfg)
    assert cfg.unet_widths() == widths
    net = nnx.eval_shape(lambda: build_network(cfg, in_channels=3, out_channels=2, ndim=2, periodic=True,
                                               rngs=nnx.Rngs(0)))
    assert _num_params(net) == _unet_params(3, 2, widths, 3, 2, 2 * (cfg.norm != "none"))


def test_resnet_parameter_count_and_residual_blocks():
    cfg = ResNetConfig(filters=6, blocks=3, kernel_size=5)
    net = nnx.eval_shape(lambda: build_network(cfg, in_channels=3, out_channels=2, ndim=1, periodic=True,
                                               rngs=nnx.Rngs(0)))
    lift, block, head = 5 * 3 * 6 + 6, 2 * (5 * 6 * 6 + 6), 6 * 2 + 2
    assert _num_params(net) == lift + 3 * block + head
    # each block adds to its input: with a block's last convolution zeroed, the block is the identity
    blk = ARCHITECTURES["resnet"]().blocks[0]
    blk.b.conv.kernel[...] = jnp.zeros_like(blk.b.conv.kernel[...])
    blk.b.conv.bias[...] = jnp.zeros_like(blk.b.conv.bias[...])
    x = jax.random.normal(jax.random.PRNGKey(0), (2, 8, 8, 4), jnp.float32)
    np.testing.assert_array_equal(blk(x), x)
    blk.b.conv.bias[...] = jnp.ones_like(blk.b.conv.bias[...])
    np.testing.assert_allclose(blk(x), x + 1.0, rtol=1e-6)


@pytest.mark.parametrize("norm, kind, per_net", [("group", nnx.GroupNorm, {"unet": 10, "convnet": 2, "resnet": 5}),
                                                 ("layer", nnx.LayerNorm, {"unet": 10, "convnet": 2, "resnet": 5}),
                                                 ("none", (nnx.GroupNorm, nnx.LayerNorm), {"unet": 0, "convnet": 0,
                                                                                           "resnet": 0})])
def test_norm_layers_are_present_and_normalise(norm, kind, per_net):
    for arch, make in ARCHITECTURES.items():
        model = nnx.eval_shape(lambda: make(norm=norm, norm_groups=2))
        norms = [m for _, m in nnx.iter_graph(model) if isinstance(m, kind)]
        assert len(norms) == per_net[arch], arch
    if norm == "none":
        return
    # a freshly initialised norm (scale 1, bias 0) leaves zero mean and unit variance per sample / cell
    x = 3.0 + 5.0 * jax.random.normal(jax.random.PRNGKey(2), (2, 8, 8, 4), jnp.float32)
    y = norm_layer(norm, 4, 2, nnx.Rngs(0))(x)
    # statistics per (sample, channel group) over all cells, or per cell over its channels
    stats = y.reshape(2, 8, 8, 2, 2).transpose(0, 3, 1, 2, 4).reshape(2, 2, -1) if norm == "group" else y
    np.testing.assert_allclose(stats.mean(-1), 0.0, atol=1e-4)
    np.testing.assert_allclose(stats.std(-1), 1.0, atol=1e-3)


def test_bad_network_configs_name_the_key():
    with pytest.raises(ConfigError, match=r"network\.widths: must have one entry per UNet level"):
        config_from_dict({"network": {"levels": 3, "widths": [8, 8]}})
    with pytest.raises(ConfigError, match=r"network\.norm_groups: must divide every hidden width \[4, 8\]"):
        config_from_dict({"network": {"filters": 4, "norm": "group", "norm_groups": 8}})
    with pytest.raises(ConfigError, match=r"network\.input_noise: must be >= 0"):
        config_from_dict({"network": {"input_noise": -0.1}})


@pytest.mark.parametrize("arch", ["unet", "convnet", "resnet"])
def test_zero_padding_breaks_shift_equivariance_that_domain_padding_keeps(arch):
    """`network.padding: zero` pads with zeros even on a periodic domain: a circular shift of the input no
    longer shifts the output (it does with `domain` padding, to float32 round-off)."""
    x = jax.random.normal(jax.random.key(1), (2, 16, 16, 2), jnp.float32)
    errs = {}
    for padding in ("domain", "zero"):
        cfg = config_from_dict({"network": {"architecture": arch, "filters": 8, "padding": padding}}).network
        net = build_network(cfg, in_channels=2, out_channels=2, ndim=2, periodic=True, rngs=nnx.Rngs(0))
        shifted = net(jnp.roll(x, 4, axis=1))  # a multiple of 2^(levels-1): the pooling grid is kept
        errs[padding] = float(jnp.abs(shifted - jnp.roll(net(x), 4, axis=1)).max())
    assert errs["domain"] < 1e-5
    assert errs["zero"] > 1e-3


@pytest.mark.parametrize("arch", ["unet", "convnet", "resnet"])
def test_relu_networks_are_positively_homogeneous_at_init(arch):
    """Biases start at zero, so with ReLU (and zero padding, average pooling, nearest upsampling) the
    network is positively homogeneous: f(c·x) = c·f(x) for c > 0; GELU is not (a check that the option
    reaches every hidden layer)."""
    x = jax.random.normal(jax.random.key(2), (2, 16, 16, 2), jnp.float32)
    rel = {}
    for act in ("relu", "gelu"):
        cfg = config_from_dict({"network": {"architecture": arch, "filters": 8, "activation": act}}).network
        net = build_network(cfg, in_channels=2, out_channels=2, ndim=2, periodic=True, rngs=nnx.Rngs(0))
        y, y3 = net(x), net(3.0 * x)
        rel[act] = float(jnp.linalg.norm(y3 - 3.0 * y) / jnp.linalg.norm(3.0 * y))
    assert rel["relu"] < 1e-5
    assert rel["gelu"] > 1e-3


@pytest.mark.parametrize("arch, norm, dtype", [("unet", "group", "float32"), ("convnet", "layer", "float32"),
                                               ("resnet", "none", "bfloat16"), ("unet", "none", "bfloat16")])
def test_jitted_initialisation_draws_bitwise_the_eager_parameters(arch, norm, dtype):
    """`build_network` draws a built-in network's parameters in one jitted program (`JIT_INIT`): the same
    bits as the builder run eagerly, the same structure and compute dtype, and the Rngs advanced alike."""
    from hybrid_jax.networks import JIT_INIT, architectures
    from hybrid_jax.networks.precision import set_compute_dtype

    assert arch in JIT_INIT
    cfg = config_from_dict({"network": {"architecture": arch, "filters": 8, "norm": norm, "dtype": dtype}}).network
    rngs_jit, rngs_eager = nnx.Rngs(3), nnx.Rngs(3)
    jitted = build_network(cfg, in_channels=2, out_channels=2, ndim=2, periodic=True, rngs=rngs_jit)
    eager = set_compute_dtype(architectures.get(arch).build(cfg, in_channels=2, out_channels=2, ndim=2,
                                                            periodic=True, rngs=rngs_eager), dtype)
    (gj, pj), (ge, pe) = nnx.split(jitted), nnx.split(eager)
    assert gj == ge
    leaves_j, leaves_e = jax.tree.leaves(pj), jax.tree.leaves(pe)
    assert len(leaves_j) == len(leaves_e) > 0
    for a, b in zip(leaves_j, leaves_e):
        assert a.dtype == b.dtype == jnp.float32
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    np.testing.assert_array_equal(jax.random.key_data(rngs_jit.params()), jax.random.key_data(rngs_eager.params()))
    x = jax.random.normal(jax.random.key(4), (1, 16, 16, 2), jnp.float32)
    np.testing.assert_array_equal(np.asarray(jitted(x)), np.asarray(eager(x)))
