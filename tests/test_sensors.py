"""Sensor observations: interpolation against analytic fields, gradients against finite differences,
moving-sensor paths against the exact ODE solution, and the .npz format."""

from __future__ import annotations

import numpy as np
import pytest

import jax
import jax.numpy as jnp

from hybrid_jax.data.sensors import (Grid, SensorData, fixed_paths, interpolate, keep_in_window, linear_ode_paths,
                                     load_sensors, observe, save_sensors, sensor_loss)
from hybrid_jax.errors import DataError


def _points(key, n, lower, upper):
    return jax.random.uniform(key, (n, len(lower)), jnp.float32, jnp.asarray(lower), jnp.asarray(upper))


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_linear_field_is_reproduced_exactly(ndim):
    grid = Grid.cell_centred((2.0, 1.0, 1.5)[:ndim], (8, 6, 5)[:ndim], periodic=False, origin=(-1.0, 0.0, 0.5)[:ndim])
    coef = jnp.asarray([1.5, -2.0, 0.7][:ndim], jnp.float32)
    xs = grid.coords()
    field = jnp.stack([xs @ coef + 0.3, -2 * (xs @ coef)], axis=-1)  # two channels
    lo = list(grid.lower)
    hi = [a + h * (n - 1) for a, h, n in zip(grid.lower, grid.spacing, grid.shape)]
    p = _points(jax.random.PRNGKey(ndim), 50, lo, hi)
    got = interpolate(field, p, grid)
    exact = jnp.stack([p @ coef + 0.3, -2 * (p @ coef)], axis=-1)
    assert got.dtype == jnp.float32 and got.shape == (50, 2)
    np.testing.assert_allclose(got, exact, atol=2e-5 * float(jnp.max(jnp.abs(exact))))


def test_outside_points_take_the_edge_value():
    grid = Grid.vertices((0.0,), (1.0,), (5,))
    field = jnp.arange(5, dtype=jnp.float32)[:, None]
    got = interpolate(field, jnp.asarray([[-0.5], [1.7], [0.125]]), grid)
    np.testing.assert_allclose(got[:, 0], [0.0, 4.0, 0.5], atol=1e-6)


def test_smooth_field_error_is_within_the_bilinear_bound_and_second_order():
    """Bilinear interpolation error <= (hx²·max|f_xx| + hy²·max|f_yy|)/8; halving h divides it by ~4."""
    f = lambda p: jnp.sin(p[..., 0]) * jnp.cos(2 * p[..., 1])  # |f_xx| <= 1, |f_yy| <= 4
    errors = []
    for n in (16, 32):
        grid = Grid.vertices((0.0, 0.0), (3.0, 2.0), (n, n))
        p = _points(jax.random.PRNGKey(0), 400, (0.0, 0.0), (3.0, 2.0))
        err = float(jnp.max(jnp.abs(interpolate(f(grid.coords())[..., None], p, grid)[:, 0] - f(p))))
        hx, hy = grid.spacing
        assert err <= (hx**2 * 1 + hy**2 * 4) / 8
        errors.append(err)
    assert 3.0 < errors[0] / errors[1] < 5.0


def test_periodic_grid_wraps():
    grid = Grid.cell_centred((1.0,), (32,), periodic=True)
    f = lambda x: jnp.sin(2 * jnp.pi * x)
    field = f(grid.coords())
    p = jnp.asarray([[0.999], [-0.004], [1.3], [0.0]], jnp.float32)
    got = interpolate(field, p, grid)[:, 0]
    # bilinear bound: h²·(2π)²/8
    np.testing.assert_allclose(got, f(p[:, 0]), atol=(1 / 32) ** 2 * (2 * np.pi) ** 2 / 8)
    assert abs(float(got[0])) < 0.1  # between the last and the first cell, not clamped to the last value


def _decaying_mode(grid, times, amplitude=1.0, rate=0.5):
    """u = A·exp(-r·t)·sin(x)·sin(y) on the grid at `times` -> [F, *shape, 1]."""
    xs = grid.coords()
    space = jnp.sin(xs[..., 0]) * jnp.sin(xs[..., 1])
    return (amplitude * jnp.exp(-rate * times)[:, None, None] * space)[..., None]


