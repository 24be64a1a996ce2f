"""Baselines in one command: physical-only, synthetic-only and hybrid at an equal budget, over seeds.

``python -m hybrid_jax.compare --config configs/X.yaml --out runs/X-compare [--seeds 3] [--budget steps]``

Per seed (``--seeds N``: cfg.seed .. cfg.seed+N-1, or a list ``0,1,2``; the seed sets the generated
data (not user files, data.source: files), the train/validation split, initialisation, shuffles and
the generated rollouts' initial states) the config runs once per mode, changing only `mode`, the
experiment name and the budget, into ``<out>/seed<k>/<mode>/``. The hybrid run goes first; the
baselines' budget is the hybrid's (``--budget``):

- ``steps`` (default): each model of a baseline gets at least the optimiser steps the same model was
  allowed in the hybrid run (`training.budget.planned_steps`: generated windows add batches to each
  hybrid epoch; the warm-up adds synthetic epochs), through more epochs per cycle: fewer than one
  extra epoch per cycle. The budget is an ordinary config (trainer.<model>.epochs), not a new stop
  rule in the loop: a baseline stays a plain, exactly resumable run, and its cycles end near the
  hybrid's step counts, so per-cycle curves line up. A step is one minibatch, or one full-batch L-BFGS
  iteration; L-BFGS may stop a phase early on convergence, in either run, so its measured steps can be
  fewer than allowed.
- ``epochs``: the config's cycles × epochs for every run (the hybrid's extra batches and warm-up are
  extra training).
- ``wall``: each baseline trains (steps-budget epochs per cycle, up to ``WALL_CYCLES`` × the cycles)
  until its training time reaches the hybrid run's (trainer.max_train_seconds, checked after each
  cycle; compilation in the first cycle counts for both). Machine-dependent: not bitwise reproducible;
  refused with a rollout curriculum (it spreads K over a run length the time limit leaves open).

The table (``<out>/comparison.md`` and ``comparison.json``) reports measured optimiser steps (the
device counter of each model), training and wall seconds, and every error metric as mean ± sample
std (ddof 1) over the seeds, the paired difference hybrid − baseline per seed (synthetic errors:
hybrid synthetic − synthetic-only; physical rollout and parameter errors: hybrid physical −
physical-only) with its mean ± std and the number of seeds hybrid won, and the per-seed rows.
Rollout errors are against the full validation trajectories (under sparse observations also split
into observed / unobserved cells); the validation loss is the training metric on observed targets.

A rerun into the same ``--out`` skips every (seed, mode) whose run finished with the same config
(summary and evaluation written) and resumes an interrupted one; ``--overwrite`` recomputes all.
``--engine submitit`` / ``--engine ray`` submit the runs as SLURM jobs or Ray tasks
(`hybrid_jax.engines`; the hybrid runs of all seeds first, then all baselines), with the same skips
and the same tables.

The seeds run one after another, not as one vmapped ensemble: runs of different seeds differ in
data (store, split, window counts) and, under the steps or wall budget, in their step counts, so
their steps do not line up into one batched computation.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from hybrid_jax.boundary import parse_cli, run_cli
from hybrid_jax.config import ConfigError, apply_overrides, config_from_dict, load_config, save_config, to_dict
from hybrid_jax.engines import ENGINES, Job, check_engine, parse_options, run_jobs, train_args
from hybrid_jax.errors import JobFailed
from hybrid_jax.files import atomic_write
from hybrid_jax.logs import setup_logging
from hybrid_jax.metrics import HEADLINE, key_label, summary_keys
from hybrid_jax.schemas import SCHEMA_VERSION

MODES = ("physical", "synthetic", "hybrid")
BUDGETS = ("steps", "epochs", "wall")
WALL_CYCLES = 16
"""Wall budget: a baseline runs at most this many times the config's cycles before its time limit."""
REGIONS = {"mean_rmse_observed": "RMSE observed", "mean_rmse_unobserved": "RMSE unobserved"}
"""Rollout RMSE inside / outside the observed cells (sparse observations), by key: its column label."""


