"""Data parallelism: a sharded hybrid cycle on 4 forced CPU devices, and 2 processes on localhost,
match the single-device run."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from helpers import tiny_dict

ROOT = Path(__file__).resolve().parents[1]
WORKER = ROOT / "tests" / "parallel_worker.py"
# 3 training trajectories x 4 windows = 12 windows; a third of them generated = 4, which splits
# evenly over 1, 2 and 4 devices, so every run draws the same generated samples
HYBRID = {"cycles": 2, "alpha": 0.5, "warmup_epochs": 1, "generated_fraction": 0.3333}


def _config(tmp_path) -> Path:
    d = tiny_dict(tmp_path, trainer__hybrid=HYBRID)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(d))
    return path


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_", "XLA_"))}
    env.update(JAX_PLATFORMS="cpu", **extra)
    return env


def _worker(config, out, env, *overrides, wait=True):
    proc = subprocess.Popen([sys.executable, str(WORKER), str(config), str(out), *overrides], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if wait:
        _check(proc)
    return proc


def _two_processes(launch) -> list[subprocess.Popen]:
    """`launch(env)` for processes 0 and 1 of a 2-process run coordinated on a free localhost port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return [launch(_env(JAX_NUM_PROCESSES="2", JAX_PROCESS_ID=str(pid), JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{port}"))
            for pid in (0, 1)]


def _check(proc):
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out[-3000:]


def _load(out: Path, pid: int = 0):
    state = np.load(out / f"state-{pid}.npz")
    return [state[str(i)] for i in range(len(state.files))], json.loads((out / f"metrics-{pid}.json").read_text())


def _assert_close(a, b, rtol=1e-5):
    (sa, ma), (sb, mb) = a, b
    assert len(sa) == len(sb)
    for x, y in zip(sa, sb):
        # tolerance 1e-5 relative: the sharded sum of the batch loss reduces in another order
        np.testing.assert_allclose(x, y, rtol=rtol, atol=1e-7)
    for ca, cb in zip(ma["metrics"], mb["metrics"]):
        for key in ca:
            if key.endswith("loss") or key.endswith("losses"):
                np.testing.assert_allclose(ca[key], cb[key], rtol=rtol, atol=1e-12)


def test_sharded_hybrid_cycle_on_4_devices_matches_one_device(tmp_path):
    config = _config(tmp_path)
    env = _env(XLA_FLAGS="--xla_force_host_platform_device_count=4")
    _worker(config, tmp_path / "one", env, "parallel.devices=1")
    _worker(config, tmp_path / "four", env)
    one, four = _load(tmp_path / "one"), _load(tmp_path / "four")
    assert one[1]["devices"] == 1 and four[1]["devices"] == 4
    _assert_close(four, one)


@pytest.mark.slow
def test_device_epoch_loop_on_4_devices_matches_one_device(tmp_path):
    """The device epoch loop's batches, drawn inside the program, are split over the mesh as the host's are."""
    config = _config(tmp_path)
    env = _env(XLA_FLAGS="--xla_force_host_platform_device_count=4")
    _worker(config, tmp_path / "one", env, "parallel.devices=1", "trainer.epoch_loop=device")
    _worker(config, tmp_path / "four", env, "trainer.epoch_loop=device")
    one, four = _load(tmp_path / "one"), _load(tmp_path / "four")
    assert one[1]["devices"] == 1 and four[1]["devices"] == 4
    _assert_close(four, one)


def test_two_processes_on_localhost_match_the_single_process_run(tmp_path):
    config = _config(tmp_path)
    _worker(config, tmp_path / "single", _env())
    procs = _two_processes(lambda env: _worker(config, tmp_path / "multi", env, wait=False))
    for p in procs:
        _check(p)
    p0, p1 = _load(tmp_path / "multi", 0), _load(tmp_path / "multi", 1)
    assert p0[1]["processes"] == 2 and p0[1]["devices"] == 2
    for x, y in zip(p0[0], p1[0]):
        np.testing.assert_array_equal(x, y)  # both processes end with the same parameters
    _assert_close(p0, _load(tmp_path / "single"))


def _cli(config, out, env, wait=True):
    proc = subprocess.Popen([sys.executable, "-m", "hybrid_jax.train", "--config", str(config), "--out", str(out)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if not wait:
        return proc
    out_text, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out_text[-3000:]
    return out_text


def _learned_lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ": learned " in ln]


def test_the_documented_multi_process_command_works_through_the_cli(tmp_path):
    """docs/parallel.md's `JAX_NUM_PROCESSES=2 … python -m hybrid_jax.train …`, as 2 localhost
    processes: both finish, agree with each other and with the single-process run."""
    config = _config(tmp_path)
    single = _cli(config, tmp_path / "single", _env())
    procs = _two_processes(lambda env: _cli(config, tmp_path / "multi", env, wait=False))
    texts = []
    for p in procs:
        text, _ = p.communicate(timeout=300)
        assert p.returncode == 0, text[-3000:]
        texts.append(text)
    assert _learned_lines(texts[0]) == _learned_lines(texts[1]) != []  # both processes report the same result
    one = json.loads((tmp_path / "single" / "summary.json").read_text())
    two = json.loads((tmp_path / "multi" / "summary.json").read_text())
    assert one["cycles_done"] == two["cycles_done"] == HYBRID["cycles"]
    for key in one["final"]:
        np.testing.assert_allclose(two["final"][key], one["final"][key], rtol=1e-5)
    for name, value in one["parameters"]["learned"].items():
        np.testing.assert_allclose(two["parameters"]["learned"][name], value, rtol=1e-5)
    assert _learned_lines(single)
