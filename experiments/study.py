"""Where hybrid training helps: regimes × methods × seeds, and published anchors, in one command.

    python experiments/study.py [--quick] [--out runs/study] [--docs docs] [--render-only]
        [--regimes a,b|none] [--anchors x,y|none] [--seeds 3] [--anchor-seeds 1]

Runs `hybrid_jax.compare` (physical-only, synthetic-only, hybrid) on every regime of `REGIMES`
for each seed, then the anchors of `ANCHORS`, and writes
``<out>/study.json`` (every row of every run), ``<docs>/results/study.json`` (the same, merged
into what is there: a regime or anchor this run did not run keeps its earlier results, so the docs
are reproducible from the repository), ``<docs>/results/*.png`` and ``<docs>/results.md``.
Every number in results.md comes from that JSON; ``--render-only`` re-renders the docs from
``<docs>/results/study.json`` without training. Finished (regime, seed) runs are kept in
``<out>`` and not rerun (an interrupted study resumes; pass --overwrite to start over).
The hand-written interpretation lives in experiments/study_notes.md and is copied in verbatim.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from hybrid_jax.config import ConfigError, load_config  # noqa: E402  (no JAX import)
from hybrid_jax.files import atomic_write  # noqa: E402

log = logging.getLogger("hybrid_jax")
BASE = "configs/study/burgers1d.yaml"


@dataclass(frozen=True)
class Regime:
    """One data regime: a config and the overrides that make it (applied to every method)."""

    name: str
    description: str
    config: str = BASE
    overrides: tuple[str, ...] = ()
    modes: tuple[str, ...] = ("physical", "synthetic", "hybrid")
    reference: dict = field(default_factory=dict)  # published figures to stand beside (anchors)
    default: bool = True  # run without naming it (--anchors)


REGIMES = (
    Regime("base", "6 training trajectories, every cell and frame observed, no noise"),
    Regime("few_trajectories", "2 training trajectories (3 in all, 1 for validation)",
           overrides=("data.num_trajectories=3", "data.validation_fraction=0.34")),
    Regime("few_trajectories_prior", "2 training trajectories; the hybrid's physical model generates from new "
           "initial states drawn from its prior (trainer.hybrid.generation_source = prior) instead of the real ones",
           overrides=("data.num_trajectories=3", "data.validation_fraction=0.34",
                      "trainer.hybrid.generation_source=prior")),
    Regime("space_box", "targets observed only in x < L/4 (a quarter of the domain)",
           overrides=("data.observation.spatial=box", "data.observation.box=[[0.0, 0.25]]")),
    Regime("space_points", "targets observed at 5 % random cells (3 of 64, the same cells in every frame)",
           overrides=("data.observation.spatial=random_points", "data.observation.fraction=0.05")),
    Regime("time_sparse", "targets observed every 4th frame only",
           overrides=("data.observation.time_stride=4",)),
    Regime("noise_2pct", "Gaussian observation noise, σ 2 % of the field's std",
           overrides=("data.truth.noise.std=0.02",)),
    Regime("noise_5pct", "Gaussian observation noise, σ 5 % of the field's std",
           overrides=("data.truth.noise.std=0.05",)),
    Regime("forcing", "misspecified: the data contain a forcing 0.5·sin(x) that the physical model lacks",
           overrides=("data.truth.forcing.amplitude=0.5",)),
)

ANCHORS = (
    Regime("inviscid_burgers_1d", "the original's inviscid Burgers 1D run (configs/reference/inviscid_burgers_1d.yaml), "
           "reduced to 4 cycles × 25 epochs after 100 warm-up epochs (the original: 80 cycles × 200 epochs after 4000)",
           config="configs/reference/inviscid_burgers_1d.yaml",
           overrides=("trainer.hybrid.cycles=4", "trainer.hybrid.warmup_epochs=100", "trainer.synthetic.epochs=25",
                      "trainer.synthetic.lr_schedule.decay_steps=200"),
           reference={"source": "original HYCO-PhiFlow, RTX 2080 Ti, 1 h 32 min",
                      "full_command": "python -m hybrid_jax.compare --config configs/reference/inviscid_burgers_1d.yaml "
                                      "--out runs/inviscid_burgers_1d-compare",
                      "epochs_scale": (4000 + 80 * 200) / (100 + 4 * 25),
                      "synthetic mean rel. L2 (sims 0–5)": {"synthetic": 0.337, "hybrid": 0.290},
                      "potential φ rel. L2": {"physical": 0.560, "hybrid": 0.563}},
           default=False),  # too slow for the default study on 2 CPU cores (docs/results.md)
    Regime("gray_scott_2.4pct", "Gray–Scott, D_u 0.20 / D_v 0.08 from (0.10, 0.05), 2.4 % of space–time points "
           "observed (9.6 % random cells × every 4th frame); data from a 2× finer grid with half the time step; hybrid α "
           "0.5 → 0 (linear, as the Burgers study)", config="configs/study/gray_scott_sparse.yaml",
           modes=("physical", "hybrid"),
           reference={"source": "HYCO paper code", "target": "D_u, D_v within 0.5 %"}),
    Regime("heat_quarter", "heat equation, conductivity field κ(x), targets observed in the quarter window [0, 0.5)²; "
           "data from a 2× finer grid with half the time step; κ by full-batch L-BFGS (up to 200 steps per cycle) "
           "with a gradient_l2 smoothness weight 1e-8 on log κ; hybrid α 0.5 constant",
           config="configs/study/heat_quarter.yaml", modes=("physical", "hybrid"),
           reference={"source": "HYCO paper", "parameter error": {"physical": 1.73, "hybrid": 0.55}}),
)

SENSOR_ANCHORS = (
    Regime("hyco_heat_quarter", "HYCO heat, 60 moving sensors in the quarter window [0, 3]² of [-3, 3]²; κ = 0.1 + two "
           "Gaussians (amplitudes, centres learned); 100² truth, dt 1e-4; 18² model, dt 0.01",
           config="configs/study/hyco_heat.yaml",
           reference={"source": "HYCO-Code, DynamicHYCO/Heat/parameters/heat/table (two runs; the paper: 0.55 vs 1.73)",
                      "physical": (1.733, 1.738), "interaction": (0.576, 0.542)}),
    Regime("hyco_heat_half", "as hyco_heat_quarter, sensors in the half window [-1.5, 3]²",
           config="configs/study/hyco_heat_half.yaml",
           reference={"source": "HYCO-Code (two runs)", "physical": (0.371, 0.472), "interaction": (0.372, 0.464)}),
    Regime("hyco_heat_full", "as hyco_heat_quarter, sensors over the whole box [-3, 3]²",
           config="configs/study/hyco_heat_full.yaml",
           reference={"source": "HYCO-Code (two runs)", "physical": (0.193, 0.210), "interaction": (0.193, 0.206)}),
    Regime("hyco_gray_scott", "HYCO Gray–Scott, 64² over [0, 100]², dt 0.4, T = 2000; 2.4 % of the space–time points "
           "(98 random points per reading, 51 readings); data on the model's own grid; the papers' setting: the "
           "physics' data weight 0 in the coupled methods (it learns D from the field only)",
           config="configs/study/hyco_gray_scott.yaml", modes=("physical", "synthetic", "augmentation", "interaction"),
           reference={"source": "HYCO-Code, DynamicHYCO/GrayScott/results/consistency_comparison (λ_m^S 0.2 and 0; "
                                "the paper: within 0.5 %)",
                      "interaction": {"diffusivity_u": (0.00490, 0.00327), "diffusivity_v": (0.00268, 0.00233)}}),
    Regime("hyco_gray_scott_ours", "as hyco_gray_scott, the physics' data weight 1 in the coupled methods (ours)",
           config="configs/study/hyco_gray_scott.yaml", overrides=("trainer.sensors.lambda_data_physical=null",),
           modes=("interaction",), reference={"source": "–"}),
    Regime("hyco_gray_scott_fine", "as hyco_gray_scott, data from a 2× finer grid (128²) with half the time step",
           config="configs/study/hyco_gray_scott.yaml",
           overrides=("data.sensors.truth_resolution=[128,128]", "data.sensors.truth_dt=0.2"),
           modes=("physical", "interaction"), reference={"source": "–"}),
    Regime("hyco_gray_scott_fine_ours", "as hyco_gray_scott_fine, the physics' data weight 1 (ours)",
           config="configs/study/hyco_gray_scott.yaml",
           overrides=("data.sensors.truth_resolution=[128,128]", "data.sensors.truth_dt=0.2",
                      "trainer.sensors.lambda_data_physical=null"), modes=("interaction",), reference={"source": "–"}),
)
"""Sensor anchors (data.sensors): `compare` runs the sensor methods (hybrid_jax.sensor_run; all four unless the
anchor names its `modes`); the summed parameter error ‖a−a*‖/‖a*‖ + ‖c−c*‖/‖c*‖ stands beside the papers'
code's final figures."""
SENSOR_METHODS = ("physical", "synthetic", "augmentation", "interaction")

