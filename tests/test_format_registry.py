"""The data-format registry: data.format is checked against the registered readers, and a reader
registered in one place is what `load_files` (hence a run with data.source: files) dispatches to."""

from __future__ import annotations

import numpy as np
import pytest

from hybrid_jax._registry import data_formats
from hybrid_jax.config import ConfigError, config_from_dict
from hybrid_jax.data.formats import register_format
from hybrid_jax.data.store import load_files
from hybrid_jax.errors import DataError
from hybrid_jax.physics import build_pde


def test_data_format_is_checked_against_the_registry(tmp_path, monkeypatch):
    files = {"data": {"source": "files", "path": str(tmp_path / "t.txt")}}
    with pytest.raises(ConfigError, match=r"^data\.format: must be one of auto, npz, hdf5, scene, npy, original; "
                                          r"got 'hdf' \(did you mean 'hdf5'\?\)"):
        config_from_dict({"data": {**files["data"], "format": "hdf"}})
    monkeypatch.setattr(data_formats, "_entries", dict(data_formats._entries))  # registration ends with the test
    calls = []

    def read_text(path, pde):  # one trajectory per line block: "N T X" header, then the values
        calls.append(path)
        n, t, x = map(int, path.read_text().split()[:3])
        return np.asarray(path.read_text().split()[3:], np.float32).reshape(n, t, x, 1), None

    register_format("text", read_text)
    cfg = config_from_dict({"data": {**files["data"], "format": "text", "rollout_steps": 2},
                            "physics": {"resolution": [4], "domain": [1.0]}})
    traj = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4, 1)
    (tmp_path / "t.txt").write_text("2 3 4 " + " ".join(map(str, traj.ravel())))
    out = load_files(cfg.data.path, build_pde(cfg.physics), cfg.data.rollout_steps, cfg.data.format)
    np.testing.assert_array_equal(out, traj)
    assert out.dtype == np.float32 and calls == [tmp_path / "t.txt"]
    (tmp_path / "t.txt").write_text("2 3 4 " + " ".join(["nan"] * 24))
    with pytest.raises(DataError, match="NaN or inf"):  # validated like every built-in format
        load_files(cfg.data.path, build_pde(cfg.physics), 2, "text")
    with pytest.raises(TypeError, match="expected a reader function"):
        register_format("broken", 42)
