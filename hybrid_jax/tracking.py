"""Experiment tracking: the run's metrics, learned parameters and images in TensorBoard (default),
and optionally in Weights & Biases or MLflow.

:class:`Tracker` is a sink like ``run.MetricsLog``: ``write(record)`` takes each ``metrics.jsonl``
record, ``cycle(cycle, exp, states)`` logs the learned parameters against their true values and
images (a validation rollout of each model next to the real data, learned fields) once per cycle.
Only process 0 writes; the others run the same computations, which may involve collectives.

The x-axis (``step``) of every backend is the number of epochs trained so far: per cycle the larger
of the two models' epoch counts, the warm-up's epochs first. Scalars are tagged
``epoch_loss/<model>``, ``cycle/<metric>``, ``timings_s/<phase>``, ``parameters/<name>/<learned|true|
relative_error>``; images ``rollout/validation`` and ``parameters/<name>`` (learned | true | difference).
On resume, TensorBoard hides the events of cycles that were not checkpointed (its purge step), and
W&B / MLflow continue the same run (its id is kept in the run directory).

Given a `hybrid_jax.background.Background` (``jobs``), every backend call (opening the TensorBoard
writer, scalars, images, closing) and the rendering of the images run on its worker thread, in the
order of the calls; what needs the device (the validation rollout, parameters brought to the host)
runs in the caller first.
"""

from __future__ import annotations

import importlib
import time
from pathlib import Path

import numpy as np
import yaml

from hybrid_jax.background import Background
from hybrid_jax.config import Config, ConfigError, to_dict
from hybrid_jax.evaluate import learned_params, onto_true_grid, parameter_summary
from hybrid_jax.parallel import is_primary, shard, to_host
from hybrid_jax.experiment import trained_models
from hybrid_jax.views import flatten, middle_slice

MIN_IMAGE_PX = 128  # small grids are upscaled (nearest) to at least this many pixels per panel


def epoch_steps(cfg: Config) -> tuple[int, int]:
    """(warm-up epochs W, epochs per cycle E): cycle c's epochs are steps W + c·E + 1 … W + (c+1)·E."""
    warmup = cfg.trainer.hybrid.warmup_epochs if cfg.mode == "hybrid" else 0
    per_cycle = max([getattr(cfg.trainer, m).epochs for m in trained_models(cfg)] + [1])
    return warmup, per_cycle


def record_step(cfg: Config, record: dict) -> int:
    """The step of a ``metrics.jsonl`` record: epochs trained when it was written."""
    warmup, per_cycle = epoch_steps(cfg)
    c = record["cycle"]
    if record["kind"] == "epoch":
        return record["epoch"] + 1 + (0 if c < 0 else warmup + c * per_cycle)
    return warmup + (c + 1) * per_cycle


def record_scalars(record: dict) -> dict[str, float]:
    """The numbers of a record as tagged scalars (None and non-numbers dropped)."""
    if record["kind"] == "epoch":
        return {f"epoch_loss/{record['model']}": float(record["loss"])}
    out = {f"cycle/{k}": float(v) for k, v in record.items()
           if k not in ("kind", "cycle") and isinstance(v, (int, float)) and not isinstance(v, bool)}
    out.update({f"timings_s/{k}": float(v) for k, v in record.get("timings_s", {}).items()})
    return out


