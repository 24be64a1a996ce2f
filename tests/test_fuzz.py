"""Property-based tests: the config loader, window indexing and the data-file reader accept valid
input and reject everything else with their own clear validation errors, never a crash."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hybrid_jax.config import Config, ConfigError, config_from_dict, reference
from hybrid_jax.data.store import DataError, load_files
from hybrid_jax.data.windows import window_index
from hybrid_jax.physics import build_pde

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
KEYS = [key for key, *_ in reference() if "[" not in key] + ["physics.resolution", "physics.dt", "physics.name",
                                                            "network.architecture", "network.levels", "network.layers"]
values = st.one_of(st.none(), st.booleans(), st.integers(-5, 100), st.floats(allow_nan=True, allow_infinity=True),
                   st.text(max_size=8), st.lists(st.integers(-2, 64), max_size=4),
                   st.sampled_from(["burgers", "gray_scott", "hybrid", "unet", "files", "lbfgs", "box"]),
                   st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))


def _nest(pairs: dict) -> dict:
    out: dict = {}
    for dotted, value in pairs.items():
        node = out
        *parents, leaf = dotted.split(".")
        for p in parents:
            node = node.setdefault(p, {}) if isinstance(node.get(p, {}), dict) else {}
        node[leaf] = value
    return out


@SETTINGS
@given(st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(min_size=1, max_size=10)), values, max_size=6))
def test_fuzz_config_loader_only_raises_config_errors(pairs):
    try:
        cfg = config_from_dict(_nest(pairs))
    except ConfigError as e:
        assert str(e) and "\n" not in str(e)  # one line naming the key
    else:
        assert isinstance(cfg, Config)


@SETTINGS
@given(n_sims=st.integers(1, 6), frames=st.integers(1, 30), horizon=st.integers(1, 30), stride=st.integers(1, 7))
def test_fuzz_window_index_stays_inside_trajectories(n_sims, frames, horizon, stride):
    sims = np.arange(n_sims) * 3
    try:
        w = window_index(sims, frames, horizon, stride)
    except ValueError as e:
        assert horizon >= frames and "no window" in str(e)
        return
    assert w.dtype == np.int32 and len(w) == n_sims * len(range(0, frames - horizon, stride))
    assert np.all(w[:, 1] >= 0) and np.all(w[:, 1] + horizon <= frames - 1) and set(w[:, 0]) <= set(sims)
    assert np.all(w[:, 1] % stride == 0)


@SETTINGS
@given(n=st.integers(0, 3), t=st.integers(0, 5), nx=st.sampled_from([8, 16]), c=st.integers(0, 2),
       extra_dim=st.booleans(), dtype=st.sampled_from([np.float32, np.float64, np.int32]),
       bad_value=st.sampled_from([None, np.nan, np.inf]), fields=st.sampled_from([("vel_x",), ("u",), ()]),
       drop=st.sampled_from([None, "trajectories", "fields"]), garbage=st.booleans())
def test_fuzz_data_file_reader_validates(tmp_path_factory, n, t, nx, c, extra_dim, dtype, bad_value, fields, drop,
                                         garbage):
    from hybrid_jax.physics.burgers import BurgersConfig

    pde = build_pde(BurgersConfig(resolution=(16,), domain=(1.0,)))
    path = tmp_path_factory.mktemp("f") / "d.npz"
    shape = (n, t, nx) + ((2,) if extra_dim else ()) + (c,)
    traj = np.zeros(shape, dtype)
    if bad_value is not None and traj.size and dtype != np.int32:
        traj.flat[traj.size // 2] = bad_value
    arrays = {"trajectories": traj, "fields": np.array(fields)}
    if drop:
        arrays.pop(drop)
    if garbage:
        path.write_bytes(b"PK\x03\x04 truncated")
    else:
        np.savez(path, **arrays)
    valid = (not garbage and drop is None and shape == (n, t, 16, 1) and n >= 2 and t >= 3 and dtype == np.float32
             and bad_value is None and fields == ("vel_x",))
    try:
        out = load_files(path, pde, horizon=2)
    except DataError as e:
        assert not valid, e
        assert str(path) in str(e) or "data.path" in str(e)
    else:
        assert valid and out.shape == shape and out.dtype == np.float32
