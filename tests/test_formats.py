"""User data formats: PDEBench HDF5 (h5py), PhiFlow Scenes (PhiFlow's own writer), memory-mapped .npy."""

from __future__ import annotations

import tracemalloc

import h5py
import numpy as np
import pytest

from hybrid_jax.physics.burgers import BurgersConfig
from hybrid_jax.physics.smoke import SmokeConfig
from hybrid_jax.data.store import DataError, load_files
from hybrid_jax.physics import build_pde

RNG = np.random.default_rng(0)


def _centres(n, length=1.0):
    return (np.arange(n) + 0.5) * length / n


def test_pdebench_tensor_file_round_trips_and_its_coordinates_are_checked(tmp_path):
    pde = build_pde(BurgersConfig(resolution=(16,), domain=(1.0,), dt=0.01))
    tensor = RNG.normal(size=(3, 5, 16)).astype(np.float32)  # PDEBench 1D: [N, T, X], one field

    def write(name, x=_centres(16), t=np.arange(6) * 0.01, data=tensor):  # t has T+1 entries, as in PDEBench
        with h5py.File(tmp_path / name, "w") as f:
            f["tensor"], f["x-coordinate"], f["t-coordinate"] = data, x, t
        return tmp_path / name

    np.testing.assert_array_equal(load_files(write("ok.hdf5"), pde, 2), tensor[..., None])
    assert load_files(write("ok.h5", data=tensor.astype(np.float64)), pde, 2).dtype == np.float32
    with pytest.raises(DataError, match=r"x coordinates give a domain length .* of 2, but physics.domain\[0\] = 1"):
        load_files(write("x.h5", x=_centres(16, 2.0)), pde, 2)
    with pytest.raises(DataError, match="frame spacing of 0.02, but physics.dt = 0.01"):
        load_files(write("t.h5", t=np.arange(6) * 0.02), pde, 2)
    with pytest.raises(DataError, match="must have shape"):
        load_files(write("shape.h5", data=tensor[:, :, :8], x=_centres(8)), pde, 2)


def test_pdebench_seed_groups_round_trip(tmp_path):
    pde = build_pde(BurgersConfig(resolution=(8, 4), domain=(2.0, 1.0), dt=0.005))
    data = RNG.normal(size=(3, 4, 8, 4, 2)).astype(np.float32)
    path = tmp_path / "2D_seeds.h5"
    with h5py.File(path, "w") as f:
        for i, d in enumerate(data):  # PDEBench 2D: groups "0000", ... with data [T, X, Y, C] and grid/{x,y,t}
            g = f.create_group(f"{i:04d}")
            g["data"] = d
            g["grid/x"], g["grid/y"], g["grid/t"] = _centres(8, 2.0), _centres(4), np.arange(4) * 0.005
    np.testing.assert_array_equal(load_files(path, pde, 2), data)


def test_malformed_hdf5_files_give_one_line_errors(tmp_path):
    pde = build_pde(BurgersConfig(resolution=(16,), domain=(1.0,)))
    (tmp_path / "junk.h5").write_bytes(b"not hdf5 at all")
    with h5py.File(tmp_path / "empty.h5", "w") as f:
        f["other"] = np.zeros(3)
    for name, message in (("junk.h5", "not a readable HDF5 file"), ("empty.h5", "no PDEBench layout"),
                          ("missing.h5", "file not found")):
        with pytest.raises(DataError, match=message) as e:
            load_files(tmp_path / name, pde, 2)
        assert "\n" not in str(e.value)
    (tmp_path / "data.csv").write_text("1,2")
    with pytest.raises(DataError, match="set data.format"):
        load_files(tmp_path / "data.csv", pde, 2)


def _write_scenes(parent, frames: np.ndarray, dt=None, names=("vel", "smoke")):
    """PhiFlow's own Scene writer: one scene per trajectory, `vel` a vector grid, `smoke` a scalar grid."""
    from phi.field import Scene
    from phi.flow import Box, CenteredGrid, extrapolation, math, spatial, channel

    for traj in frames:
        scene = Scene.create(str(parent), copy_calling_script=False)
        if dt is not None:
            scene.put_property("dt", dt)
        for t, state in enumerate(traj):
            fields = {"vel": math.tensor(state[..., :2], spatial("x,y"), channel(vector="x,y")),
                      "smoke": math.tensor(state[..., 2], spatial("x,y"))}
            scene.write({n: CenteredGrid(fields[n], extrapolation.PERIODIC, bounds=Box(x=1, y=1)) for n in names},
                        frame=t)


