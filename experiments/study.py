"""Where hybrid training helps: regimes × methods × seeds, and published anchors, in one command.

    python experiments/study.py [--quick] [--out runs/study] [--docs docs] [--render-only]

Runs `hybrid_jax.compare` (physical-only, synthetic-only, hybrid) on every regime of `REGIMES`
for each seed, then the anchors of `ANCHORS`, and writes
``<out>/study.json`` (every row of every run), ``<docs>/results/study.json`` (the same, so the
docs are reproducible from the repository), ``<docs>/results/*.png`` and ``<docs>/results.md``.
Every number in results.md comes from that JSON; ``--render-only`` re-renders the docs from
``<docs>/results/study.json`` without training. Finished (regime, seed) runs are kept in
``<out>`` and not rerun (an interrupted study resumes; pass --overwrite to start over).
The hand-written interpretation lives in experiments/study_notes.md and is copied in verbatim.
"""

from __future__ import annotations

import argparse
import json
import logging
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


REGIMES = (
    Regime("base", "6 training trajectories, every cell and frame observed"),
    Regime("few_trajectories", "2 training trajectories (3 in all, 1 for validation)",
           overrides=("data.num_trajectories=3", "data.validation_fraction=0.34")),
    Regime("space_box", "targets observed only in x < L/4 (a quarter of the domain)",
           overrides=("data.observation.spatial=box", "data.observation.box=[[0.0, 0.25]]")),
    Regime("space_points", "targets observed at 5 % random cells (3 of 64, fixed per seed)",
           overrides=("data.observation.spatial=random_points", "data.observation.fraction=0.05")),
    Regime("time_sparse", "targets observed every 4th frame only",
           overrides=("data.observation.time_stride=4",)),
)

ANCHORS = (
    Regime("inviscid_burgers_1d", "the original's inviscid Burgers 1D run (configs/reference/inviscid_burgers_1d.yaml), "
           "reduced to 4 cycles × 25 epochs after 100 warm-up epochs (the original: 80 cycles × 200 epochs after 4000)",
           config="configs/reference/inviscid_burgers_1d.yaml",
           overrides=("trainer.hybrid.cycles=4", "trainer.hybrid.warmup_epochs=100", "trainer.synthetic.epochs=25",
                      "trainer.synthetic.lr_schedule.decay_steps=200"),
           reference={"source": "original HYCO-PhiFlow, RTX 2080 Ti, 1 h 32 min",
                      "synthetic mean rel. L2 (sims 0–5)": {"synthetic": 0.337, "hybrid": 0.290},
                      "potential φ rel. L2": {"physical": 0.560, "hybrid": 0.563}}),
    Regime("gray_scott_2.4pct", "Gray–Scott, D_u 0.20 / D_v 0.08 from (0.10, 0.05), 2.4 % of space–time points "
           "observed (9.6 % random cells × every 4th frame)", config="configs/study/gray_scott_sparse.yaml",
           modes=("physical", "hybrid"),
           reference={"source": "HYCO paper code", "target": "D_u, D_v within 0.5 %"}),
    Regime("heat_quarter", "heat equation, conductivity field κ(x), targets observed in the quarter window [0, 0.5)²",
           config="configs/study/heat_quarter.yaml", modes=("physical", "hybrid"),
           reference={"source": "HYCO paper", "parameter error": {"physical": 1.73, "hybrid": 0.55}}),
)

QUICK = ("trainer.hybrid.cycles=2", "trainer.synthetic.epochs=2", "trainer.physical.epochs=2",
         "trainer.hybrid.warmup_epochs=0", "evaluation.horizon=8")
"""--quick: every regime and anchor this much shorter (a smoke test of the driver, not a result)."""

COMMON = ("output.plots=false", "output.tensorboard=false", "output.progress=false")


# ------------------------------------------------------------------------------------------ running

def seed_overrides(seed: int) -> tuple[str, ...]:
    """Everything random in a run follows `seed`: data, initialisation, shuffles, observed points."""
    return (f"seed={seed}", f"data.observation.seed={seed}")


