"""Evaluation: rollouts of both models from the validation initial states, and parameter error."""

from __future__ import annotations

import jax
import numpy as np

from hybrid_jax.data.masks import is_full
from hybrid_jax.metrics import step_errors
from hybrid_jax.parallel import replicate, to_host
from hybrid_jax.experiment import Experiment
from hybrid_jax.physics.base import decode_physical


def learned_params(exp: Experiment, states: dict) -> dict | None:
    """The physical model's current parameters in physical units, as host arrays; None when the run
    does not train the physical model (its parameters are then the initial guess, not a result)."""
    if "physical" not in exp.models:
        return None
    return {k: np.asarray(v) for k, v in
            decode_physical(exp.pde, jax.tree.map(to_host, states["physical"].params)).items()}


def parameter_summary(exp: Experiment, states: dict) -> dict | None:
    """Learned vs true physical parameters, ``{learned, true, relative_error}`` (JSON), or None when
    the run does not train the physical model. The one place summaries, evaluation and logs get it."""
    learned = learned_params(exp, states)
    if learned is None:
        return None
    return parameter_report(exp.pde, learned, exp.pde.true_params())


def parameter_report(pde, learned: dict, true: dict) -> dict:
    """``{learned, true, relative_error}`` (JSON) of physical parameters, with `with_fields`' fields;
    with parametric fields also ``relative_error["summed"]`` (see `with_fields`)."""
    learned, true = with_fields(pde, learned), with_fields(pde, true)
    errors = parameter_errors(learned, true)
    parametric = [k for k in errors if "." in k]  # "<coefficient>.<parameter>" of a parametric field
    if parametric:
        errors["summed"] = float(sum(errors[k] for k in parametric))
    return {"learned": describe_params(learned), "true": describe_params(true), "relative_error": errors}


def with_fields(pde, params: dict) -> dict:
    """`params` plus, for each parametric coefficient field of `pde`
    (`LearnedCoefficients.coefficient_fields`), its field on the grid as ``"<name>(x)"`` (host array).

    `parameter_summary` reports the relative error of each entry and, with parametric fields,
    ``"summed"``: the sum of the relative errors of their parameters (the HYCO papers'
    ‖a−a*‖/‖a*‖ + ‖c−c*‖/‖c*‖)."""
    fields = getattr(pde, "coefficient_fields", None)
    if fields is None:
        return params
    return {**params, **{f"{k}(x)": np.asarray(v) for k, v in fields(params).items()}}


def _with_summary(per_step: dict[str, np.ndarray]) -> dict:
    """JSON form: each per-step list, and its ``mean_<k>`` over steps and ``final_<k>`` (last step)."""
    out: dict = {k: v.tolist() for k, v in per_step.items()}
    out.update({f"mean_{k}": float(v.mean()) for k, v in per_step.items()})
    out.update({f"final_{k}": float(v[-1]) for k, v in per_step.items()})
    return out


def rollout_errors(pred: np.ndarray, truth: np.ndarray, fields: tuple[str, ...] | None = None) -> dict:
    """Per-step errors (`step_errors`) of ``pred`` vs ``truth`` ``[B, H, *spatial, C]`` over all channels,
    with their means over steps and final values; with `fields` (one name per channel) also
    ``"fields": {name: the same for that channel alone}``."""
    out = _with_summary(step_errors(pred, truth))
    if fields is not None:
        if len(fields) != pred.shape[-1]:
            raise ValueError(f"{len(fields)} field names for {pred.shape[-1]} channels")
        out["fields"] = {f: _with_summary(step_errors(pred[..., i:i + 1], truth[..., i:i + 1]))
                         for i, f in enumerate(fields)}
    return out


