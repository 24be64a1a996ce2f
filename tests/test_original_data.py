"""The original system's data directories (sim_XXXX.npz, phiml.math.save): reader, converter, data source."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from phiml import math
from phiml.math import batch, channel, spatial

from hybrid_jax.data.original import read_original
from hybrid_jax.data.store import DataError, load_files
from hybrid_jax.physics import build_pde

ROOT = Path(__file__).resolve().parents[1]


def _save_sims(folder: Path, n=3, frames=5, x=8, y=6, fields=("vel_x", "vel_y")) -> np.ndarray:
    """Save `n` trajectories as the original does (frames stacked along `time`); return them [n, T, x, y, C]."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    data = rng.normal(size=(n, frames, x, y, len(fields))).astype(np.float32)
    for i in range(n):
        frame_tensors = [math.tensor(data[i, t], spatial("x,y"), channel(field=",".join(fields)))
                         for t in range(frames)]
        math.save(str(folder / f"sim_{i:04d}.npz"), math.stack(frame_tensors, batch("time")))
    return data


def _burgers_2d(tiny_config, x=8, y=6):
    return build_pde(tiny_config(physics={"name": "burgers", "resolution": [x, y], "domain": [1.0, 1.0], "dt": 0.01,
                                          "substeps": 2, "viscosity": {"true": 0.01, "init": 0.02}}).physics)


def test_a_saved_directory_round_trips_with_the_axis_order_of_its_names(tmp_path):
    data = _save_sims(tmp_path / "orig")
    spec = np.load(tmp_path / "orig" / "sim_0000.npz", allow_pickle=True)["specs"][0]
    assert spec["names"] != spec["shape"]["names"]  # stored time-last: the subtlety is exercised
    traj, fields = read_original(tmp_path / "orig")
    assert fields == ["vel_x", "vel_y"] and traj.dtype == np.float32
    np.testing.assert_array_equal(traj, data)  # [N, T, x, y, C]: x and y not swapped, time first


def test_files_whose_metadata_holds_a_pickled_phiml_shape_are_read(tmp_path):
    """The original's own files pickle a phiml Shape (not a dict) in `specs`, with the array time-last."""
    data = np.random.default_rng(4).normal(size=(2, 5, 8, 6, 2)).astype(np.float32)
    for i in range(2):
        shape = math.zeros(batch(time=5), spatial(x=8, y=6), channel(field="vel_x,vel_y")).shape
        spec = np.empty(1, object)
        spec[0] = {"type": "dense", "names": ["x", "y", "field", "time"], "shape": shape}
        tree = np.empty((), object)
        tree[()] = {"tree": None}
        np.savez(tmp_path / f"sim_{i:04d}.npz", tree=tree, specs=spec, paths=np.array(["root"]),
                 **{"root:0": np.transpose(data[i], (1, 2, 3, 0))})
    assert not isinstance(np.load(tmp_path / "sim_0000.npz", allow_pickle=True)["specs"][0]["shape"], dict)
    traj, fields = read_original(tmp_path)
    assert fields == ["vel_x", "vel_y"]
    np.testing.assert_array_equal(traj, data)
    np.testing.assert_array_equal(math.load(str(tmp_path / "sim_0001.npz")).numpy("time,x,y,field"), data[1])


def test_1d_files_in_shape_order_and_simulation_order(tmp_path):
    rng = np.random.default_rng(2)
    data = rng.normal(size=(11, 4, 16, 1)).astype(np.float64)
    for i in range(11):  # sim_0010 must come after sim_0002 (numeric order); float64 is converted
        tensor = math.tensor(data[i], batch("time"), spatial("x"), channel(field="vel_x"))
        math.save(str(tmp_path / f"sim_{i:04d}.npz"), tensor)
    (tmp_path / "notes.txt").write_text("not a simulation")
    traj, fields = read_original(tmp_path)
    assert fields == ["vel_x"] and traj.dtype == np.float32
    np.testing.assert_allclose(traj, data.astype(np.float32))


