"""The two models as `predict` functions over parameter pytrees, with their optimisers."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from hybrid_jax.config import Config
from hybrid_jax.networks import build_network
from hybrid_jax.physics.base import PDE, Params
from hybrid_jax.rollout import batched_physics_step, network_step, rollout


def encode_physical(pde: PDE, params: Params) -> Params:
    """Physical parameters -> optimised ones: log for the PDE's positive parameters."""
    return {k: jnp.log(v) if k in pde.positive_params else v for k, v in params.items()}


def decode_physical(pde: PDE, raw: Params) -> Params:
    """Optimised parameters -> physical ones, constrained (positivity, stability bound)."""
    return pde.constrain({k: jnp.exp(v) if k in pde.positive_params else v for k, v in raw.items()})


def physical_model(pde: PDE, cfg: Config):
    """(initial optimised params, predict, optimiser) of the physical model."""
    remat = cfg.trainer.physical.checkpoint_rollout

    def predict(raw, x0, horizon):
        return rollout(batched_physics_step(pde, decode_physical(pde, raw)), x0, horizon, remat=remat)

    return encode_physical(pde, pde.init_params()), predict, optax.adam(cfg.trainer.physical.learning_rate)


def synthetic_model(pde: PDE, cfg: Config):
    """(graphdef, initial params, predict, optimiser) of the network, initialised from the config seed."""
    layout = pde.layout
    net = build_network(cfg.network, in_channels=layout.num_channels, out_channels=layout.num_dynamic,
                        ndim=len(pde.spatial_shape), periodic=pde.periodic, rngs=nnx.Rngs(cfg.seed))
    graphdef, params = nnx.split(net)
    params = jax.tree.map(lambda x: x.astype(jnp.float32), params)
    residual = cfg.network.prediction == "residual"
    remat = cfg.trainer.synthetic.checkpoint_rollout

    def predict(params, x0, horizon):
        model = nnx.merge(graphdef, params)
        return rollout(network_step(model, layout.num_dynamic, residual), x0, horizon, remat=remat)

    return graphdef, params, predict, optax.adam(cfg.trainer.synthetic.learning_rate)