def run_regime(regime: Regime, seeds: list[int], out: Path, extra: tuple[str, ...], overwrite: bool) -> dict:
    """Run `compare` for each seed into ``out/<regime>/seed_<s>/`` (finished seeds are reused)."""
    from hybrid_jax.compare import compare

    result = {"name": regime.name, "description": regime.description, "config": regime.config,
              "overrides": list(regime.overrides), "modes": list(regime.modes), "reference": regime.reference,
              "seeds": []}
    for seed in seeds:
        folder = out / regime.name / f"seed_{seed}"
        done = folder / "comparison.json"
        t = time.perf_counter()
        if done.is_file() and not overwrite:
            cmp = json.loads(done.read_text())
            log.info("study: %s seed %d: reusing %s", regime.name, seed, done)
        else:
            cfg = load_config(ROOT / regime.config, [*regime.overrides, *COMMON, *extra, *seed_overrides(seed),
                                                     f"data.store_dir={out / 'data'}"])
            log.info("study: %s seed %d ...", regime.name, seed)
            cmp = compare(cfg, folder, overwrite=True, modes=regime.modes)
        result["seeds"].append({"seed": seed, "rows": cmp["rows"], "wall_s": time.perf_counter() - t})
    return result


def run_study(out: Path, seeds: list[int], quick: bool, overwrite: bool, regimes=REGIMES, anchors=ANCHORS) -> dict:
    """Run `regimes` over `seeds` and `anchors` on the first seed; write and return the study JSON."""
    extra = QUICK if quick else ()
    t0 = time.perf_counter()
    study = {"command": " ".join(["python", "experiments/study.py", *sys.argv[1:]]), "quick": quick,
             "seeds": seeds, "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
             "regimes": [], "anchors": []}
    for r in regimes:
        study["regimes"].append(run_regime(r, seeds, out, extra, overwrite))
        atomic_write(out / "study.json", json.dumps(study, indent=1))  # nothing lost on a crash
    for r in anchors:
        study["anchors"].append(run_regime(r, seeds[:1], out, extra, overwrite))
        atomic_write(out / "study.json", json.dumps(study, indent=1))
    study["wall_s"] = time.perf_counter() - t0
    atomic_write(out / "study.json", json.dumps(study, indent=1))
    return study


# ------------------------------------------------------------------------------------- aggregating

def _param_error(row: dict) -> float | None:
    """Mean relative error over the physical parameters of a row (None for the synthetic model)."""
    p = row.get("parameter_error")
    return None if not p else float(np.mean(list(p.values())))


METRICS = {"synthetic rel. L2": ("synthetic", lambda r: r["mean_rel_l2"]),
           "physical rel. L2": ("physical", lambda r: r["mean_rel_l2"]),
           "parameter error": ("physical", _param_error)}
"""Metric name → (model, value of a row). Rollout errors: mean over the evaluation horizon of the
relative L2 error against the full validation trajectories; parameter error: mean over parameters of
|learned − true| / |true| (‖·‖₂ ratio for fields)."""


def values(regime: dict, run: str, model: str, get) -> np.ndarray:
    """Per-seed values of one (run, model) of a regime ``[S]`` (NaN where missing)."""
    out = []
    for s in regime["seeds"]:
        row = next((r for r in s["rows"] if r["run"] == run and r["model"] == model), None)
        v = None if row is None else get(row)
        out.append(np.nan if v is None else v)
    return np.asarray(out, float)


def summary(regime: dict) -> dict:
    """Mean ± std over seeds of every metric per method, steps and wall time, and the paired
    differences hybrid − baseline (negative = hybrid better) with the number of seeds hybrid wins."""
    out = {"methods": {}, "paired": {}}
    for run in regime["modes"]:
        m = {}
        for name, (model, get) in METRICS.items():
            v = values(regime, run, model, get)
            if not np.all(np.isnan(v)):
                m[name] = (float(np.nanmean(v)), float(np.nanstd(v)))
        for model in ("synthetic", "physical"):
            v = values(regime, run, model, lambda r: r.get("steps"))
            if not np.all(np.isnan(v)):
                m[f"{model} steps"] = (float(np.nanmean(v)), float(np.nanstd(v)))
        wall = [max(r["wall_s"] for r in s["rows"] if r["run"] == run) for s in regime["seeds"]]
        m["wall_s"] = (float(np.mean(wall)), float(np.std(wall)))  # one run trains both models
        out["methods"][run] = m
    for name, (model, get) in METRICS.items():
        base = "synthetic" if model == "synthetic" else "physical"
        if "hybrid" in regime["modes"] and base in regime["modes"]:
            d = values(regime, "hybrid", model, get) - values(regime, base, model, get)
            if not np.all(np.isnan(d)):
                out["paired"][name] = {"baseline": base, "mean": float(np.nanmean(d)), "std": float(np.nanstd(d)),
                                       "wins": int(np.sum(d < 0)), "n": int(np.sum(~np.isnan(d))),
                                       "relative": float(np.nanmean(d / values(regime, base, model, get)))}
    return out