def error_keys() -> tuple[str, ...]:
    """Rollout error metrics of a row (lower is better; every registered metric, `hybrid_jax.metrics`),
    compared per seed between hybrid and baseline."""
    return (*summary_keys(), *REGIONS)


CLAIMED = f"mean_{HEADLINE}"
"""The synthetic model's claim is on this metric."""
STATS = ("epochs", "steps", "planned_steps", "train_s", "wall_s", "val_loss")
"""Scalar columns of a row summarised over seeds, besides `error_keys` (and `parameter_error`, per parameter)."""

log = logging.getLogger("hybrid_jax")


def _with(cfg, overrides: list[str]):
    return config_from_dict(apply_overrides(to_dict(cfg), overrides))


def mode_config(cfg, mode: str):
    """The config of one baseline: `cfg` with `mode` and a suffixed experiment name."""
    return _with(cfg, [f"mode={mode}", f"experiment_name={cfg.experiment_name}-{mode}"])


def budget_config(cfg, mode: str, budget: str, hybrid_summary: dict | None):
    """The config of run `mode` under `budget`; `hybrid_summary` (the hybrid run's summary.json: its
    window counts, training seconds) sets the baselines' budget for ``steps`` and ``wall``."""
    from hybrid_jax.training.budget import epochs_for_steps, full_batch, planned_steps, steps_per_epoch
    from hybrid_jax.experiment import trained_models

    mcfg = mode_config(cfg, mode)
    if budget == "epochs" or mode == "hybrid" or cfg.trainer.hybrid.coupling == "interaction":
        return mcfg  # interaction coupling: one step per epoch in every mode, so equal epochs are equal steps
    if hybrid_summary is None:
        raise ValueError(f"budget {budget}: the {mode} baseline's budget needs the hybrid run's summary")
    t, w = cfg.trainer, hybrid_summary["windows"]
    allowed = planned_steps(mode_config(cfg, "hybrid"), w["train"], w["generated"])
    per_epoch = {m: steps_per_epoch(w["train"], t.batch_size, full_batch(mcfg, m)) for m in trained_models(mcfg)}
    overrides = [f"trainer.{m}.epochs={epochs_for_steps(allowed[m], t.hybrid.cycles, n)}" for m, n in per_epoch.items()]
    if budget == "wall":
        overrides += [f"trainer.max_train_seconds={hybrid_summary['train_s']!r}",
                      f"trainer.hybrid.cycles={t.hybrid.cycles * WALL_CYCLES}"]
    return _with(mcfg, overrides)


def table_rows(runs: dict, seed: int | None = None) -> list[dict]:
    """One row per (run, trained model) of one seed from each run's config, summary and evaluation."""
    from hybrid_jax.training.budget import planned_steps

    rows = []
    for mode, r in runs.items():
        ev, summary, cfg = r["evaluation"], r["summary"], r["config"]
        w = summary["windows"]
        planned = planned_steps(cfg, w["train"], w["generated"])
        for model, m in ev["models"].items():
            rows.append({"seed": cfg.seed if seed is None else seed, "run": mode, "model": model,
                         "epochs": summary["epochs"][model], "steps": summary["steps"][model],
                         "planned_steps": planned[model], "train_s": summary["train_s"],
                         "wall_s": summary["timings_s"]["total"], "val_loss": summary["final"].get(f"{model}_val_loss"),
                         **{k: m.get(k) for k in error_keys()},
                         "parameter_error": ev["parameters"]["relative_error"] if model == "physical" else None})
    return rows


def stats(values: list[float | None]) -> dict:
    """``{mean, std, n}`` of the values that are not None; std is the sample std (ddof 1), None for n < 2."""
    v = np.asarray([x for x in values if x is not None], np.float64)
    if not len(v):
        return {"mean": None, "std": None, "n": 0}
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else None, "n": int(len(v))}