def test_phiflow_scenes_round_trip_with_vector_fields_split_into_channels(tmp_path):
    pde = build_pde(SmokeConfig(resolution=(8, 8), dt=0.02))  # channels vel_x, vel_y, smoke
    frames = RNG.normal(size=(2, 4, 8, 8, 3)).astype(np.float32)
    _write_scenes(tmp_path / "ok", frames, dt=0.02)
    out = load_files(tmp_path / "ok", pde, 2)
    np.testing.assert_allclose(out, frames, rtol=0, atol=1e-7)
    assert out.dtype == np.float32

    _write_scenes(tmp_path / "dt", frames, dt=0.05)
    with pytest.raises(DataError, match="frame spacing of 0.05, but physics.dt = 0.02"):
        load_files(tmp_path / "dt", pde, 2)
    _write_scenes(tmp_path / "novel", frames, names=("smoke",))
    with pytest.raises(DataError, match=r"scene lacks channels \['vel_x', 'vel_y'\]"):
        load_files(tmp_path / "novel", pde, 2)
    (tmp_path / "ok" / "sim_000001" / "vel_000002.npz").write_bytes(b"PK truncated")
    with pytest.raises(DataError, match="sim_000001/vel_000002.npz: not a readable .npz file") as e:
        load_files(tmp_path / "ok", pde, 2)
    assert "\n" not in str(e.value)
    (tmp_path / "none").mkdir()
    with pytest.raises(DataError, match="no PhiFlow scenes"):
        load_files(tmp_path / "none", pde, 2, fmt="scene")


@pytest.mark.parametrize("boundary", ["PERIODIC", "ZERO"])
def test_staggered_scene_grids_are_read_at_the_cell_centres_as_phiflows_own_reader_does(tmp_path, boundary):
    """Our reader (no unpickling by PhiFlow) against PhiFlow's Scene.read on the same trusted files."""
    from phi.field import Scene
    from phi.flow import Box, CenteredGrid, Noise, StaggeredGrid, extrapolation
    from phiml.backend import NUMPY

    pde = build_pde(SmokeConfig(resolution=(8, 6), domain=(1.0, 1.5)))  # channels vel_x, vel_y, smoke
    extr = getattr(extrapolation, boundary)
    expected = []
    with NUMPY:  # PhiFlow's writer and reader on NumPy (the JAX backend compiles every call)
        for _ in range(2):
            scene = Scene.create(str(tmp_path), copy_calling_script=False)
            for t in range(3):
                box = Box(x=1, y=1.5)
                vel, smoke = StaggeredGrid(Noise(), extr, x=8, y=6, bounds=box), CenteredGrid(Noise(), extr, x=8, y=6,
                                                                                                bounds=box)
                scene.write({"vel": vel, "smoke": smoke}, frame=t)
                centres = scene.read("vel", frame=t, convert_to_backend=False).at_centers()
                smoke = scene.read("smoke", frame=t, convert_to_backend=False)
                expected.append(np.concatenate([centres.values.numpy("x,y,vector"),
                                                smoke.values.numpy("x,y")[..., None]], axis=-1))
    out = load_files(tmp_path, pde, 2, fmt="scene")
    assert out.dtype == np.float32 and out.shape == (2, 3, 8, 6, 3)
    np.testing.assert_allclose(out.reshape(6, 8, 6, 3), np.stack(expected), rtol=0, atol=1e-6)


def test_npy_is_memory_mapped_and_validated_without_reading_it_whole(tmp_path):
    pde = build_pde(BurgersConfig(resolution=(64, 64)))
    traj = RNG.normal(size=(8, 40, 64, 64, 2)).astype(np.float32)  # 10.5 MB
    np.save(tmp_path / "big.npy", traj)
    tracemalloc.start()
    out = load_files(tmp_path / "big.npy", pde, 4)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert isinstance(out, np.memmap) and out.dtype == np.float32
    assert peak < traj.nbytes / 4  # one trajectory's finiteness check at a time, never a whole copy
    np.testing.assert_array_equal(out[3], traj[3])
    traj[5, 1, 2, 3, 0] = np.inf
    np.save(tmp_path / "inf.npy", traj)
    with pytest.raises(DataError, match="NaN or inf"):
        load_files(tmp_path / "inf.npy", pde, 4)
    np.save(tmp_path / "f64.npy", traj[:2].astype(np.float64))
    with pytest.raises(DataError, match="must be float32"):
        load_files(tmp_path / "f64.npy", pde, 4)
    (tmp_path / "bad.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(DataError, match="not a readable .npy file"):
        load_files(tmp_path / "bad.npy", pde, 4)