def resample_periodic(field: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Linear interpolation of a cell-centred periodic field ``[*spatial]`` onto `shape` (same rank)."""
    out = np.asarray(field, np.float64)
    for axis, n_new in enumerate(shape):
        n_old = out.shape[axis]
        if n_old == n_new:
            continue
        x_old, x_new = (np.arange(n_old) + 0.5) / n_old, (np.arange(n_new) + 0.5) / n_new
        out = np.apply_along_axis(lambda v: np.interp(x_new, x_old, v, period=1.0), axis, out)
    return out


def onto_true_grid(learned: dict, true: dict) -> dict:
    """`learned` with every field learned on another grid of the same rank as its true field
    (trainer.physical.downsample_factor) resampled onto the true one (`resample_periodic`)."""
    learned = {k: np.asarray(v) for k, v in learned.items()}
    return {k: resample_periodic(v, np.shape(true[k]))
            if 0 < v.ndim == np.ndim(true[k]) and v.shape != np.shape(true[k]) else v for k, v in learned.items()}


def parameter_errors(learned: dict, true: dict) -> dict:
    """Relative error of each parameter: |l−t|/|t| for scalars, ‖l−t‖₂/‖t‖₂ for fields
    (a scalar learned for a true field is broadcast onto it; a field learned on another grid of the
    same rank is first resampled to the true field's grid, periodic linear interpolation)."""
    out = {}
    for name, t in true.items():
        t, l_ = np.asarray(t, np.float64), np.asarray(learned[name], np.float64)
        if t.ndim == 0 and l_.ndim == 0:
            out[name] = float(abs(l_ - t) / abs(t))
        else:
            if l_.ndim == t.ndim and l_.shape != t.shape:
                l_ = resample_periodic(l_, t.shape)
            l_, t = np.broadcast_arrays(l_, t)
            out[name] = float(np.linalg.norm(l_ - t) / np.linalg.norm(t))
    return out


def describe_params(params: dict) -> dict:
    """JSON summary of parameters: the value of scalars, min/mean/max (and shape) of arrays."""
    out = {}
    for name, v in params.items():
        v = np.asarray(v)
        out[name] = float(v) if v.ndim == 0 else {"mean": float(v.mean()), "min": float(v.min()),
                                                   "max": float(v.max()), "shape": list(v.shape)}
    return out


def validation_rollouts(exp: Experiment, states: dict, horizon: int | None = None,
                        clean: np.ndarray | None = None) -> dict:
    """Rollouts of the trained models `horizon` steps (default and cap: T−1) from each validation
    trajectory's first frame: ``{"horizon", "sims", "fields" (names of the dynamic channels, which come
    first), "truth": [S, H+1, *spatial, C] (x0 first), "mask": [H+1, *spatial], "against" ("clean" or
    "training data"), <model>: [S, H+1, *spatial, C]}`` as numpy arrays.
    `clean`: the noise-free real trajectories ``[N, T, *spatial, C]`` (data.truth.noise): the rollouts start
    from and are compared with them; default: the training data `exp.real`."""
    n_frames = exp.real.shape[1]
    horizon = min(horizon or n_frames - 1, n_frames - 1)
    sims = np.unique(exp.val_windows[:, 0])
    real = to_host(exp.real) if clean is None else np.asarray(clean)
    x0 = replicate(exp.mesh, real[sims, 0])
    out = {"horizon": horizon, "sims": sims, "fields": exp.pde.layout.dynamic, "truth": real[sims, :1 + horizon],
           "mask": to_host(exp.real_mask)[:1 + horizon], "against": "training data" if clean is None else "clean"}
    for name in exp.models:
        fns = exp.model(name)
        pred = jax.jit(lambda p, x: fns.predict(p, x, horizon))(states[name].params, x0)
        out[name] = np.concatenate([real[sims, :1], to_host(pred)], axis=1)
    return out


def region_errors(pred: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> dict:
    """Mean RMSE over steps and samples inside and outside the observed cells (mask ``[H, *spatial]``)."""
    sq = np.sum((pred - truth) ** 2, axis=-1) / pred.shape[-1]  # [B, H, *spatial]
    m = np.broadcast_to(mask[None] > 0, sq.shape)
    out = {}
    for key, sel in (("observed", m), ("unobserved", ~m)):
        out[f"mean_rmse_{key}"] = float(np.sqrt(sq[sel].mean())) if sel.any() else None
    return out


def evaluate(exp: Experiment, states: dict, horizon: int | None = None, rollouts: dict | None = None, *,
             noise_std: float) -> dict:
    """Roll out the trained models `horizon` steps (default: T−1) from each validation trajectory's
    first frame; per-step errors (every metric of `hybrid_jax.metrics`, over all dynamic fields and per field)
    against the full
    real trajectory (and, under sparse observations, RMSE inside/outside the observed cells), and the
    physical parameter error (if it is trained).
    `rollouts`: the result of `validation_rollouts` if already computed; `noise_std`: the observation
    noise of the training data (data.truth.noise.std), reported beside the truth it is compared with."""
    r = rollouts if rollouts is not None else validation_rollouts(exp, states, horizon)
    horizon, nd = r["horizon"], exp.pde.layout.num_dynamic
    truth = r["truth"][:, 1:, ..., :nd]
    fields = exp.pde.layout.dynamic
    result: dict = {"horizon": horizon, "validation_trajectories": r["sims"].tolist(), "fields": list(fields),
                    "truth": {"against": r.get("against", "training data"),
                              "observation_noise_std": noise_std},
                    "models": {}}
    sparse = not is_full(r["mask"])
    for name in exp.models:
        pred = r[name][:, 1:, ..., :nd]
        result["models"][name] = rollout_errors(pred, truth, fields)
        if sparse:
            result["models"][name].update(region_errors(pred, truth, r["mask"][1:]))
    params = parameter_summary(exp, states)
    if params is not None:
        result["parameters"] = params
    return result
