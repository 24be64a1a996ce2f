"""Fuzzing at the command-line boundary: random overrides, YAML documents, `.npz` headers, HDF5 files, PhiFlow
Scene directories and the original system's directories given to `hybrid_jax.train.main` (in-process, generate
task only) end in exit 0, 2 or 3, never a traceback, and never run a payload a data file carries."""

from __future__ import annotations

import io
import json
import pickle
import struct
import zipfile

import h5py
import numpy as np
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from helpers import tiny_dict
from untrusted_files import Payload, scene_frame
from hybrid_jax import train
from hybrid_jax.config import reference

SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
KEYS = [key for key, *_ in reference() if "[" not in key] + ["physics.resolution", "physics.dt", "physics.name",
                                                            "network.architecture", "network.levels", "network.layers"]
YAMLISH = st.text(alphabet=st.sampled_from(list("abcdeftrux019.-+_=:[]{},&*!|>'\"# \n\t\\%@`?<~") + ["\xe9", "\0"]),
                  max_size=40)


def _main(tmp_path, capsys, argv) -> None:
    fixed = [f"data.store_dir={tmp_path / 'store'}", "tasks=[generate]", "output.progress=false"]
    rc = train.main([*argv, "--out", str(tmp_path / "run"), *fixed])
    err = capsys.readouterr().err
    assert rc in (0, 2, 3), err
    assert "Traceback" not in err
    if rc:
        assert err.strip().splitlines()[-1].startswith("error: "), err


def _config(tmp_path) -> str:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(tiny_dict(tmp_path)))
    return str(path)


@SETTINGS
@given(st.lists(st.one_of(YAMLISH, st.builds(lambda k, v: f"{k}={v}", st.sampled_from(KEYS), YAMLISH)), max_size=4))
def test_fuzz_override_strings(tmp_path_factory, capsys, overrides):
    tmp = tmp_path_factory.mktemp("o")
    _main(tmp, capsys, ["--config", _config(tmp), *[o for o in overrides if not o.startswith("-")]])


@SETTINGS
@given(st.one_of(YAMLISH, st.builds(lambda k, v: f"{k.split('.')[0]}:\n  {k.split('.')[-1]}: {v}\n",
                                     st.sampled_from(KEYS), YAMLISH)))
def test_fuzz_yaml_documents(tmp_path_factory, capsys, text):
    tmp = tmp_path_factory.mktemp("y")
    path = tmp / "c.yaml"
    path.write_bytes(text.encode("utf-8", errors="surrogateescape"))
    _main(tmp, capsys, ["--config", str(path)])


@SETTINGS
@given(shape=st.lists(st.integers(0, 2**40), max_size=5), descr=st.sampled_from(["<f4", "<f8", "|O", "<i4", "zz"]),
       fortran=st.booleans(), payload=st.integers(0, 4096), version=st.sampled_from([b"\x01\x00", b"\x02\x00",
                                                                                     b"\x03\x00", b"\x09\x09"]),
       compress=st.booleans())
def test_fuzz_npz_headers(tmp_path_factory, capsys, shape, descr, fortran, payload, version, compress):
    tmp = tmp_path_factory.mktemp("n")
    header = f"{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {tuple(shape)}, }}"
    header += " " * (63 - (len(header) + 10) % 64) + "\n"
    size = struct.pack("<H" if version == b"\x01\x00" else "<I", len(header))
    npy = b"\x93NUMPY" + version + size + header.encode() + bytes(payload)
    fields = io.BytesIO()
    np.save(fields, np.array(["vel_x"]))
    with zipfile.ZipFile(tmp / "d.npz", "w", zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED) as z:
        z.writestr("trajectories.npy", npy)
        z.writestr("fields.npy", fields.getvalue())
    _main(tmp, capsys, ["--config", _config(tmp), "data.source=files", f"data.path={tmp / 'd.npz'}"])


def _files(tmp, capsys, path, fmt) -> None:
    """Train the tiny config (1D Burgers, 16 cells, channel vel_x, dt 0.01) on `path`; no payload may run."""
    _main(tmp, capsys, ["--config", _config(tmp), "data.source=files", f"data.path={path}", f"data.format={fmt}"])
    assert not (tmp / "MARKER").exists()


