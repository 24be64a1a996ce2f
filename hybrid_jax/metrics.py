"""Rollout error metrics: a registry of plain functions with their labels (NumPy only).

A metric maps the error and the truth of a rollout, each ``[B, H, N]`` (samples, steps, cells ×
channels), to one value per step ``[H]``. The evaluation computes every registered metric
(``evaluation.json``: the per-step list ``<name>``, ``mean_<name>`` and ``final_<name>``); the plots
draw one panel each, the comparison table, the sweep's default column and the command-line
reports read their labels here. `register_metric` adds one in this one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

MetricFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``fn(err [B, H, N], truth [B, H, N]) -> [H]``."""


@dataclass(frozen=True)
class Metric:
    """A per-step error metric: its function, `label` (figure axes) and `short` label (tables, logs)."""

    fn: MetricFn
    label: str
    short: str


METRICS: dict[str, Metric] = {}
"""Every registered metric by name, in the order figures and tables show them."""

HEADLINE = "rel_l2"
"""The metric of the command-line reports, the comparison's claims and the sweep's default column."""


def register_metric(name: str, fn: MetricFn, label: str, short: str | None = None) -> None:
    """Add (or replace) metric `name`: ``fn(err [B, H, N], truth [B, H, N]) -> [H]``."""
    if not name.isidentifier():
        raise ValueError(f"metric name must be an identifier, got {name!r}")
    METRICS[name] = Metric(fn, label, short or label)


def _rmse(err, ref):
    return np.sqrt(np.mean(err**2, axis=(0, 2)))


register_metric("rmse", _rmse, "RMSE")
register_metric("mae", lambda err, ref: np.mean(np.abs(err), axis=(0, 2)), "MAE")
register_metric("linf", lambda err, ref: np.max(np.abs(err), axis=(0, 2)), "L∞ error", "L∞")
register_metric("rel_l2", lambda err, ref: np.mean(np.linalg.norm(err, axis=2) /
                                                   np.maximum(np.linalg.norm(ref, axis=2), 1e-12), axis=0),
                "relative L2 error", "rel. L2")
register_metric("nrmse", lambda err, ref: _rmse(err, ref) / np.maximum(np.sqrt(np.mean(ref**2, axis=(0, 2))), 1e-12),
                "nRMSE")


def step_errors(pred: np.ndarray, truth: np.ndarray) -> dict[str, np.ndarray]:
    """Every metric of ``pred`` vs ``truth`` ``[B, H, *spatial, C]``, each an array ``[H]``.

    rmse: root mean square error over samples, cells and channels; rel_l2: mean over samples of
    ‖pred−truth‖₂/‖truth‖₂; nrmse: rmse / RMS(truth at that step); mae: mean |pred−truth|;
    linf: max |pred−truth| over samples, cells and channels.
    """
    err = (pred - truth).reshape(pred.shape[0], pred.shape[1], -1)
    ref = truth.reshape(err.shape)
    return {name: m.fn(err, ref) for name, m in METRICS.items()}


def summary_keys() -> tuple[str, ...]:
    """The scalar keys of a model's evaluation: the headline's mean and final value, every other mean."""
    return (f"mean_{HEADLINE}", f"final_{HEADLINE}") + tuple(f"mean_{k}" for k in METRICS if k != HEADLINE)


def key_label(key: str) -> str:
    """``mean_rel_l2`` -> ``mean rel. L2`` (a summary key's short label)."""
    stat, _, name = key.partition("_")
    return f"{stat} {METRICS[name].short}"


def headline(model_evaluation: dict) -> str:
    """``mean rel. L2 1.234e-02, final rel. L2 2.345e-02`` of one model's evaluation."""
    return ", ".join(f"{key_label(k)} {model_evaluation[k]:.3e}" for k in summary_keys()[:2])
