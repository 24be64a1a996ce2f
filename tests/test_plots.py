"""Figures: side-by-side frames, 1D space-time heatmaps, error vs step of all models, generated rollouts."""

from __future__ import annotations

import numpy as np
import pytest

from hybrid_jax.evaluate import rollout_errors
from hybrid_jax.plots import plot_frames, plot_rollout_error, plot_spacetime, write_plots


def _rollouts(shape, fields=("u", "v"), horizon=6):
    rng = np.random.default_rng(0)
    truth = rng.normal(size=(2, horizon + 1) + shape + (len(fields) + 1,)).astype(np.float32)  # + a static channel
    return {"horizon": horizon, "sims": np.array([0, 1]), "fields": fields, "truth": truth,
            "mask": np.ones((horizon + 1,) + shape, np.float32),
            "physical": truth + 0.01, "synthetic": truth - 0.5 * rng.random(truth.shape).astype(np.float32)}


def _evaluation(r):
    nd = len(r["fields"])
    return {"models": {m: rollout_errors(r[m][:, 1:, ..., :nd], r["truth"][:, 1:, ..., :nd], r["fields"])
                       for m in ("physical", "synthetic")}}


@pytest.mark.parametrize("shape", [(16,), (8, 8), (4, 4, 4)])
def test_write_plots_writes_frames_errors_and_1d_spacetime_heatmaps(tmp_path, shape):
    r = _rollouts(shape)
    written = write_plots(tmp_path / "plots", r, _evaluation(r), None, {}, ("physical", "synthetic"),
                          tmp_path / "none.jsonl", num_frames=3)
    names = {p.name for p in written}
    assert {"frames.png", "rollout_error.png"} <= names and all(p.stat().st_size > 0 for p in written)
    assert ("spacetime.png" in names) == (len(shape) == 1)
    assert (tmp_path / "plots" / "spacetime.png").is_file() == (len(shape) == 1)


@pytest.mark.parametrize("shape", [(16,), (8, 8)])
def test_frames_show_every_dynamic_field_side_by_side_at_num_frames_steps(tmp_path, shape):
    r = _rollouts(shape)
    fig = plot_frames(r, ("physical", "synthetic"), tmp_path / "f.png", num_frames=4)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["step 0", "step 2", "step 4", "step 6"]
    labels = [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()]
    if len(shape) == 1:  # one row per field, the three series as lines in each panel
        assert labels == ["u", "v"] and len(fig.axes[0].lines) == 3
    else:  # one row per (field, series)
        assert labels == [f"{s}\n{f}" for f in ("u", "v") for s in ("real", "physical", "synthetic")]
    assert (tmp_path / "f.png").stat().st_size > 0


def test_spacetime_heatmaps_show_real_models_and_their_errors_per_field(tmp_path):
    r = _rollouts((16,))
    fig = plot_spacetime(r, ("physical", "synthetic"), tmp_path / "s.png")
    panels = {ax.get_title(): ax for ax in fig.axes if ax.get_title()}
    assert list(panels) == [f"{p} · {f}" for f in ("u", "v")
                            for p in ("real", "physical", "synthetic", "physical − real", "synthetic − real")]
    err = np.asarray(panels["synthetic − real · v"].images[0].get_array())
    np.testing.assert_allclose(err, r["synthetic"][0, ..., 1] - r["truth"][0, ..., 1], rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(panels["real · u"].images[0].get_array()), r["truth"][0, ..., 0])
    assert err.shape == (7, 16)  # [steps, x]: time runs up the image
    with pytest.raises(ValueError, match="need 1D rollouts"):
        plot_spacetime(_rollouts((8, 8)), ("physical",), tmp_path / "x.png")


def test_error_vs_step_figure_has_every_metric_with_all_models(tmp_path):
    r = _rollouts((8, 8))
    fig = plot_rollout_error(_evaluation(r), tmp_path / "e.png")
    assert [ax.get_ylabel() for ax in fig.axes] == ["RMSE", "MAE", "L∞ error", "relative L2 error", "nRMSE"]
    assert all([ln.get_label() for ln in ax.lines] == ["physical", "synthetic"] for ax in fig.axes)
    mae = fig.axes[1].lines[1].get_ydata()
    np.testing.assert_allclose(mae, np.mean(np.abs(r["synthetic"] - r["truth"])[:, 1:, ..., :2], axis=(0, 2, 3, 4)),
                               rtol=1e-5)


def test_num_frames_is_validated(tiny_config):
    from hybrid_jax.config import ConfigError

    assert tiny_config(evaluation={"num_frames": 3}).evaluation.num_frames == 3
    with pytest.raises(ConfigError, match="evaluation.num_frames"):
        tiny_config(evaluation={"num_frames": 1})