def _valid(name: str) -> np.ndarray | None:
    """A value that fits the tiny config for HDF5 entry `name` (None where there is none)."""
    rng = np.random.default_rng(0)
    return {"tensor": rng.normal(size=(2, 6, 16)).astype(np.float32), "0000/data": rng.normal(size=(6, 16, 1)),
            "0001/data": rng.normal(size=(6, 16, 1)), "x-coordinate": (np.arange(16) + 0.5) / 16,
            "0000/grid/x": (np.arange(16) + 0.5) / 16, "t-coordinate": np.arange(7) * 0.01,
            "0000/grid/t": np.arange(6) * 0.01}.get(name)


H5_NAMES = ["tensor", "x-coordinate", "t-coordinate", "y-coordinate", "0000", "0001", "0000/data", "0001/data",
            "0000/grid", "0000/grid/x", "0000/grid/t", "data", "tensor/x"]
H5_KINDS = ["valid", "group", "<f4", "<f8", ">i2", "|u1", "|b1", "|S3", "pickle", "compound", "vlen"]
SHAPES = st.lists(st.integers(0, 7), max_size=4)


def _h5_value(kind, shape, marker):
    if kind == "pickle":
        return np.void(pickle.dumps(Payload(marker)))
    if kind == "compound":
        return np.zeros(shape, [("a", "<f4"), ("b", "<i4")])
    if kind == "vlen":
        return np.full(shape, "ab", dtype=h5py.string_dtype())
    return np.arange(int(np.prod(shape))).reshape(shape).astype(kind)


@SETTINGS
@given(entries=st.lists(st.tuples(st.sampled_from(H5_NAMES), st.sampled_from(H5_KINDS), SHAPES, st.booleans()),
                        max_size=6))
@example(entries=[("tensor", "valid", [], True), ("x-coordinate", "valid", [], False),
                  ("t-coordinate", "valid", [], False)])
@example(entries=[("0000/data", "valid", [], False), ("0001/data", "valid", [], True),
                  ("0000/grid/x", "valid", [], False)])
def test_fuzz_hdf5_files(tmp_path_factory, capsys, entries):
    tmp = tmp_path_factory.mktemp("h")
    with h5py.File(tmp / "d.h5", "w") as f:
        for name, kind, shape, poison_attr in entries:
            valid = _valid(name) if kind == "valid" else None
            try:
                node = f.create_group(name) if kind == "group" else f.create_dataset(
                    name, data=valid if valid is not None else _h5_value(
                        "<f4" if kind == "valid" else kind, shape, tmp / "MARKER"))
            except (ValueError, TypeError, KeyError):
                continue  # the name is taken, or its parent is a dataset
            if poison_attr:
                node.attrs["extrapolation"] = np.void(pickle.dumps(Payload(tmp / "MARKER")))
    _files(tmp, capsys, tmp / "d.h5", "auto")


FRAME_ENTRIES = ["field_type", "data", "dim_names", "dim_types", "dim_item_names", "lower", "upper",
                 "bounds_item_names", "extrapolation"]
ALTERNATIVES = {"payload": None, "dict": {"type": "zero"}, "int": np.int64(3), "ones": np.ones(3),
                "names": np.array(["x", "vector"]), "2d": np.zeros((16, 2)), "coarse": np.zeros(8),
                "staggered": np.array("StaggeredGrid"), "tuple": (("x",), None)}
FRAME_FILES = ["vel_x_000000.npz", "vel_x_000001.npz", "vel_x_000002.npz", "vel_000000.npz", "vel_000001.npz",
               "vel_000002.npz", "smoke_000001.npz", "vel_x_0000.npz", "description.json"]
DESCRIPTIONS = ['{"dt": 0.01}', '{"dt": 0.02}', '{"dt": "fast"}', '{"dt": true}', '[1, 2]', "{", "\xff"]


def _alternative(alt: str, marker) -> np.ndarray:
    """The entry value `alt` (a pickled object array for a payload, a dict or a tuple)."""
    if alt not in ("payload", "dict", "tuple"):
        return ALTERNATIVES[alt]
    a = np.empty((), object)
    a[()] = Payload(marker) if alt == "payload" else ALTERNATIVES[alt]
    return a


def _frame_bytes(path, name, mutations, marker) -> None:
    """A frame file for `name` (``vel_x``: scalar; ``vel``: vector with component x) with `mutations`."""
    vector = name.startswith("vel_0")
    values = np.random.default_rng(1).normal(size=(16, 1) if vector else 16).astype(np.float32)
    entries = {k: _alternative(alt, marker) for k, alt in mutations.items() if alt != "drop"}
    scene_frame(path, values, "x", ("x",) if vector else None,
                drop=[k for k, alt in mutations.items() if alt == "drop"],
                **entries)