def _runs(rows: list[dict]) -> dict[tuple[str, str], list[dict]]:
    out: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        out.setdefault((r["run"], r["model"]), []).append(r)
    return out


def summarize(rows: list[dict]) -> list[dict]:
    """Per (run, model): every column of `STATS` and each parameter's error as mean ± std over the seeds."""
    out = []
    for (run, model), rs in _runs(rows).items():
        s = {"run": run, "model": model, "seeds": [r["seed"] for r in rs],
             **{k: stats([r.get(k) for r in rs]) for k in STATS + error_keys()}, "parameter_error": None}
        if model == "physical":
            s["parameter_error"] = {p: stats([r["parameter_error"][p] for r in rs]) for p in rs[0]["parameter_error"]}
        out.append(s)
    return out


def _metrics(row: dict) -> dict[str, float | None]:
    """A row's error metrics by name (parameter errors as ``parameter_error.<name>``)."""
    return {**{k: row.get(k) for k in error_keys()},
            **{f"parameter_error.{p}": v for p, v in (row["parameter_error"] or {}).items()}}


def paired(rows: list[dict]) -> list[dict]:
    """Per model and error metric: hybrid − baseline per seed (the baseline is the run of that model
    alone), its mean ± std, and in how many seeds hybrid's error was lower."""
    runs, out = _runs(rows), []
    for model in ("synthetic", "physical"):
        hybrid = {r["seed"]: _metrics(r) for r in runs.get(("hybrid", model), [])}
        base = {r["seed"]: _metrics(r) for r in runs.get((model, model), [])}
        seeds = [s for s in hybrid if s in base]
        for metric in (hybrid[seeds[0]] if seeds else {}):
            pairs = {s: (hybrid[s][metric], base[s][metric]) for s in seeds}
            diffs = {s: h - b for s, (h, b) in pairs.items() if h is not None and b is not None}
            if diffs:
                out.append({"model": model, "baseline": model, "metric": metric, **stats(list(diffs.values())),
                            "hybrid_wins": sum(d < 0 for d in diffs.values()),
                            "per_seed": {str(s): d for s, d in diffs.items()}})
    return out


def claims(summary: list[dict], pairs: list[dict]) -> dict:
    """The method's two claims, on the means and paired differences (absent where a run is missing)."""
    get = {(s["run"], s["model"]): s for s in summary}
    pair = {(p["model"], p["metric"]): p for p in pairs}
    out = {}
    if ("synthetic", CLAIMED) in pair:
        d = pair["synthetic", CLAIMED]
        out["hybrid_synthetic_better_than_synthetic_only"] = {
            "hybrid": get["hybrid", "synthetic"][CLAIMED]["mean"],
            "synthetic_only": get["synthetic", "synthetic"][CLAIMED]["mean"],
            "difference": {k: d[k] for k in ("mean", "std", "n")}, "hybrid_wins": d["hybrid_wins"],
            "holds": d["mean"] < 0}
    if ("hybrid", "physical") in get and ("physical", "physical") in get:
        h = {k: v["mean"] for k, v in get["hybrid", "physical"]["parameter_error"].items()}
        p = {k: v["mean"] for k, v in get["physical", "physical"]["parameter_error"].items()}
        holds = all(h[k] <= p[k] * 1.05 + 1e-4 for k in p)  # "no worse": within 5 % (relative) or 1e-4
        out["hybrid_parameters_no_worse_than_physical_only"] = {
            "hybrid": h, "physical_only": p, "holds": holds,
            "hybrid_wins": {k: pair["physical", f"parameter_error.{k}"]["hybrid_wins"] for k in p
                            if ("physical", f"parameter_error.{k}") in pair}}
    return out


def report(rows: list[dict]) -> dict:
    """The comparison of per-seed rows: ``{rows, summary, paired, claims}`` (JSON-ready)."""
    summary, pairs = summarize(rows), paired(rows)
    return {"rows": rows, "summary": summary, "paired": pairs, "claims": claims(summary, pairs)}


