"""Figures of an interaction-coupling run (trainer.hybrid.coupling = interaction), written by
``hybrid_jax.run.interaction_task`` when output.plots is true:

- ``interaction_fields.png``: the physical rollout beside the neural field (first channel) on the physical
  grid, with the sensors. 1D: space–time images (x across, t down) with the sensors' paths; 2D: a few frames
  (first to last, evenly spaced) with the sensors nearest in time to each frame. Other dimensions: not drawn.
- ``interaction_losses.png``: each trained model's data misfit and match term over the epochs (log scale)
  and, when the physical model is trained, the relative error of each physical parameter.

Matplotlib is imported inside the functions (Agg backend), so importing this module costs nothing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hybrid_jax.files import atomic_write

MODELS = ("physical", "synthetic")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=90))
    import matplotlib.pyplot as plt

    plt.close(fig)


def write_interaction_plots(folder: Path, fields: Path, sensors, lines: list[dict], num_frames: int = 4) -> list[Path]:
    """Write the figures into `folder` from ``fields.npz`` (`fields`: times, coords, physical, synthetic), the
    `sensors` (`hybrid_jax.data.sensors.SensorData`) and the run's ``kind: interaction`` metrics lines; returns
    the paths written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with np.load(fields, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    out = []
    path = fields_figure(folder / "interaction_fields.png", arrays, sensors, num_frames)
    if path is not None:
        out.append(path)
    if lines:
        out.append(losses_figure(folder / "interaction_losses.png", lines))
    return out


def fields_figure(path: Path, arrays: dict, sensors, num_frames: int) -> Path | None:
    """The physical rollout and the neural field with the sensors (module docstring); None for a grid that is
    neither 1D nor 2D."""
    plt = _pyplot()
    coords, times = arrays["coords"], arrays["times"]
    ndim = coords.shape[-1]
    fields = {m: arrays[m][..., 0] for m in MODELS}
    lo = min(float(np.min(v)) for v in fields.values())
    hi = max(float(np.max(v)) for v in fields.values())
    pos, s_times = np.asarray(sensors.positions), np.asarray(sensors.times)
    if ndim == 1:
        x = coords[..., 0]
        fig, axes = plt.subplots(1, 2, figsize=(9, 4), sharey=True, squeeze=False)
        for ax, m in zip(axes[0], MODELS):
            im = ax.imshow(fields[m], aspect="auto", origin="upper", vmin=lo, vmax=hi, cmap="viridis",
                           extent=(float(x[0]), float(x[-1]), float(times[-1]), float(times[0])))
            ax.scatter(pos[..., 0].ravel(), np.repeat(s_times, pos.shape[1]), s=9, c="red", edgecolors="white",
                       linewidths=0.3)
            ax.set(title=f"{m}", xlabel="x")
        axes[0][0].set_ylabel("t")
        fig.colorbar(im, ax=list(axes[0]))
    elif ndim == 2:
        frames = np.unique(np.linspace(0, len(times) - 1, max(num_frames, 1)).round().astype(int))
        fig, axes = plt.subplots(2, len(frames), figsize=(2.6 * len(frames) + 1, 5.2), squeeze=False)
        ext = (float(coords[0, 0, 0]), float(coords[-1, 0, 0]), float(coords[0, 0, 1]), float(coords[0, -1, 1]))
        for j, k in enumerate(frames):
            near = int(np.argmin(np.abs(s_times - times[k])))
            for i, m in enumerate(MODELS):
                ax = axes[i][j]
                im = ax.imshow(fields[m][k].T, origin="lower", extent=ext, vmin=lo, vmax=hi, cmap="viridis")
                ax.scatter(pos[near, :, 0], pos[near, :, 1], s=12, c="red", edgecolors="white", linewidths=0.3)
                ax.set_xticks([])
                ax.set_yticks([])
                ax.set_title(f"{m} t={float(times[k]):.3g}", fontsize=8)
        fig.colorbar(im, ax=[a for row in axes for a in row])
    else:
        return None
    _save(fig, path)
    return path


def losses_figure(path: Path, lines: list[dict]) -> Path:
    """Data misfit and match term per trained model over the epochs; the parameter errors if recorded."""
    plt = _pyplot()
    epochs = np.asarray([ln["epoch"] for ln in lines])
    errors = sorted({p for ln in lines for p in ln.get("parameter_error", {})})
    fig, axes = plt.subplots(1, 2 if errors else 1, figsize=(10 if errors else 5.5, 4), squeeze=False)
    ax = axes[0][0]
    for m in MODELS:
        for term, style in (("data", "-"), ("match", "--")):
            v = np.asarray([ln.get(f"{m}_{term}", np.nan) for ln in lines], np.float64)
            if np.any(np.isfinite(v) & (v > 0)):
                ax.plot(epochs, v, style, label=f"{m} {term}")
    ax.set(yscale="log", xlabel="epoch", title="losses")
    ax.legend(fontsize=8)
    if errors:
        ax = axes[0][1]
        for p in errors:
            ax.plot(epochs, [ln.get("parameter_error", {}).get(p, np.nan) for ln in lines], label=p)
        ax.set(yscale="log", xlabel="epoch", title="parameter relative error")
        ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path)
    return path
