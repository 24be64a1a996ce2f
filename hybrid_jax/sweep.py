"""Parameter sweeps: ``python -m hybrid_jax.sweep --config C key=v1,v2 key2=a,b [--seeds N] [--metric M]``.

Overrides follow Hydra's syntax: a comma list sweeps (``trainer.hybrid.alpha=0,0.1,0.3``), brackets
make one list value (``physics.resolution=[32,32]``), other overrides apply to every point. The grid
(every combination, times `--seeds` seeds counted from the config's seed) runs one point at a time,
or `--devices N` points at once, point k pinned to device k mod N (``CUDA_VISIBLE_DEVICES``), each
as ``python -m hybrid_jax.train`` into ``<out>/<point>/``. A point whose run directory holds a
``summary.json`` of the same config is skipped, so an interrupted sweep continues where it stopped
(an unfinished point resumes from its last checkpoint). With ``--engine submitit`` or ``--engine ray``
the unfinished points are submitted at once as SLURM jobs or Ray tasks (`hybrid_jax.engines`,
docs/parallel.md). Writes ``<out>/sweep.csv`` and ``sweep.md``
(one row per point: its values, status and the summary's numbers) and ``sweep.png`` (the metric over
the first swept key, one line per combination of the others, mean and min–max over seeds).
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import logging
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from hybrid_jax.config import Config, ConfigError, apply_overrides, config_from_dict, load_config, save_config, to_dict
from hybrid_jax.engines import ENGINES, Job, check_engine, parse_options, run_job, run_jobs, start, train_args
from hybrid_jax.logs import setup_logging
from hybrid_jax.metrics import HEADLINE
from hybrid_jax.views import flatten

log = logging.getLogger("hybrid_jax")

DEFAULT_METRICS = (f"evaluation.synthetic.mean_{HEADLINE}", f"evaluation.physical.mean_{HEADLINE}",
                   "final.synthetic_val_loss", "final.physical_val_loss")


def split_values(raw: str) -> list[str]:
    """Split an override value at top-level commas (not inside brackets, braces, parentheses or quotes)."""
    parts, depth, quote, cur = [], 0, None, ""
    for ch in raw:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        cur += ch
    return parts + [cur]


def parse_grid(overrides: list[str]) -> tuple[list[str], dict[str, list[str]]]:
    """(fixed overrides, {key: [raw values]} of the swept keys, in command-line order)."""
    fixed, swept = [], {}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"{item}: an override must look like dotted.key=value")
        key, raw = item.split("=", 1)
        values = split_values(raw)
        if len(values) > 1:
            if any(not v.strip() for v in values):
                raise ConfigError(f"{key}: empty value in the sweep list {raw!r}")
            swept[key.strip()] = values
        else:
            fixed.append(item)
    return fixed, swept


@dataclass
class Point:
    name: str  # directory name, e.g. "trainer.hybrid.alpha=0.1,seed=0"
    values: dict  # swept key -> parsed value (seed included when --seeds is given)
    cfg: Config


def grid_points(base: dict, fixed: list[str], swept: dict[str, list[str]], seeds: int | None) -> list[Point]:
    """Every combination of the swept values (and seeds) as a validated config."""
    start = config_from_dict(apply_overrides(base, fixed))
    if seeds is not None:
        if "seed" in swept:
            raise ConfigError("--seeds: the seed is already swept on the command line")
        swept = {**swept, "seed": [str(start.seed + i) for i in range(seeds)]}
    points = []
    for combo in itertools.product(*swept.values()):
        items = [f"{k}={v.strip()}" for k, v in zip(swept, combo)]
        name = ",".join(items).replace("/", "_").replace(" ", "")
        data = apply_overrides(base, fixed + items)
        values = {k: yaml.safe_load(v) for k, v in zip(swept, combo)}
        data["experiment_name"] = f"{start.experiment_name}-{name}"
        points.append(Point(name, values, config_from_dict(data)))
    return points


def finished(point: Point, run_dir: Path) -> bool:
    """Whether `run_dir` holds a finished run (a summary.json) of this point's config."""
    from hybrid_jax.rundir import is_finished

    return is_finished(point.cfg, run_dir)


