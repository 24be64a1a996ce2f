"""compare: equal budgets, seeds, mean ± std and paired differences, skipping finished runs, CLI errors."""

from __future__ import annotations

import json
import math

import jsonschema
import numpy as np
import pytest
import yaml

from helpers import assert_valid_outputs, tiny_dict
from hybrid_jax import compare as compare_module
from hybrid_jax.compare import (WALL_CYCLES, budget_config, claims, compare, error_keys, markdown, paired, report,
                                seed_config, summarize, table_rows)
from hybrid_jax.config import config_from_dict
from hybrid_jax.data.store import store_path
from hybrid_jax.schemas import schema
from hybrid_jax.training.budget import planned_steps

LBFGS = {"optimizer": "lbfgs", "batching": "full", "epochs": 5}


def _tiny(tmp, **kw):
    return config_from_dict(tiny_dict(tmp, output={"dir": str(tmp / "runs"), "progress": False, "plots": False}, **kw))


@pytest.fixture(scope="module")
def two_seeds(tmp_path_factory):
    """A steps-budget comparison of the tiny config (with a warm-up epoch) over seeds 0 and 1."""
    tmp = tmp_path_factory.mktemp("cmp")
    cfg = _tiny(tmp, trainer__hybrid__warmup_epochs=1)
    return cfg, tmp / "cmp", compare(cfg, tmp / "cmp", seeds=(0, 1))


def _summary(out, seed, mode):
    return json.loads((out / f"seed{seed}" / mode / "summary.json").read_text())


def _by_run(result, seed):
    return {(r["run"], r["model"]): r for r in result["rows"] if r["seed"] == seed}


