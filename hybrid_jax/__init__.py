"""hybrid_jax: hybrid physics/ML training in JAX.

A learnable PDE solver (PhiFlow on its JAX backend) and a Flax NNX emulator trained together:
each cycle, each model's rollouts join the other's real training data with weight alpha.

The names below are the stable public API (README, "Use as a library"); they are imported on
first use, so ``import hybrid_jax`` loads neither PhiFlow nor an XLA backend.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_API = {
    # configs
    "Config": "hybrid_jax.config", "ConfigError": "hybrid_jax.config", "PhysicsConfig": "hybrid_jax.config",
    "load_config": "hybrid_jax.config", "apply_overrides": "hybrid_jax.config",
    "config_from_dict": "hybrid_jax.config", "to_dict": "hybrid_jax.config",
    "option": "hybrid_jax.config", "section": "hybrid_jax.config",
    # runs
    "run_experiment": "hybrid_jax.api", "RunResult": "hybrid_jax.api", "load_run": "hybrid_jax.api",
    "LoadedRun": "hybrid_jax.api", "simulate": "hybrid_jax.api", "setup": "hybrid_jax.backend",
    # extension: PDE families and networks
    "build_pde": "hybrid_jax.physics", "register_family": "hybrid_jax.physics", "Family": "hybrid_jax.physics.base",
    "FieldLayout": "hybrid_jax.physics.base", "PeriodicGridConfig": "hybrid_jax.physics.base",
    "coefficient": "hybrid_jax.physics.coefficients", "LearnedCoefficients": "hybrid_jax.physics.coefficients",
    "register_network": "hybrid_jax.networks", "build_network": "hybrid_jax.networks",
    "Network": "hybrid_jax.networks.base", "NetworkBase": "hybrid_jax.networks.base",
    "NetworkConfig": "hybrid_jax.config",
    # extension: data formats and metrics
    "register_format": "hybrid_jax.data.formats", "register_metric": "hybrid_jax.metrics",
}

__all__ = sorted(_API)

if TYPE_CHECKING:  # the same names for IDEs and type checkers (``X as X``: re-exported); imported lazily above
    from hybrid_jax.api import (
        LoadedRun as LoadedRun, RunResult as RunResult, load_run as load_run, run_experiment as run_experiment,
        simulate as simulate
    )
    from hybrid_jax.backend import setup as setup
    from hybrid_jax.config import (
        Config as Config, ConfigError as ConfigError, NetworkConfig as NetworkConfig, PhysicsConfig as PhysicsConfig,
        apply_overrides as apply_overrides, config_from_dict as config_from_dict, load_config as load_config,
        option as option, section as section, to_dict as to_dict
    )
    from hybrid_jax.data.formats import register_format as register_format
    from hybrid_jax.metrics import register_metric as register_metric
    from hybrid_jax.networks import build_network as build_network, register_network as register_network
    from hybrid_jax.networks.base import Network as Network, NetworkBase as NetworkBase
    from hybrid_jax.physics import build_pde as build_pde, register_family as register_family
    from hybrid_jax.physics.base import (
        Family as Family, FieldLayout as FieldLayout, PeriodicGridConfig as PeriodicGridConfig
    )
    from hybrid_jax.physics.coefficients import LearnedCoefficients as LearnedCoefficients, coefficient as coefficient


def __getattr__(name):
    if name in _API:
        value = getattr(importlib.import_module(_API[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'hybrid_jax' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_API))
