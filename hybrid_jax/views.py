"""Small views shared by the run's outputs (plots, trackers, sweep tables): nested dicts as dotted keys,
and a field's plottable slice."""

from __future__ import annotations

from typing import Any

import numpy as np


def flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``: the leaves of a nested dict under dotted keys."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        out.update(flatten(v, key + ".") if isinstance(v, dict) else {key: v})
    return out


def middle_slice(field: np.ndarray) -> np.ndarray:
    """A plottable 1D/2D view of a ``[*spatial]`` field: itself, or the middle z slice of a 3D one."""
    return field[..., field.shape[-1] // 2] if field.ndim == 3 else field
