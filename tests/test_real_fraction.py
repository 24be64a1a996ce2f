"""trainer.hybrid.real_fraction: each hybrid epoch draws a fraction of the real windows (the original
system's alpha), anew per epoch from the epoch's seed; step counts follow."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import tiny_dict
from hybrid_jax.config import ConfigError, config_from_dict
from hybrid_jax.data.sources import GENERATED, REAL, WindowSource, epoch_subset, kept_windows, mixed_batches
from hybrid_jax.training.budget import planned_steps


def _windows(n):
    return np.stack([np.arange(n) // 10, np.arange(n) % 10], axis=1)


def test_an_epoch_draws_the_fraction_without_replacement_anew_per_seed():
    src = WindowSource(_windows(96), REAL, 1.0, fraction=0.2)
    a, b, c = (epoch_subset(src, s, 0) for s in (7, 7, 8))
    assert len(a) == kept_windows(96, 0.2) == 19  # ⌊0.2 · 96⌋, as the original's int(alpha · n)
    assert len({tuple(w) for w in a.windows}) == 19  # no window twice
    assert {tuple(w) for w in a.windows} <= {tuple(w) for w in src.windows}
    np.testing.assert_array_equal(a.windows, b.windows)  # a pure function of the epoch seed
    assert not np.array_equal(a.windows, c.windows)
    assert epoch_subset(WindowSource(_windows(5), REAL, 1.0), 7, 0).windows.shape == (5, 2)  # fraction 1: all
    assert kept_windows(3, 0.01) == 1


def test_mixed_batches_of_a_fractional_real_source_and_generated_windows():
    real = WindowSource(_windows(96), REAL, 1.0, fraction=0.2)
    gen = WindowSource(_windows(96), GENERATED, 0.5)
    batches = list(mixed_batches([real, gen], 16, seed=3))
    assert len(batches) == (19 + 96) // 16
    sources = np.concatenate([b["source"] for b in batches])
    assert (sources == GENERATED).sum() >= 96 - 16 + 1 and (sources == REAL).sum() <= 19


@pytest.mark.parametrize("fraction", [1.0, 0.5])
def test_a_hybrid_run_takes_the_planned_steps(tmp_path, fraction):
    from hybrid_jax.run import run

    cfg = config_from_dict(tiny_dict(tmp_path, trainer__hybrid__real_fraction=fraction,
                                     output={"dir": str(tmp_path / "runs"), "progress": False, "plots": False,
                                             "tensorboard": False}, tasks=["generate", "train"]))
    summary = run(cfg, tmp_path / "run")
    w, wg = summary["windows"]["train"], summary["windows"]["generated"]
    planned = planned_steps(cfg, w, wg)
    assert summary["steps"] == planned
    t = cfg.trainer
    kept = kept_windows(w, fraction)
    assert planned["synthetic"] == t.hybrid.cycles * t.synthetic.epochs * ((kept + wg["synthetic"]) // t.batch_size)


def test_real_fraction_must_be_in_the_unit_interval(tmp_path):
    for bad in (0.0, 1.5):
        with pytest.raises(ConfigError, match="trainer.hybrid.real_fraction"):
            config_from_dict(tiny_dict(tmp_path, trainer__hybrid__real_fraction=bad))
