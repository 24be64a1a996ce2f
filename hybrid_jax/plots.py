"""Figures of a run (matplotlib, Agg canvas, no pyplot state): PNGs and a rollout GIF.

`write_plots` writes into ``<run_dir>/plots/``:

    frames.png          real vs each trained model side by side at a few rollout steps (evaluation.num_frames),
                        every dynamic field (first validation trajectory)
    spacetime.png       1D only: space-time heatmaps real | each model | each model − real, per field
    rollout.gif         real vs models animated over the rollout, first field (needs pillow, a matplotlib dependency)
    rollout_error.png   RMSE, MAE, L∞, relative L2 and nRMSE vs rollout step, all models in each panel
    parameters.png      learned vs true parameters: fields as images/lines, scalars as bars
    losses.png          train and validation loss per cycle from metrics.jsonl
    generated_cycle_<c>_<direction>.png
                        rollouts generated in cycle c (saved in <run_dir>/generated/, see GENERATED_FILE)
                        beside real trajectories, and their spatial RMS per step

3D fields show their middle slice along the last axis. Under sparse
observations the observed region is outlined on the real frames.
"""

from __future__ import annotations

import json
import logging
import re
import zipfile
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from hybrid_jax.metrics import METRICS
from hybrid_jax.views import middle_slice

log = logging.getLogger(__name__)

_COLORS = {"real": "k", "physical": "tab:blue", "synthetic": "tab:orange"}


def _figure(w: float, h: float, layout: str | None = None) -> Figure:
    fig = Figure(figsize=(w, h), layout=layout)
    FigureCanvasAgg(fig)
    return fig


def _grid(w: float, h: float, rows: int, cols: int, left: float, right: float, top: float, bottom: float,
          wgap: float, hgap: float) -> tuple[Figure, np.ndarray]:
    """A `w` × `h` inch figure with a `rows` × `cols` grid of axes at fixed margins and gaps (inches): the
    layout a layout engine would find for panels of known labels, without its cost (it measures every
    text of every axes, twice, at each save)."""
    fig = _figure(w, h)
    aw = (w - left - right - (cols - 1) * wgap) / cols
    ah = (h - top - bottom - (rows - 1) * hgap) / rows
    axes = fig.subplots(rows, cols, squeeze=False, gridspec_kw=dict(
        left=left / w, right=1 - right / w, top=1 - top / h, bottom=bottom / h, wspace=wgap / aw, hspace=hgap / ah))
    return fig, axes


def _steps(horizon: int, n: int = 5) -> list[int]:
    return sorted(set(np.linspace(0, horizon, min(n, horizon + 1)).round().astype(int).tolist()))


def _draw(ax, data: dict[str, np.ndarray], t: int, vmin: float, vmax: float, mask: np.ndarray | None, row: str):
    """One panel: all series at step t (1D lines) or row `row` as an image (2D)."""
    first = middle_slice(data[row][t])
    if first.ndim == 1:
        x = (np.arange(len(first)) + 0.5) / len(first)
        for name, traj in data.items():
            ax.plot(x, middle_slice(traj[t]), color=_COLORS.get(name), lw=1.2 if name == "real" else 1.0,
                    ls="-" if name == "real" else "--", label=name)
        if mask is not None and not np.all(mask[t] > 0):
            ax.fill_between(x, vmin, vmax, where=middle_slice(mask[t]) > 0, color="0.9", step="mid", lw=0)
        ax.set_ylim(vmin, vmax)
        return None
    im = ax.imshow(first.T, origin="lower", vmin=vmin, vmax=vmax, cmap="RdBu_r", extent=(0, 1, 0, 1))
    if row == "real" and mask is not None and not np.all(mask[t] > 0) and middle_slice(mask[t]).any():
        ax.contour(middle_slice(mask[t]).T, levels=[0.5], colors="k", linewidths=0.8, extent=(0, 1, 0, 1))
    ax.set_xticks([])
    ax.set_yticks([])
    return im