def test_equal_steps_budget_gives_baselines_at_least_the_hybrids_steps_within_an_epoch(two_seeds):
    cfg, out, result = two_seeds
    t = cfg.trainer
    assert result["budget"] == "steps" and result["seeds"] == [0, 1] and len(result["rows"]) == 8
    for seed in (0, 1):
        rows, hybrid = _by_run(result, seed), _summary(out, seed, "hybrid")
        w, wg = hybrid["windows"]["train"], hybrid["windows"]["generated"]
        assert all(wg[m] > 0 and (w + wg[m]) // t.batch_size > w // t.batch_size for m in wg)  # generated adds steps
        by_hand = (t.hybrid.cycles * t.synthetic.epochs * ((w + wg["synthetic"]) // t.batch_size)
                   + t.hybrid.warmup_epochs * (w // t.batch_size))
        assert rows["hybrid", "synthetic"]["steps"] == by_hand
        for model in ("synthetic", "physical"):
            h, b = rows["hybrid", model]["steps"], rows[model, model]["steps"]
            assert h <= b < h + t.hybrid.cycles * (w // t.batch_size), (seed, model, h, b)
            assert rows[model, model]["epochs"] > t.hybrid.cycles * getattr(t, model).epochs  # more epochs given
        assert all(r["steps"] == r["planned_steps"] for r in rows.values())  # measured on the device == computed
        assert all(r["train_s"] > 0 and r["wall_s"] >= r["train_s"] for r in rows.values())
    jsonschema.validate(json.loads((out / "comparison.json").read_text()), schema("comparison"),
                        cls=jsonschema.Draft202012Validator)  # the documented contract (docs/outputs.md)
    for seed in (0, 1):
        for mode in ("hybrid", "synthetic", "physical"):
            assert_valid_outputs(out / f"seed{seed}" / mode)
    md = (out / "comparison.md").read_text()
    assert "| hybrid | synthetic | 2 |" in md and " ± " in md and "hybrid better in" in md


def test_seeds_change_data_and_results_and_a_seed_reproduces_bitwise(two_seeds, tmp_path):
    cfg, _, result = two_seeds
    stores = [store_path(seed_config(cfg, s)) for s in (0, 1)]
    assert stores[0] != stores[1]
    data = [np.load(s / "trajectories.npy") for s in stores]
    assert data[0].shape == data[1].shape and not np.allclose(data[0], data[1])
    one, two = _by_run(result, 0), _by_run(result, 1)
    assert all(one[k]["mean_rel_l2"] != two[k]["mean_rel_l2"] for k in one)
    again = compare(cfg, tmp_path / "again", modes=("hybrid",), seeds=(1,))
    for row in again["rows"]:
        first = two["hybrid", row["model"]]
        for key in (*error_keys(), "steps", "val_loss", "parameter_error"):
            assert row[key] == first[key], key


def test_a_rerun_skips_finished_runs_and_recomputes_only_an_unfinished_one(two_seeds, monkeypatch):
    cfg, out, result = two_seeds
    calls = []
    run_one = compare_module._run_one
    monkeypatch.setattr(compare_module, "_run_one", lambda c, d, o: calls.append(d) or run_one(c, d, o))
    assert compare(cfg, out, seeds=(0, 1)) == result and calls == []
    (out / "seed1" / "synthetic" / "summary.json").unlink()  # as if interrupted before its summary
    again = compare(cfg, out, seeds=(0, 1))
    assert calls == [out / "seed1" / "synthetic"]
    assert [{k: v for k, v in r.items() if k != "wall_s"} for r in again["rows"]] == \
           [{k: v for k, v in r.items() if k != "wall_s"} for r in result["rows"]]


def test_a_comparison_as_submitit_jobs_gives_the_same_rows_and_a_local_rerun_skips_them(two_seeds, monkeypatch):
    """The hybrid run, then the synthetic baseline with its steps budget, as submitit jobs (local executor):
    the rows of the in-process comparison; rerun in-process, every run counts as finished."""
    pytest.importorskip("submitit")
    cfg, out, result = two_seeds
    jobs = out.parent / "cmp-submitit"
    got = compare(cfg, jobs, seeds=(0,), modes=("synthetic", "hybrid"), engine="submitit",
                  options={"executor": "local"})
    assert len(list((jobs / "submitit").glob("*_result.pkl"))) == 2

    def untimed(rows):
        return [{k: v for k, v in r.items() if k not in ("train_s", "wall_s")} for r in rows]

    assert untimed(got["rows"]) == untimed([r for r in result["rows"] if r["seed"] == 0 and r["run"] != "physical"])
    calls = []
    monkeypatch.setattr(compare_module, "_run_one", lambda c, d, o: calls.append(d))
    assert compare(cfg, jobs, seeds=(0,), modes=("synthetic", "hybrid")) == got and calls == []


def _row(seed, run, model, rng, params=("nu",)):
    return {"seed": seed, "run": run, "model": model, "epochs": 4, "steps": int(rng.integers(10, 20)),
            "planned_steps": 20, "train_s": float(rng.uniform(1, 2)), "wall_s": float(rng.uniform(2, 3)),
            "val_loss": float(rng.uniform()), **{k: float(rng.uniform()) for k in error_keys()[:3]},
            "mean_rmse_observed": None, "mean_rmse_unobserved": None,
            "parameter_error": {p: float(rng.uniform()) for p in params} if model == "physical" else None}


def test_mean_std_and_paired_differences_match_numpy():
    rng = np.random.default_rng(3)
    pairs = [("physical", "physical"), ("synthetic", "synthetic"), ("hybrid", "synthetic"), ("hybrid", "physical")]
    rows = [_row(s, run, model, rng) for s in (0, 1, 2) for run, model in pairs]
    rows = [r for r in rows if not (r["seed"] == 2 and r["run"] == "synthetic")]  # a missing baseline seed
    res = report(rows)
    get = {(s["run"], s["model"]): s for s in res["summary"]}
    for (run, model), s in get.items():
        rs = [r for r in rows if (r["run"], r["model"]) == (run, model)]
        v = np.array([r["mean_rel_l2"] for r in rs])
        assert s["mean_rel_l2"]["mean"] == pytest.approx(v.mean()) and s["mean_rel_l2"]["n"] == len(v)
        assert s["mean_rel_l2"]["std"] == pytest.approx(v.std(ddof=1))
        assert s["mean_rmse_observed"] == {"mean": None, "std": None, "n": 0}
    p = {(x["model"], x["metric"]): x for x in res["paired"]}
    assert ("synthetic", "mean_rmse_observed") not in p
    for model, seeds in (("synthetic", (0, 1)), ("physical", (0, 1, 2))):
        for metric in ("mean_rel_l2", "final_rel_l2") + (("parameter_error.nu",) if model == "physical" else ()):
            def val(r):
                return r["parameter_error"]["nu"] if metric.startswith("parameter") else r[metric]
            h = np.array([val(r) for r in rows if (r["run"], r["model"]) == ("hybrid", model) and r["seed"] in seeds])
            b = np.array([val(r) for r in rows if (r["run"], r["model"]) == (model, model)])
            d = h - b
            got = p[model, metric]
            assert got["n"] == len(seeds) and got["mean"] == pytest.approx(d.mean())
            assert got["std"] == pytest.approx(d.std(ddof=1)) and got["hybrid_wins"] == int((d < 0).sum())
            assert list(got["per_seed"].values()) == pytest.approx(list(d))
    c = res["claims"]
    assert c["hybrid_synthetic_better_than_synthetic_only"]["holds"] == (p["synthetic", "mean_rel_l2"]["mean"] < 0)
    h_nu, p_nu = get["hybrid", "physical"]["parameter_error"]["nu"]["mean"], get["physical", "physical"][
        "parameter_error"]["nu"]["mean"]
    assert c["hybrid_parameters_no_worse_than_physical_only"]["holds"] == (h_nu <= p_nu * 1.05 + 1e-4)
    one = summarize([r for r in rows if r["seed"] == 0])
    assert all(s["mean_rel_l2"]["std"] is None and s["mean_rel_l2"]["n"] == 1 for s in one)
    assert paired([r for r in rows if r["run"] != "hybrid"]) == []


def test_compare_table_and_claims(tiny_config):
    def run(mode, models, epochs):
        ev = {"models": {m: {"mean_rel_l2": r, "final_rel_l2": 2 * r, "mean_rmse": r} for m, r in models.items()},
              "parameters": {"relative_error": {"viscosity": 0.01 if mode == "physical" else 0.02}}}
        summary = {"final": {f"{m}_val_loss": 1e-3 for m in models}, "timings_s": {"total": 1.0}, "train_s": 0.5,
                   "steps": {m: 8 for m in models}, "epochs": {m: epochs for m in models},
                   "windows": {"train": 8, "generated": {"synthetic": 4 if mode == "hybrid" else 0,
                                                         "physical": 4 if mode == "hybrid" else 0}}}
        return {"config": tiny_config(mode=mode), "summary": summary, "evaluation": ev}

    runs = {"physical": run("physical", {"physical": 0.001}, 4), "synthetic": run("synthetic", {"synthetic": 0.2}, 4),
            "hybrid": run("hybrid", {"synthetic": 0.1, "physical": 0.002}, 4)}
    rows = table_rows(runs, seed=0)
    assert [(r["run"], r["model"]) for r in rows] == [("physical", "physical"), ("synthetic", "synthetic"),
                                                     ("hybrid", "synthetic"), ("hybrid", "physical")]
    assert rows[0]["planned_steps"] == 8  # 2 physical epochs x 2 cycles x ⌊8 windows / batch 4⌋
    assert rows[2]["planned_steps"] == 12  # the hybrid's epochs also cover 4 generated windows: 3 batches each
    res = report(rows)
    checks = res["claims"]
    assert checks == claims(res["summary"], res["paired"])
    assert checks["hybrid_synthetic_better_than_synthetic_only"]["holds"]
    assert not checks["hybrid_parameters_no_worse_than_physical_only"]["holds"]
    md = markdown({"budget": "steps", **res}, "t")  # rows (and header) of: the summary, 7 paired differences, seeds
    assert md.count("\n| ") == 5 + 8 + 5 and "**no**" in md and "**yes**" in md


def test_budget_configs(tiny_config):
    cfg = tiny_config(trainer__physical=LBFGS)
    hybrid = {"windows": {"train": 10, "generated": {"synthetic": 5, "physical": 5}}, "train_s": 12.5}
    allowed = planned_steps(budget_config(cfg, "hybrid", "steps", None), 10, hybrid["windows"]["generated"])
    assert allowed == {"synthetic": 2 * 2 * (15 // 4), "physical": 2 * 5}  # full-batch L-BFGS: one step an epoch
    syn = budget_config(cfg, "synthetic", "steps", hybrid)
    assert syn.mode == "synthetic" and syn.trainer.synthetic.epochs == math.ceil(12 / (2 * (10 // 4))) == 3
    assert budget_config(cfg, "physical", "steps", hybrid).trainer.physical.epochs == 5  # the same iterations
    wall = budget_config(cfg, "synthetic", "wall", hybrid)
    assert wall.trainer.max_train_seconds == 12.5 and wall.trainer.hybrid.cycles == 2 * WALL_CYCLES
    assert wall.trainer.synthetic.epochs == 3
    same = budget_config(cfg, "synthetic", "epochs", hybrid)
    assert same.trainer == cfg.trainer and same.mode == "synthetic"


def test_max_train_seconds_stops_after_a_cycle_and_a_rerun_trains_no_further(tiny_config, tmp_path):
    from hybrid_jax.run import run
    from hybrid_jax.rundir import prepare_run_dir

    cfg = tiny_config(mode="synthetic", trainer__max_train_seconds=1e-6, trainer__hybrid__cycles=3,
                      output={"dir": str(tmp_path / "runs"), "progress": False, "plots": False})
    for _ in range(2):
        with prepare_run_dir(cfg, tmp_path / "r", overwrite=False):
            summary = run(cfg, tmp_path / "r")
        assert summary["cycles_done"] == 1 and summary["epochs"] == {"synthetic": 2}
        assert summary["steps"]["synthetic"] == summary["epochs"]["synthetic"] * (summary["windows"]["train"] // 4)


@pytest.mark.parametrize("args, message", [
    (["--budget", "flops"], "--budget: invalid choice"),
    (["--seeds", "0"], "--seeds: the count must be >= 1"),
    (["--seeds", "two"], "--seeds: must be a count N >= 1 or a comma list"),
    (["--seeds", "1,1"], "--seeds: must be distinct seeds"),
    (["--seeds=-1,"], "--seeds: must be distinct seeds"),
    (["--modes", "physical,synthetic"], "--budget steps: the baselines' budget is the hybrid run's"),
    (["--budget", "wall", "trainer.synthetic.rollout_curriculum.kind=linear"], "--budget wall: trainer.synthetic"),
])
def test_bad_budget_and_seeds_exit_2_with_one_line(tmp_path, capsys, args, message):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(tiny_dict(tmp_path)))
    assert compare_module.main(["--config", str(cfg), "--out", str(tmp_path / "o"), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and message in err[0], err
    assert not (tmp_path / "o").exists()