def _num(v, fmt: str) -> str:
    return "–" if v is None else format(v, fmt)


def _pm(s: dict | None, fmt: str = ".3e") -> str:
    """``mean ± std`` (just the mean for one seed)."""
    if not s or s["mean"] is None:
        return "–"
    return _num(s["mean"], fmt) + ("" if s["std"] is None else f" ± {_num(s['std'], fmt)}")


def _params(errors: dict | None, pm: bool) -> str:
    if not errors:
        return "–"
    return ", ".join(f"{k} {_pm(v, '.2%') if pm else _num(v, '.2%')}" for k, v in errors.items())


def markdown(result: dict, title: str) -> str:
    """The comparison as Markdown: means ± std per (run, model), paired differences, claims, per-seed rows."""
    seeds = sorted({r["seed"] for r in result["rows"]})
    errors = [key_label(k) for k in summary_keys()] + list(REGIONS.values())
    lines = [f"# {title}", "", f"Budget: {result.get('budget', '–')}; seeds {', '.join(map(str, seeds))} "
             f"(mean ± sample std over seeds).", "",
             "| run | model | seeds | epochs | steps | train s | wall s | val loss (observed) | " + " | ".join(errors) +
             " | parameter rel. error |", "|" + "---|" * (9 + len(errors))]
    for s in result["summary"]:
        lines.append(f"| {s['run']} | {s['model']} | {len(s['seeds'])} | {_pm(s['epochs'], '.0f')} | "
                     f"{_pm(s['steps'], '.0f')} | {_pm(s['train_s'], '.1f')} | {_pm(s['wall_s'], '.1f')} | "
                     f"{_pm(s['val_loss'])} | " + " | ".join(_pm(s[k]) for k in error_keys()) +
                     f" | {_params(s['parameter_error'], True)} |")
    if result["paired"]:
        lines += ["", "Paired difference hybrid − baseline (same seed; negative: hybrid better):", "",
                  "| model | metric | hybrid − baseline | hybrid better in |", "|---|---|---|---|"]
        lines += [f"| {p['model']} | {p['metric']} | {_pm(p)} | {p['hybrid_wins']}/{p['n']} seeds |"
                  for p in result["paired"]]
    lines.append("")
    for name, c in result["claims"].items():
        lines.append(f"- {name.replace('_', ' ')}: **{'yes' if c['holds'] else 'no'}** "
                     f"({', '.join(f'{k} {_claim_value(v)}' for k, v in c.items() if k != 'holds')})")
    lines += ["", "Per seed:", "", f"| seed | run | model | steps (allowed) | train s | wall s | "
              f"{key_label(CLAIMED)} | parameter rel. error |", "|" + "---|" * 8]
    lines += [f"| {r['seed']} | {r['run']} | {r['model']} | {r['steps']} ({r['planned_steps']}) | {r['train_s']:.1f} | "
              f"{r['wall_s']:.1f} | {_num(r[CLAIMED], '.3e')} | {_params(r['parameter_error'], False)} |"
              for r in result["rows"]]
    return "\n".join(lines) + "\n"


def _claim_value(v) -> str:
    if isinstance(v, dict) and "mean" in v:
        return f"{_pm(v)} (n {v['n']})"
    if isinstance(v, dict):
        return ", ".join(f"{k} {_num(x, '.2%') if isinstance(x, float) else x}" for k, x in v.items())
    return _num(v, ".3e") if isinstance(v, float) else str(v)


