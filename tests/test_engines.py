"""Sweeps on cluster engines: a 4-point sweep submitted through submitit's local executor and as Ray
tasks on a local Ray instance writes the same table as the local runner, and skips finished points."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import pytest
import yaml

from helpers import tiny_dict
from hybrid_jax.config import ConfigError
from hybrid_jax.engines import parse_options, run_jobs
from hybrid_jax.sweep import sweep

GRID = ["trainer.hybrid.alpha=0.0,0.5"]  # times 2 seeds: 4 points


def _rows(out: Path) -> list[dict]:
    """The sweep's CSV rows without the timings (``train_s``, ``timings_s.*``), which differ from run to run."""
    rows = list(csv.DictReader(open(out / "sweep.csv")))
    return [{k: v for k, v in r.items() if not any(part.endswith("_s") for part in k.split("."))} for r in rows]


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """The tiny config and the CSV rows of its 4-point sweep on the local runner."""
    tmp = tmp_path_factory.mktemp("engines")
    config = tmp / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_dict(tmp, tasks=["generate", "train"], trainer__hybrid__cycles=1,
                                               output__plots=False, output__tensorboard=False)))
    out, failed = sweep(str(config), GRID, tmp / "local", 2, None, 1)
    assert failed == 0
    rows = _rows(out)
    assert len(rows) == 4 and {r["status"] for r in rows} == {"done"}
    assert len({r["final.synthetic_val_loss"] for r in rows}) == 4  # four different runs
    return config, tmp, rows


def test_a_sweep_through_submitit_gives_the_local_table_and_skips_finished_points(grid, caplog):
    pytest.importorskip("submitit")
    config, tmp, local = grid
    out, failed = sweep(str(config), GRID, tmp / "submitit", 2, None, 1, "submitit", {"executor": "local"})
    assert failed == 0
    assert _rows(out) == local
    assert len(list((out / "submitit").glob("*_result.pkl"))) == 4  # each point was a submitit job
    kept = out / "trainer.hybrid.alpha=0.0,seed=0" / "summary.json"
    redo = out / "trainer.hybrid.alpha=0.5,seed=1" / "summary.json"
    kept_at = kept.stat().st_mtime_ns
    redo.unlink()  # as if its job had been killed before the end
    with caplog.at_level(logging.INFO, logger="hybrid_jax"):
        out, failed = sweep(str(config), GRID, out, 2, None, 1, "submitit", {"executor": "local"})
    assert failed == 0 and _rows(out) == local
    assert caplog.text.count("finished before, skipped") == 3
    assert "point 4/4 trainer.hybrid.alpha=0.5,seed=1: submitted to submitit" in caplog.text
    assert kept.stat().st_mtime_ns == kept_at and redo.is_file()


@pytest.mark.slow  # Ray starts a local cluster (about a minute on 2 cores)
def test_a_sweep_as_ray_tasks_gives_the_local_table(grid):
    ray = pytest.importorskip("ray")  # not in [test]: `pip install .[cluster]`
    config, tmp, local = grid
    ray.init(num_cpus=1, include_dashboard=False)
    try:
        out, failed = sweep(str(config), GRID, tmp / "ray", 2, None, 1, "ray", {})
    finally:
        ray.shutdown()
    assert failed == 0
    assert _rows(out) == local


def test_engine_options_and_unknown_engines_are_one_line_errors(tmp_path):
    assert parse_options(["executor=local", "timeout_min=30", "gpus_per_node=1"]) == {
        "executor": "local", "timeout_min": 30, "gpus_per_node": 1}
    with pytest.raises(ConfigError, match="--engine-option: must look like name=value"):
        parse_options(["timeout_min"])
    with pytest.raises(ConfigError, match="--engine: must be one of local, submitit, ray"):
        run_jobs([], "dask", {}, tmp_path)
