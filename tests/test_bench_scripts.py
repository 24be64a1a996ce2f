"""The benchmark package's entry (`python -m benchmarks --list`) and the end-to-end benchmarks' own logic (no
training run): the curriculum they project with, the projection's arithmetic, the original system's log."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import __main__ as entry
from benchmarks import harness as H
from benchmarks import reference as R
from benchmarks import vs_original as V
from hybrid_jax.config import load_config

ROOT = Path(__file__).resolve().parent.parent


def test_list_names_every_module_of_the_package_with_its_docstrings_first_line():
    out = subprocess.run([sys.executable, "-m", "benchmarks", "--list"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.splitlines()
    modules = sorted(p.stem for p in (ROOT / "benchmarks").glob("*.py")
                     if p.stem not in ("__init__", "__main__", "harness"))
    assert sorted(line.split()[0] for line in out) == modules == sorted(entry.NAMES)
    for line in out:
        name, purpose = line.split(maxsplit=1)
        doc = ast.get_docstring(ast.parse((ROOT / "benchmarks" / f"{name}.py").read_text()))
        assert purpose == doc.splitlines()[0] and len(purpose) > 20


def test_entry_refuses_an_unknown_name(capsys):
    assert entry.main(["no_such_benchmark"]) == 2
    assert "--list" in capsys.readouterr().err


@pytest.mark.parametrize("name", entry.NAMES)
def test_entry_passes_the_arguments_to_the_benchmark(name, capsys):
    with pytest.raises(SystemExit) as e:
        entry.main([name, "--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0 and f"usage: python -m benchmarks {name}" in out
    assert ("--cpu-dry-run" if name == "gpu" else "--quick") in out


def test_no_benchmark_names_a_machine_path_as_its_default():
    for path in [*(ROOT / "benchmarks").glob("*.py"), *(ROOT / "benchmarks").glob("*.sh")]:
        assert "/work/" not in path.read_text(), path


def test_harness_alternates_round_by_round_keeps_results_or_times_and_parses_core_lists():
    calls = []
    out = H.alternate({"a": lambda: calls.append("a"), "b": lambda: calls.append("b") or {"x": 7}}, 2, warmup=1)
    assert calls == ["a", "b"] * 3  # one untimed round, then two, each variant in turn
    assert out["b"] == [{"x": 7}] * 2 and len(out["a"]) == 2 and all(isinstance(t, float) for t in out["a"])
    timing = H.repeat(lambda: [1.0, 2.0], 1, 3)  # a result that is not None: still its time
    assert len(timing["times_s"]) == 3 and all(isinstance(t, float) for t in timing["times_s"])
    assert H.cores("1") == {1} and H.cores("0-2,5") == {0, 1, 2, 5}


@pytest.mark.parametrize("name", sorted(R.CONFIGS))
def test_projection_curriculum_is_the_trainings(name):
    from hybrid_jax.training.plan import rollout_horizon

    path, extra = R.CONFIGS[name]
    cfg = load_config(ROOT / path, extra)
    ks = R.curriculum(cfg)
    assert len(ks) == cfg.trainer.hybrid.warmup_epochs + cfg.trainer.hybrid.cycles * cfg.trainer.synthetic.epochs
    assert ks == [rollout_horizon(cfg, e) for e in range(len(ks))]
    assert ks[-1] == cfg.trainer.synthetic.rollout_curriculum.end


def test_choose_ks_spreads_over_the_distinct_horizons():
    assert R.choose_ks(list(range(1, 13)), None, 4) == [1, 5, 8, 12]
    assert R.choose_ks([1, 2, 3], None, 4) == [1, 2, 3]
    assert R.choose_ks([1, 2, 3, 4, 5], [5, 1, 9], 4) == [1, 5]


def test_interpolate_is_piecewise_linear_and_extrapolates():
    pts = {1: 1.0, 3: 2.0, 5: 6.0}
    assert [R.interpolate(pts, k) for k in (1, 2, 3, 4, 5, 6)] == [1.0, 1.5, 2.0, 4.0, 6.0, 8.0]
    assert R.interpolate({2: 3.0}, 7) == 3.0


def test_projection_sums_startup_compile_warmup_and_every_cycle_at_its_horizon():
    cfg = load_config(ROOT / R.CONFIGS["inviscid_burgers_1d"][0],
                      ["trainer.hybrid.warmup_epochs=2", "trainer.hybrid.cycles=3", "trainer.synthetic.epochs=2",
                       "trainer.synthetic.rollout_curriculum.kind=linear"])
    ks = R.curriculum(cfg)  # 8 epochs from K 1 to 12
    # epoch time 0.1 K; other phases 1 s per cycle; warm-up epochs 0.05 s at K 1; each measured process
    # had 1 warm-up epoch: its train program compiles in 3 s at K 1, 5 s at K 12
    per_k = {k: {"epoch_s": 0.1 * k, "cycle0_excess_s": 4.0, "warmup_s": compile_s + 0.05 * k,
                 "steady": {"generate_physical": 0.25, "generate_synthetic": 0.25, "train_physical": 0.25,
                            "validate": 0.125, "other": 0.125}} for k, compile_s in ((1, 3.0), (12, 5.0))}
    pair = {"k": 1, "warmup_epochs": [1, 21], "warmup_epoch_s": 0.05, "warmup_compile_s": 3.0, "startup_s": 10.0,
            "end_s": 0.5}
    p = R.project(cfg, ks, per_k, pair)
    warm = sum(0.05 * (0.1 * k) / 0.1 for k in ks[:2])
    cycles = 3 * 1.0 + sum(0.1 * k for k in ks[2:])  # fixed phases once per cycle
    k_programs = sum(3.0 + 2.0 * (k - 1) / 11 for k in set(ks) - {ks[0]})  # one compilation per further K
    assert len(set(ks)) > 2 and p["k_programs_compile_s"] == pytest.approx(k_programs)
    assert p["warmup_s"] == pytest.approx(warm)
    assert p["cycles_s"] == pytest.approx(cycles)
    assert p["compile_s"] == pytest.approx(7.0)
    assert p["total_s"] == pytest.approx(10.0 + 7.0 + k_programs + warm + cycles + 0.5)


def test_summarize_run_takes_cycle_walls_between_metrics_lines():
    run = {"wall_s": 30.0, "records": [
        {"kind": "warmup", "timings_s": {"warmup": 4.0}, "arrival_s": 10.0},
        {"kind": "cycle", "timings_s": {"cycle": 7.0, "train_synthetic": 5.0}, "arrival_s": 18.0},
        {"kind": "cycle", "timings_s": {"cycle": 3.0, "train_synthetic": 2.0}, "arrival_s": 21.5},
        {"kind": "cycle", "timings_s": {"cycle": 3.5, "train_synthetic": 2.5}, "arrival_s": 25.5}]}
    s = R.summarize_run(run)
    assert s["startup_s"] == 6.0 and s["end_s"] == 4.5
    assert [c["wall"] for c in s["cycles"]] == [8.0, 3.5, 4.0]
    assert R.steady(s)["train_synthetic"] == 2.5 and R.steady(s)["other"] == pytest.approx(0.5)  # cycle 2 on
    s["cycles"] = s["cycles"][:2]
    assert R.steady(s)["train_synthetic"] == 2.0 and R.steady(s)["other"] == pytest.approx(0.5)  # cycle 1


ORIGINAL_LOG = (
    "--- Warmup Cycle 1/1 ---\n"
    "Synthetic Training:   0%|          | 0/2 [00:00<?, ?epoch/s]\r"
    "Synthetic Training:   0%|          | 0/2 [00:04<?, ?epoch/s, loss=0.96, lr=9.9e-05, rollout=4, time=4.41s]\r"
    "Synthetic Training:  50%|#####     | 1/2 [00:04<00:04,  4.41s/epoch, loss=0.96, rollout=4, time=4.41s]\r"
    "Synthetic Training:  50%|#####     | 1/2 [00:08<00:04,  4.41s/epoch, loss=0.95, rollout=4, time=4.20s]\r"
    "Synthetic Training: 100%|##########| 2/2 [00:08<00:00,  4.29s/epoch, loss=0.95, rollout=4, time=4.20s]\r"
    "Synthetic Training: 100%|##########| 2/2 [00:08<00:00,  4.29s/epoch, loss=0.95, rollout=4, time=4.20s]\n"
    "\x1b[32mINFO\x1b[0m: Warmup cycle 1 completed in 8.62s\n"
)
for c, (t_syn, t_phys, total) in enumerate([(6.5, 12.97, 20.0), (5.0, 2.0, 7.5)], start=1):
    ORIGINAL_LOG += (
        f"--- Hybrid Cycle {c}/2 ---\n"
        "Synthetic Training:   0%|          | 0/2 [00:00<?, ?epoch/s]\r"
        f"Synthetic Training:  50%|#####     | 1/2 [00:06<00:06,  6.50s/epoch, loss=0.8, time={t_syn}s]\r"
        f"Synthetic Training: 100%|##########| 2/2 [00:12<00:00,  6.11s/epoch, loss=0.7, time={t_syn}s]\n"
        "Physical Training:   0%|          | 0/1 [00:00<?, ?epoch/s]\r"
        f"Physical Training:   0%|          | 0/1 [00:12<?, ?epoch/s, loss=0.000072, time={t_phys}s]\r"
        f"Physical Training: 100%|##########| 1/1 [00:12<00:00, 12.97s/epoch, loss=0.000072, time={t_phys}s]\n"
        f"[hybrid.trainer] INFO: Cycle {c} completed in {total}s - Synthetic loss: 0.70, Physical loss: 0.00007\n")


def test_original_log_gives_cycles_and_per_cycle_network_and_physics_phases():
    t = V.parse_original(ORIGINAL_LOG, warmup_cycles=1)
    assert t["warmup_s"] == 8.62
    assert t["cycles_s"] == [20.0, 7.5]
    assert t["network_s"] == [13.0, 10.0]  # two epochs each
    assert t["physics_s"] == [12.97, 2.0]
    f = V.figures(50.0, 20.0, t)
    assert (f["first_cycle_s"], f["steady_cycle_s"], f["network_per_cycle_s"], f["physics_per_cycle_s"]) == (
        20.0, 7.5, 10.0, 2.0)
    with pytest.raises(RuntimeError, match="found 0 cycles"):
        V.parse_original("no training here", warmup_cycles=1)


def test_original_overrides_cut_its_config_to_the_reduced_experiment():
    o = V.original_overrides(64)
    assert "model.physical.domain.dimensions.x.resolution=64" in o and "trainer.rollout_steps=4" in o
    assert "~trainer.synthetic.rollout_scheduler" in o  # K fixed at 4


def test_reproject_takes_the_stopped_pair_from_its_log_and_scales_epochs_by_step_times():
    """The H200 run of inviscid_burgers_2d (docs/results/gpu): K 1 measured, the pair stopped after its cycle 0."""
    gpu = ROOT / "docs" / "results" / "gpu"
    saved = json.loads((gpu / "bench_reference-inviscid_burgers_2d.json").read_text())
    util = gpu / "bench_utilisation-periodic_gelu-NVIDIA_H200.json"
    res = R.reproject("inviscid_burgers_2d", saved["configs"]["inviscid_burgers_2d"], saved, util)
    first = saved["configs"]["inviscid_burgers_2d"]["measured"]["1"]
    warm = saved["configs"]["inviscid_burgers_2d"]["stopped_process_records"][0]["timings_s"]["warmup"]
    assert res["pair"]["warmup_epoch_s"] == pytest.approx((warm - first["warmup_s"]) / 20)  # 21 vs 1 warm-up epochs
    assert 1.8 < res["pair"]["linearity_ratio"] < 2.2  # cycle 0: 4 epochs against 2
    step = {r["K"]: r["step_s"] for r in json.loads(util.read_text())["rows"] if r["dtype"] == "float32"}
    assert res["scaled_epoch_s"][5] == pytest.approx(first["epoch_s"] * step[5] / step[1])
    assert res["scaled_epoch_s"][3] == pytest.approx(first["epoch_s"] * (step[1] + (step[5] - step[1]) / 2) / step[1])
    p = res["projection"]
    assert p["cycle_last_s"] > 4 * p["cycle_first_s"]  # K 5 against K 1
    assert p["total_s"] == pytest.approx(p["startup_s"] + p["compile_s"] + p["k_programs_compile_s"] + p["warmup_s"]
                                         + p["cycles_s"] + p["end_s"])