def check_request(cfg, modes, seeds, budget: str) -> None:
    """Refuse a comparison that cannot run as asked (one-line ConfigError)."""
    if budget not in BUDGETS:
        raise ConfigError(f"--budget: must be one of {', '.join(BUDGETS)}, got {budget!r}")
    if not modes or any(m not in MODES for m in modes):
        raise ConfigError(f"--modes: must be a comma-separated subset of {','.join(MODES)}, got {','.join(modes)!r}")
    if not seeds or len(set(seeds)) != len(seeds) or any(not 0 <= s < 2**32 for s in seeds):
        raise ConfigError(f"--seeds: must be distinct seeds in [0, 2^32), got {list(seeds)}")
    if budget != "epochs" and "hybrid" not in modes:
        raise ConfigError(f"--budget {budget}: the baselines' budget is the hybrid run's; add hybrid to --modes "
                          f"or use --budget epochs")
    if budget == "wall" and cfg.trainer.synthetic.rollout_curriculum.kind != "none":
        raise ConfigError("--budget wall: trainer.synthetic.rollout_curriculum spreads K over the run's epochs, "
                          "which a time limit leaves open; use --budget steps")
    if "evaluate" not in cfg.tasks or "train" not in cfg.tasks:
        raise ConfigError("tasks: compare needs the train and evaluate tasks")


def finished_run(cfg, run_dir: Path) -> dict | None:
    """A run of `cfg` that finished in `run_dir` (config hash matches, summary and evaluation written,
    the summary after training): ``{config, summary, evaluation}``; else None."""
    from hybrid_jax.rundir import is_finished

    if not is_finished(cfg, run_dir) or not (run_dir / "evaluation.json").is_file():
        return None
    summary = json.loads((run_dir / "summary.json").read_text())
    if "steps" not in summary:  # a summary from before this library counted steps
        return None
    return {"config": cfg, "summary": summary, "evaluation": json.loads((run_dir / "evaluation.json").read_text())}


def _run_one(cfg, run_dir: Path, overwrite: bool) -> dict:
    from hybrid_jax.lifecycle import open_run
    from hybrid_jax.run import run  # imports JAX/PhiFlow

    with open_run(cfg, run_dir, overwrite):
        summary = run(cfg, run_dir)
    return {"config": cfg, "summary": summary, "evaluation": json.loads((run_dir / "evaluation.json").read_text())}


def seed_config(cfg, seed: int):
    return _with(cfg, [f"seed={seed}"])


def compare(cfg, out: Path, overwrite: bool = False, modes=None, seeds=None, budget: str = "steps",
            engine: str = "local", options: dict | None = None) -> dict:
    """Run every (seed, mode) into ``out/seed<k>/<mode>/`` (skipping finished runs unless `overwrite`),
    write ``comparison.md`` / ``comparison.json`` and return the JSON: ``{experiment_name, observation,
    budget, seeds, modes, rows (per seed), summary (mean ± std per run and model), paired (hybrid −
    baseline), claims}``. `seeds`: default ``[cfg.seed]``. `engine`: ``local`` runs one after another in
    this process; ``submitit`` / ``ray`` submit them as jobs (`hybrid_jax.engines`, with its `options`).
    `modes`: default `MODES`. A sensor config (data.sensors.enabled) runs the sensor methods instead, here
    (`hybrid_jax.sensor_run.compare_sensors`: physical, synthetic, augmentation, interaction at equal
    steps; `budget` and `engine` do not apply)."""
    from hybrid_jax.rundir import claim_dir

    out = Path(out).resolve()
    seeds = (cfg.seed,) if seeds is None else tuple(seeds)
    if cfg.data.sensors.enabled:  # sensor observations: the four sensor methods (hybrid_jax.sensor_run)
        from hybrid_jax.lifecycle import start
        from hybrid_jax.sensor_run import compare_sensors
        from hybrid_jax.training.sensor_fit import METHODS as SENSOR_METHODS

        start(cfg)
        return compare_sensors(cfg, out, overwrite, SENSOR_METHODS if modes is None else tuple(modes), seeds)
    modes = MODES if modes is None else tuple(modes)
    check_request(cfg, modes, seeds, budget)
    check_engine(engine)
    claim_dir(out, overwrite)
    for seed in seeds:
        claim_dir(out / f"seed{seed}", overwrite)
    order = sorted(modes, key=lambda m: m != "hybrid")  # the hybrid first: it sets the baselines' budget
    if engine == "local":
        runs = _run_here(cfg, out, overwrite, order, seeds, budget)
    else:
        runs = _run_on_engine(cfg, out, overwrite, order, seeds, budget, engine, options or {})
    rows = [row for seed in seeds for row in table_rows({m: runs[seed][m] for m in MODES if m in runs[seed]}, seed)]
    result = {"schema_version": SCHEMA_VERSION, "experiment_name": cfg.experiment_name,
              "observation": to_dict(cfg.data.observation),
              "budget": budget, "seeds": list(seeds), "modes": list(modes), **report(rows)}
    atomic_write(out / "comparison.json", json.dumps(result, indent=1))
    atomic_write(out / "comparison.md", markdown(result, f"{cfg.experiment_name}: baselines"))
    return result


