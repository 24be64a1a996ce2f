"""Evaluation metrics (per step, per field) against independent NumPy loops; both models of a hybrid run
and its figures."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hybrid_jax.evaluate import rollout_errors
from hybrid_jax.metrics import METRICS


def _reference(pred: np.ndarray, truth: np.ndarray) -> dict[str, list[float]]:
    """The metrics written out step by step, sample by sample."""
    out = {k: [] for k in METRICS}
    for t in range(pred.shape[1]):
        e = [(pred[b, t] - truth[b, t]).ravel().astype(np.float64) for b in range(pred.shape[0])]
        r = [truth[b, t].ravel().astype(np.float64) for b in range(pred.shape[0])]
        flat, ref = np.concatenate(e), np.concatenate(r)
        rmse = np.sqrt(np.sum(flat**2) / flat.size)
        out["rmse"].append(rmse)
        out["rel_l2"].append(np.mean([np.sqrt(np.sum(a**2)) / np.sqrt(np.sum(b**2)) for a, b in zip(e, r)]))
        out["nrmse"].append(rmse / np.sqrt(np.sum(ref**2) / ref.size))
        out["mae"].append(np.sum(np.abs(flat)) / flat.size)
        out["linf"].append(max(abs(v) for v in flat))
    return out


def test_rollout_errors_match_an_independent_computation_per_step_and_per_field():
    rng = np.random.default_rng(3)
    truth = rng.normal(size=(3, 4, 5, 6, 2)).astype(np.float32)
    pred = truth + rng.normal(scale=0.3, size=truth.shape).astype(np.float32)
    pred[..., 1] += 2.0  # the second field is much worse
    got = rollout_errors(pred, truth, ("u", "v"))
    ref = _reference(pred, truth)
    for k in METRICS:
        np.testing.assert_allclose(got[k], ref[k], rtol=1e-5)
        assert got[f"mean_{k}"] == pytest.approx(np.mean(ref[k]), rel=1e-5)
        assert got[f"final_{k}"] == pytest.approx(ref[k][-1], rel=1e-5)
    for i, f in enumerate(("u", "v")):
        ref_f = _reference(pred[..., i:i + 1], truth[..., i:i + 1])
        for k in METRICS:
            np.testing.assert_allclose(got["fields"][f][k], ref_f[k], rtol=1e-5)
    assert got["fields"]["v"]["mean_mae"] > 5 * got["fields"]["u"]["mean_mae"]
    assert got["linf"][0] == pytest.approx(np.abs(pred - truth)[:, 0].max())
    json.dumps(got)  # JSON-serialisable
    assert "fields" not in rollout_errors(pred, truth)
    with pytest.raises(ValueError, match="3 field names for 2 channels"):
        rollout_errors(pred, truth, ("u", "v", "w"))


def test_a_hybrid_run_evaluates_both_models_per_field_on_validation_data(tmp_path):
    from hybrid_jax.config import config_from_dict
    from hybrid_jax.run import run
    from hybrid_jax.rundir import prepare_run_dir
    from helpers import tiny_dict

    cfg = config_from_dict(tiny_dict(tmp_path, trainer__hybrid={"cycles": 1, "alpha": 0.5, "warmup_epochs": 0}))
    run_dir = tmp_path / "run"
    prepare_run_dir(cfg, run_dir, overwrite=False)
    (run_dir / "generated").mkdir()  # as output.save_generated leaves it: plotted beside the real data
    np.savez(run_dir / "generated" / "cycle_0_physical.npz", trajectories=np.ones((2, 3, 16, 1), np.float32))
    run(cfg, run_dir)
    ev = json.loads((run_dir / "evaluation.json").read_text())
    assert ev["fields"] == ["vel_x"] and len(ev["validation_trajectories"]) == 1  # 4 trajectories, 1 held out
    assert set(ev["models"]) == {"synthetic", "physical"}
    for m in ev["models"].values():
        for k in METRICS:  # existing keys kept, MAE and L-inf added
            assert len(m[k]) == ev["horizon"] == 5 and f"mean_{k}" in m and f"final_{k}" in m
        assert m["fields"]["vel_x"]["rmse"] == pytest.approx(m["rmse"])  # one field: the same numbers
        assert all(lo <= hi + 1e-7 for lo, hi in zip(m["mae"], m["linf"]))
    plots = {p.name for p in (run_dir / "plots").iterdir()}
    assert {"frames.png", "spacetime.png", "rollout_error.png", "generated_cycle_0_physical.png"} <= plots
