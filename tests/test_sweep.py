"""Sweeps: Hydra-style grids, a killed sweep resumes without redoing finished points, table and figure."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from helpers import tiny_dict
from hybrid_jax.config import ConfigError
from hybrid_jax.sweep import grid_points, parse_grid, split_values

ROOT = Path(__file__).resolve().parents[1]


def test_comma_lists_sweep_and_brackets_are_one_value():
    assert split_values("0.1,0.3") == ["0.1", "0.3"]
    assert split_values("[32,32]") == ["[32,32]"]
    assert split_values("[8,8],[16,16]") == ["[8,8]", "[16,16]"]
    assert split_values("'a,b',c") == ["'a,b'", "c"]
    fixed, swept = parse_grid(["trainer.hybrid.alpha=0,0.5", "physics.resolution=[16]", "mode=physical,hybrid"])
    assert fixed == ["physics.resolution=[16]"]
    assert swept == {"trainer.hybrid.alpha": ["0", "0.5"], "mode": ["physical", "hybrid"]}
    with pytest.raises(ConfigError, match="empty value"):
        parse_grid(["trainer.hybrid.alpha=0,"])


def test_grid_points_combine_values_and_seeds(tmp_path):
    base = tiny_dict(tmp_path)
    points = grid_points(base, ["trainer.batch_size=2"], {"trainer.hybrid.alpha": ["0", "0.5"]}, seeds=2)
    assert [p.name for p in points] == ["trainer.hybrid.alpha=0,seed=0", "trainer.hybrid.alpha=0,seed=1",
                                        "trainer.hybrid.alpha=0.5,seed=0", "trainer.hybrid.alpha=0.5,seed=1"]
    assert [(p.cfg.trainer.hybrid.alpha, p.cfg.seed, p.cfg.trainer.batch_size) for p in points] == [
        (0.0, 0, 2), (0.0, 1, 2), (0.5, 0, 2), (0.5, 1, 2)]
    assert points[3].values == {"trainer.hybrid.alpha": 0.5, "seed": 1}
    assert len({p.cfg.experiment_name for p in points}) == 4
    with pytest.raises(ConfigError, match="trainer.hybrid.alpha: must be >= 0"):
        grid_points(base, [], {"trainer.hybrid.alpha": ["-1", "0.5"]}, seeds=None)


def _sweep(config: Path, out: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "hybrid_jax.sweep", "--config", str(config), "--out", str(out),
                             "trainer.hybrid.alpha=0.0,0.5"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=open(log, "w"), text=True, start_new_session=True)


def test_sweep_killed_after_its_first_point_skips_it_on_restart(tmp_path):
    d = tiny_dict(tmp_path, tasks=["generate", "train"], trainer__hybrid__cycles=1,
                  output__plots=False, output__tensorboard=False)
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(d))
    out = tmp_path / "sweep"
    first = out / "trainer.hybrid.alpha=0.0" / "summary.json"
    proc = _sweep(config, out, tmp_path / "a.log")
    t0 = time.monotonic()
    while not first.is_file():
        assert proc.poll() is None, (tmp_path / "a.log").read_text()
        assert time.monotonic() - t0 < 300, "the first point did not finish"
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its running point
    proc.wait()
    assert not (out / "sweep.csv").exists()
    finished_at = first.stat().st_mtime_ns

    proc = _sweep(config, out, tmp_path / "b.log")
    stdout, _ = proc.communicate(timeout=300)
    log = (tmp_path / "b.log").read_text()
    assert proc.returncode == 0, log
    assert "point 1/2 trainer.hybrid.alpha=0.0: finished before, skipped" in log
    assert "point 2/2 trainer.hybrid.alpha=0.5: started" in log
    assert first.stat().st_mtime_ns == finished_at  # not rerun
    rows = list(csv.DictReader(open(out / "sweep.csv")))
    assert [(r["trainer.hybrid.alpha"], r["status"]) for r in rows] == [("0.0", "done"), ("0.5", "done")]
    assert all(float(r["final.synthetic_val_loss"]) > 0 for r in rows)
    assert "| trainer.hybrid.alpha | status |" in (out / "sweep.md").read_text() and "| 0.5 | done |" in stdout
    assert (out / "sweep.png").stat().st_size > 1000


@pytest.mark.slow
def test_parallel_sweep_generates_the_shared_store_once_then_runs_points_at_once(tmp_path):
    d = tiny_dict(tmp_path, tasks=["generate", "train"], trainer__hybrid__cycles=1,
                  output__plots=False, output__tensorboard=False)
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(d))
    out = tmp_path / "sweep"
    r = subprocess.run([sys.executable, "-m", "hybrid_jax.sweep", "--config", str(config), "--out", str(out),
                        "--devices", "2", "--metric", "final.physical_val_loss", "trainer.hybrid.alpha=0.0,0.5"],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("generating the data store") == 1  # both points share one store
    assert len(list((tmp_path / "store").iterdir())) == 1
    rows = list(csv.DictReader(open(out / "sweep.csv")))
    assert [r["status"] for r in rows] == ["done", "done"]
    assert all(float(r["final.physical_val_loss"]) > 0 for r in rows)
