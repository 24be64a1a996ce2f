"""One autoregressive rollout for generation, training losses and evaluation."""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

Step = Callable[..., jax.Array]


def rollout(step: Step, x0: jax.Array, num_steps: int, *, remat: bool = False, unroll: bool = True,
            inputs: jax.Array | None = None) -> jax.Array:
    """Apply `step` `num_steps` times: unrolled, or with `lax.scan`.

    `step` maps a batch ``[B, *spatial, C]`` to the next batch; `x0` is ``[B, *spatial, C]``.
    With `inputs` (leading axis `num_steps`), step i is called as ``step(x, inputs[i])``.
    Returns the trajectory without `x0`, batch first: ``[B, num_steps, *spatial, C]``.
    `remat=True` wraps each step in `jax.checkpoint`, so a differentiated rollout stores one
    state per step instead of every intermediate of every step. It implies a rolled loop: in an
    unrolled scan XLA undoes the rematerialisation (measured: a UNet 64² K=32 gradient needs
    2.3 GiB of temporaries unrolled with or without `jax.checkpoint`, 0.14 GiB rolled with it).

    By default the scan is fully unrolled: XLA's CPU backend runs convolutions inside a while loop about
    9× slower than unrolled ones (measured on a UNet's K=4 rollout gradient); the price is a
    compile time linear in `num_steps`. PDE steps (gathers and shifts, no convolutions) run as
    fast in a loop, and their unrolled compile time grows faster than linearly (1D Burgers, 128
    cells: 8 s for 7 steps, minutes for 31), so the physical model passes `unroll=False`.
    """
    call = step if inputs is not None else (lambda x, _: step(x))
    if unroll and not remat:  # what lax.scan(unroll=True) does, minus the while loop it keeps for 1 step
        xs, x = [], x0
        for i in range(num_steps):
            x = call(x, None if inputs is None else inputs[i])
            xs.append(x)
        return jnp.stack(xs, axis=1)
    body = jax.checkpoint(call) if remat else call

    def scan_fn(x, xi):
        x = body(x, xi)
        return x, x

    _, traj = jax.lax.scan(scan_fn, x0, inputs, length=num_steps)
    return jnp.moveaxis(traj, 0, 1)


def block_average(x: jax.Array, factor: int, first_axis: int, ndim: int) -> jax.Array:
    """Mean over blocks of `factor` cells along the `ndim` spatial axes from `first_axis` on."""
    for a in range(first_axis, first_axis + ndim):
        x = jnp.mean(x.reshape(x.shape[:a] + (x.shape[a] // factor, factor) + x.shape[a + 1:]), axis=a + 1)
    return x


def batched_physics_step(pde, params) -> Step:
    """The PDE's single-sample step, vmapped over the batch, parameters shared."""
    return batched(pde.step, params)


def batched(step: Callable[[jax.Array, object], jax.Array], params) -> Step:
    """A single-sample ``step(x [*spatial, C], params)``, vmapped over the batch, parameters shared."""
    return jax.vmap(lambda x: step(x, params))


def network_step(model, num_dynamic: int, residual: bool) -> Step:
    """A network step: predict the dynamic channels, carry the static ones unchanged.

    The network sees all channels ``[B, *spatial, C]`` and outputs ``[B, *spatial, num_dynamic]``;
    with `residual` the output is an increment added to the current dynamic channels. A `noise`
    ``[B, *spatial, num_dynamic]`` is added to the dynamic channels first (training input noise):
    the step starts from the perturbed state, so a residual network learns to undo the perturbation.
    """

    def step(x, noise=None):
        if noise is not None:
            x = jnp.concatenate([x[..., :num_dynamic] + noise.astype(x.dtype), x[..., num_dynamic:]], axis=-1)
        y = model(x).astype(x.dtype)  # a mixed-precision network's bf16 output joins the float32 state
        if residual:
            y = x[..., :num_dynamic] + y
        return jnp.concatenate([y, x[..., num_dynamic:]], axis=-1).astype(x.dtype)

    return step