def _run_here(cfg, out: Path, overwrite: bool, order: list[str], seeds, budget: str) -> dict[int, dict]:
    """Every (seed, mode) in this process, one after another: ``{seed: {mode: finished run}}``."""
    from hybrid_jax.lifecycle import start

    start(cfg)
    runs: dict[int, dict] = {}
    spent, total, done = [], len(seeds) * len(order), 0
    for seed in seeds:
        scfg, runs[seed] = seed_config(cfg, seed), {}
        for mode in order:
            hybrid = runs[seed]["hybrid"]["summary"] if "hybrid" in runs[seed] else None
            mcfg = budget_config(scfg, mode, budget, hybrid)
            run_dir = out / f"seed{seed}" / mode
            runs[seed][mode] = None if overwrite else finished_run(mcfg, run_dir)
            done += 1
            if runs[seed][mode] is not None:
                log.info("compare: seed %d %s already finished in %s, skipped (%d/%d runs)", seed, mode, run_dir,
                         done, total)
                continue
            t = time.perf_counter()
            runs[seed][mode] = _run_one(mcfg, run_dir, overwrite)
            spent.append(time.perf_counter() - t)
            s = runs[seed][mode]["summary"]
            log.info("compare: seed %d %s done in %.1f s (training %.1f s; steps %s) — %d/%d runs, ETA %.0f s",
                     seed, mode, spent[-1], s["train_s"], ", ".join(f"{k} {v}" for k, v in s["steps"].items()),
                     done, total, np.mean(spent) * (total - done))
            _check_wall(seed, mode, budget, s, mcfg)
    return runs


def _check_wall(seed: int, mode: str, budget: str, summary: dict, mcfg) -> None:
    if budget == "wall" and mode != "hybrid" and summary["train_s"] < mcfg.trainer.max_train_seconds:
        log.warning("compare: seed %d %s ran all %d cycles (the wall budget's cap) in %.1f s, short of the "
                    "hybrid's %.1f s of training", seed, mode, summary["cycles_done"], summary["train_s"],
                    mcfg.trainer.max_train_seconds)


def _run_on_engine(cfg, out: Path, overwrite: bool, order: list[str], seeds, budget: str, engine: str,
                   options: dict) -> dict[int, dict]:
    """Every unfinished (seed, mode) as a ``hybrid_jax.train`` job on `engine`, all at once: the hybrid
    runs first when they set the baselines' budget, then the baselines. ``{seed: {mode: finished run}}``."""
    phases = [order[:1], order[1:]] if order[0] == "hybrid" and budget != "epochs" else [order]
    (out / "configs").mkdir(exist_ok=True)
    (out / "logs").mkdir(exist_ok=True)
    runs: dict[int, dict] = {seed: {} for seed in seeds}
    for phase in phases:
        todo = []
        for seed in seeds:
            for mode in phase:
                hybrid = runs[seed]["hybrid"]["summary"] if "hybrid" in runs[seed] else None
                mcfg = budget_config(seed_config(cfg, seed), mode, budget, hybrid)
                run_dir = out / f"seed{seed}" / mode
                runs[seed][mode] = None if overwrite else finished_run(mcfg, run_dir)
                if runs[seed][mode] is not None:
                    log.info("compare: seed %d %s already finished in %s, skipped", seed, mode, run_dir)
                    continue
                name = f"seed{seed}-{mode}"
                save_config(mcfg, out / "configs" / f"{name}.yaml")
                job = Job(name, train_args(out / "configs" / f"{name}.yaml", run_dir, *["--overwrite"] * overwrite),
                          out / "logs" / f"{name}.log")
                todo.append((seed, mode, mcfg, run_dir, job))
        log.info("compare: %d runs submitted to %s", len(todo), engine)
        codes = run_jobs([job for *_, job in todo], engine, options, out / "submitit")
        for seed, mode, mcfg, run_dir, job in todo:
            runs[seed][mode] = finished_run(mcfg, run_dir)
            if codes[job.name] != 0 or runs[seed][mode] is None:
                raise JobFailed(f"compare: seed {seed} {mode} exited with {codes[job.name]} and left no finished run "
                                f"in {run_dir}; see {job.log}")
            _check_wall(seed, mode, budget, runs[seed][mode]["summary"], mcfg)
    return runs