@pytest.mark.parametrize("shape", [(16,), (8, 8)])
def test_generated_data_is_plotted_beside_real_data(tmp_path, shape):
    from hybrid_jax.plots import plot_generated

    rng = np.random.default_rng(1)
    real = rng.normal(size=(4, 7) + shape + (2,)).astype(np.float32)
    states = 3.0 * rng.normal(size=(5, 4) + shape + (2,)).astype(np.float32)  # [M, L, *spatial, C]
    fig = plot_generated(states, real, ("u", "v"), tmp_path / "g.png", num_frames=4)
    assert (tmp_path / "g.png").stat().st_size > 0
    image_axes = [ax for ax in fig.axes if ax.images and ax.get_label() != "<colorbar>"]
    if len(shape) == 1:  # space-time heatmaps: 3 generated, then 3 real, field u
        titles = [f"generated {i}" for i in range(3)] + [f"real {i}" for i in range(3)]
        assert [ax.get_title() for ax in image_axes] == titles
        np.testing.assert_array_equal(np.asarray(image_axes[1].images[0].get_array()), states[1, ..., 0])
        np.testing.assert_array_equal(np.asarray(image_axes[3].images[0].get_array()), real[0, ..., 0])
    else:  # frames at steps 0..3 of 3 generated and 3 real trajectories
        assert len(image_axes) == 6 * 4
        np.testing.assert_array_equal(np.asarray(image_axes[4 + 2].images[0].get_array()), states[1, 2, ..., 0].T)
    rms_axes = [ax for ax in fig.axes if ax.get_ylabel().startswith("RMS")]
    assert [ax.get_ylabel() for ax in rms_axes] == ["RMS u", "RMS v"]
    lines = rms_axes[1].lines  # 4 real trajectories, then 5 generated rollouts
    assert len(lines) == 9
    expected = np.sqrt(np.mean(states[2, ..., 1].astype(np.float64) ** 2, axis=tuple(range(1, 1 + len(shape)))))
    np.testing.assert_allclose(lines[4 + 2].get_ydata(), expected, rtol=1e-6)


def test_write_plots_plots_each_saved_generated_file_and_skips_bad_ones(tmp_path, caplog):
    r = _rollouts((8, 8))
    real = r["truth"]
    gen = tmp_path / "run" / "generated"
    gen.mkdir(parents=True)
    np.savez(gen / "cycle_0_physical.npz", trajectories=real[:, :3] * 2)
    np.savez(gen / "cycle_1_synthetic.npz", trajectories=real[:1, :4])
    np.savez(gen / "cycle_2_physical.npz", trajectories=real[:, :3, :4])  # another grid: skipped with a warning
    (gen / "cycle_x_physical.npz").write_bytes(b"ignored: not the naming scheme")
    (gen / "cycle_3_synthetic.npz").write_bytes(b"corrupt")
    written = write_plots(tmp_path / "plots", r, None, None, {}, ("physical",), tmp_path / "none.jsonl",
                          generated_dir=gen, real=real)
    names = {p.name for p in written}
    assert {"generated_cycle_0_physical.png", "generated_cycle_1_synthetic.png"} <= names
    assert not any(("cycle_2" in n or "cycle_3" in n or "cycle_x" in n) for n in names)
    assert "cycle_2_physical.npz: states [2, 3, 4, 8, 3] do not match" in caplog.text
    assert "cycle_3_synthetic.npz: not a generated-rollout file" in caplog.text
    # no generated folder: nothing else happens
    assert not any(p.name.startswith("generated") for p in write_plots(
        tmp_path / "p2", r, None, None, {}, ("physical",), tmp_path / "none.jsonl",
        generated_dir=tmp_path / "absent", real=real))



@pytest.mark.parametrize("shape", [(16,), (8, 8)])
def test_rollout_gif_is_byte_for_byte_what_matplotlibs_funcanimation_save_writes(tmp_path, shape):
    """`rollout_gif` grabs each frame once; `FuncAnimation.save` over the same figure and frame function (the
    reference path, which draws every frame a second time) writes the same file."""
    from matplotlib.animation import FuncAnimation, PillowWriter

    from hybrid_jax.plots import gif_figure, rollout_gif

    r = _rollouts(shape)
    assert rollout_gif(r, ("physical", "synthetic"), tmp_path / "fast.gif")
    fig, frame, frames = gif_figure(r, ("physical", "synthetic"))
    assert frames == r["horizon"] + 1
    FuncAnimation(fig, lambda t: frame(t) or [], frames=frames, blit=False).save(
        tmp_path / "reference.gif", writer=PillowWriter(fps=4), dpi=60)
    assert (tmp_path / "fast.gif").read_bytes() == (tmp_path / "reference.gif").read_bytes()