def test_observe_is_linear_in_time_and_space():
    grid = Grid.vertices((0.0, 0.0), (1.0, 1.0), (6, 5))
    frame_times = jnp.asarray([0.0, 0.5, 1.0, 1.5], jnp.float32)
    xs = grid.coords()
    traj = (2.0 + xs[..., 0] - 3 * xs[..., 1] + 4.0 * frame_times[:, None, None])[..., None]  # linear in x, y, t
    times = jnp.asarray([0.0, 0.3, 0.77, 1.5], jnp.float32)
    pos = jax.random.uniform(jax.random.PRNGKey(1), (4, 7, 2), jnp.float32)
    got = observe(traj, frame_times, grid, pos, times)
    exact = 2.0 + pos[..., 0] - 3 * pos[..., 1] + 4.0 * times[:, None]
    assert got.shape == (4, 7, 1) and got.dtype == jnp.float32
    np.testing.assert_allclose(got[..., 0], exact, atol=2e-5 * 8)
    jitted = jax.jit(observe, static_argnums=2)(traj, frame_times, grid, pos, times)
    np.testing.assert_allclose(jitted, got, atol=1e-6)
    batched = jax.vmap(lambda tr: observe(tr, frame_times, grid, pos, times))(jnp.stack([traj, 2 * traj]))
    np.testing.assert_allclose(batched[1], 2 * got, rtol=1e-6, atol=1e-6)


def test_sensor_loss_gradient_matches_finite_differences():
    """d/dθ of the sensor loss of an analytic trajectory (θ = amplitude, decay rate, a sensor shift)."""
    grid = Grid.vertices((0.0, 0.0), (3.0, 3.0), (24, 24))
    frame_times = jnp.linspace(0.0, 1.0, 11, dtype=jnp.float32)
    times = jnp.linspace(0.05, 0.95, 7, dtype=jnp.float32)
    pos = linear_ode_paths(jnp.asarray([[1.0, 2.0], [2.2, 0.7], [1.5, 1.5]]), jnp.asarray([[-0.1, -1], [1, -0.1]]),
                           jnp.asarray([1.5, 1.5]), times, window=((0.0, 0.0), (3.0, 3.0)))
    values = observe(_decaying_mode(grid, frame_times), frame_times, grid, pos, times)

    def loss(theta):
        traj = _decaying_mode(grid, frame_times, theta[0], theta[1])
        return sensor_loss(observe(traj, frame_times, grid, pos + theta[2], times), values)

    theta = jnp.asarray([1.3, 0.2, 0.11], jnp.float32)
    grad, loss = jax.jit(jax.grad(loss))(theta), jax.jit(loss)
    assert grad.dtype == jnp.float32
    eps = 1e-3
    fd = [(loss(theta.at[i].add(eps)) - loss(theta.at[i].add(-eps))) / (2 * eps) for i in range(3)]
    np.testing.assert_allclose(grad, fd, rtol=2e-2, atol=1e-4)
    assert jnp.all(jnp.abs(grad) > 1e-3)  # each parameter matters


def test_weighted_sensor_loss():
    pred, values = jnp.ones((2, 3, 1)), jnp.zeros((2, 3, 1))
    pred = pred.at[0, 0].set(3.0)
    w = jnp.zeros((2, 3)).at[0, 0].set(1.0)
    assert float(sensor_loss(pred, values, w)) == pytest.approx(9.0)
    assert float(sensor_loss(pred, values)) == pytest.approx((9 + 5) / 6)


def test_linear_ode_paths_exact_and_rk4_match_the_spiral():
    """ż = A(z − c), A = [[-0.1, -1], [1, -0.1]]: z − c = e^{-0.1 t}·R(t)(z₀ − c)."""
    a, c = jnp.asarray([[-0.1, -1.0], [1.0, -0.1]]), jnp.asarray([1.5, 1.5])
    z0 = jnp.asarray([[0.0, 0.0], [3.0, 1.0], [1.5, 2.5]], jnp.float32)
    t = jnp.linspace(0.0, 6.0, 13, dtype=jnp.float32)
    cos, sin, decay = jnp.cos(t), jnp.sin(t), jnp.exp(-0.1 * t)
    r = jnp.stack([jnp.stack([cos, -sin], -1), jnp.stack([sin, cos], -1)], -2) * decay[:, None, None]
    truth = c + jnp.einsum("tij,sj->tsi", r, z0 - c)
    exact = linear_ode_paths(z0, a, c, t)
    rk4 = linear_ode_paths(z0, a, c, t, method="rk4", substeps=8)
    assert exact.shape == (13, 3, 2) and exact.dtype == rk4.dtype == jnp.float32
    np.testing.assert_allclose(exact, truth, atol=1e-4)  # float32 expm (scaling and squaring): ~3e-5 relative
    np.testing.assert_allclose(rk4, truth, atol=1e-4)
    coarse = linear_ode_paths(z0, a, c, t, method="rk4", substeps=1)
    err1, err2 = (float(jnp.max(jnp.abs(x - truth))) for x in (coarse, linear_ode_paths(z0, a, c, t, method="rk4",
                                                                                        substeps=2)))
    assert 10 < err1 / err2 < 22  # fourth order: halving the step divides the error by ~16
    np.testing.assert_allclose(fixed_paths(z0, t)[7], z0)


