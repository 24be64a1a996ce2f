"""A run: its directory, data, training with checkpoints and metrics, evaluation and summary.

Run directory layout (default ``runs/<experiment_name>/``)::

    config.yaml        the resolved config        config_hash   its hash (guards reuse)
    metrics.jsonl      one JSON line per epoch and per cycle
    checkpoints/<n>/   Orbax checkpoint after n finished cycles (both models, optimisers); an interaction-
                       coupling run's: after n epochs (`interaction_task`)
    generated/         output.save_generated: cycle_<c>_<generator>.npz, each cycle's generated rollouts
    evaluation.json    per-step rollout errors on validation data, parameter errors
    plots/             figures (output.plots): frames, 1D space-time heatmaps, rollout GIF, errors, parameters,
                       losses, generated rollouts of each cycle (if saved in generated/) beside real data;
                       drawn on the background output worker (output.background, hybrid_jax/background.py)
                       with the TensorBoard images, waited for before summary.json
    summary.json       final losses, learned vs true parameters, optimiser steps taken per model (the device
                       counter, checkpointed), window counts, timings_s (parts adding up to the total)
    Every JSON output's keys: docs/outputs.md (schemas in hybrid_jax/schemas/, field schema_version)
    events.out.tfevents.*  TensorBoard scalars and images (output.tensorboard; see tracking.py)
    train.log          the log of every invocation
"""

from __future__ import annotations

import importlib
import json
import logging
import time
from pathlib import Path

import jax
import numpy as np

from hybrid_jax.background import Background
from hybrid_jax.checkpoint import Checkpoints
from hybrid_jax.config import Config, ConfigError
from hybrid_jax.data.store import load_files, load_or_generate, save_trajectories
from hybrid_jax.data.truth import add_noise, noise_key
from hybrid_jax.evaluate import (describe_params, evaluate, learned_params, parameter_errors, parameter_summary,
                                 validation_rollouts)
from hybrid_jax.files import atomic_write
from hybrid_jax.lifecycle import restore_trained
from hybrid_jax.parallel import is_primary, sync, to_host
from hybrid_jax.physics import build_pde
from hybrid_jax.plugins import log_imported
from hybrid_jax.preflight import preflight
from hybrid_jax.rundir import run_hash
from hybrid_jax.schemas import SCHEMA_VERSION
from hybrid_jax.timings import Timeline
from hybrid_jax.tracking import Tracker
from hybrid_jax.experiment import trained_models
from hybrid_jax.training.loop import build_experiment, initial_states, train_cycles
from hybrid_jax.training.records import CycleResult, epochs_done, train_seconds

log = logging.getLogger("hybrid_jax")


def load_trajectories(cfg: Config, pde) -> np.ndarray:
    if cfg.data.source == "files":
        return load_files(cfg.data.path, pde, cfg.data.rollout_steps, cfg.data.format)
    if not is_primary():
        sync("data")  # process 0 generates the store, the others read it
    traj, folder = load_or_generate(cfg, pde)
    if is_primary():
        sync("data")
    log.info("data: %s trajectories %s from %s", traj.shape[0], list(traj.shape[1:]), folder)
    return traj


class MetricsLog:
    """Append-only ``metrics.jsonl``; on resume, lines of phases not yet checkpointed are dropped (the
    warm-up's lines, cycle -1, are checkpointed with cycle 0's: without a checkpoint nothing is kept)."""

    def __init__(self, path: Path, keep_before_cycle: int, keep=None):
        """`keep(record) -> bool`, if given, replaces the cycle rule (an interaction run keeps its epochs
        before the checkpoint's)."""
        self.path = path
        keep = keep or (lambda r: keep_before_cycle > 0 and r["cycle"] < keep_before_cycle)
        kept = [json.dumps(r) for r in read_metrics(path) if keep(r)]
        if is_primary():
            atomic_write(path, "".join(ln + "\n" for ln in kept))

    def write(self, record: dict) -> None:
        if not is_primary():
            return
        with open(self.path, "a") as f:
            f.write(json.dumps({"schema_version": SCHEMA_VERSION, **record}) + "\n")