def verdict(p: dict) -> str:
    """One generated sentence from a paired difference: 'hybrid better by x ± y (z/n seeds)'."""
    word = "better" if p["mean"] < 0 else "worse"
    if p["wins"] not in (0, p["n"]):
        word = f"mixed, on average {word}"
    return (f"hybrid {word} by {abs(p['mean']):.3g} ± {p['std']:.2g} ({p['relative']:+.0%} relative to "
            f"{p['baseline']}-only; hybrid lower in {p['wins']}/{p['n']} seeds)")


# --------------------------------------------------------------------------------------- rendering

def _ms(v) -> str:
    return "–" if v is None else f"{v[0]:.3g} ± {v[1]:.2g}"


def _steps(m: dict) -> str:
    """Optimiser steps per model of a method (mean over seeds), e.g. 'synthetic 180, physical 16'."""
    parts = [f"{k.split()[0]} {v[0]:.0f}" for k, v in m.items() if k.endswith(" steps")]
    return ", ".join(parts) or "–"


def main_table(study: dict) -> list[str]:
    lines = ["| regime | synthetic rel. L2: synthetic-only | hybrid | physical rel. L2: physical-only | hybrid | "
             "parameter error: physical-only | hybrid |", "|---|---|---|---|---|---|---|"]
    for r in study["regimes"]:
        m = summary(r)["methods"]
        lines.append(f"| {r['name']} | {_ms(m['synthetic'].get('synthetic rel. L2'))} | "
                     f"{_ms(m['hybrid'].get('synthetic rel. L2'))} | {_ms(m['physical'].get('physical rel. L2'))} | "
                     f"{_ms(m['hybrid'].get('physical rel. L2'))} | {_ms(m['physical'].get('parameter error'))} | "
                     f"{_ms(m['hybrid'].get('parameter error'))} |")
    return lines


def regime_section(r: dict) -> list[str]:
    s = summary(r)
    lines = [f"### {r['name']}", "", f"{r['description']}. Overrides of `{r['config']}`: "
             f"`{' '.join(r['overrides']) or 'none'}`; seeds {[x['seed'] for x in r['seeds']]}.", "",
             "| method | synthetic rel. L2 | physical rel. L2 | parameter error | optimiser steps | wall s |",
             "|---|---|---|---|---|---|"]
    for run, m in s["methods"].items():
        lines.append(f"| {run}-only | " if run != "hybrid" else "| hybrid | ")
        lines[-1] += (f"{_ms(m.get('synthetic rel. L2'))} | {_ms(m.get('physical rel. L2'))} | "
                      f"{_ms(m.get('parameter error'))} | {_steps(m)} | {_ms(m.get('wall_s'))} |")
    lines.append("")
    lines += [f"- {name}: {verdict(p)}" for name, p in s["paired"].items()]
    return lines + [""]


def anchor_section(a: dict) -> list[str]:
    lines = [f"### {a['name']}", "", f"{a['description']}. Config `{a['config']}`"
             + (f", overrides `{' '.join(a['overrides'])}`" if a["overrides"] else "") + "; seed 0; wall "
             f"{sum(s['wall_s'] for s in a['seeds']):.0f} s.", "",
             "| method | synthetic rel. L2 | physical rel. L2 | parameter errors |", "|---|---|---|---|"]
    rows = a["seeds"][0]["rows"]
    for run in a["modes"]:
        syn = next((r for r in rows if r["run"] == run and r["model"] == "synthetic"), None)
        phy = next((r for r in rows if r["run"] == run and r["model"] == "physical"), None)
        perr = ", ".join(f"{k} {v:.3g}" for k, v in (phy or {}).get("parameter_error", {}).items()) or "–"
        lines.append(f"| {run} | {syn['mean_rel_l2'] if syn else float('nan'):.3g} | "
                     f"{phy['mean_rel_l2'] if phy else float('nan'):.3g} | {perr} |".replace("nan", "–"))
    ref = a["reference"]
    lines += ["", f"Published ({ref.get('source', '')}): "
              + "; ".join(f"{k}: {v}" for k, v in ref.items() if k != "source"), ""]
    return lines


