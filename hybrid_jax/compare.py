"""Baselines in one command: physical-only, synthetic-only and hybrid on the same data and budget.

``python -m hybrid_jax.compare --config configs/X.yaml --out runs/X-compare [key=value ...]``

Runs the config three times, changing only `mode` (and the experiment name): same seed, same
generated store and validation split, same cycles and epochs per model (a hybrid warm-up, if
configured, is extra synthetic training and shows in the table's epoch column). Each run gets
``<out>/<mode>/`` as usual; the table goes to ``<out>/comparison.md`` and ``comparison.json``.
Rollout errors are against the full validation trajectories (under sparse observations also
split into observed / unobserved cells); the validation loss is the training metric on observed
targets only.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
import time
from pathlib import Path

from hybrid_jax.backend import enable_compilation_cache, setup
from hybrid_jax.config import ConfigError, apply_overrides, config_from_dict, load_config, to_dict
from hybrid_jax.errors import parse_cli, run_cli
from hybrid_jax.files import atomic_write
from hybrid_jax.logs import log_to_file, setup_logging

MODES = ("physical", "synthetic", "hybrid")


def mode_config(cfg, mode: str):
    """The config of one baseline: `cfg` with `mode` and a suffixed experiment name."""
    return config_from_dict(apply_overrides(to_dict(cfg), [f"mode={mode}",
                                                           f"experiment_name={cfg.experiment_name}-{mode}"]))


def _epochs(cfg, model: str) -> int:
    t = cfg.trainer
    per_cycle = getattr(t, model).epochs * t.hybrid.cycles
    return per_cycle + (t.hybrid.warmup_epochs if model == "synthetic" and cfg.mode == "hybrid" else 0)


def table_rows(runs: dict) -> list[dict]:
    """One row per (run, trained model) from each run's summary and evaluation."""
    rows = []
    for mode, r in runs.items():
        ev, summary, cfg = r["evaluation"], r["summary"], r["config"]
        for model, m in ev["models"].items():
            row = {"run": mode, "model": model, "epochs": _epochs(cfg, model),
                   "val_loss": summary["final"].get(f"{model}_val_loss"),
                   "mean_rel_l2": m["mean_rel_l2"], "final_rel_l2": m["final_rel_l2"], "mean_rmse": m["mean_rmse"],
                   "mean_rmse_observed": m.get("mean_rmse_observed"),
                   "mean_rmse_unobserved": m.get("mean_rmse_unobserved"),
                   "parameter_error": ev["parameters"]["relative_error"] if model == "physical" else None,
                   "wall_s": summary["wall_time_s"]}
            rows.append(row)
    return rows


def claims(rows: list[dict]) -> dict:
    """The method's two claims, checked on the table (None where a run is missing)."""
    get = {(r["run"], r["model"]): r for r in rows}
    out = {}
    if ("hybrid", "synthetic") in get and ("synthetic", "synthetic") in get:
        h, s = get["hybrid", "synthetic"]["mean_rel_l2"], get["synthetic", "synthetic"]["mean_rel_l2"]
        out["hybrid_synthetic_better_than_synthetic_only"] = {"hybrid": h, "synthetic_only": s, "holds": h < s}
    if ("hybrid", "physical") in get and ("physical", "physical") in get:
        h, p = get["hybrid", "physical"]["parameter_error"], get["physical", "physical"]["parameter_error"]
        holds = all(h[k] <= p[k] * 1.05 + 1e-4 for k in p)  # "no worse": within 5 % (relative) or 1e-4
        out["hybrid_parameters_no_worse_than_physical_only"] = {"hybrid": h, "physical_only": p, "holds": holds}
    return out


def _fmt(v, pct=False) -> str:
    if v is None:
        return "–"
    if isinstance(v, dict):
        return ", ".join(f"{k} {x:.2%}" if x >= 1e-3 else f"{k} {x:.1e}" for k, x in v.items())
    return f"{v:.2%}" if pct else f"{v:.3e}"


