"""hybrid_jax's benchmarks: ``python -m benchmarks --list`` names them, ``python -m benchmarks NAME`` runs one."""