def plot(study: dict, folder: Path) -> list[str]:
    """Two small bar charts (mean ± std over seeds per regime); returns their file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    names = [r["name"] for r in study["regimes"]]
    summaries = [summary(r)["methods"] for r in study["regimes"]]
    files = []
    for metric, runs, fname in (("synthetic rel. L2", ("synthetic", "hybrid"), "synthetic_error.png"),
                                ("parameter error", ("physical", "hybrid"), "parameter_error.png")):
        fig, ax = plt.subplots(figsize=(6.4, 2.8), dpi=90)
        x = np.arange(len(names))
        for i, run in enumerate(runs):
            v = np.asarray([s[run].get(metric, (np.nan, np.nan)) for s in summaries])
            ax.bar(x + (i - 0.5) * 0.38, v[:, 0], 0.38, yerr=v[:, 1], capsize=2,
                   label="hybrid" if run == "hybrid" else f"{run}-only")
        ax.set_xticks(x, names, fontsize=7)
        ax.set_ylabel(metric, fontsize=8)
        if metric == "parameter error":
            ax.set_yscale("log")
        ax.legend(fontsize=7)
        ax.set_title(f"{metric}, mean ± std over {len(study['seeds'])} seeds", fontsize=9)
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
    lines = ["# Results: where hybrid training helps", "",
             "Generated by `experiments/study.py` from `docs/results/study.json` (do not edit by hand; "
             "re-render with `python experiments/study.py --render-only`).", "",
             f"Command: `{study['command']}`" + (" (**quick mode: a smoke test, not a result**)" if study["quick"] else "")
             + f"; wall time {study.get('wall_s', float('nan')) / 60:.1f} min on {study['machine']}; "
             f"seeds {study['seeds']}.", "",
             "Methods: physical-only, synthetic-only and hybrid runs of `python -m hybrid_jax.compare`, same data, "
             "seed and budget per seed. Metrics are means over the evaluation horizon against the full "
             "validation trajectories (every cell, every frame, whatever was observed in training); parameter "
             "error is |learned − true| / |true| (‖·‖₂ ratio for fields), averaged over parameters. "
             "Entries are mean ± std over seeds; paired differences are hybrid − baseline per seed.", "",
             "## Main table", "", *main_table(study), "",
             *[f"![{f}](results/{f})" for f in figures], "",
             "## Regimes", "", *[ln for r in study["regimes"] for ln in regime_section(r)]]
    if study["anchors"]:
        lines += ["## Published anchors", "", *[ln for a in study["anchors"] for ln in anchor_section(a)]]
    if notes.is_file():
        lines += ["## Interpretation (hand-written after reading the numbers above)", "", notes.read_text().strip(), ""]
    path = docs / "results.md"
    atomic_write(path, "\n".join(lines) + "\n")
    return path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="short trainings (a smoke test of the driver)")
    p.add_argument("--out", default="runs/study", help="run directories and study.json (default runs/study)")
    p.add_argument("--docs", default=str(ROOT / "docs"), help="where results.md and results/ go (default docs/)")
    p.add_argument("--seeds", type=int, default=3, help="seeds per regime (default 3)")
    p.add_argument("--regimes", help="comma-separated subset of the regime names (default all)")
    p.add_argument("--no-anchors", action="store_true", help="skip the published anchors")
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
    regimes = REGIMES
    if args.regimes:
        wanted = args.regimes.split(",")
        unknown = sorted(set(wanted) - {r.name for r in REGIMES})
        if unknown:
            p.error(f"--regimes: unknown {','.join(unknown)}; choose from {','.join(r.name for r in REGIMES)}")
        regimes = tuple(r for r in REGIMES if r.name in wanted)
    if args.seeds < 1:
        p.error("--seeds: must be >= 1")
    from hybrid_jax.logs import setup_logging

    setup_logging()
    try:
        study = run_study(Path(args.out), list(range(args.seeds)), args.quick, args.overwrite, regimes,
                          () if args.no_anchors else ANCHORS)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    (docs / "results").mkdir(parents=True, exist_ok=True)
    atomic_write(docs / "results" / "study.json", json.dumps(study, indent=1))
    print(f"study done in {study['wall_s'] / 60:.1f} min; wrote {render(study, docs)}")
    print("\n".join(main_table(study)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