def test_data_source_files_reads_a_directory_and_the_converter_writes_our_npz(tmp_path, tiny_config):
    from hybrid_jax.run import load_trajectories

    data = _save_sims(tmp_path / "orig")
    cfg = tiny_config(physics={"name": "burgers", "resolution": [8, 6], "domain": [1.0, 1.0], "dt": 0.01,
                               "substeps": 2, "viscosity": {"true": 0.01, "init": 0.02}},
                      data__source="files", data__path=str(tmp_path / "orig"))
    np.testing.assert_array_equal(load_trajectories(cfg, build_pde(cfg.physics)), data)

    out = tmp_path / "conv" / "orig.npz"
    r = subprocess.run([sys.executable, "-m", "hybrid_jax.data.original", str(tmp_path / "orig"), str(out)],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "trajectories [3, 5, 8, 6, 2]" in r.stdout
    with np.load(out, allow_pickle=False) as npz:
        assert list(npz["fields"]) == ["vel_x", "vel_y"]
    np.testing.assert_array_equal(load_files(out, _burgers_2d(tiny_config), horizon=2), data)
    # the config checks still apply: a 1D Burgers config refuses 2D data, fields named in the message
    with pytest.raises(DataError, match=r"must have shape \[N, T, 16, 1\]"):
        load_files(tmp_path / "orig", build_pde(tiny_config().physics), horizon=2)


def test_a_tensor_constant_along_some_dimensions_is_broadcast(tmp_path):
    data = _save_sims(tmp_path, n=2)
    u = np.arange(6, dtype=np.float32)  # varies along y only, the same at every time, x and field
    math.save(str(tmp_path / "sim_0001.npz"),
              math.expand(math.tensor(u, spatial("y")), batch(time=5), spatial(x=8), channel(field="vel_x,vel_y")))
    spec = np.load(tmp_path / "sim_0001.npz", allow_pickle=True)["specs"][0]
    assert len(spec["names"]) < 4  # stored without the constant dimensions
    traj, _ = read_original(tmp_path)
    np.testing.assert_array_equal(traj[0], data[0])
    np.testing.assert_array_equal(traj[1], np.broadcast_to(u[None, None, :, None], (5, 8, 6, 2)))


def _malformed(folder: Path, kind: str) -> None:
    _save_sims(folder, n=2)
    bad = folder / "sim_0001.npz"
    if kind == "not_npz":
        bad.write_bytes(b"garbage")
    elif kind == "plain_npz":
        np.savez(bad, trajectories=np.zeros((5, 8, 6, 2), np.float32))
    elif kind == "no_channel":
        math.save(str(bad), math.zeros(batch(time=5), spatial(x=8, y=6)))
    elif kind == "no_time":
        math.save(str(bad), math.zeros(batch(frame=5), spatial(x=8, y=6), channel(field="vel_x,vel_y")))
    elif kind == "other_grid":
        math.save(str(bad), math.zeros(batch(time=5), spatial(x=8, y=8), channel(field="vel_x,vel_y")))
    elif kind == "other_fields":
        math.save(str(bad), math.zeros(batch(time=5), spatial(x=8, y=6), channel(field="vel_y,vel_x")))
    elif kind == "wrong_sizes":  # the metadata promises another grid than the stored array has
        with np.load(folder / "sim_0000.npz", allow_pickle=True) as z:
            members = {k: z[k] for k in z.files}
        members["root:0"] = members["root:0"][:4]
        np.savez(bad, **members)
    elif kind == "unnamed_fields":
        math.save(str(bad), math.zeros(batch(time=5), spatial(x=8, y=6), channel(field=2)))


@pytest.mark.parametrize("kind, message", [
    ("not_npz", "not a readable .npz file"), ("plain_npz", "not a saved phiml tensor"),
    ("no_channel", "expected dimensions time, x"), ("no_time", "expected dimensions time, x"),
    ("other_grid", "differ from sim_0000.npz"), ("other_fields", "differ from sim_0000.npz"),
    ("unnamed_fields", r"has no item \(field\) names"), ("wrong_sizes", "does not fit the tensor's sizes")])
def test_a_malformed_file_is_a_one_line_data_error_naming_it(tmp_path, kind, message):
    _malformed(tmp_path, kind)
    with pytest.raises(DataError, match=message) as e:
        read_original(tmp_path)
    assert "sim_0001.npz" in str(e.value) and "\n" not in str(e.value)


def test_the_converter_reports_bad_input_in_one_line(tmp_path):
    _malformed(tmp_path / "orig", "not_npz")
    for args, text in (([str(tmp_path / "orig"), str(tmp_path / "o.npz")], "sim_0001.npz: not a readable"),
                       ([str(tmp_path / "empty"), str(tmp_path / "o.npz")], "no sim_XXXX.npz files"),
                       ([str(tmp_path)], "usage:")):
        r = subprocess.run([sys.executable, "-m", "hybrid_jax.data.original", *args], cwd=ROOT,
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 2 and text in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == (2 if text == "usage:" else 1)
    assert not (tmp_path / "o.npz").exists()