def read_metrics(path: Path) -> list[dict]:
    """The records of a ``metrics.jsonl``; a line cut short by a crash is skipped."""
    records = []
    for line in path.read_text().splitlines() if path.is_file() else []:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            log.warning("%s: skipping a truncated line", path)
    return records


def train(cfg: Config, exp, run_dir: Path, progress: bool, jobs: Background | None = None):
    """Train from the latest checkpoint of `run_dir` (or from scratch); return the final states. `jobs`: the
    tracker's TensorBoard writes and images run there (`hybrid_jax.background`)."""
    states = initial_states(exp)
    ckpts = Checkpoints(run_dir / "checkpoints", cfg.output.max_checkpoints)
    start = 0
    found = ckpts.restore_intact(states)
    if found is not None:
        latest, states, meta = found
        if meta["config_hash"] != run_hash(cfg):
            raise ConfigError(f"{run_dir}: checkpoints belong to a different config; pass --overwrite")
        start = meta["next_cycle"]
        log.info("resuming from checkpoint %s: %d of %d cycles done", latest, start, cfg.trainer.hybrid.cycles)
    metrics_log = MetricsLog(run_dir / "metrics.jsonl", keep_before_cycle=start)
    tracker = Tracker(cfg, run_dir, start, jobs)
    on_generated = generated_writer(run_dir / "generated", exp.pde.layout.names) if cfg.output.save_generated else None
    limit, spent = cfg.trainer.max_train_seconds, train_seconds(read_metrics(metrics_log.path))
    try:
        for states, result in ([] if limit is not None and spent >= limit
                               else train_cycles(exp, states, start, progress, on_generated)):
            for line in result.lines():
                metrics_log.write(line)
                tracker.write(line)
            if isinstance(result, CycleResult):
                ckpts.save(result.cycle + 1, states, {"next_cycle": result.cycle + 1, "config_hash": run_hash(cfg)})
                tracker.cycle(result.cycle, exp, states)
                log.info(_cycle_line(exp, states, result))
            spent += train_seconds(result.lines())
            if limit is not None and spent >= limit and isinstance(result, CycleResult):
                log.info("trainer.max_train_seconds: %.1f s of training reached after cycle %d of %d; stopping",
                         spent, result.cycle + 1, cfg.trainer.hybrid.cycles)
                break
    finally:
        ckpts.close()
        tracker.close()
    return states


def generated_writer(folder: Path, fields: tuple[str, ...]):
    """``write(cycle, generator, rollouts)``: each cycle's generated rollouts as
    ``<folder>/cycle_<c>_<generator>.npz`` (gathered on every process, written by process 0)."""

    def write(cycle: int, generator: str, rollouts) -> None:
        rollouts = to_host(rollouts)
        if is_primary():
            save_trajectories(folder / f"cycle_{cycle}_{generator}.npz", rollouts, fields)

    return write


def _cycle_line(exp, states, result: CycleResult) -> str:
    """The log line of a finished cycle: losses of the trained models, learned parameters if trained."""
    parts = [f"cycle {result.cycle + 1}/{exp.cfg.trainer.hybrid.cycles}"]
    for name, val in result.val_losses.items():
        train = result.train_loss(name)
        parts.append(f"{name} train {np.nan if train is None else train:.3e} val {val:.3e}")
    params = parameter_summary(exp, states)
    if params is not None:
        parts.append(", ".join(f"{k} {_short(v)}" for k, v in params["learned"].items()))
    return " | ".join(parts)


def _short(v) -> str:
    return f"{v:.5g}" if isinstance(v, float) else f"mean {v['mean']:.5g}"