QUICK = ("trainer.hybrid.cycles=2", "trainer.synthetic.epochs=2", "trainer.physical.epochs=2",
         "trainer.hybrid.warmup_epochs=0", "evaluation.horizon=8")
"""--quick: every regime and anchor this much shorter (a smoke test of the driver, not a result)."""

COMMON = ("output.plots=false", "output.tensorboard=false", "output.progress=false")


# ------------------------------------------------------------------------------------------ running

def run_regime(regime: Regime, seeds: list[int], out: Path, extra: tuple[str, ...], overwrite: bool) -> dict:
    """`compare` of `regime` over `seeds` at equal optimiser steps, into ``out/<regime>/`` (finished
    runs are reused); returns its comparison JSON with the regime's description."""
    from hybrid_jax.compare import compare

    cfg = load_config(ROOT / regime.config, [*regime.overrides, *COMMON, *extra])
    if not cfg.data.sensors.enabled:
        cfg = load_config(ROOT / regime.config, [*regime.overrides, *COMMON, *extra, f"data.store_dir={out / 'data'}"])
    log.info("study: %s, seeds %s ...", regime.name, seeds)
    t = time.perf_counter()
    modes = regime.modes
    if cfg.data.sensors.enabled and not set(modes) <= set(SENSOR_METHODS):
        modes = None  # a sensor anchor without its own modes: all four sensor methods
    result = compare(cfg, out / regime.name, overwrite=overwrite, modes=modes, seeds=seeds, budget="steps")
    return {"name": regime.name, "description": regime.description, "config": regime.config,
            "overrides": list(regime.overrides), "reference": regime.reference, "wall_s": time.perf_counter() - t,
            **result}


