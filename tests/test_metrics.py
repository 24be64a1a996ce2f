"""The metric registry: a metric registered in one place is computed by the evaluation (evaluation.json),
drawn in the rollout-error figure and tabled by the comparison, under its own labels."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers import tiny_dict
from hybrid_jax import metrics


def test_a_registered_metric_reaches_evaluation_plots_and_the_compare_table(tmp_path, monkeypatch):
    from hybrid_jax.compare import markdown, report, table_rows
    from hybrid_jax.config import config_from_dict
    from hybrid_jax.lifecycle import open_run
    from hybrid_jax.plots import plot_rollout_error
    from hybrid_jax.run import run

    monkeypatch.setitem(metrics.METRICS, "bias", None)  # removed again when the test ends
    metrics.register_metric("bias", lambda err, ref: np.mean(err, axis=(0, 2)), "mean signed error", "bias")
    cfg = config_from_dict(tiny_dict(tmp_path, trainer__hybrid={"cycles": 1, "alpha": 0.5, "warmup_epochs": 0}))
    run_dir = tmp_path / "run"
    with open_run(cfg, run_dir):
        summary = run(cfg, run_dir)
    ev = json.loads((run_dir / "evaluation.json").read_text())
    for name, m in ev["models"].items():
        assert len(m["bias"]) == ev["horizon"] and m["mean_bias"] == pytest.approx(np.mean(m["bias"]))
        assert abs(m["mean_bias"]) <= m["mean_mae"] + 1e-12  # |mean error| <= mean |error|
        assert "bias" in m["fields"]["vel_x"]

    fig = plot_rollout_error(ev, tmp_path / "errors.png")
    assert "mean signed error" in [ax.get_ylabel() for ax in fig.axes]

    rows = table_rows({"hybrid": {"config": cfg, "summary": summary, "evaluation": ev}}, seed=0)
    assert rows[0]["mean_bias"] == ev["models"][rows[0]["model"]]["mean_bias"]
    md = markdown({"budget": "steps", **report(rows)}, "t")
    header = md.splitlines()[4].split(" | ")
    column = header.index("mean bias")
    first = md.splitlines()[6].split(" | ")
    assert float(first[column]) == pytest.approx(rows[0]["mean_bias"], rel=1e-3)