def markdown(rows: list[dict], checks: dict, title: str) -> str:
    head = ("| run | model | epochs | val loss (observed) | mean rel. L2 | final rel. L2 | RMSE observed | "
            "RMSE unobserved | parameter rel. error | wall s |")
    lines = [f"# {title}", "", head, "|" + "---|" * 10]
    for r in rows:
        lines.append(f"| {r['run']} | {r['model']} | {r['epochs']} | {_fmt(r['val_loss'])} | {_fmt(r['mean_rel_l2'])} | "
                     f"{_fmt(r['final_rel_l2'])} | {_fmt(r['mean_rmse_observed'])} | {_fmt(r['mean_rmse_unobserved'])} | "
                     f"{_fmt(r['parameter_error'])} | {r['wall_s']:.1f} |")
    lines.append("")
    for name, c in checks.items():
        lines.append(f"- {name.replace('_', ' ')}: **{'yes' if c['holds'] else 'no'}** "
                     f"({', '.join(f'{k} {_fmt(v)}' for k, v in c.items() if k != 'holds')})")
    return "\n".join(lines) + "\n"


def compare(cfg, out: Path, overwrite: bool, modes=MODES) -> dict:
    """Run the baselines into `out/<mode>/` and write the comparison table; return its JSON."""
    from hybrid_jax.run import run  # imports JAX/PhiFlow
    from hybrid_jax.rundir import claim_dir, prepare_run_dir

    setup()
    enable_compilation_cache(cfg.output.compilation_cache)
    if "evaluate" not in cfg.tasks or "train" not in cfg.tasks:
        raise ConfigError("tasks: compare needs the train and evaluate tasks")
    claim_dir(out, overwrite)
    runs = {}
    for mode in modes:
        mcfg = mode_config(cfg, mode)
        run_dir = out / mode
        t = time.perf_counter()
        with prepare_run_dir(mcfg, run_dir, overwrite):
            handler = log_to_file(run_dir / "train.log")
            try:
                summary = run(mcfg, run_dir)
            finally:
                logging.getLogger().removeHandler(handler)
                handler.close()
        logging.getLogger("hybrid_jax").info("compare: %s done in %.1f s", mode, time.perf_counter() - t)
        runs[mode] = {"config": mcfg, "summary": summary,
                      "evaluation": json.loads((run_dir / "evaluation.json").read_text())}
    rows = table_rows(runs)
    checks = claims(rows)
    result = {"experiment_name": cfg.experiment_name, "observation": to_dict(cfg.data.observation),
              "rows": rows, "claims": checks}
    atomic_write(out / "comparison.json", json.dumps(result, indent=1))
    atomic_write(out / "comparison.md", markdown(rows, checks, f"{cfg.experiment_name}: baselines"))
    return result


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    again = shlex.join(["python", "-m", "hybrid_jax.compare", *argv])
    return run_cli(lambda: _main(argv), lambda: f"finished runs are kept and an interrupted one resumes from its "
                                                f"last checkpoint (its unfinished cycle restarts) with: {again}")


def _main(argv) -> int:
    p = argparse.ArgumentParser(prog="python -m hybrid_jax.compare", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", required=True, help="YAML config (its mode is replaced per baseline)")
    p.add_argument("--out", help="output directory (default: <output.dir>/<experiment_name>-compare)")
    p.add_argument("--overwrite", action="store_true", help="replace existing run directories")
    p.add_argument("--modes", default=",".join(MODES), help="comma-separated subset of physical,synthetic,hybrid")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="dotted overrides applied to every run")
    args = parse_cli(p, argv)
    setup_logging()
    cfg = load_config(args.config, args.overrides)
    modes = tuple(m.strip() for m in args.modes.split(",") if m.strip())
    if not modes or any(m not in MODES for m in modes):
        raise ConfigError(f"--modes: must be a comma-separated subset of {','.join(MODES)}, got {args.modes!r}")
    out = Path(args.out) if args.out else Path(cfg.output.dir) / f"{cfg.experiment_name}-compare"
    result = compare(cfg, out, args.overwrite, modes)
    print((out / "comparison.md").read_text())
    print(f"tables in {out}/comparison.md and comparison.json")
    return 0 if result else 1


if __name__ == "__main__":
    sys.exit(main())
