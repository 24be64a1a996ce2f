"""experiments/study.py: docs rendered from a study JSON (fast), and the driver end to end (slow)."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

from hybrid_jax.compare import error_keys, report

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def study_mod():
    spec = importlib.util.spec_from_file_location("study", ROOT / "experiments" / "study.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["study"] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def _row(seed, run, model, err, param=None):
    return {"seed": seed, "run": run, "model": model, "epochs": 10, "steps": 100 + seed, "planned_steps": 100,
            "train_s": 1.0, "wall_s": 2.0 + seed, "val_loss": err**2, **{k: err for k in error_keys()},
            "parameter_error": None if model == "synthetic" else {"viscosity": param}}


def _regime(name, hybrid_syn, syn_only, hybrid_par, phys_par):
    rows = []
    for s in range(3):
        rows += [_row(s, "hybrid", "synthetic", hybrid_syn[s]), _row(s, "hybrid", "physical", 0.1, hybrid_par[s]),
                 _row(s, "physical", "physical", 0.1, phys_par[s]), _row(s, "synthetic", "synthetic", syn_only[s])]
    return {"name": name, "description": f"{name} regime", "config": "configs/study/burgers1d.yaml",
            "overrides": [], "reference": {}, "wall_s": 30.0, "modes": ["physical", "synthetic", "hybrid"],
            "seeds": [0, 1, 2], **report(rows)}


def test_render_from_json(study_mod, tmp_path):
    study = {"command": "python experiments/study.py", "quick": False, "seeds": [0, 1, 2], "machine": "test",
             "wall_s": 600.0, "anchors": [],
             "regimes": [_regime("helps", [0.1, 0.2, 0.3], [0.2, 0.4, 0.35], [0.01, 0.02, 0.03], [0.02, 0.01, 0.05]),
                         _regime("hurts", [0.5, 0.6, 0.7], [0.1, 0.2, 0.25], [0.3, 0.3, 0.3], [0.1, 0.1, 0.1])]}
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "study.json").write_text(json.dumps(study))
    assert study_mod.main(["--render-only", "--docs", str(tmp_path)]) == 0
    md = (tmp_path / "results.md").read_text()
    # main table: synthetic-only 0.317 ± 0.1, hybrid 0.2 ± 0.1 in regime "helps"
    line = next(ln for ln in md.splitlines() if ln.startswith("| helps |"))
    assert "| 0.317 ± 0.1 | 0.2 ± 0.1 |" in line
    # generated verdicts from the paired differences
    assert re.search(r"synthetic rel\. L2: hybrid better by 0\.117 ± 0\.076 .* 3/3 seeds", md)
    assert re.search(r"synthetic rel\. L2: hybrid worse by 0\.417 ± 0\.029 .* 0/3 seeds", md)
    assert re.search(r"parameter error \(viscosity\): hybrid mixed, on average better by .* 2/3 seeds", md)
    for png in ("synthetic_error.png", "parameter_error.png"):
        assert f"results/{png}" in md
        assert 1_000 < (tmp_path / "results" / png).stat().st_size < 60_000


def test_render_only_needs_json(study_mod, tmp_path, capsys):
    with pytest.raises(SystemExit):
        study_mod.main(["--render-only", "--docs", str(tmp_path)])
    assert "does not exist" in capsys.readouterr().err


def test_anchors_alone_merge_into_existing_results(study_mod, tmp_path, monkeypatch):
    """Running only anchors keeps the regimes (and other anchors) already in <docs>/results/study.json."""
    helps, hurts = (_regime(n, [0.1] * 3, [0.2] * 3, [0.01] * 3, [0.02] * 3) for n in ("helps", "hurts"))
    old_gs, new_gs, heat = (_regime(n, [0.3] * 3, [0.3] * 3, [e] * 3, [e] * 3)
                            for n, e in (("gs", 0.5), ("gs", 0.004), ("heat", 0.7)))
    old = {"command": "python experiments/study.py", "quick": False, "seeds": [0, 1, 2], "machine": "test",
           "wall_s": 600.0, "regimes": [helps, hurts], "anchors": [old_gs, heat]}
    new = {"command": "python experiments/study.py --regimes none --anchors gs", "quick": False, "seeds": [0],
           "machine": "test", "wall_s": 60.0, "regimes": [], "anchors": [new_gs]}
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "study.json").write_text(json.dumps(old))
    monkeypatch.setattr(study_mod, "run_study", lambda *a, **k: json.loads(json.dumps(new)))
    monkeypatch.setattr(study_mod, "ANCHORS", (study_mod.Regime("gs", "gs"),))
    assert study_mod.main(["--regimes", "none", "--anchors", "gs", "--docs", str(tmp_path)]) == 0
    merged = json.loads((tmp_path / "results" / "study.json").read_text())
    assert [r["name"] for r in merged["regimes"]] == ["helps", "hurts"]
    assert merged["regimes"] == [helps, hurts]
    assert [a["name"] for a in merged["anchors"]] == ["gs", "heat"] and merged["anchors"][0] == new_gs
    assert merged["seeds"] == [0, 1, 2] and merged["wall_s"] == 660.0
    assert merged["command"] == f"{old['command']} && {new['command']}"
    md = (tmp_path / "results.md").read_text()
    assert "| helps |" in md and "### heat" in md
    # a full rerun of everything replaces the whole study; a quick study never mixes with a full one
    assert study_mod.merge_study(old, {**old, "command": "again"})["command"] == "again"
    quick = {**new, "quick": True}
    assert study_mod.merge_study(old, quick) == quick


@pytest.mark.slow
def test_quick_study_end_to_end(study_mod, tmp_path):
    docs = tmp_path / "docs"
    assert study_mod.main(["--quick", "--seeds", "2", "--regimes", "base", "--anchors", "none",
                           "--out", str(tmp_path / "out"), "--docs", str(docs)]) == 0
    study = json.loads((docs / "results" / "study.json").read_text())
    (regime,) = study["regimes"]
    assert {(r["seed"], r["run"], r["model"]) for r in regime["rows"]} == {
        (s, run, model) for s in (0, 1) for run, model in
        (("hybrid", "synthetic"), ("hybrid", "physical"), ("physical", "physical"), ("synthetic", "synthetic"))}
    md = (docs / "results.md").read_text()
    assert "quick mode" in md and "| base |" in md
    hybrid_syn = study_mod.method(regime, "hybrid", "synthetic")["mean_rel_l2"]
    assert f"{hybrid_syn['mean']:.3g} ± {hybrid_syn['std']:.2g}" in md


def test_sensor_anchor_table_renders_ours_beside_the_papers(study_mod, tmp_path):
    """A sensor anchor (compare_sensors' JSON) renders as one row per window: our summed parameter errors
    per seed, the interaction / physical-only ratio, and the papers' code's figures."""
    from hybrid_jax.sensor_run import summarize, targets

    rows = [{"seed": s, "method": m, "steps": {"physical": 10}, "train_s": 1.0,
             "parameter_error": None if m == "synthetic" else {"summed": e + s / 10}, "rel_l2": {"physical": 0.1}}
            for s in (0, 1) for m, e in (("physical", 2.0), ("synthetic", 0), ("augmentation", 1.0),
                                         ("interaction", 0.5))]
    anchor = {**study_mod.SENSOR_ANCHORS[0].__dict__, "wall_s": 3.0, "experiment_name": "q", "seeds": [0, 1],
              "methods": ["physical", "synthetic", "augmentation", "interaction"], "rows": rows,
              "summary": summarize(rows), "targets": targets(rows)}
    study = {"command": "x", "quick": False, "seeds": [0], "machine": "m", "wall_s": 1.0, "regimes": [],
             "anchors": [], "sensor_anchors": [anchor]}
    text = study_mod.render(study, tmp_path).read_text()
    table = [ln for ln in text.splitlines() if ln.startswith("| quarter |")]
    assert table == ["| quarter | 2.000, 2.100 (mean 2.050) | 0.500, 0.600 (mean 0.550) | 1.000, 1.100 (mean 1.050) | "
                     "0.25, 0.29 | 1.733, 1.738 | 0.576, 0.542 |"]
    assert "### hyco_heat_quarter" in text and "hybrid (interaction) / physical-only, per seed: seed 0 0.25" in text


def test_the_gray_scott_table_shows_each_seeds_diffusivity_errors_beside_the_papers(study_mod):
    """A sensor anchor of a scalar-coefficient family (no `summed` entry): its table row holds D_u, D_v per seed
    in percent, the summed error is their sum, and the heat table skips it."""
    from hybrid_jax.sensor_run import summarize, summed_error, targets

    rows = [{"seed": s, "method": m, "steps": {}, "train_s": 1.0, "rel_l2": {},
             "parameter_error": {"diffusivity_u": u, "diffusivity_v": v}}
            for s, (m, u, v) in enumerate([("physical", 0.001, 0.002), ("interaction", 0.004, 0.0015)])]
    rows[1]["seed"] = 0
    anchor = {"name": "hyco_gray_scott", "seeds": [0], "rows": rows, "summary": summarize(rows),
              "targets": targets(rows), "reference": {"interaction": {"diffusivity_u": (0.0049,),
                                                                      "diffusivity_v": (0.0027,)}}}
    study = {"sensor_anchors": [anchor]}
    assert summed_error(rows[1]["parameter_error"]) == pytest.approx(0.0055)
    assert anchor["targets"]["interaction_over_physical"]["0"] == pytest.approx(0.0055 / 0.003)
    table = study_mod.gray_scott_table(study)
    assert table[2] == "| same grid, papers | 0.10 %, 0.20 % | 0.40 %, 0.15 % | – | 0.49 %, 0.27 % |"
    assert study_mod.sensor_anchor_table(study)[2:] == []
