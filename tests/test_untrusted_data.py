"""Data files are untrusted input: no format runs a payload (the restricted unpickler refuses it), and every
malformed file ends in exit 2 with one `error:` line naming it (issue 20)."""

from __future__ import annotations

import copyreg
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from untrusted_files import MALFORMED, POISONED, Payload, original_sims, scene_dirs

from hybrid_jax import train
from hybrid_jax.data.safe_pickle import loads, shape_dict
from hybrid_jax.errors import DataError

ROOT = Path(__file__).resolve().parents[1]
SMOKE = (32, 32), ("vel_x", "vel_y")  # configs/smoke.yaml: 2D Burgers
REFUSED = {"original": "entry specs: refused: its pickle names builtins.exec",
           "original-shape": "entry specs: refused: its pickle names builtins.exec",
           "scene": "vel_x_000000.npz: entry extrapolation: refused: its pickle names builtins.exec",
           "npz": "fields.npy holds Python objects (a pickle); refused",
           "npy": "d.npy: holds Python objects (a pickle); refused", "hdf5": "d.h5: tensor must hold numbers, got |V"}


def _train(tmp_path, capsys, path, fmt) -> str:
    """Train configs/smoke.yaml on `path` through the CLI (in-process); assert exit 2 and one `error:` line."""
    rc = train.main(["--config", str(ROOT / "configs" / "smoke.yaml"), "--out", str(tmp_path / "run"),
                     "data.source=files", f"data.path={path}", f"data.format={fmt}", "output.progress=false"])
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert rc == 2 and "Traceback" not in err and len(errors) == 1, err
    assert err.strip().splitlines()[-1] == errors[0]
    return errors[0]


@pytest.mark.parametrize("fmt", ["explicit", "auto"])
@pytest.mark.parametrize("kind", sorted(POISONED))
def test_a_poisoned_data_file_never_runs_its_payload(tmp_path, capsys, kind, fmt):
    marker = tmp_path / "MARKER"
    path = POISONED[kind](tmp_path, marker, *SMOKE)
    line = _train(tmp_path, capsys, path, kind.split("-")[0] if fmt == "explicit" else "auto")
    assert not marker.exists()
    assert REFUSED[kind] in line and str(tmp_path) in line, line


