"""Crash safety and faults: SIGKILL at random points resumes to identical results, determinism,
divergence handling."""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from helpers import assert_same_run, run_metrics, tiny_dict

ROOT = Path(__file__).resolve().parents[1]


def _write_config(tmp_path, **kw) -> Path:
    d = tiny_dict(tmp_path, **kw)
    path = tmp_path / "config.yaml"
    tmp_path.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(d))
    return path


def _start(config: Path, out: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "hybrid_jax.train", "--config", str(config), "--out", str(out)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=open(log, "w"))


def _kill_when(proc: subprocess.Popen, log: Path, marker: str | None, delay: float, timeout: float = 240) -> bool:
    """SIGKILL `proc` `delay` s after `marker` appears in its log (or after `delay` s if marker is None).
    Returns False if the process finished first."""
    t0 = time.monotonic()
    while marker is not None and marker not in log.read_text():
        if proc.poll() is not None:
            return False
        assert time.monotonic() - t0 < timeout, "run did not reach " + marker
        time.sleep(0.02)
    time.sleep(delay)
    if proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return True


@pytest.mark.parametrize("kills", [
    # (marker, delay): during start-up / data generation; right after a cycle's log line (the async
    # checkpoint save is in flight); inside the next cycle's epochs
    [(None, 3.0), ("cycle 1/4", 0.0), ("cycle 2/4", 0.4)],
])
def test_run_killed_at_random_points_resumes_bitwise_identical(tmp_path, kills):
    config = _write_config(tmp_path, trainer__hybrid={"cycles": 4, "alpha": 0.5, "warmup_epochs": 1})
    ref = tmp_path / "ref"
    r = subprocess.run([sys.executable, "-m", "hybrid_jax.train", "--config", str(config), "--out", str(ref)],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    # the killed run uses its own data store, so that generation itself can be interrupted
    # every process compiles (no persistent cache): a warm cache makes a resumed run finish before the
    # kill points below are reached
    config_k = _write_config(tmp_path / "k", trainer__hybrid={"cycles": 4, "alpha": 0.5, "warmup_epochs": 1},
                             output__compilation_cache=None)
    out = tmp_path / "killed"
    rng = random.Random(int(os.environ.get("HYBRID_JAX_KILL_SEED", "0")))
    survived = 0
    for i, (marker, delay) in enumerate(kills):
        proc = _start(config_k, out, tmp_path / f"log{i}")
        survived += _kill_when(proc, tmp_path / f"log{i}", marker, delay + rng.uniform(0, 0.3))
    assert survived >= 2  # the kill points were really reached
    r = subprocess.run([sys.executable, "-m", "hybrid_jax.train", "--config", str(config_k), "--out", str(out),
                        "--resume"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert_same_run(ref, out)


def test_same_config_and_seed_give_identical_metrics(tmp_path):
    from hybrid_jax.config import config_from_dict
    from hybrid_jax.run import run
    from hybrid_jax.rundir import prepare_run_dir

    cfg = config_from_dict(tiny_dict(tmp_path, tasks=["generate", "train"]))
    for name in ("a", "b"):
        prepare_run_dir(cfg, tmp_path / name, overwrite=False)
        run(cfg, tmp_path / name)
    assert_same_run(tmp_path / "a", tmp_path / "b")


@pytest.mark.parametrize("steps_per_call, epoch_loop", [
    (None, "host"),  # one call per step (CPU default)
    (2, "host"),  # chunks of 2 scanned steps
    # the device epoch loop, in calls of one epoch (the curriculum's K changes between them); a fast in-memory
    # form of it is tests/test_epoch_loop.py's resume test
    pytest.param(None, "device", marks=pytest.mark.slow),
])
def test_resume_mid_schedule_with_input_noise_is_bitwise_identical(tmp_path, steps_per_call, epoch_loop):
    """Train 3 cycles; copy the run, drop its checkpoints after cycle 1 and resume it: both learning-rate
    schedules (their position is the optimiser's update count), the input-noise key (folded with the step
    counter) and the rollout curriculum (K 1 -> 3, a program per K, compiled afresh by the resumed process)
    must carry on exactly where they stopped."""
    from hybrid_jax.config import config_from_dict
    from hybrid_jax.run import run
    from hybrid_jax.rundir import prepare_run_dir

    cfg = config_from_dict(tiny_dict(
        tmp_path, tasks=["generate", "train"], data__num_frames=8, data__rollout_steps=3,
        network={"architecture": "resnet", "filters": 4, "blocks": 1, "input_noise": 0.05},
        trainer__synthetic={"epochs": 2, "lr_schedule": {"kind": "exponential", "warmup_steps": 2,
                                                         "decay_steps": 4, "decay_rate": 0.5},
                            "rollout_curriculum": {"kind": "linear"}},
        trainer__physical={"epochs": 2, "lr_schedule": {"kind": "cosine", "warmup_steps": 2, "decay_steps": 40}},
        trainer__hybrid={"cycles": 3, "alpha": 0.5, "warmup_epochs": 1}, trainer__steps_per_call=steps_per_call,
        trainer__epoch_loop=epoch_loop))
    prepare_run_dir(cfg, tmp_path / "ref", overwrite=False)
    run(cfg, tmp_path / "ref")
    shutil.copytree(tmp_path / "ref", tmp_path / "resumed")
    for step in ("2", "3"):
        shutil.rmtree(tmp_path / "resumed" / "checkpoints" / step)
    run(cfg, tmp_path / "resumed")  # resumes from the checkpoint after cycle 1
    assert_same_run(tmp_path / "ref", tmp_path / "resumed")
    ks = [ln["horizon"] for ln in run_metrics(tmp_path / "resumed") if ln.get("model") in ("warmup", "synthetic")]
    assert ks == [1, 1, 2, 2, 3, 3, 3]  # checkpoint 1 follows epochs at K 1, 1, 2; the resumed ones go 2 -> 3


def test_diverging_training_stops_with_a_clear_message_and_keeps_the_last_good_state(tmp_path):
    config = _write_config(tmp_path, mode="synthetic",
                           trainer={"batch_size": 2, "max_consecutive_failures": 3,
                                    "synthetic": {"learning_rate": 1e30, "epochs": 3}})
    r = subprocess.run([sys.executable, "-m", "hybrid_jax.train", "--config", str(config), "--out",
                        str(tmp_path / "run")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 3
    last = r.stderr.strip().splitlines()[-1]
    m = re.match(r"error: synthetic model: (\d+) consecutive steps with NaN/inf \(cycle 0, epoch \d+", last)
    assert m and int(m.group(1)) >= 3, last
    assert "step(s) with NaN/inf rejected, last good state kept" in r.stderr
    assert "Traceback" not in r.stderr


def test_resume_flag_requires_a_checkpoint(tmp_path):
    config = _write_config(tmp_path)
    r = subprocess.run([sys.executable, "-m", "hybrid_jax.train", "--config", str(config), "--out",
                        str(tmp_path / "run"), "--resume"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "holds no checkpoint to resume from" in r.stderr