def parse_seeds(text: str, base: int) -> tuple[int, ...]:
    """``--seeds``: a count N (seeds base .. base+N-1) or a comma list (``0,1,2``; one seed: ``7,``)."""
    try:
        if "," in text:
            return tuple(int(s) for s in text.split(",") if s.strip())
        n = int(text)
    except ValueError:
        raise ConfigError(f"--seeds: must be a count N >= 1 or a comma list of seeds, got {text!r}") from None
    if n < 1:
        raise ConfigError(f"--seeds: the count must be >= 1, got {n}")
    return tuple(range(base, base + n))


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    again = shlex.join(["python", "-m", "hybrid_jax.compare", *argv])
    return run_cli(lambda: _main(argv), lambda: f"finished runs are kept and an interrupted one resumes from its "
                                                f"last checkpoint (its unfinished cycle restarts) with: {again}")


def _main(argv) -> int:
    p = argparse.ArgumentParser(prog="python -m hybrid_jax.compare", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", required=True, help="YAML config (its mode is replaced per baseline)")
    p.add_argument("--out", help="output directory (default: <output.dir>/<experiment_name>-compare)")
    p.add_argument("--overwrite", action="store_true", help="recompute every run (finished runs are skipped without)")
    p.add_argument("--modes", default=None, help="comma-separated subset of physical,synthetic,hybrid (default: all); "
                                                 "with data.sensors.enabled of physical,synthetic,augmentation,"
                                                 "interaction")
    p.add_argument("--budget", default="steps", choices=BUDGETS,
                   help="baselines get the hybrid's optimiser steps per model (default), the config's epochs, or "
                        "its training wall time")
    p.add_argument("--seeds", default="1", help="N: seeds cfg.seed .. cfg.seed+N-1; or a comma list, e.g. 0,1,2")
    p.add_argument("--engine", default="local", choices=ENGINES,
                   help="where the runs go: this process, one after another (default), SLURM jobs through "
                        "submitit, or Ray tasks")
    p.add_argument("--engine-option", action="append", metavar="key=value",
                   help="an option of the engine, e.g. executor=local, slurm_partition=gpu (docs/parallel.md)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="dotted overrides applied to every run")
    args = parse_cli(p, argv)
    setup_logging()
    cfg = load_config(args.config, args.overrides)
    modes = None if args.modes is None else tuple(m.strip() for m in args.modes.split(",") if m.strip())
    seeds = parse_seeds(args.seeds, cfg.seed)
    out = Path(args.out) if args.out else Path(cfg.output.dir) / f"{cfg.experiment_name}-compare"
    result = compare(cfg, out, args.overwrite, modes, seeds, args.budget, args.engine,
                     parse_options(args.engine_option))
    print((out / "comparison.md").read_text())
    print(f"tables in {out}/comparison.md and comparison.json")
    return 0 if result else 1


if __name__ == "__main__":
    from hybrid_jax.backend import reexec_with_process_environment

    reexec_with_process_environment()
    sys.exit(main())