def test_the_train_command_refuses_a_poisoned_directory_in_one_line(tmp_path):
    """The real entry point (`python -m`, auto format): a folder of the original system with a payload."""
    marker = tmp_path / "MARKER"
    path = POISONED["original"](tmp_path, marker, *SMOKE)
    r = subprocess.run([sys.executable, "-m", "hybrid_jax.train", "--config", "configs/smoke.yaml", "--out",
                        str(tmp_path / "run"), "data.source=files", f"data.path={path}"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 2 and "Traceback" not in r.stderr and not marker.exists(), r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith(f"error: {path}/sim_0000.npz: entry specs: refused")
    assert sum(line.startswith("error:") for line in r.stderr.splitlines()) == 1


MESSAGES = {"hdf5 scalar coordinate": "scalar.h5: x-coordinate must be a 1-D array, got shape []",
            "hdf5 0-d tensor":
                "scalar_tensor.h5: trajectories must have shape [N, T, 32, 32, 2] for this config, got []",
            "hdf5 data is a group": "group.h5: 0000/data must be a dataset, got a Group",
            "original non-integer sizes": "sim_0000.npz: unexpected phiml metadata (sizes must be integers, got "
                                          "['sixteen'",
            "npz 0-d fields": "d.npz: fields must be a 1-D array of channel names, got <U5 []",
            "poisoned scene": "entry extrapolation: refused: its pickle names builtins.exec"}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_files_that_raised_tracebacks_give_one_line(tmp_path, capsys, case):
    make, fmt = MALFORMED[case]
    line = _train(tmp_path, capsys, make(tmp_path, tmp_path / "MARKER", *SMOKE), fmt)
    assert MESSAGES[case] in line, line
    assert not (tmp_path / "MARKER").exists()


def test_the_readers_never_let_numpy_unpickle(tmp_path, monkeypatch, tiny_config):
    """Every format reads through np.load(allow_pickle=False) (pickled entries through safe_pickle only)."""
    from hybrid_jax.data.store import load_files
    from hybrid_jax.physics import build_pde

    load = np.load

    def strict(*args, **kwargs):
        assert not kwargs.get("allow_pickle", False), "np.load with allow_pickle"
        return load(*args, **kwargs)

    pde = build_pde(tiny_config().physics)
    spatial, fields = (16,), ("vel_x",)
    for path in (original_sims(tmp_path / "orig", spatial, fields), scene_dirs(tmp_path / "scene", spatial, fields)):
        expected = load_files(path, pde, 2)
        monkeypatch.setattr(np, "load", strict)
        assert load_files(path, pde, 2).shape == expected.shape == (2, 6, 16, 1)
        monkeypatch.setattr(np, "load", load)


def test_the_unpickler_rebuilds_phiml_shapes_and_numpy_values():
    from phiml import math
    from phiml.math import batch, channel, spatial

    shape = math.zeros(batch(time=5), spatial(x=8, y=6), channel(field="vel_x,vel_y")).shape
    assert shape.names and shape.sizes  # fills PureShape's cached properties: their pickle carries them too
    expected = {"names": ["time", "x", "y", "field"], "types": ["batch", "spatial", "spatial", "channel"],
                "item_names": [None, None, None, ("vel_x", "vel_y")], "sizes": [5, 8, 6, 2]}
    for protocol in (3, 4):
        assert shape_dict(loads(pickle.dumps(shape, protocol), "x")) == expected
        assert shape_dict(loads(pickle.dumps(shape["y"], protocol), "x"))["sizes"] == [6]
        value = loads(pickle.dumps({"type": "constant", "value": np.array(0.5, ">f8"), "n": [1, None, True, ("a",)]},
                                   protocol), "x")
        assert value["n"] == [1, None, True, ("a",)] and value["value"] == 0.5 and value["value"].dtype == np.float64
        for a in (np.arange(6, dtype=np.int16).reshape(2, 3).T, np.array(["ab", "c"]),
                  np.array([None, ("x",)], object)):
            b = loads(pickle.dumps(a, protocol), "x")
            assert b.shape == a.shape and b.dtype == a.dtype and all(u == v for u, v in zip(a.ravel(), b.ravel()))


class _Other:
    pass


@pytest.mark.parametrize("value", [Payload(Path("m")), _Other(), np.array([Payload(Path("m"))], object),
                                   np.zeros(2, [("a", "f4")]), 1j], ids=repr)
@pytest.mark.parametrize("protocol", [0, 1, 2, 3, 4])
def test_the_unpickler_refuses_every_other_callable(tmp_path, monkeypatch, value, protocol):
    monkeypatch.chdir(tmp_path)  # a payload that ran would write ./m
    with pytest.raises(DataError, match=r"^f: entry e: (refused: its pickle names|not a readable pickle)"):
        loads(pickle.dumps(value, protocol), "f: entry e")
    assert not (tmp_path / "m").exists()


def test_the_unpickler_refuses_the_extension_registry_and_persistent_ids():
    copyreg.add_extension("os", "system", 0x7ffffff0)
    try:  # EXT4 <code>, then REDUCE with ("true",)
        ext = b"\x80\x02\x84" + (0x7ffffff0).to_bytes(4, "little") + b"X\x04\x00\x00\x00trueq\x85R."
        with pytest.raises(DataError, match="refused: its pickle names os.system"):
            loads(ext, "f")
    finally:
        copyreg.remove_extension("os", "system", 0x7ffffff0)
    with pytest.raises(DataError, match="refused: its pickle names a persistent id"):
        loads(b"\x80\x02X\x01\x00\x00\x00aQ.", "f")