def run_study(out: Path, seeds: list[int], quick: bool, overwrite: bool, regimes=REGIMES, anchors=ANCHORS,
              anchor_seeds: int = 1, sensor_anchors=()) -> dict:
    """Run `regimes` over `seeds`, `anchors` and `sensor_anchors` over seeds 0 .. anchor_seeds-1; write and
    return the study JSON."""
    extra = QUICK if quick else ()
    t0 = time.perf_counter()
    study = {"command": " ".join(["python", "experiments/study.py", *sys.argv[1:]]), "quick": quick,
             "seeds": seeds, "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores", "regimes": [],
             "anchors": [], "sensor_anchors": []}
    for key, group, group_seeds in (("regimes", regimes, seeds), ("anchors", anchors, list(range(anchor_seeds))),
                                    ("sensor_anchors", sensor_anchors, list(range(anchor_seeds)))):
        for r in group:
            study[key].append(run_regime(r, group_seeds, out, extra, overwrite))
            atomic_write(out / "study.json", json.dumps(study, indent=1))  # nothing lost on a crash
    study["wall_s"] = time.perf_counter() - t0
    atomic_write(out / "study.json", json.dumps(study, indent=1))
    return study


def merge_study(old: dict | None, new: dict) -> dict:
    """`new` merged into an earlier study JSON `old`: each regime or anchor of `new` replaces the one of
    the same name in `old` (kept in place; new names appended), the others keep their results. The
    commands and wall times are joined; a quick study and a full one are never mixed (`new` is returned)."""
    if not old or old.get("quick") != new["quick"]:
        return new
    merged = {**new}
    for key in GROUPS:
        ran = {r["name"]: r for r in new.get(key, [])}
        merged[key] = [ran.pop(r["name"], r) for r in old.get(key, [])] + list(ran.values())
    ran = {r["name"] for key in GROUPS for r in new.get(key, [])}
    if any(r["name"] not in ran for key in GROUPS for r in old.get(key, [])):  # old results kept
        merged["command"] = f"{old['command']} && {new['command']}"
        merged["wall_s"] = old.get("wall_s", 0.0) + new["wall_s"]
        if not new["regimes"]:
            merged["seeds"] = old["seeds"]
    return merged


