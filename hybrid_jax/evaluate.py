"""Evaluation: rollouts of both models from the validation initial states, and parameter error."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from hybrid_jax.training.loop import Experiment, trained_models
from hybrid_jax.training.models import decode_physical


def rollout_errors(pred: np.ndarray, truth: np.ndarray) -> dict:
    """Per-step errors of ``pred`` vs ``truth`` ``[B, H, *spatial, C]``.

    rmse[t]: root mean square error over samples, cells and channels; rel_l2[t]: mean over samples
    of ‖pred−truth‖/‖truth‖; nrmse[t]: rmse[t] / RMS(truth[:, t]). Also their means over steps.
    """
    err = (pred - truth).reshape(pred.shape[0], pred.shape[1], -1)
    ref = truth.reshape(err.shape)
    rmse = np.sqrt(np.mean(err**2, axis=(0, 2)))
    rel = np.mean(np.linalg.norm(err, axis=2) / np.maximum(np.linalg.norm(ref, axis=2), 1e-12), axis=0)
    nrmse = rmse / np.maximum(np.sqrt(np.mean(ref**2, axis=(0, 2))), 1e-12)
    out = {"rmse": rmse, "rel_l2": rel, "nrmse": nrmse}
    summary = {f"mean_{k}": float(v.mean()) for k, v in out.items()}
    summary.update({f"final_{k}": float(v[-1]) for k, v in out.items()})
    return {**{k: v.tolist() for k, v in out.items()}, **summary}


def parameter_errors(learned: dict, true: dict) -> dict:
    """Relative error of each parameter: |l−t|/|t| for scalars, ‖l−t‖₂/‖t‖₂ for fields
    (a scalar learned for a true field is broadcast onto it)."""
    out = {}
    for name, t in true.items():
        t, l_ = np.asarray(t, np.float64), np.asarray(learned[name], np.float64)
        if t.ndim == 0 and l_.ndim == 0:
            out[name] = float(abs(l_ - t) / abs(t))
        else:
            l_, t = np.broadcast_arrays(l_, t)
            out[name] = float(np.linalg.norm(l_ - t) / np.linalg.norm(t))
    return out


def describe_params(params: dict) -> dict:
    """JSON summary of parameters: the value of scalars, min/mean/max of fields."""
    out = {}
    for name, v in params.items():
        v = np.asarray(v)
        out[name] = float(v) if v.ndim == 0 else {"mean": float(v.mean()), "min": float(v.min()),
                                                   "max": float(v.max()), "shape": list(v.shape)}
    return out


def evaluate(exp: Experiment, states: dict, horizon: int | None = None) -> dict:
    """Roll out the trained models `horizon` steps (default: T−1) from each validation trajectory's
    first frame; per-step errors against the real trajectory, and the physical parameter error."""
    n_frames = exp.real.shape[1]
    horizon = min(horizon or n_frames - 1, n_frames - 1)
    sims = np.unique(exp.val_windows[:, 0])
    x0, truth = exp.real[sims, 0], np.asarray(exp.real[sims, 1:1 + horizon])
    nd = exp.pde.layout.num_dynamic
    result: dict = {"horizon": horizon, "validation_trajectories": sims.tolist(), "models": {}}
    for name in trained_models(exp.cfg):
        fns = getattr(exp, name)
        pred = jax.jit(lambda p, x: fns.predict(p, x, horizon))(states[name].params, x0)
        result["models"][name] = rollout_errors(np.asarray(pred)[..., :nd], truth[..., :nd])
    learned = decode_physical(exp.pde, states["physical"].params)
    true = exp.pde.true_params()
    result["parameters"] = {"learned": describe_params(learned), "true": describe_params(true),
                            "relative_error": parameter_errors(learned, true)}
    return result