def summarize(cfg: Config, exp, states, run_dir: Path, timeline: Timeline, evaluation: dict | None) -> dict:
    """Write ``summary.json`` (docs/outputs.md; schema hybrid_jax/schemas/summary.schema.json): final
    losses, learned vs true parameters (if the physical model is trained), steps, windows, timings."""
    records = read_metrics(run_dir / "metrics.jsonl")
    cycles = [r for r in records if r["kind"] == "cycle"]
    times = [c["timings_s"]["cycle"] for c in cycles]
    params = parameter_summary(exp, states)
    summary = {
        "schema_version": SCHEMA_VERSION,
        "experiment_name": cfg.experiment_name, "mode": cfg.mode, "cycles_done": len(cycles),
        "final": {k: v for k, v in (cycles[-1] if cycles else {}).items() if k.endswith("_loss")},
        **({} if params is None else {"parameters": params}),
        "steps": {name: int(to_host(states[name].step)) for name in trained_models(cfg)},
        "epochs": {name: epochs_done(records, name) for name in trained_models(cfg)},
        "windows": {"train": len(exp.train_windows),
                    "generated": {name: len(w) for name, w in exp.generated_windows.items()}},
        "train_s": train_seconds(records),
        "first_cycle_s": times[0] if times else None,
        "steady_cycle_s": float(np.mean(times[1:])) if len(times) > 1 else None,
    }
    stability = getattr(exp.pde, "stability", None)  # a family without a stated bound (physics.stability)
    if stability is not None:
        summary["stability"] = stability
        if params is not None:
            params["range"] = {k: list(v) for k, v in exp.pde.checked_range.items()}
    if evaluation is not None:
        summary["evaluation"] = {name: {k: v for k, v in m.items() if k.startswith(("mean_", "final_"))}
                                 for name, m in evaluation["models"].items()}
    summary["timings_s"] = timeline.seconds()  # last: writing the summary is all that is left
    if is_primary():
        atomic_write(run_dir / "summary.json", json.dumps(summary, indent=2))
    return summary


def run(cfg: Config, run_dir: Path) -> dict:
    """Run the config's tasks in a run directory opened by `hybrid_jax.lifecycle.open_run`; return the summary
    (empty for the generate task alone)."""
    timeline = Timeline()
    if cfg.data.sensors.enabled:
        raise ConfigError("data.sensors.enabled: a sensor config trains through python -m hybrid_jax.compare "
                          "--config <it> (methods physical, synthetic, augmentation, interaction; --modes picks)")
    log_imported(cfg.plugins)
    if cfg.trainer.hybrid.coupling == "interaction":
        return interaction_task(cfg, build_pde(cfg.physics), run_dir, timeline)
    preflight(cfg)  # refuse a run that cannot fit before allocating anything
    pde = build_pde(cfg.physics)
    clean = load_trajectories(cfg, pde)
    if cfg.tasks == ("generate",):
        return {}
    traj = add_noise(clean, cfg.data.truth.noise, noise_key(cfg.seed), pde.layout.num_dynamic)  # training data
    # figures and tracker output on a worker thread (output.background), waited for before summary.json
    with Background(cfg.output.background) as jobs:
        timeline.mark("training")
        plots = cfg.output.plots and is_primary()
        if plots:  # matplotlib (0.5 s) imported on the worker while the training runs
            jobs.submit("import matplotlib", importlib.import_module, "hybrid_jax.plots")
        exp = build_experiment(cfg, pde, traj)
        progress = cfg.output.progress
        states = (train(cfg, exp, run_dir, progress, jobs) if "train" in cfg.tasks
                  else restore_trained(cfg, run_dir, initial_states(exp)))
        evaluation = rollouts = None
        timeline.mark("evaluation")
        if plots:  # the figures of the training (parameters, losses, generated data), drawn while evaluating
            jobs.submit("plots", _plots, run_dir / "plots", None, None, learned_params(exp, states),
                        exp.pde.true_params(), trained_models(cfg), run_dir / "metrics.jsonl",
                        num_frames=cfg.evaluation.num_frames, generated_dir=run_dir / "generated",
                        real=traj[np.unique(exp.train_windows[:, 0])])
        if "evaluate" in cfg.tasks:
            rollouts = validation_rollouts(exp, states, cfg.evaluation.horizon, clean=clean)
            if plots:  # frames, the GIF (1D: space-time heatmaps), while the metrics are computed
                jobs.submit("plots", _plots, run_dir / "plots", rollouts, None, None, {}, trained_models(cfg), None,
                            num_frames=cfg.evaluation.num_frames)
            evaluation = evaluate(exp, states, cfg.evaluation.horizon, rollouts=rollouts,
                                  noise_std=cfg.data.truth.noise.std)
            if plots:
                jobs.submit("plots", _plots, run_dir / "plots", None, evaluation, None, {}, trained_models(cfg), None)
            if is_primary():
                atomic_write(run_dir / "evaluation.json",
                             json.dumps({"schema_version": SCHEMA_VERSION, **evaluation}, indent=1))
        timeline.mark("outputs")
        jobs.wait()  # in timings_s' outputs; a failed job raises when the block ends, after summary.json
        if jobs.waited_s:
            log.info("outputs: waited %.2f s for the background figures and tracker", jobs.waited_s)
        return summarize(cfg, exp, states, run_dir, timeline, evaluation)