GROUPS = ("regimes", "anchors", "sensor_anchors")


# ------------------------------------------------------------------------------------- aggregating

METRICS = (("synthetic", "mean_rel_l2", "synthetic rel. L2"), ("physical", "mean_rel_l2", "physical rel. L2"),
           ("physical", "parameter_error", "parameter error"))
"""(model, compare metric, label). Rollout errors: mean over the evaluation horizon of the relative L2
error against the full, clean validation trajectories; parameter error: |learned − true| / |true|
(‖·‖₂ ratio for fields), per parameter."""


def method(regime: dict, run: str, model: str) -> dict | None:
    """The compare summary (mean ± std over seeds) of one (run, model) of a regime, or None."""
    return next((s for s in regime["summary"] if s["run"] == run and s["model"] == model), None)


def cell(regime: dict, run: str, model: str, metric: str) -> str:
    """``mean ± std`` of a metric (parameter errors: one per parameter, named when several)."""
    s = method(regime, run, model)
    if s is None:
        return "–"
    if metric != "parameter_error":
        return _ms(s[metric])
    errs = s["parameter_error"]
    return "; ".join(_ms(v) if len(errs) == 1 else f"{k} {_ms(v)}" for k, v in errs.items())


def pairs(regime: dict) -> list[tuple[str, dict]]:
    """(label, compare's paired difference hybrid − baseline) for the study's metrics."""
    out = []
    for model, metric, label in METRICS:
        for p in regime["paired"]:
            if p["model"] == model and (p["metric"] == metric or p["metric"].startswith(f"{metric}.")):
                name = label if p["metric"] == metric else f"{label} ({p['metric'].split('.', 1)[1]})"
                out.append((name, p))
    return out


def verdict(regime: dict, p: dict) -> str:
    """One generated sentence from a paired difference: 'hybrid better by x ± y (z/n seeds)'."""
    base = method(regime, p["baseline"], p["model"])
    base_mean = (base["parameter_error"][p["metric"].split(".", 1)[1]] if p["metric"].startswith("parameter_error.")
                 else base[p["metric"]])["mean"]
    word = "better" if p["mean"] < 0 else "worse"
    if p["hybrid_wins"] not in (0, p["n"]):
        word = f"mixed, on average {word}"
    spread = "" if p["std"] is None else f" ± {p['std']:.2g}"
    rel = f"{100 * p['mean'] / base_mean:+.2g} % relative to {p['baseline']}-only's mean; " if base_mean > 1e-6 else ""
    return f"hybrid {word} by {abs(p['mean']):.3g}{spread} ({rel}hybrid lower in {p['hybrid_wins']}/{p['n']} seeds)"


# --------------------------------------------------------------------------------------- rendering

