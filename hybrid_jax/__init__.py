"""hybrid_jax: hybrid physics/ML training in JAX.

A learnable PDE solver (PhiFlow on its JAX backend) and a Flax NNX emulator trained together:
each cycle, each model's rollouts join the other's real training data with weight alpha.
"""

__version__ = "0.1.0"