def run_points(points: list[Point], out: Path, devices: int, engine: str = "local",
               options: dict | None = None) -> dict[str, str]:
    """Run the unfinished points as train jobs: subprocesses, `devices` at a time (``local``), or all
    submitted at once to a cluster `engine` (`hybrid_jax.engines`, with its `options`); return each
    point's status."""
    status, todo = {}, []
    for i, p in enumerate(points):
        if finished(p, out / p.name):
            log.info("point %d/%d %s: finished before, skipped", i + 1, len(points), p.name)
            status[p.name] = "done"
        else:
            todo.append((i, p))
    (out / "configs").mkdir(parents=True, exist_ok=True)
    (out / "logs").mkdir(exist_ok=True)
    if devices > 1 or engine != "local":
        _generate_stores([p for _, p in todo], out)
    if engine != "local":
        for i, p in todo:
            log.info("point %d/%d %s: submitted to %s", i + 1, len(points), p.name, engine)
        codes = run_jobs([_job(p, out) for _, p in todo], engine, options or {}, out / "submitit")
        status.update({name: "done" if code == 0 else f"failed (exit {code})" for name, code in codes.items()})
        return status
    running: dict[int, tuple] = {}  # slot -> (process, point, start time)
    while todo or running:
        free = [s for s in range(devices) if s not in running]
        while todo and free:
            slot = free.pop(0)
            i, p = todo.pop(0)
            job = _job(p, out, env={"CUDA_VISIBLE_DEVICES": str(slot)} if devices > 1 else {})
            log.info("point %d/%d %s: started (log in %s)", i + 1, len(points), p.name, job.log.name)
            running[slot] = (start(job), p, time.perf_counter())
        time.sleep(0.2)
        for slot, (proc, p, t0) in list(running.items()):
            if proc.poll() is None:
                continue
            del running[slot]
            status[p.name] = "done" if proc.returncode == 0 else f"failed (exit {proc.returncode})"
            log.info("point %s: %s in %.1f s", p.name, status[p.name], time.perf_counter() - t0)
    return status


def _job(point: Point, out: Path, extra: tuple[str, ...] = (), env: dict | None = None) -> Job:
    """The train job of a point into ``<out>/<point>/`` (its config saved to ``<out>/configs/``), its
    output appended to ``<out>/logs/<point>.log``."""
    config_file = out / "configs" / f"{point.name}.yaml"
    save_config(point.cfg, config_file)
    return Job(point.name, train_args(config_file, out / point.name, *extra), out / "logs" / f"{point.name}.log",
               tuple((env or {}).items()))


def _generate_stores(points: list[Point], out: Path) -> None:
    """Before points run in parallel: generate each distinct data store once, one at a time, so that
    no two processes write the same store."""
    from hybrid_jax.data.store import store_path

    stores = {store_path(p.cfg): p for p in points if p.cfg.data.source == "generate"}
    for folder, p in stores.items():
        log.info("sweep: generating the data store %s", folder)
        run_job(_job(p, out, ("tasks=[generate]",), {"CUDA_VISIBLE_DEVICES": "0"}))


def _numbers(d: dict) -> dict:
    """The numeric leaves of a nested dict under dotted keys."""
    return {k: v for k, v in flatten(d).items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def table(points: list[Point], out: Path, status: dict[str, str]) -> list[dict]:
    """One row per point: swept values, status and every number of its summary.json (flattened keys)."""
    rows = []
    for p in points:
        summary_file = out / p.name / "summary.json"
        numbers = _numbers(json.loads(summary_file.read_text())) if status[p.name] == "done" else {}
        rows.append({**p.values, "status": status[p.name], **numbers})
    return rows


def write_table(rows: list[dict], out: Path, title: str) -> None:
    columns = list(dict.fromkeys(k for r in rows for k in r))
    with open(out / "sweep.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, columns)
        writer.writeheader()
        writer.writerows(rows)

    def cell(v):
        return "–" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)

    lines = [f"# {title}", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in columns) + " |" for r in rows]
    (out / "sweep.md").write_text("\n".join(lines) + "\n")


def choose_metric(rows: list[dict], metric: str | None) -> str:
    done = [r for r in rows if r["status"] == "done"]
    if metric is not None:
        if done and not any(metric in r for r in done):
            names = sorted({k for r in done for k in r if "." in k or k.endswith("_s")})
            raise ConfigError(f"--metric: {metric!r} is not in the runs' summaries; one of {', '.join(names)}")
        return metric
    return next((m for m in DEFAULT_METRICS if any(m in r for r in done)), "timings_s.total")