def _ms(v: dict | None) -> str:
    """compare's ``{mean, std, n}`` as ``mean ± std`` (just the mean for one seed)."""
    if not v or v["mean"] is None:
        return "–"
    return f"{v['mean']:.3g}" + ("" if v["std"] is None else f" ± {v['std']:.2g}")


def _steps(regime: dict, run: str) -> str:
    """Measured optimiser steps per model of a run (mean over seeds), e.g. 'synthetic 180, physical 16'."""
    parts = [f"{m} {s['steps']['mean']:.0f}" for m in ("synthetic", "physical")
             if (s := method(regime, run, m)) is not None]
    return ", ".join(parts)


def _wall(regime: dict, run: str) -> str:
    s = next(s for s in regime["summary"] if s["run"] == run)  # one run trains both models
    return _ms(s["wall_s"])


def runs_wall_s(regime: dict) -> float:
    """Sum of the wall times of a regime's runs (one per seed and mode; counted where they ran, even
    when a resumed study reused them)."""
    return sum({(r["seed"], r["run"]): r["wall_s"] for r in regime["rows"]}.values())


def _label(run: str) -> str:
    return "hybrid" if run == "hybrid" else f"{run}-only"


def sensor_anchor_table(study: dict) -> list[str]:
    """Ours beside the papers' code: the summed parameter error per seed of each sensor method, and the
    hybrid (interaction) / physical-only ratio per seed."""
    lines = ["| window | physical-only (ours, per seed) | hybrid, interaction (ours) | hybrid, augmentation (ours) | "
             "interaction / physical-only (ours) | physical-only (papers' code) | HYCO (papers' code) |",
             "|---|---|---|---|---|---|---|"]
    from hybrid_jax.sensor_run import summed_error

    for r in study.get("sensor_anchors", []):
        if not r["name"].startswith("hyco_heat_"):
            continue
        by = {(row["seed"], row["method"]): summed_error(row["parameter_error"]) for row in r["rows"]
              if row["parameter_error"]}

        def per_seed(m):
            vals = [by[(s, m)] for s in r["seeds"] if (s, m) in by]
            return ", ".join(f"{v:.3f}" for v in vals) + (f" (mean {np.mean(vals):.3f})" if len(vals) > 1 else "")

        ratios = ", ".join(f"{v:.2f}" for v in r["targets"]["interaction_over_physical"].values())
        ref = r["reference"]
        lines.append(f"| {r['name'].removeprefix('hyco_heat_')} | {per_seed('physical')} | {per_seed('interaction')} | "
                     f"{per_seed('augmentation')} | {ratios} | {', '.join(map(str, ref['physical']))} | "
                     f"{', '.join(map(str, ref['interaction']))} |")
    return lines


def gray_scott_table(study: dict) -> list[str]:
    """The Gray–Scott anchors: D_u and D_v relative errors per seed of physical-only and both hybrid methods,
    the papers' code's two runs beside them."""
    rows = [r for r in study.get("sensor_anchors", []) if r["name"].startswith("hyco_gray_scott")]
    if not rows:
        return []
    lines = ["| setting | physical-only D_u, D_v (per seed) | hybrid, interaction D_u, D_v (per seed) | "
             "hybrid, augmentation D_u, D_v (per seed) | papers' code, HYCO D_u, D_v |", "|---|---|---|---|---|"]
    for r in rows:
        def errs(m):
            vals = [row["parameter_error"] for row in r["rows"] if row["method"] == m and row["parameter_error"]]
            return "; ".join(f"{v['diffusivity_u'] * 100:.2f} %, {v['diffusivity_v'] * 100:.2f} %" for v in vals) or "–"

        ref = r["reference"].get("interaction")
        papers = "; ".join(f"{u * 100:.2f} %, {v * 100:.2f} %" for u, v in zip(ref["diffusivity_u"],
                                                                              ref["diffusivity_v"])) if ref else "–"
        lines.append(f"| {r['name'].removeprefix('hyco_gray_scott').strip('_') or 'same grid, papers'} | "
                     f"{errs('physical')} | {errs('interaction')} | {errs('augmentation')} | {papers} |")
    return lines