def test_window_reflects_or_clips():
    z = jnp.asarray([[0.5], [3.4], [-0.25], [6.5], [2.0]], jnp.float32)
    np.testing.assert_allclose(keep_in_window(z, ((0.0,), (3.0,)))[:, 0], [0.5, 2.6, 0.25, 0.5, 2.0], atol=1e-6)
    np.testing.assert_allclose(keep_in_window(z, ((0.0,), (3.0,)), "clip")[:, 0], [0.5, 3.0, 0.0, 3.0, 2.0])
    a, c = jnp.asarray([[0.0, -1.0], [1.0, 0.0]]), jnp.asarray([0.0, 0.0])  # circles of radius 2 about 0
    paths = linear_ode_paths(jnp.asarray([[2.0, 0.0]]), a, c, jnp.linspace(0, 6, 40), window=((0.0, 0.0), (3.0, 3.0)))
    assert bool(jnp.all((paths >= 0) & (paths <= 3)))
    np.testing.assert_allclose(jnp.linalg.norm(paths, axis=-1), 2.0, atol=1e-4)  # mirrored circle: same radius


def test_sensor_file_round_trip_and_refusals(tmp_path):
    t, s = 5, 4
    data = SensorData(np.random.rand(t, s, 2), np.linspace(0, 1, t), np.random.rand(t, s, 1))
    save_sensors(tmp_path / "s.npz", data)
    back = load_sensors(tmp_path / "s.npz")
    assert all(v.dtype == np.float32 for v in back)
    np.testing.assert_allclose(back.positions, data.positions, rtol=1e-6)
    np.savez(tmp_path / "pickle.npz", positions=np.array([object()]), times=np.zeros(1), values=np.zeros((1, 1, 1)))
    with pytest.raises(DataError, match="not a readable"):
        load_sensors(tmp_path / "pickle.npz")
    np.savez(tmp_path / "missing.npz", positions=data.positions, times=data.times)
    with pytest.raises(DataError, match="missing values"):
        load_sensors(tmp_path / "missing.npz")
    np.savez(tmp_path / "shape.npz", positions=data.positions, times=data.times, values=np.zeros((t, s + 1, 1)))
    with pytest.raises(DataError, match="values must have shape"):
        load_sensors(tmp_path / "shape.npz")
    np.savez(tmp_path / "time.npz", positions=data.positions, times=data.times[::-1].copy(), values=data.values)
    with pytest.raises(DataError, match="increase"):
        load_sensors(tmp_path / "time.npz")
    with pytest.raises(DataError, match="not found"):
        load_sensors(tmp_path / "nope.npz")


def test_scattered_points_are_uniform_in_the_window():
    from hybrid_jax.data.sensors import scattered_points

    pts = np.asarray(scattered_points(jax.random.PRNGKey(3), 40, 500, ((1.0, -2.0), (3.0, 2.0))))
    assert pts.shape == (40, 500, 2) and pts.dtype == np.float32
    assert pts[..., 0].min() >= 1.0 and pts[..., 0].max() <= 3.0 and pts[..., 1].min() >= -2.0
    # uniform: mean within 4 standard errors of the centre (std of U(a, b) = (b - a)/√12)
    assert abs(pts[..., 0].mean() - 2.0) < 4 * (2 / np.sqrt(12)) / np.sqrt(pts[..., 0].size)
    assert abs(pts[..., 1].mean() - 0.0) < 4 * (4 / np.sqrt(12)) / np.sqrt(pts[..., 1].size)
