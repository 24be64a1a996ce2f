"""Simulated trajectories in chunks of trajectories, so that generation's memory is bounded by one chunk.

All N initial states are drawn at once (``[N, *spatial, C]``, one state each), then each chunk of c of them
is simulated by one jitted call (compiled once: the last chunk is padded to c) that rolls out its trajectories
one after the other (`lax.map`): every trajectory runs the same compiled program whatever c, so the stored data
are bitwise the same for every chunk size (a vmap over c is not: XLA's code for a batch of 7 and of 1 differs
in the last bit; tests/test_memory.py). A call holds its c output trajectories and one trajectory's working
memory. With ``data.generation_chunk`` unset, c is the largest chunk that fits half the free memory
(`hybrid_jax.footprint.free_memory`) at the cost XLA's buffer assignment reports for a one-trajectory call.
"""

from __future__ import annotations

from typing import Iterator

import jax
import jax.numpy as jnp
import numpy as np

from hybrid_jax.physics.base import PDE
from hybrid_jax.rollout import batched_physics_step, block_average

CHUNK_SHARE = 0.5  # of the free memory, for one chunk's working memory (the rest: data, XLA, the host)


class Simulation:
    """The jitted programs of one generation: ``initial(key, n)`` and ``frames(x0 [c, ...], params)``.

    Frames are `steps_per_frame` solver steps apart; `kick` ``[*spatial]`` (e.g. dt·f of a forcing f) is
    added to every dynamic channel after every solver step; every frame is block-averaged over `downsample`^d
    cells. ``frames`` returns ``[c, num_frames, *spatial / downsample, C]`` float32 (x0 first).
    """

    def __init__(self, pde: PDE, num_frames: int, *, steps_per_frame: int = 1, downsample: int = 1,
                 kick: np.ndarray | None = None):
        nd, ndim = pde.layout.num_dynamic, len(pde.spatial_shape)
        self.pde, self.num_frames = pde, num_frames

        def observe(x):
            return x if downsample == 1 else block_average(x, downsample, 1, ndim)

        def frames(x0, params):
            solver = batched_physics_step(pde, params)
            if kick is None:
                step = solver
            else:
                def step(x):
                    return solver(x).at[..., :nd].add(jnp.asarray(kick, x.dtype)[..., None])

            def frame(x, _):
                x = step(x) if steps_per_frame == 1 else jax.lax.fori_loop(0, steps_per_frame, lambda _, y: step(y), x)
                return x, observe(x)

            _, traj = jax.lax.scan(frame, x0, None, length=num_frames - 1)  # a rolled loop: see rollout()
            return jnp.concatenate([observe(x0)[:, None], jnp.moveaxis(traj, 0, 1)], axis=1)

        def chunk(x0, params):  # one trajectory at a time: the same program whatever the chunk's size
            return jax.lax.map(lambda x: frames(x[None], params)[0], x0)

        self.initial = jax.jit(pde.sample_initial_state, static_argnums=1)
        self.frames = jax.jit(chunk)

    def chunk_cost(self, params) -> tuple[int, int] | None:
        """(bytes per trajectory of a chunk, bytes independent of its size): the one-trajectory program's
        arguments and output, and its temporaries (one trajectory's rollout), as XLA's buffer assignment
        reports them (compiles, runs nothing); None where the backend reports none."""
        x0 = jax.ShapeDtypeStruct((1,) + tuple(self.pde.spatial_shape) + (self.pde.layout.num_channels,), jnp.float32)
        m = self.frames.lower(x0, params).compile().memory_analysis()
        if m is None:  # a backend without buffer statistics
            return None
        return int(m.argument_size_in_bytes + m.output_size_in_bytes), int(m.temp_size_in_bytes)


def choose_chunk(requested: int | None, num: int, cost: tuple[int, int] | None = None, free: int | None = None) -> int:
    """Trajectories per chunk: `requested` (data.generation_chunk), or as many as fit CHUNK_SHARE of `free`
    bytes at ``cost = (per trajectory, fixed)`` bytes (at least 1); never more than `num`."""
    if requested is None:
        requested = num if cost is None or free is None else int((CHUNK_SHARE * free - cost[1]) // max(cost[0], 1))
    return max(1, min(requested, num))


def simulate_chunks(sim: Simulation, params, key: jax.Array, num: int, chunk: int) -> Iterator[np.ndarray]:
    """The `num` trajectories of `sim` from ``initial(key, num)``, `chunk` at a time, as host arrays
    ``[≤ chunk, T, *spatial, C]`` in order."""
    x0 = sim.initial(key, num)
    for start in range(0, num, chunk):
        part = x0[start:start + chunk]
        n = part.shape[0]
        if n < chunk:  # pad with copies of the last state: one compiled program for every chunk
            part = jnp.concatenate([part, jnp.repeat(part[-1:], chunk - n, axis=0)])
        yield np.asarray(sim.frames(part, params))[:n]