def sensor_section(r: dict) -> list[str]:
    """A sensor anchor: its description, config, command and compare's own table."""
    from hybrid_jax.sensor_run import markdown

    body = markdown(r).splitlines()[2:]  # without compare's title
    return [f"### {r['name']}", "", f"{r['description']}. Config `{r['config']}`; seeds {r['seeds']}; "
            f"`python -m hybrid_jax.compare --config {r['config']} --seeds {len(r['seeds'])}`; its runs' training time "
            f"{sum(row['train_s'] for row in r['rows']):.0f} s. Published: {r['reference']['source']}.", "", *body, ""]


def main_table(study: dict) -> list[str]:
    lines = ["| regime | synthetic rel. L2: synthetic-only | hybrid | physical rel. L2: physical-only | hybrid | "
             "parameter error: physical-only | hybrid |", "|---|---|---|---|---|---|---|"]
    for r in study["regimes"]:
        lines.append(f"| {r['name']} | {cell(r, 'synthetic', 'synthetic', 'mean_rel_l2')} | "
                     f"{cell(r, 'hybrid', 'synthetic', 'mean_rel_l2')} | {cell(r, 'physical', 'physical', 'mean_rel_l2')} | "
                     f"{cell(r, 'hybrid', 'physical', 'mean_rel_l2')} | "
                     f"{cell(r, 'physical', 'physical', 'parameter_error')} | "
                     f"{cell(r, 'hybrid', 'physical', 'parameter_error')} |")
    return lines


def headline(study: dict) -> list[str]:
    """One generated line per regime: the synthetic rollout error and the parameter error, hybrid vs baseline."""
    lines = []
    for r in study["regimes"]:
        parts = [f"{name}: {verdict(r, p)}" for name, p in pairs(r)
                 if name == "synthetic rel. L2" or name.startswith("parameter error")]
        lines.append(f"- **{r['name']}** — " + "; ".join(parts))
    return lines


def regime_section(r: dict, anchor: bool = False) -> list[str]:
    lines = [f"### {r['name']}", "", f"{r['description']}. Config `{r['config']}`"
             + (f", overrides `{' '.join(r['overrides'])}`" if r["overrides"] else "")
             + f"; seeds {r['seeds']}; budget: equal optimiser steps per model; its runs' wall time {runs_wall_s(r):.0f} s.",
             "", "| method | synthetic rel. L2 | physical rel. L2 | parameter error | optimiser steps | wall s |",
             "|---|---|---|---|---|---|"]
    for run in r["modes"]:
        lines.append(f"| {_label(run)} | {cell(r, run, 'synthetic', 'mean_rel_l2')} | "
                     f"{cell(r, run, 'physical', 'mean_rel_l2')} | {cell(r, run, 'physical', 'parameter_error')} | "
                     f"{_steps(r, run)} | {_wall(r, run)} |")
    lines.append("")
    lines += [f"- {name}: {verdict(r, p)}" for name, p in pairs(r)]
    if anchor and r["reference"]:
        ref = r["reference"]
        lines += ["", f"Published ({ref.get('source', '')}): "
                  + "; ".join(f"{k}: {v}" for k, v in ref.items() if k not in ("source", "full_command", "epochs_scale"))
                  + "."]
        if "full_command" in ref:
            hybrid_train = next(s for s in r["summary"] if s["run"] == "hybrid")["train_s"]["mean"]
            lines += ["", f"Full run: `{ref['full_command']}`. Estimated cost on this machine: "
                          f"{ref['epochs_scale']:.0f} × the synthetic epochs of this reduced run, whose hybrid run "
                          f"trained {hybrid_train:.0f} s, i.e. about {ref['epochs_scale'] * hybrid_train / 3600:.1f} h "
                          f"for the hybrid run alone (linear in epochs; a rough extrapolation, compilation included once)."]
    return lines + [""]


