"""The smoke job end to end through the command line, its outputs, and run-directory reuse."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from helpers import assert_valid_outputs
from hybrid_jax.lifecycle import checkpoint_steps

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "hybrid_jax.train", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def test_smoke_run_end_to_end(tmp_path):
    out = tmp_path / "run"
    common = ["--config", "configs/smoke.yaml", "--out", str(out), f"data.store_dir={tmp_path / 'data'}",
              "output.progress=false"]
    r = _cli(*common)
    assert r.returncode == 0, r.stderr
    assert "viscosity: learned" in r.stdout
    for name in ("config.yaml", "config_hash", "metrics.jsonl", "summary.json", "evaluation.json", "train.log"):
        assert (out / name).is_file(), name
    assert yaml.safe_load((out / "config.yaml").read_text())["physics"]["resolution"] == [32, 32]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["cycles_done"] == 3
    # the physical model learns: the viscosity error drops from the 200% initial error
    assert summary["parameters"]["relative_error"]["viscosity"] < 0.05
    lines = [json.loads(ln) for ln in (out / "metrics.jsonl").read_text().splitlines()]
    assert [ln["cycle"] for ln in lines if ln["kind"] == "cycle"] == [0, 1, 2]
    assert {ln["model"] for ln in lines if ln["kind"] == "epoch"} == {"warmup", "synthetic", "physical"}
    assert checkpoint_steps(out)[-1] == 3
    evaluation = json.loads((out / "evaluation.json").read_text())
    assert len(evaluation["models"]["synthetic"]["rmse"]) == 15
    assert_valid_outputs(out)  # the documented contract (docs/outputs.md)

    # same config again: resumes from the last checkpoint, trains nothing more, same result
    r = _cli(*common)
    assert r.returncode == 0, r.stderr
    assert "resuming from checkpoint 3" in r.stderr
    again = json.loads((out / "summary.json").read_text())
    assert again["parameters"] == summary["parameters"] and again["final"] == summary["final"]

    # a different config never silently reuses the directory
    r = _cli(*common, "trainer.hybrid.alpha=0.2")
    assert r.returncode == 2 and "holds a run of a different config" in r.stderr