def plot(rows: list[dict], keys: list[str], metric: str, path: Path) -> None:
    """The metric over the first swept key, one line per combination of the other keys (seed excluded):
    mean over seeds, min–max as error bars."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    x_key, others = keys[0], [k for k in keys[1:] if k != "seed"]
    xs = list(dict.fromkeys(r[x_key] for r in rows))
    numeric = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in xs)
    fig = Figure(figsize=(5.5, 3.6))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    for combo in dict.fromkeys(tuple(r[k] for k in others) for r in rows):
        pos, mean, lo, hi = [], [], [], []
        for j, x in enumerate(xs):
            vals = [r[metric] for r in rows if r[x_key] == x and tuple(r[k] for k in others) == combo
                    and isinstance(r.get(metric), (int, float)) and math.isfinite(r[metric])]
            if vals:
                pos.append(x if numeric else j)
                mean.append(np.mean(vals))
                lo.append(np.mean(vals) - min(vals))
                hi.append(max(vals) - np.mean(vals))
        label = ", ".join(f"{k}={v}" for k, v in zip(others, combo)) or None
        ax.errorbar(pos, mean, yerr=[lo, hi], marker="o", ms=4, capsize=3, label=label)
    if not numeric:
        ax.set_xticks(range(len(xs)), [str(x) for x in xs])
    ax.set_xlabel(x_key)
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    if others:
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def sweep(cfg_path: str | None, overrides: list[str], out: Path | None, seeds: int | None, metric: str | None,
          devices: int, engine: str = "local", options: dict | None = None) -> tuple[Path, int]:
    """Run the grid (on `engine`, `hybrid_jax.engines`) and write the table and figure; return
    (output folder, number of failed points)."""
    check_engine(engine)
    fixed, swept = parse_grid(overrides)
    if not swept and seeds is None:
        raise ConfigError("nothing to sweep: give a comma list (key=a,b) or --seeds N")
    base = to_dict(load_config(cfg_path)) if cfg_path else {}
    points = grid_points(base, fixed, swept, seeds)
    start = config_from_dict(apply_overrides(base, fixed))
    out = out or Path(start.output.dir) / f"{start.experiment_name}-sweep"
    log.info("sweep: %d points over %s into %s", len(points), ", ".join(points[0].values), out)
    status = run_points(points, Path(out).resolve(), devices, engine, options)
    rows = table(points, out, status)
    write_table(rows, out, f"{start.experiment_name}: sweep")
    metric = choose_metric(rows, metric)
    plot(rows, list(points[0].values), metric, out / "sweep.png")
    return out, sum(s != "done" for s in status.values())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m hybrid_jax.sweep", description=__doc__.split("\n\n")[0],
                                epilog="Example: python -m hybrid_jax.sweep --config configs/smoke.yaml "
                                       "trainer.hybrid.alpha=0,0.1,0.3 --seeds 3")
    p.add_argument("--config", help="YAML config (default: the built-in defaults)")
    p.add_argument("--out", help="output folder (default: <output.dir>/<experiment_name>-sweep)")
    p.add_argument("--seeds", type=int, help="also sweep N seeds: seed, seed+1, …")
    p.add_argument("--metric", help="dotted key of summary.json plotted in sweep.png "
                                    "(default: the synthetic model's mean rollout error, if trained)")
    p.add_argument("--devices", type=int, default=1, help="points run at once, one per device (default 1)")
    p.add_argument("--engine", default="local", choices=ENGINES,
                   help="where the points run: local subprocesses (default), SLURM jobs through submitit, Ray tasks")
    p.add_argument("--engine-option", action="append", metavar="key=value",
                   help="an option of the engine, e.g. executor=local, slurm_partition=gpu, num_gpus=1 "
                        "(docs/parallel.md)")
    p.add_argument("overrides", nargs="*", metavar="key=v1,v2", help="Hydra-style overrides; comma lists sweep")
    args = p.parse_args(argv)
    setup_logging()
    try:
        if args.seeds is not None and args.seeds < 1:
            raise ConfigError(f"--seeds: must be >= 1, got {args.seeds}")
        if args.devices < 1:
            raise ConfigError(f"--devices: must be >= 1, got {args.devices}")
        out, failed = sweep(args.config, args.overrides, Path(args.out) if args.out else None, args.seeds,
                            args.metric, args.devices, args.engine, parse_options(args.engine_option))
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print((out / "sweep.md").read_text())
    print(f"table in {out}/sweep.csv and sweep.md, figure {out}/sweep.png")
    if failed:
        print(f"error: {failed} point(s) failed; see {out}/logs/", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    from hybrid_jax.backend import reexec_with_process_environment

    reexec_with_process_environment()
    sys.exit(main())
