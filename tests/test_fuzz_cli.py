"""Fuzzing at the command-line boundary: random overrides, YAML documents and `.npz` headers given to
`hybrid_jax.train.main` (in-process, generate task only) end in exit 0, 2 or 3, never a traceback."""

from __future__ import annotations

import io
import struct
import zipfile

import numpy as np
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import tiny_dict
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