def _mean_std(regime: dict, run: str, model: str, metric: str) -> tuple[float, float]:
    """Mean and std of a metric (parameter errors: their mean over parameters), NaN where missing."""
    s = method(regime, run, model)
    if s is None:
        return np.nan, np.nan
    vals = list(s["parameter_error"].values()) if metric == "parameter_error" else [s[metric]]
    return (float(np.mean([v["mean"] for v in vals])),
            float(np.mean([v["std"] if v["std"] is not None else np.nan for v in vals])))


def plot(study: dict, folder: Path) -> list[str]:
    """Two small bar charts (mean ± std over seeds per regime); returns their file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    regimes = study["regimes"]
    files = []
    if not regimes:
        return files
    for model, metric, runs, label, fname in (
            ("synthetic", "mean_rel_l2", ("synthetic", "hybrid"), "synthetic rel. L2", "synthetic_error.png"),
            ("physical", "parameter_error", ("physical", "hybrid"), "parameter error", "parameter_error.png")):
        fig, ax = plt.subplots(figsize=(6.4, 2.6), dpi=80)
        x = np.arange(len(regimes))
        for i, run in enumerate(runs):
            v = np.asarray([_mean_std(r, run, model, metric) for r in regimes])
            ax.bar(x + (i - 0.5) * 0.38, v[:, 0], 0.38, yerr=np.nan_to_num(v[:, 1]), capsize=2, label=_label(run))
        ax.set_xticks(x, [r["name"] for r in regimes], fontsize=7)
        ax.set_ylabel(label, fontsize=8)
        ax.set_yscale("log")
        ax.legend(fontsize=7)
        ax.set_title(f"{label}, mean ± std over {len(study['seeds'])} seeds", fontsize=9)
        fig.tight_layout()
        fig.savefig(folder / fname)
        plt.close(fig)
        files.append(fname)
    return files


def render(study: dict, docs: Path) -> Path:
    """Write ``<docs>/results.md`` and its figures from a study JSON; return the markdown path."""
    results = docs / "results"
    figures = plot(study, results)
    notes = ROOT / "experiments" / "study_notes.md"
    runs_min = (sum(map(runs_wall_s, study["regimes"] + study["anchors"]))
                + sum(row["train_s"] for a in study.get("sensor_anchors", []) for row in a["rows"])) / 60
    lines = ["# Results: where hybrid training helps", "",
             "Generated by `experiments/study.py` from `docs/results/study.json` (do not edit by hand; "
             "re-render with `python experiments/study.py --render-only`).", "",
             f"Command: `{study['command']}`" + (" (**quick mode: a smoke test, not a result**)" if study["quick"] else "")
             + f"; wall time {study.get('wall_s', float('nan')) / 60:.1f} min (its runs: "
             f"{runs_min:.1f} min) on {study['machine']}; "
             f"seeds {study['seeds']}.", "",
             "Methods: `python -m hybrid_jax.compare --budget steps` per regime: physical-only, synthetic-only "
             "and hybrid on the same data and seed, each baseline model given at least the optimiser steps the same "
             "model had in the hybrid run. The real data are simulated on a 2× finer grid with half the time step "
             "and block-averaged (`data.truth.refine`), so no model reproduces them exactly. Rollout errors are "
             "means over the evaluation horizon of the relative L2 error against the full, clean validation "
             "trajectories (every cell and frame, whatever training observed); parameter error is "
             "|learned − true| / |true| (‖·‖₂ ratio for fields). Entries are mean ± sample std over seeds; "
             "the sentences under each regime are generated from the paired differences hybrid − baseline "
             "(same seed).", "",
             "## Main table", "", *main_table(study), "",
             *[f"![{f}](results/{f})" for f in figures], "",
             "Hybrid vs the single-model baselines per regime (generated from the paired differences):", "",
             *headline(study), "",
             "## Regimes", "", *[ln for r in study["regimes"] for ln in regime_section(r)]]
    if study["anchors"]:
        lines += ["## Published anchors", "", *[ln for a in study["anchors"] for ln in regime_section(a, anchor=True)]]
    if study.get("sensor_anchors"):
        lines += ["## HYCO anchors with sensors (ours beside the papers' code)", "",
                  "Summed parameter error ‖a−a*‖/‖a*‖ + ‖c−c*‖/‖c*‖ at equal optimiser steps (every method: "
                  "`trainer.sensors.epochs` full-batch Adam steps per trained model); the papers' code's figures are "
                  "the final values of its two stored runs per window (3000 epochs, a 256-wide MLP).", "",
                  *sensor_anchor_table(study), "", *gray_scott_table(study), "",
                  *[ln for a in study["sensor_anchors"] for ln in sensor_section(a)]]
    if notes.is_file():
        lines += ["## Interpretation (hand-written after reading the numbers above)", "", notes.read_text().strip(), ""]
    path = docs / "results.md"
    atomic_write(path, "\n".join(lines) + "\n")
    return path


def _chosen(p, flag: str, value: str | None, items: tuple, default: tuple) -> tuple:
    """The regimes (anchors) a comma-separated `flag` value names, none for "none", `default` if unset."""
    if not value:
        return default
    wanted = [] if value == "none" else value.split(",")
    unknown = sorted(set(wanted) - {r.name for r in items})
    if unknown:
        p.error(f"{flag}: unknown {','.join(unknown)}; choose from {','.join(r.name for r in items)} or none")
    return tuple(r for r in items if r.name in wanted)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="short trainings (a smoke test of the driver)")
    p.add_argument("--out", default="runs/study", help="run directories and study.json (default runs/study)")
    p.add_argument("--docs", default=str(ROOT / "docs"), help="where results.md and results/ go (default docs/)")
    p.add_argument("--seeds", type=int, default=3, help="seeds per regime (default 3)")
    p.add_argument("--regimes", help="comma-separated subset of the regime names, or none (default all)")
    p.add_argument("--anchors", help="comma-separated subset of the anchor names, or none (default: all but inviscid_burgers_1d, which "
                        "does not fit the default study's time on 2 CPU cores)")
    p.add_argument("--sensor-anchors", help="comma-separated subset of the sensor anchors (HYCO heat windows), or none "
                                            "(default none: about 10 min per window and 3 seeds on one loaded core)")
    p.add_argument("--anchor-seeds", type=int, default=1, help="seeds per anchor (default 1)")
    p.add_argument("--overwrite", action="store_true", help="rerun finished (regime, seed) runs")
    p.add_argument("--render-only", action="store_true", help="re-render the docs from <docs>/results/study.json")
    args = p.parse_args(argv)
    docs = Path(args.docs)
    if args.render_only:
        src = docs / "results" / "study.json"
        if not src.is_file():
            p.error(f"--render-only: {src} does not exist; run the study first")
        print(f"wrote {render(json.loads(src.read_text()), docs)}")
        return 0
    regimes = _chosen(p, "--regimes", args.regimes, REGIMES, REGIMES)
    anchors = _chosen(p, "--anchors", args.anchors, ANCHORS, tuple(r for r in ANCHORS if r.default))
    sensor_anchors = _chosen(p, "--sensor-anchors", args.sensor_anchors, SENSOR_ANCHORS, ())
    if args.seeds < 1 or args.anchor_seeds < 1:
        p.error("--seeds, --anchor-seeds: must be >= 1")
    from hybrid_jax.logs import setup_logging

    setup_logging()
    try:
        study = run_study(Path(args.out), list(range(args.seeds)), args.quick, args.overwrite, regimes, anchors,
                          args.anchor_seeds, sensor_anchors)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    (docs / "results").mkdir(parents=True, exist_ok=True)
    dest = docs / "results" / "study.json"
    study = merge_study(json.loads(dest.read_text()) if dest.is_file() else None, study)
    atomic_write(dest, json.dumps(study, indent=1))
    print(f"study done in {study['wall_s'] / 60:.1f} min; wrote {render(study, docs)}")
    print("\n".join(main_table(study)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