def _require(module: str, key: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(f"{key}: {module} is not installed (pip install {module}), or set {key}: none") from None


# ----------------------------------------------------------------------------- backends


class TensorBoardBackend:
    """tensorboardX event files in `log_dir` (readable by stock TensorBoard, no TensorFlow needed)."""

    def __init__(self, log_dir: Path, purge_step: int, cfg: Config):
        from tensorboardX import SummaryWriter

        # a file name unique below tensorboardX's one-second resolution, in the order of writing
        self.writer = SummaryWriter(str(log_dir), purge_step=purge_step, flush_secs=10,
                                    filename_suffix=f".{time.time_ns()}")
        self.writer.add_text("config", "```\n" + yaml.safe_dump(to_dict(cfg), sort_keys=False) + "```", purge_step)

    def scalars(self, values: dict[str, float], step: int) -> None:
        for tag, v in values.items():
            self.writer.add_scalar(tag, v, step)

    def image(self, tag: str, img: np.ndarray, step: int) -> None:
        self.writer.add_image(tag, img, step, dataformats="HWC")

    def close(self) -> None:
        self.writer.close()


class MLflowBackend:
    """One MLflow run per run directory (its id in ``<run_dir>/mlflow_run_id``), the config as params."""

    def __init__(self, run_dir: Path, cfg: Config):
        self.mlflow = mlflow = _require("mlflow", "output.tracker")
        if cfg.output.tracking_uri:
            mlflow.set_tracking_uri(cfg.output.tracking_uri)
        mlflow.set_experiment(cfg.output.project)
        id_file = run_dir / "mlflow_run_id"
        run_id = id_file.read_text().strip() if id_file.is_file() else None
        run = mlflow.start_run(run_id=run_id, run_name=cfg.experiment_name)
        if run_id is None:
            id_file.write_text(run.info.run_id + "\n")
            mlflow.log_params({k: str(v) for k, v in flatten(to_dict(cfg)).items()})

    def scalars(self, values: dict[str, float], step: int) -> None:
        self.mlflow.log_metrics(values, step=step)

    def image(self, tag: str, img: np.ndarray, step: int) -> None:
        self.mlflow.log_image(img, key=tag.replace("/", "_"), step=step)

    def close(self) -> None:
        self.mlflow.end_run()


class WandbBackend:
    """One W&B run per run directory (its id in ``<run_dir>/wandb_run_id``, resumed), the config attached."""

    def __init__(self, run_dir: Path, cfg: Config):
        self.wandb = wandb = _require("wandb", "output.tracker")
        id_file = run_dir / "wandb_run_id"
        run_id = id_file.read_text().strip() if id_file.is_file() else wandb.util.generate_id()
        self.run = wandb.init(project=cfg.output.project, name=cfg.experiment_name, id=run_id, resume="allow",
                              dir=str(run_dir), config=to_dict(cfg))
        id_file.write_text(run_id + "\n")
        self.run.define_metric("*", step_metric="epochs")  # W&B's own step must only grow; ours may repeat

    def scalars(self, values: dict[str, float], step: int) -> None:
        self.run.log({**values, "epochs": step})

    def image(self, tag: str, img: np.ndarray, step: int) -> None:
        self.run.log({tag: self.wandb.Image(img), "epochs": step})

    def close(self) -> None:
        self.run.finish()


# ----------------------------------------------------------------------------- images


def colorize(a: np.ndarray, vmin: float, vmax: float, cmap: str) -> np.ndarray:
    """A 2D array as an RGB uint8 image ``[H, W, 3]`` (row 0 on top)."""
    from matplotlib import colormaps

    scaled = (np.asarray(a, np.float64) - vmin) / ((vmax - vmin) or 1.0)
    return (colormaps[cmap](np.clip(scaled, 0, 1))[..., :3] * 255).astype(np.uint8)


def _plane(field: np.ndarray) -> np.ndarray:
    """A ``[*spatial]`` field as an image plane: 2D transposed with y up, 3D its middle z slice."""
    field = middle_slice(field)
    return field.T[::-1] if field.ndim == 2 else field


def _upscale(img: np.ndarray, side: int) -> np.ndarray:
    k = max(1, MIN_IMAGE_PX // max(side, 1))
    return img.repeat(k, 0).repeat(k, 1)


def _grid(panels: list[list[np.ndarray]], gap: int = 2) -> np.ndarray:
    """RGB panels (equal shapes) in rows and columns, separated by white gaps."""
    h, w, _ = panels[0][0].shape
    out = np.full((len(panels) * (h + gap) - gap, max(map(len, panels)) * (w + gap) - gap, 3), 255, np.uint8)
    for i, row in enumerate(panels):
        for j, p in enumerate(row):
            out[i * (h + gap):i * (h + gap) + h, j * (w + gap):j * (w + gap) + w] = p
    return out


def rollout_image(series: dict[str, np.ndarray]) -> np.ndarray:
    """Real vs model rollouts of the first channel, each ``[T, *spatial]``: 1D as space-time panels
    side by side (time down), 2D/3D as one row of frames per series; colour range of the real data."""
    real = series["real"]
    vmin, vmax = float(real.min()), float(real.max())
    if real.ndim == 2:
        panels = [[_upscale(colorize(s, vmin, vmax, "RdBu_r"), max(s.shape)) for s in series.values()]]
    else:
        panels = [[_upscale(colorize(_plane(f), vmin, vmax, "RdBu_r"), max(real.shape[1:])) for f in s]
                  for s in series.values()]
    return _grid(panels)


def field_image(learned: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Learned | true (shared colour range, viridis) | learned − true (RdBu) of a field ``[*spatial]``."""
    learned, true = np.asarray(learned, np.float64), np.broadcast_to(np.asarray(true, np.float64), learned.shape)
    lo, hi = float(min(learned.min(), true.min())), float(max(learned.max(), true.max()))
    lim = float(np.abs(learned - true).max()) or 1.0
    planes = [(_plane(learned), lo, hi, "viridis"), (_plane(true), lo, hi, "viridis"),
              (_plane(learned - true), -lim, lim, "RdBu_r")]
    if learned.ndim == 1:  # a 1D field as a strip
        planes = [(p[None], a, b, c) for p, a, b, c in planes]
    return _grid([[_upscale(colorize(p, a, b, c), max(learned.shape)) for p, a, b, c in planes]])


# ----------------------------------------------------------------------------- the sink


class Tracker:
    """Sink of a run's records: TensorBoard events in `run_dir` (``output.tensorboard``) and the
    ``output.tracker`` run. `start_cycle`: the first cycle this invocation trains (resume)."""

    def __init__(self, cfg: Config, run_dir: Path, start_cycle: int, jobs: Background | None = None):
        self.cfg = cfg
        out = cfg.output
        self.enabled = out.tensorboard or out.tracker != "none"
        self.backends: list = []
        self.jobs = jobs or Background(enabled=False)
        if not (self.enabled and is_primary()):
            return
        warmup, per_cycle = epoch_steps(cfg)
        purge = 1 if start_cycle == 0 else warmup + start_cycle * per_cycle + 1
        if out.tensorboard:  # first in the worker's queue: tensorboardX is imported there
            self.jobs.submit("tensorboard", lambda: self.backends.insert(0, TensorBoardBackend(run_dir, purge, cfg)))
        if out.tracker != "none":  # here: a tracker that is not installed is a ConfigError at once
            self.backends.append({"mlflow": MLflowBackend, "wandb": WandbBackend}[out.tracker](run_dir, cfg))

    def write(self, record: dict) -> None:
        """Log one ``metrics.jsonl`` record's numbers."""
        if self.enabled and is_primary():
            self.jobs.submit("tracker scalars", self._log, record_scalars(record), {}, record_step(self.cfg, record))

    def _log(self, values: dict[str, float], images: dict[str, np.ndarray], step: int) -> None:
        for b in self.backends:
            b.scalars(values, step)
            for tag, img in images.items():
                b.image(tag, img, step)

    def cycle(self, cycle: int, exp, states: dict) -> None:
        """After cycle `cycle`: learned vs true parameters and (``output.track_images``) images."""
        if not self.enabled:
            return
        step = record_step(self.cfg, {"kind": "cycle", "cycle": cycle})
        summary = parameter_summary(exp, states)  # None when the physical model is not trained
        values = {}
        for name, err in (summary["relative_error"] if summary else {}).items():
            values[f"parameters/{name}/relative_error"] = err
            if name not in summary["learned"]:  # "summed": an error of several parameters, no value
                continue
            learned, true = summary["learned"][name], summary["true"][name]
            if isinstance(learned, float):
                values[f"parameters/{name}/learned"] = learned
                values[f"parameters/{name}/true"] = true if isinstance(true, float) else true["mean"]
            else:
                values[f"parameters/{name}/learned_mean"] = learned["mean"]
        arrays = self._image_arrays(exp, states) if self.cfg.output.track_images else None
        if is_primary():
            self.jobs.submit(f"tracker cycle {cycle}", self._render_and_log, values, arrays, step)

    def _render_and_log(self, values: dict[str, float], arrays: tuple | None, step: int) -> None:
        self._log(values, {} if arrays is None else images(*arrays), step)

    def _image_arrays(self, exp, states: dict) -> tuple[dict, dict, dict]:
        """What the images show, on the host (`images` renders them): a rollout of each trained model from
        the first validation trajectory (with the training's jitted generate function), the real data
        beside it, and each learned field with its true values."""
        sim = int(exp.val_windows[0, 0])
        # as many copies of the state as a cycle generates rollouts from, sharded alike: the training's own
        # compiled generate program, not a new trace and compilation for one state
        x0 = shard(exp.mesh, np.repeat(to_host(exp.real[sim:sim + 1, 0]), max(exp.num_generated, 1), axis=0))
        series = {name: to_host(getattr(exp, name).generate(states[name].params, x0))[0, ..., 0]
                  for name in trained_models(exp.cfg)}  # each model's generation length (trainer.hybrid.generation)
        frames = min([len(v) for v in series.values()] + [exp.real.shape[1]])
        series = {"real": to_host(exp.real[sim, :frames])[..., 0], **{k: v[:frames] for k, v in series.items()}}
        true = {k: np.asarray(v) for k, v in exp.pde.true_params().items()}
        learned = onto_true_grid(learned_params(exp, states) or {}, true)  # a field learned at reduced resolution
        return series, learned, true

    def close(self) -> None:
        """Close the backends (after every call before it, on the worker if there is one)."""
        if self.enabled and is_primary():
            self.jobs.submit("tracker close", self._close)

    def _close(self) -> None:
        for b in self.backends:
            b.close()
        self.backends = []


def images(series: dict[str, np.ndarray], learned: dict[str, np.ndarray], true: dict[str, np.ndarray]) -> dict:
    """The images of a cycle (`Tracker._image_arrays`' host arrays): ``rollout/validation`` and each learned
    field's ``parameters/<name>``."""
    out = {"rollout/validation": rollout_image(series)}
    out.update({f"parameters/{k}": field_image(v, true[k]) for k, v in learned.items() if v.ndim > 0})
    return out
