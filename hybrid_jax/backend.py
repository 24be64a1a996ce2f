"""The one explicit runtime setup: PhiFlow's JAX backend and float precision.

Importing hybrid_jax (or loading a config) starts no XLA backend; `setup()` does, so entry
points call it after `jax.distributed.initialize` (hybrid_jax.parallel.initialize).
`build_pde` calls it too, so library users need not.
"""

from __future__ import annotations


def setup() -> None:
    """Make JAX PhiFlow's default backend and PhiML's float precision 32 bits (idempotent).

    Importing ``phi.jax`` enables JAX x64 globally (PhiFlow needs it); arrays stay float32 because
    every boundary of the library gives explicit dtypes.
    """
    import phi.jax.flow  # noqa: F401  (JAX becomes PhiFlow's default backend)
    from phiml import math

    math.set_global_precision(32)