@SETTINGS
@given(sims=st.lists(st.sampled_from(["sim_000000", "sim_000001", "sim_000002", "sim_", "other"]), min_size=1,
                     max_size=3, unique=True),
       files=st.lists(st.sampled_from(FRAME_FILES), min_size=1, max_size=5, unique=True),
       mutations=st.dictionaries(st.sampled_from(FRAME_ENTRIES), st.sampled_from([*ALTERNATIVES, "drop"]), max_size=2),
       description=st.sampled_from(DESCRIPTIONS), garbage=st.sampled_from([False, False, False, True]),
       fmt=st.sampled_from(["auto", "scene"]))
@example(sims=["sim_000000", "sim_000001"], files=["vel_x_000000.npz", "vel_x_000001.npz", "vel_x_000002.npz",
                                                   "description.json"], mutations={}, description=DESCRIPTIONS[0],
         garbage=False, fmt="auto")
def test_fuzz_scene_directories(tmp_path_factory, capsys, sims, files, mutations, description, garbage, fmt):
    tmp = tmp_path_factory.mktemp("s")
    for sim in sims:
        (tmp / "d" / sim).mkdir(parents=True)
        for i, name in enumerate(files):
            path = tmp / "d" / sim / name
            if name == "description.json":
                path.write_bytes(description.encode("latin-1"))
            elif garbage and i == 0:
                path.write_bytes(b"PK\x03\x04 not a zip")
            else:
                _frame_bytes(path, name, mutations if i == 0 else {}, tmp / "MARKER")
    _files(tmp, capsys, tmp / "d", fmt)


def _spec_shape(names, sizes, fields, as_phiml):
    types = ["batch" if n == "time" else "channel" if n == "field" else "spatial" for n in names]
    items = [fields if n == "field" else None for n in names]
    if not as_phiml:
        return {"names": names, "types": types, "item_names": items, "sizes": sizes}
    from phiml.math import batch, channel, spatial

    make = {"batch": batch, "channel": channel, "spatial": spatial}
    try:
        dims = [make[t](**{n: (",".join(i) if i else s)}) for n, t, i, s in zip(names, types, items, sizes)]
        return dims[0].concat(*dims[1:]) if len(dims) > 1 else dims[0] if dims else {}
    except Exception:  # noqa: BLE001 - phiml refuses this combination: keep the plain dict
        return {"names": names, "types": types, "item_names": items, "sizes": sizes}


@SETTINGS
@given(num=st.integers(0, 3), names=st.lists(st.sampled_from(["time", "x", "field", "y"]), max_size=4, unique=True),
       sizes=st.lists(st.sampled_from([6, 16, 1, 2, "sixteen", -1, 2.5]), min_size=4, max_size=4),
       fields=st.sampled_from([("vel_x",), ("a", "b"), ()]), stored=st.permutations(range(4)),
       kind=st.sampled_from(["dense", "sparse"]), as_phiml=st.booleans(),
       container=st.sampled_from(["list", "scalar", "numbers", "empty", "missing", "payload"]),
       data_dtype=st.sampled_from(["<f4", "<i4", "U3", "O"]))
@example(num=2, names=["time", "x", "field"], sizes=[6, 16, 1, 1], fields=("vel_x",), stored=[1, 2, 0, 3], kind="dense",
         as_phiml=True, container="list", data_dtype="<f4")
def test_fuzz_original_directories(tmp_path_factory, capsys, num, names, sizes, fields, stored, kind, as_phiml,
                                   container, data_dtype):
    tmp = tmp_path_factory.mktemp("o")
    folder = tmp / "d"
    folder.mkdir()
    sizes = sizes[:len(names)]
    order = [names[i] for i in stored if i < len(names)]
    spec = {"type": kind, "names": order, "shape": _spec_shape(names, sizes, fields, as_phiml)}
    shape = [s if isinstance(s, int) and 0 <= s <= 16 else 2 for s in (sizes[names.index(n)] for n in order)]
    for i in range(num):
        specs = {"list": np.array([spec, None], object)[:1], "scalar": np.array(spec, object), "numbers": np.ones(1),
                 "empty": np.empty(0, object), "payload": np.array([Payload(tmp / "MARKER")], object)}.get(container)
        entries = {"root:0": np.zeros(shape, data_dtype), "paths": np.array(["root"])}
        if specs is not None:
            entries["specs"] = specs
        np.savez(folder / f"sim_{i:04d}.npz", **entries)
    (folder / "notes.txt").write_text(json.dumps(spec, default=str))
    _files(tmp, capsys, folder, "auto" if num else "original")