def _plots(out_dir: Path, *args, **kwargs) -> None:
    """`hybrid_jax.plots.write_plots` (matplotlib is imported here, on the first call), logged."""
    t = time.perf_counter()
    from hybrid_jax.plots import write_plots

    written = write_plots(out_dir, *args, **kwargs)
    log.info("plots in %s: %s (%.1f s)", out_dir, ", ".join(p.name for p in written), time.perf_counter() - t)


def interaction_task(cfg: Config, pde, run_dir: Path, timeline: Timeline) -> dict:
    """trainer.hybrid.coupling = interaction: fit on the sensor record data.sensor_file (docs/coupling.md); one
    ``metrics.jsonl`` line per epoch (``kind: interaction``); a checkpoint of both train states every
    trainer.hybrid.interaction.checkpoint_every epochs and after the last (step = epochs done), from which a
    restarted run resumes exactly (its metrics lines after the checkpoint dropped); ``summary.json`` and
    ``evaluation.json`` (its interaction form: the learned coefficients, their errors, the final sensor
    misfits, what `compare` reads; there is no rollout evaluation, the truth is known only at the sensors),
    ``fields.npz`` and, with output.plots, ``plots/interaction_*.png`` (hybrid_jax.plots_interaction)."""
    from hybrid_jax.data.sensors import load_sensors
    from hybrid_jax.training.interaction_run import build_interaction, fit  # (imported only for this coupling)

    if not cfg.data.sensor_file:
        raise ConfigError("data.sensor_file: required when trainer.hybrid.coupling = interaction")
    sensors = load_sensors(cfg.data.sensor_file)
    u0 = None  # initial_state = data: the first frame of the data's first trajectory
    if cfg.trainer.physical.initial_state == "data":
        u0 = np.asarray(load_trajectories(cfg, pde)[0, 0], np.float32)
    if "train" not in cfg.tasks:
        return {}
    timeline.mark("training")
    setup = build_interaction(cfg, pde, sensors, u0=u0)
    ic, models = cfg.trainer.hybrid.interaction, trained_models(cfg)
    ckpts = Checkpoints(run_dir / "checkpoints", cfg.output.max_checkpoints)
    states, start = setup.states, 0
    found = ckpts.restore_intact(setup.states)
    if found is not None:
        latest, states, meta = found
        if meta.get("config_hash") != run_hash(cfg) or "next_epoch" not in meta:
            raise ConfigError(f"{run_dir}: checkpoints belong to a different config; pass --overwrite")
        start = meta["next_epoch"]
        log.info("resuming from checkpoint %s: %d of %d epochs done", latest, start, ic.epochs)
    metrics_log = MetricsLog(run_dir / "metrics.jsonl", 0, keep=lambda r: r["kind"] == "interaction"
                             and r["epoch"] < start)
    true = pde.true_params()
    clock = [time.perf_counter()]

    def on_epoch(e: int, states: dict, metrics: dict) -> None:
        line = {"kind": "interaction", "cycle": 0, "epoch": e, **metrics,
                "timings_s": {"epoch": time.perf_counter() - clock[0]}}
        if "physical" in models:
            line["parameter_error"] = parameter_errors(_interaction_learned(pde, states), true)
        metrics_log.write(line)
        if (e + 1) % ic.checkpoint_every == 0 or e + 1 == ic.epochs:
            ckpts.save(e + 1, states, {"next_epoch": e + 1, "config_hash": run_hash(cfg)})
        clock[0] = time.perf_counter()

    try:
        states, _ = fit(cfg, setup, states, start, on_epoch)
    finally:
        ckpts.close()
    timeline.mark("outputs")
    lines = [r for r in read_metrics(metrics_log.path) if r["kind"] == "interaction"]
    last = lines[-1] if lines else {}
    summary = {"schema_version": SCHEMA_VERSION, "experiment_name": cfg.experiment_name, "mode": cfg.mode,
               "cycles_done": 1, "final": {f"{m}_train_loss": last[f"{m}_data"] for m in models if last},
               "steps": {m: int(to_host(states[m].step)) for m in models},
               "epochs": {m: len(lines) for m in models},
               "windows": {"train": 0, "generated": {}},
               "train_s": float(sum(r["timings_s"]["epoch"] for r in lines)),
               "first_cycle_s": None, "steady_cycle_s": None}
    evaluation: dict = {"schema_version": SCHEMA_VERSION, "coupling": "interaction", "epochs": len(lines),
                        "models": {m: {"final_sensor_mse": last[f"{m}_data"]} for m in models if last},
                        "final": {k: v for k, v in last.items() if k.startswith(("physical_", "synthetic_"))}}
    if "physical" in models:
        learned = _interaction_learned(pde, states)
        summary["parameters"] = evaluation["parameters"] = {
            "learned": describe_params(learned), "true": describe_params(true),
            "relative_error": parameter_errors(learned, true)}
    if is_primary():
        save_interaction_fields(run_dir / "fields.npz", setup, states)
        if cfg.output.plots:
            from hybrid_jax.plots_interaction import write_interaction_plots  # matplotlib only when plotting

            write_interaction_plots(run_dir / "plots", run_dir / "fields.npz", sensors, lines,
                                    num_frames=min(cfg.evaluation.num_frames, 4))
        atomic_write(run_dir / "evaluation.json", json.dumps(evaluation, indent=1))  # what `compare` reads
    summary["timings_s"] = timeline.seconds()
    if is_primary():
        atomic_write(run_dir / "summary.json", json.dumps(summary, indent=2))
    return summary


def _interaction_learned(pde, states: dict) -> dict[str, np.ndarray]:
    """The physical model's coefficients (decoded) of an interaction fit's states, on the host."""
    from hybrid_jax.physics.base import decode_physical

    coefficients = jax.tree.map(to_host, states["physical"].params["coefficients"])
    return {k: np.asarray(v) for k, v in decode_physical(pde, coefficients).items()}


def save_interaction_fields(path: Path, setup, states) -> None:
    """``fields.npz`` of an interaction run: on the physical grid (``coords [*grid, d]``) at the physical frame
    ``times [F]``, the physical rollout and the neural field (``physical``, ``synthetic``: ``[F, *grid, C]``)."""
    from hybrid_jax.networks.neural_field import field_on_grid

    p, s = (jax.tree.map(to_host, states[m].params) for m in ("physical", "synthetic"))
    coords = setup.grid.coords()
    arrays = {"times": np.asarray(setup.frame_times, np.float32), "coords": np.asarray(coords),
              "physical": np.asarray(setup.trajectory(p, s), np.float32),
              "synthetic": np.asarray(field_on_grid(setup.field_of(s), coords, setup.frame_times))}
    atomic_write(path, lambda f: np.savez(f, **arrays))

