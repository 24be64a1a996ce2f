"""Data parallelism on JAX's own runtime: a 1-D device mesh over all devices of all processes.

Parameters, optimiser states and the real trajectories are replicated; index batches and the
generated rollouts' initial states are sharded along the mesh's `data` axis; XLA partitions the
jitted steps and all-reduces the gradients. One device is the same code path (a mesh of one).
Across hosts, `jax.distributed.initialize` connects the processes; every process draws the same
global index batch (same seeds) and contributes only its own slice of it
(`jax.make_array_from_process_local_data`).
"""

from __future__ import annotations

import logging
import os

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

log = logging.getLogger(__name__)
AXIS = "data"


def initialize(pcfg) -> None:
    """Connect the processes of a multi-host run (`parallel.num_processes` > 1, from the config or
    the environment variables JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES, JAX_PROCESS_ID)."""
    num = pcfg.num_processes or int(os.environ.get("JAX_NUM_PROCESSES", "1"))
    if num <= 1 or jax.distributed.is_initialized():
        return
    address = pcfg.coordinator_address or os.environ["JAX_COORDINATOR_ADDRESS"]
    pid = pcfg.process_id if pcfg.process_id is not None else int(os.environ["JAX_PROCESS_ID"])
    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # cross-process collectives on CPU
    jax.distributed.initialize(coordinator_address=address, num_processes=num, process_id=pid)
    log.info("process %d of %d connected to %s", pid, num, address)


def make_mesh(pcfg) -> Mesh:
    """A 1-D mesh over `parallel.devices` devices (default: all devices of all processes)."""
    n = pcfg.devices or jax.device_count()
    if n > jax.device_count():
        from hybrid_jax.config import ConfigError

        raise ConfigError(f"parallel.devices: {n} requested, only {jax.device_count()} available")
    return Mesh(np.array(jax.devices()[:n]), (AXIS,))


def is_primary() -> bool:
    """Whether this process writes the run's files (metrics, summary, data store)."""
    return jax.process_index() == 0


def replicated(mesh: Mesh) -> NamedSharding:
    """Arrays held whole on every device of the mesh."""
    return NamedSharding(mesh, P())


def replicate(mesh: Mesh, tree):
    """Place a pytree (identical on every process) on every device of the mesh."""
    sharding = replicated(mesh)
    return jax.tree.map(lambda x: jax.make_array_from_callback(np.shape(x), sharding, lambda _: np.asarray(x)), tree)


def shard(mesh: Mesh, tree, axis: int = 0):
    """Split a pytree of global host arrays (identical on every process) along their batch `axis`
    (0; 1 for stacked index batches ``[S, B]``); a leaf whose batch length does not divide by the
    device count (a full batch) is replicated instead.
    Each device (hence each process) receives only its own slice."""
    n = mesh.devices.size

    def put(x):
        x = np.asarray(x)
        sharding = NamedSharding(mesh, P(*[None] * axis, AXIS)) if x.shape[axis] % n == 0 else replicated(mesh)
        return jax.make_array_from_callback(x.shape, sharding, lambda idx: x[idx])

    return jax.tree.map(put, tree)


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Arrays split along their leading (batch) axis across the mesh."""
    return NamedSharding(mesh, P(AXIS))


def to_host(x: jax.Array | np.ndarray) -> np.ndarray:
    """A device array as one host array on every process (gathered across processes if needed); a host
    array as it is."""
    if isinstance(x, np.ndarray) or getattr(x, "is_fully_addressable", True):
        return np.asarray(x)
    if x.sharding.is_fully_replicated:
        return np.asarray(x.addressable_data(0))
    return np.asarray(multihost_utils.process_allgather(x, tiled=True))


def sync(name: str) -> None:
    """Barrier across processes (no-op in a single process)."""
    if jax.process_count() > 1:
        multihost_utils.sync_global_devices(name)
