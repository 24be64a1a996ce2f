"""The CLI boundary: every input a user can type ends in one `error:` line and exit 2 (bad input) or
3 (resources, divergence), or 130/143 on SIGINT/SIGTERM with a resume line; never a traceback."""

from __future__ import annotations

import errno
import io
import json
import signal
import struct
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from helpers import tiny_dict
from helpers import assert_same_run

from hybrid_jax import compare, train
from hybrid_jax.config import load_config

ROOT = Path(__file__).resolve().parents[1]


def _config(tmp_path, text=None, **kw) -> Path:
    path = tmp_path / "c.yaml"
    path.write_bytes(text if isinstance(text, bytes) else
                     (text if text is not None else yaml.safe_dump(tiny_dict(tmp_path, **kw))).encode())
    return path


def _npy_bytes(header: str, payload: bytes = b"") -> bytes:
    header = header + " " * (63 - (len(header) + 10) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + payload


def _npz(path: Path, trajectories: bytes, compress=zipfile.ZIP_STORED) -> Path:
    buf = io.BytesIO()
    np.save(buf, np.array(["vel_x"]))
    with zipfile.ZipFile(path, "w", compress) as z:
        z.writestr("trajectories.npy", trajectories)
        z.writestr("fields.npy", buf.getvalue())
    return path


def _huge_header(tmp_path) -> Path:
    return _npz(tmp_path / "huge.npz", _npy_bytes("{'descr': '<f4', 'fortran_order': False, "
                                                  "'shape': (30000000, 1000, 16, 1), }", bytes(1024)))


def _zip_bomb(tmp_path) -> Path:
    zeros = np.zeros((256, 4096, 16, 1), np.float32)  # 64 MiB of zeros deflate > 1000x
    buf = io.BytesIO()
    np.save(buf, zeros)
    return _npz(tmp_path / "bomb.npz", buf.getvalue(), zipfile.ZIP_DEFLATED)


LOL = "a: &a [l, l, l, l, l, l, l, l, l]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8))

CASES = [  # (id, config text or None for the tiny config, extra argv, exit code, message)
    ("seed=-1", None, ["seed=-1"], 2, "seed: must be in [0, 2^32)"),
    ("seed=10**23", None, ["seed=" + "1" + "0" * 23], 2, "seed: must be in [0, 2^32)"),
    ("alpha=.inf", None, ["trainer.hybrid.alpha=.inf"], 2, "trainer.hybrid.alpha: must be a finite number"),
    ("name ..", None, ["experiment_name=.."], 2, "experiment_name: must be a plain name"),
    ("batch_size", None, ["trainer.batch_size=1000"], 2, "trainer.batch_size: 1000 is larger than the"),
    ("non-UTF-8", b"seed: 1\n# caf\xe9\n", [], 2, "not UTF-8 text (byte 0xe9 at offset 13)"),
    ("list + override", "- 1\n- 2\n", ["seed=1"], 2, "must be a mapping of config sections"),
    ("scalar + override", "42\n", ["seed=1"], 2, "must be a mapping of config sections"),
    ("circular alias", "a: &a [*a]\n", [], 2, "circular alias (line 1)"),
    ("billion laughs", LOL, [], 2, "expands to more than 100000 values through aliases"),
    ("duplicate key", "seed: 1\nmode: hybrid\nseed: 2\n", [], 2, "duplicate key 'seed' (line 3)"),
    ("override syntax", None, ["trainer..alpha=1"], 2, "an override key must be dotted names"),
    ("unknown flag", None, ["--bogus"], 2, "unrecognized arguments: --bogus"),
    ("resolution", None, ["physics.resolution=[100000,100000]", "physics.domain=[1,1]",
                    "physics.viscosity.true=1e-10", "physics.viscosity.init=1e-10"], 3,
     "this config needs about"),
    ("num_trajectories", None, ["data.num_trajectories=1000000000"], 3, "this config needs about"),
    ("filters", None, ["network.filters=1000000", "network.layers=3"], 3, "this config needs about"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_user_input_gives_one_line_and_its_exit_code(tmp_path, capsys, case):
    _, text, argv, code, message = case
    t = time.perf_counter()
    rc = train.main(["--config", str(_config(tmp_path, text)), "--out", str(tmp_path / "r"), *argv])
    err = capsys.readouterr().err
    assert rc == code, err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: ") and message in last, last
    assert time.perf_counter() - t < 60


@pytest.mark.parametrize("make, message", [
    (lambda p: (np.save(p / "d.npy", np.zeros((4, 6, 7, 1), np.float32)), p / "d.npy")[1],
     "trajectories must have shape [N, T, 16, 1] for this config, got [4, 6, 7, 1]"),
    (_huge_header, "its header declares shape [30000000, 1000, 16, 1] (1.75 TiB) but it stores 1 KiB"),
    (_zip_bomb, "(a zip bomb?); refusing to decompress it"),
])
def test_data_files_are_checked_before_decompression(tmp_path, capsys, make, message):
    path = make(tmp_path)
    rc = train.main(["--config", str(_config(tmp_path)), "--out", str(tmp_path / "r"), "data.source=files",
                     f"data.path={path}"])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err and message in err.strip().splitlines()[-1], err


def test_yaml_1_1_quirks_and_overrides_anywhere(tmp_path):
    path = _config(tmp_path, "trainer:\n  synthetic:\n    learning_rate: 1e-3\n")
    assert load_config(path).trainer.synthetic.learning_rate == pytest.approx(1e-3)
    args = train.parse_args(["seed=1", "--config", "c.yaml", "mode=physical", "--out", "d", "seed=2"])
    assert args.overrides == ["seed=1", "mode=physical", "seed=2"] and args.out == "d"


@pytest.mark.parametrize("err, message", [
    (OSError(errno.ENOSPC, "No space left on device", "/x/summary.json"), "error: disk full: /x/summary.json"),
    (OSError(errno.EROFS, "Read-only file system", "/ro/r"), "error: read-only file system: /ro/r"),
    (PermissionError(errno.EACCES, "Permission denied", "/p"), "error: permission denied: /p"),
    (RuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 9.5GiB"),
     "error: device out of memory: RESOURCE_EXHAUSTED: Out of memory while trying to allocate 9.5GiB"),
    (MemoryError(), "error: out of host memory"),
    (ValueError("DATA_LOSS: Error writing local file \"/r/checkpoints/3/d/x\": No space left on device"),
     "error: no space left on device: DATA_LOSS: Error writing local file \"/r/checkpoints/3/d/x\""),
])
def test_resource_errors_become_one_line_with_exit_3(tmp_path, capsys, monkeypatch, err, message):
    import hybrid_jax.run

    def fail(*a, **k):
        raise err

    monkeypatch.setattr(hybrid_jax.run, "run", fail)
    for main in (train.main, compare.main):
        assert main(["--config", str(_config(tmp_path)), "--out", str(tmp_path / "r")]) == 3
        out = capsys.readouterr().err
        assert out.strip().splitlines()[-1].startswith(message) and "Traceback" not in out


def test_full_disk_leaves_no_half_written_file(tmp_path, monkeypatch):
    from hybrid_jax import files

    target = tmp_path / "summary.json"
    target.write_text("old")

    class Full:
        def __init__(self, *a):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *a):
            return False

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files, "open", Full, raising=False)
    with pytest.raises(OSError) as e:
        files.atomic_write(target, "new")
    assert e.value.errno == errno.ENOSPC and e.value.filename == str(target)  # the error names the file
    with pytest.raises(OSError):
        files.atomic_write(target, lambda f: np.save(f, np.zeros(3)))
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["summary.json"]


@pytest.mark.parametrize("sig", [signal.SIGINT, pytest.param(signal.SIGTERM, marks=pytest.mark.slow)])
def test_signal_stops_at_a_step_boundary_and_resume_is_exact(tmp_path, sig):
    hybrid = {"cycles": 4, "alpha": 0.5, "warmup_epochs": 0}
    config = _config(tmp_path, trainer__hybrid=hybrid, trainer__synthetic={"epochs": 6})
    ref = tmp_path / "ref"
    r = subprocess.run([sys.executable, "-m", "hybrid_jax.train", "--config", str(config), "--out", str(ref)],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "stopped"
    proc = subprocess.Popen([sys.executable, "-m", "hybrid_jax.train", "--config", str(config), "--out", str(out)],
                            cwd=ROOT, stderr=subprocess.PIPE, text=True)
    seen = ""
    while "cycle 1/4" not in seen:
        line = proc.stderr.readline()
        assert line, seen
        seen += line
    proc.send_signal(sig)
    rest = proc.stderr.read()
    assert proc.wait(timeout=120) == 128 + sig, rest
    lines = rest.strip().splitlines()
    assert "Traceback" not in rest
    assert lines[-2] == f"error: stopped by {signal.Signals(sig).name}", rest
    assert "the unfinished cycle restarts from its beginning on resume" in lines[-1] and "--resume" in lines[-1]
    r = subprocess.run([sys.executable, "-m", "hybrid_jax.train", "--config", str(config), "--out", str(out),
                        "--resume"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert_same_run(ref, out)
    assert json.loads((out / "summary.json").read_text())["cycles_done"] == 4


def test_batch_size_counts_generated_windows_only_when_every_epoch_mixes_them(tiny_config):
    from hybrid_jax.errors import ConfigError
    from hybrid_jax.physics import build_pde
    from hybrid_jax.training.loop import build_experiment

    cfg = tiny_config(data__window_stride=1000)  # 3 real windows + 2 generated, batch 4
    traj = np.zeros((4, 6, 16, 1), np.float32)
    assert build_experiment(cfg, build_pde(cfg.physics), traj).num_generated == 2
    cfg = tiny_config(data__window_stride=1000, trainer__hybrid={"warmup_epochs": 1})  # warm-up: real only
    with pytest.raises(ConfigError, match="trainer.batch_size: 4 is larger than the 3 training windows of"):
        build_experiment(cfg, build_pde(cfg.physics), traj)