def _series(rollouts: dict, models: tuple[str, ...], sample: int) -> dict[str, np.ndarray]:
    """``{"real" | model: [H+1, *spatial, C]}`` of one validation trajectory."""
    return {"real": rollouts["truth"][sample], **{m: rollouts[m][sample] for m in models}}


def _fields(rollouts: dict) -> tuple[str, ...]:
    """Names of the plotted (dynamic, leading) channels; all channels, numbered, if the rollouts have none."""
    return tuple(rollouts.get("fields") or (f"channel {i}" for i in range(rollouts["truth"].shape[-1])))


def plot_frames(rollouts: dict, models: tuple[str, ...], path: Path, sample: int = 0, num_frames: int = 5) -> Figure:
    """Real vs model rollouts side by side at `num_frames` steps, for every dynamic field: 2D/3D one row
    per (field, series), images; 1D one row per field, the series as overlaid lines."""
    series, fields = _series(rollouts, models, sample), _fields(rollouts)
    mask = rollouts.get("mask")
    steps = _steps(rollouts["horizon"], num_frames)
    one_d = middle_slice(series["real"][0, ..., 0]).ndim == 1
    rows = [(i, "real") for i in range(len(fields))] if one_d else [(i, s) for i in range(len(fields)) for s in series]
    fig, axes = _grid(2.0 * len(steps) + 1.2, 1.9 * len(rows) + 0.4, len(rows), len(steps),
                      left=0.75 if one_d else 0.45, right=0.15 if one_d else 0.3, top=0.3,
                      bottom=0.35 if one_d else 0.1, wgap=0.35 if one_d else 0.08,
                      hgap=0.35 if one_d else 0.08)
    for i, (c, row) in enumerate(rows):
        data = {name: traj[..., c] for name, traj in series.items()}
        vmin, vmax = float(data["real"].min()), float(data["real"].max())
        im = None
        for j, t in enumerate(steps):
            im = _draw(axes[i, j], data, t, vmin, vmax, mask, row) or im
            if i == 0:
                axes[i, j].set_title(f"step {t}")
        axes[i, 0].set_ylabel(fields[c] if one_d else f"{row}\n{fields[c]}", fontsize=8)
        if im is not None and row == "real":
            fig.colorbar(im, ax=axes[i:i + len(series), :], shrink=0.8, fraction=0.1, pad=0.03)
    if one_d:
        axes[0, 0].legend(fontsize=7)
    fig.savefig(path, dpi=80)
    return fig


def plot_spacetime(rollouts: dict, models: tuple[str, ...], path: Path, sample: int = 0) -> Figure:
    """1D space-time heatmaps (x across, rollout step up), one row per dynamic field:
    real | each model | each model − real. Models share the real field's colour range; errors use a
    symmetric range of their own per field."""
    series, fields = _series(rollouts, models, sample), _fields(rollouts)
    if series["real"].ndim != 3:
        raise ValueError(f"space-time heatmaps need 1D rollouts, got spatial shape {series['real'].shape[1:-1]}")
    panels = list(series) + [f"{m} − real" for m in models]
    fig = _figure(2.4 * len(panels) + 1.2, 2.3 * len(fields) + 0.4, layout="constrained")
    axes = fig.subplots(len(fields), len(panels), squeeze=False)
    extent = (0, 1, 0, rollouts["horizon"])
    for i, name in enumerate(fields):
        real = series["real"][..., i]
        vmin, vmax = float(real.min()), float(real.max())
        errors = {f"{m} − real": series[m][..., i] - real for m in models}
        lim = max([float(np.abs(e).max()) for e in errors.values()] + [1e-12])
        for j, panel in enumerate(panels):
            ax = axes[i, j]
            if panel in errors:
                im = ax.imshow(errors[panel], origin="lower", aspect="auto", extent=extent, cmap="RdBu_r",
                               vmin=-lim, vmax=lim)
            else:
                im = ax.imshow(series[panel][..., i], origin="lower", aspect="auto", extent=extent, cmap="viridis",
                               vmin=vmin, vmax=vmax)
            if j == len(series) - 1:
                fig.colorbar(im, ax=axes[i, :len(series)], shrink=0.8)
            elif j == len(panels) - 1:
                fig.colorbar(im, ax=axes[i, len(series):], shrink=0.8)
            ax.set_title(f"{panel} · {name}", fontsize=8)
            ax.set_xlabel("x / L", fontsize=7)
        axes[i, 0].set_ylabel("rollout step", fontsize=8)
    fig.savefig(path, dpi=80)
    return fig


