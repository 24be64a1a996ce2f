"""What several trajectory readers check: a `.npy` header, and stored coordinates against the config.

Below the readers (`formats`, `safe_pickle`, `scene`, `original`), which share it instead of importing
each other.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hybrid_jax.errors import DataError

AXES = "xyz"
_REL_TOL = 1e-3  # coordinates vs config


def npy_header(f) -> tuple[tuple[int, ...], bool, np.dtype]:
    """``(shape, fortran_order, dtype)`` from the `.npy` header at the start of the open file `f`
    (ValueError if it has none)."""
    version = np.lib.format.read_magic(f)
    read = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    if version not in read:
        raise ValueError(f"unsupported .npy format version {version}")
    return read[version](f)


def check_coordinates(path: Path, pde, coords: dict[str, np.ndarray]) -> None:
    """Check cell-centre coordinates `x`, `y`, `z` against physics.domain and `t` spacing against physics.dt."""
    cfg = getattr(pde, "cfg", None)
    for name, c in coords.items():
        c = np.asarray(c, np.float64).ravel()
        if len(c) < 2:
            continue
        step = np.diff(c)
        if not np.allclose(step, step[0], rtol=_REL_TOL, atol=0):
            raise DataError(f"{path}: {name} coordinates are not uniformly spaced")
        if cfg is None:
            continue
        if name == "t":
            key, expected, found = "physics.dt", cfg.dt, step[0]
        else:
            d = AXES.index(name)
            if d >= len(cfg.domain):
                raise DataError(f"{path}: has {name} coordinates but physics.resolution has {len(cfg.domain)} entries")
            key, expected, found = f"physics.domain[{d}]", cfg.domain[d], step[0] * len(c)
        if not np.isclose(found, expected, rtol=_REL_TOL, atol=0):
            what = "frame spacing" if name == "t" else "domain length (cells × spacing)"
            raise DataError(f"{path}: {name} coordinates give a {what} of {found:.6g}, but {key} = {expected:.6g} "
                            f"(one frame must be one physics step; set {key} to match the data)")