def rollout_gif(rollouts: dict, models: tuple[str, ...], path: Path, sample: int = 0) -> bool:
    """Animated rollout, one panel per series (2D) or overlaid lines (1D); False if pillow is missing.

    Artists are drawn once and updated per frame (no layout engine), and each frame is drawn once, as
    the writer grabs it (``FuncAnimation.save`` drew every frame twice: once more for a canvas update that
    nothing displays; the GIF is byte for byte the same).
    """
    try:
        from matplotlib.animation import PillowWriter
    except ImportError:  # pragma: no cover
        return False
    fig, frame, frames = gif_figure(rollouts, models, sample)
    writer = PillowWriter(fps=4)
    try:
        with writer.saving(fig, path, dpi=60):
            for t in range(frames):
                frame(t)
                writer.grab_frame()
    except (ImportError, RuntimeError) as e:  # pillow missing or unusable
        log.warning("no rollout GIF: %s", e)
        return False
    return True


def gif_figure(rollouts: dict, models: tuple[str, ...], sample: int = 0):
    """(figure, ``frame(t)`` setting it to rollout step t, number of frames) of `rollout_gif`."""
    data = {"real": rollouts["truth"][sample, ..., 0], **{m: rollouts[m][sample, ..., 0] for m in models}}
    vmin, vmax = float(data["real"].min()), float(data["real"].max())
    one_d = middle_slice(data["real"][0]).ndim == 1
    rows = ["real"] if one_d else list(data)
    fig = Figure(figsize=(4.0 if one_d else 2.2 * len(rows), 2.4))
    FigureCanvasAgg(fig)
    axes = np.atleast_1d(fig.subplots(1, len(rows)))
    fig.subplots_adjust(left=0.08 if one_d else 0.02, right=0.98, bottom=0.1 if one_d else 0.02, top=0.86,
                        wspace=0.05)
    if one_d:
        x = (np.arange(data["real"].shape[1]) + 0.5) / data["real"].shape[1]
        artists = {name: axes[0].plot(x, middle_slice(traj[0]), color=_COLORS.get(name),
                                      ls="-" if name == "real" else "--",
                                      label=name)[0] for name, traj in data.items()}
        axes[0].set_ylim(vmin, vmax)
        axes[0].legend(fontsize=7, loc="upper right")
    else:
        artists = {}
        for ax, row in zip(axes, rows):
            artists[row] = ax.imshow(middle_slice(data[row][0]).T, origin="lower", vmin=vmin, vmax=vmax, cmap="RdBu_r")
            ax.set_xticks([])
            ax.set_yticks([])
    titles = [ax.set_title("", fontsize=9) for ax in axes]

    def frame(t):
        for name, art in artists.items():
            frame = middle_slice(data[name][t])
            (art.set_ydata if one_d else art.set_data)(frame if one_d else frame.T)
        for title, row in zip(titles, rows):
            title.set_text(f"{'rollout' if one_d else row} step {t}")

    return fig, frame, rollouts["horizon"] + 1


def plot_rollout_error(evaluation: dict, path: Path) -> Figure:
    """Every error metric the evaluation holds against rollout step, one panel per metric, all models
    in each panel."""
    keys = [k for k in METRICS if any(k in m for m in evaluation["models"].values())]
    fig, axes = _grid(2.9 * len(keys), 2.6, 1, len(keys), left=0.75, right=0.1, top=0.1, bottom=0.45, wgap=0.8, hgap=0)
    axes = axes[0]
    for ax, key in zip(axes, keys):
        for name, m in evaluation["models"].items():
            if key in m:
                steps = np.arange(1, len(m[key]) + 1)
                ax.semilogy(steps, np.maximum(m[key], 1e-12), marker=".", color=_COLORS.get(name), label=name)
        ax.set_xlabel("rollout step")
        ax.set_ylabel(METRICS[key].label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.savefig(path, dpi=80)
    return fig


def plot_parameters(learned: dict, true: dict, path: Path) -> None:
    """Learned vs true: each field as learned / true / difference (2D) or two lines (1D); scalars as bars.
    A field learned on another grid (trainer.physical.downsample_factor) is shown resampled onto the true one."""
    from hybrid_jax.evaluate import onto_true_grid

    learned = onto_true_grid(learned, true)
    true = {k: np.broadcast_to(np.asarray(v), learned[k].shape) if np.ndim(learned[k]) else np.asarray(v)
            for k, v in true.items()}
    fields = [k for k in learned if learned[k].ndim > 0]
    scalars = [k for k in learned if learned[k].ndim == 0]
    rows = [(k, "field") for k in fields] + ([("scalars", "bar")] if scalars else [])
    fig = _figure(8.0, 2.6 * len(rows))
    grid = fig.subplots(len(rows), 3, squeeze=False)
    for i, (name, kind) in enumerate(rows):
        if kind == "bar":
            ax = grid[i, 0]
            x = np.arange(len(scalars))
            ax.bar(x - 0.2, [float(learned[k]) for k in scalars], 0.4, label="learned", color="tab:blue")
            ax.bar(x + 0.2, [float(true[k]) for k in scalars], 0.4, label="true", color="0.5")
            ax.set_xticks(x, scalars, fontsize=8)
            ax.legend(fontsize=7)
            for ax in grid[i, 1:]:
                ax.set_visible(False)
            continue
        lv, tv = middle_slice(learned[name]), middle_slice(np.asarray(true[name], np.float64))
        if lv.ndim == 1:
            x = (np.arange(len(lv)) + 0.5) / len(lv)
            grid[i, 0].plot(x, tv, "k", label="true")
            grid[i, 0].plot(x, lv, "--", color="tab:blue", label="learned")
            grid[i, 0].set_title(name, fontsize=9)
            grid[i, 0].legend(fontsize=7)
            grid[i, 1].plot(x, lv - tv, color="tab:red")
            grid[i, 1].set_title("learned − true", fontsize=9)
            grid[i, 2].set_visible(False)
            continue
        vmin, vmax = float(min(lv.min(), tv.min())), float(max(lv.max(), tv.max()))
        for ax, img, title in ((grid[i, 0], lv, f"{name} learned"), (grid[i, 1], tv, f"{name} true")):
            im = ax.imshow(img.T, origin="lower", vmin=vmin, vmax=vmax, cmap="viridis")
            ax.set_title(title, fontsize=9)
        fig.colorbar(im, ax=grid[i, :2], shrink=0.8)
        d = lv - tv
        lim = float(np.abs(d).max()) or 1.0
        im = grid[i, 2].imshow(d.T, origin="lower", vmin=-lim, vmax=lim, cmap="RdBu_r")
        grid[i, 2].set_title("learned − true", fontsize=9)
        fig.colorbar(im, ax=grid[i, 2], shrink=0.8)
        for ax in grid[i]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.savefig(path, dpi=80)


def plot_losses(metrics_path: Path, path: Path) -> bool:
    """Train and validation loss per cycle and model from ``metrics.jsonl``; False if it holds no cycle."""
    if not metrics_path.is_file():
        return False
    cycles = []
    for line in metrics_path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:  # empty, or cut short by a crash
            continue
        if record.get("kind") == "cycle":
            cycles.append(record)
    if not cycles:
        return False
    fig = _figure(5.0, 3.0)
    ax = fig.subplots()
    x = [c["cycle"] + 1 for c in cycles]
    for name in ("synthetic", "physical"):
        for key, ls in ((f"{name}_train_loss", "-"), (f"{name}_val_loss", "--")):
            y = [c.get(key) for c in cycles]
            if any(v is not None for v in y):
                ax.semilogy(x, [np.nan if v is None else max(v, 1e-30) for v in y], ls, marker="o", ms=3,
                            color=_COLORS[name], label=key.replace("_", " "))
    ax.set_xlabel("cycle")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.savefig(path, dpi=80)
    return True


GENERATED_FILE = re.compile(r"cycle_(\d+)_([A-Za-z0-9]+)\.npz")
"""``<run_dir>/generated/cycle_<c>_<direction>.npz`` (written by output.save_generated): array ``trajectories``
[M, L, *spatial, C], the M rollouts
of L frames (start state first) generated in cycle c (0-based) by the model `direction` names."""


def generated_files(folder: Path) -> list[tuple[int, str, Path]]:
    """``(cycle, direction, path)`` of each generated-rollout file in `folder`, by cycle then direction."""
    found = [(int(m.group(1)), m.group(2), p) for p in folder.iterdir() if (m := GENERATED_FILE.fullmatch(p.name))]
    return sorted(found)


def plot_generated(states: np.ndarray, real: np.ndarray, fields: tuple[str, ...], path: Path, title: str = "",
                   num_frames: int = 5, max_rollouts: int = 3) -> Figure:
    """Generated rollouts ``[M, L, *spatial, C]`` beside real trajectories ``[N, T, *spatial, C]``.

    Top: the first field of up to `max_rollouts` generated rollouts and as many real trajectories, on the
    real data's colour range: 1D as space-time heatmaps (x across, step up), 2D/3D as frames at
    `num_frames` steps. Bottom: the spatial RMS of each field against step, every generated rollout
    (coloured) and every real trajectory (grey): generated data far from the real data's range shows here.
    """
    gen, ref = states[:max_rollouts], real[:max_rollouts]
    one_d = states.ndim == 4
    rows = [(f"generated {i}", t) for i, t in enumerate(gen)] + [(f"real {i}", t) for i, t in enumerate(ref)]
    steps = _steps(states.shape[1] - 1, num_frames)
    width, top_h = (1.8 * len(rows) + 1.2, 2.8) if one_d else (2.0 * len(steps) + 1.2, 1.9 * len(rows))
    fig = _figure(max(width, 2.6 * len(fields) + 0.5), top_h + 2.6, layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[top_h, 2.4])
    vmin, vmax = float(real[..., 0].min()), float(real[..., 0].max())
    if one_d:
        axes = top.subplots(1, len(rows), squeeze=False)[0]
        for ax, (name, traj) in zip(axes, rows):
            im = ax.imshow(traj[..., 0], origin="lower", aspect="auto", extent=(0, 1, 0, traj.shape[0] - 1),
                           cmap="viridis", vmin=vmin, vmax=vmax)
            ax.set_title(name, fontsize=8)
            ax.set_xlabel("x / L", fontsize=7)
        axes[0].set_ylabel("step", fontsize=8)
    else:
        axes = top.subplots(len(rows), len(steps), squeeze=False)
        for i, (name, traj) in enumerate(rows):
            for j, t in enumerate(steps):
                ax = axes[i, j]
                if t < traj.shape[0]:
                    im = ax.imshow(middle_slice(traj[t, ..., 0]).T, origin="lower", cmap="RdBu_r", vmin=vmin, vmax=vmax)
                ax.set_xticks([])
                ax.set_yticks([])
                if i == 0:
                    ax.set_title(f"step {t}", fontsize=8)
            axes[i, 0].set_ylabel(name, fontsize=8)
    top.colorbar(im, ax=axes, shrink=0.8, label=fields[0])
    top.suptitle(title or "generated rollouts beside real data", fontsize=9)
    stat_axes = np.atleast_1d(bottom.subplots(1, len(fields)))
    reduce = tuple(range(2, states.ndim - 1))
    for c, (ax, name) in enumerate(zip(stat_axes, fields)):
        for label, data, color in (("real", real, "0.6"), ("generated", states, "tab:red")):
            rms = np.sqrt(np.mean(data[..., c].astype(np.float64) ** 2, axis=reduce))  # [M or N, frames]
            for k, line in enumerate(rms):
                ax.plot(line, color=color, lw=0.8, label=label if k == 0 else None)
        ax.set_xlabel("step", fontsize=8)
        ax.set_ylabel(f"RMS {name}", fontsize=8)
        ax.grid(alpha=0.3)
    stat_axes[0].legend(fontsize=7)
    fig.savefig(path, dpi=80)
    return fig


def write_generated_plots(folder: Path, real: np.ndarray, fields: tuple[str, ...], out_dir: Path,
                          num_frames: int = 5) -> list[Path]:
    """``generated_cycle_<c>_<direction>.png`` in `out_dir` for every generated-rollout file in `folder`
    (`GENERATED_FILE`); a file that is unreadable or does not match the real data's grid and channels is
    skipped with a warning."""
    written = []
    for cycle, direction, src in generated_files(folder):
        try:
            with np.load(src, allow_pickle=False) as npz:
                states = npz["trajectories"]
        except (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
            log.warning("%s: not a generated-rollout file (%s); no plot", src, e)
            continue
        if states.ndim != real.ndim or states.shape[2:] != real.shape[2:] or states.shape[1] < 1:
            log.warning("%s: states %s do not match the real data [N, T, %s]; no plot", src, list(states.shape),
                        ", ".join(map(str, real.shape[2:])))
            continue
        out = out_dir / f"generated_cycle_{cycle}_{direction}.png"
        plot_generated(states, real, fields, out, f"cycle {cycle}: {direction} rollouts vs real", num_frames)
        written.append(out)
    return written


def write_plots(out_dir: Path, rollouts: dict | None, evaluation: dict | None, learned: dict | None, true: dict,
                models: tuple[str, ...], metrics_path: Path | None, num_frames: int = 5,
                generated_dir: Path | None = None, real: np.ndarray | None = None) -> list[Path]:
    """Write every figure that the available results allow into `out_dir` (`learned` None: the physical
    model was not trained, no parameter figure; `metrics_path` None: no loss figure; `generated_dir` and
    `real` [N, T, *spatial, C]: the generated rollouts saved there beside the real trajectories); return
    their paths. Calls with disjoint inputs draw disjoint figures (a run draws those of the training while
    it evaluates)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    if rollouts is not None:
        plot_frames(rollouts, models, out_dir / "frames.png", num_frames=num_frames)
        written.append(out_dir / "frames.png")
        if rollouts["truth"].ndim == 4:
            plot_spacetime(rollouts, models, out_dir / "spacetime.png")
            written.append(out_dir / "spacetime.png")
        if rollout_gif(rollouts, models, out_dir / "rollout.gif"):
            written.append(out_dir / "rollout.gif")
    if evaluation is not None:
        plot_rollout_error(evaluation, out_dir / "rollout_error.png")
        written.append(out_dir / "rollout_error.png")
    if learned is not None:
        plot_parameters(learned, true, out_dir / "parameters.png")
        written.append(out_dir / "parameters.png")
    if metrics_path is not None and plot_losses(metrics_path, out_dir / "losses.png"):
        written.append(out_dir / "losses.png")
    if generated_dir is not None and real is not None and generated_dir.is_dir():
        fields = _fields(rollouts) if rollouts is not None else tuple(f"channel {i}" for i in range(real.shape[-1]))
        written += write_generated_plots(generated_dir, real, fields, out_dir, num_frames)
    return written
