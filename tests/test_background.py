"""The background output worker (`hybrid_jax.background`, ``output.background``): jobs run in order off the
caller's thread, the caller waits for all of them at the end (also after an error or a Ctrl-C), a failed
job ends the run with one clear error after everything else is written, and a run's outputs are the same
with and without the worker."""

from __future__ import annotations

import json
import logging
import threading
import time

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from hybrid_jax.background import Background
from hybrid_jax.boundary import run_cli
from hybrid_jax.errors import Interrupted, OutputsFailed


def _worker_alive() -> bool:
    return any(t.name == "hybrid_jax-outputs" and t.is_alive() for t in threading.enumerate())


def test_jobs_run_in_order_off_the_callers_thread_and_the_end_waits_for_all():
    release, done, threads = threading.Event(), [], set()

    def job(i):
        if i == 0:
            assert release.wait(10)
        time.sleep(0.01)
        threads.add(threading.current_thread().name)
        done.append(i)

    with Background() as jobs:
        for i in range(5):
            jobs.submit(f"job {i}", job, i)
        assert done == []  # the caller went on while the first job blocks
        release.set()
    assert done == [0, 1, 2, 3, 4] and threads == {"hybrid_jax-outputs"}
    assert not _worker_alive()
    with pytest.raises(RuntimeError, match="after the worker was closed"):
        jobs.submit("late", job, 9)


def test_disabled_runs_each_job_at_once_in_the_caller_and_raises_there():
    seen = []
    jobs = Background(enabled=False)
    jobs.submit("a", lambda: seen.append(threading.current_thread() is threading.main_thread()))
    assert seen == [True]
    with pytest.raises(ZeroDivisionError):
        jobs.submit("b", lambda: 1 / 0)
    jobs.close()


def test_a_failed_job_is_logged_the_rest_run_and_the_end_raises_one_error_naming_it(caplog):
    done = []
    with pytest.raises(OutputsFailed) as info:
        with Background() as jobs:
            jobs.submit("plots", lambda: 1 / 0)
            jobs.submit("tracker close", done.append, "closed")
    assert done == ["closed"]
    assert "plots: ZeroDivisionError: division by zero" in str(info.value) and info.value.exit_code == 3
    assert "background output job 'plots' failed" in caplog.text and "Traceback" in caplog.text


def test_after_an_error_or_ctrl_c_in_the_run_every_job_still_runs_and_the_error_is_the_runs(caplog):
    for raised in (Interrupted(2), KeyboardInterrupt(), ValueError("diverged")):
        done = []
        with pytest.raises(type(raised)):
            with Background() as jobs:
                jobs.submit("slow figure", lambda: (time.sleep(0.2), done.append("figure")))
                jobs.submit("bad figure", lambda: 1 / 0)
                raise raised
        assert done == ["figure"] and not _worker_alive()
    assert "beneath the error that ended the run" in caplog.text


def test_the_cli_boundary_turns_failed_outputs_into_exit_code_3_and_one_line(capsys):
    def body():
        with Background() as jobs:
            jobs.submit("plots", lambda: (_ for _ in ()).throw(OSError(28, "No space left on device")))
        return 0

    assert run_cli(body) == 3
    err = capsys.readouterr().err
    assert err.startswith("error: output jobs failed (training finished") and "plots: OSError" in err


def _run(cfg, run_dir):
    from hybrid_jax.run import run
    from hybrid_jax.rundir import prepare_run_dir

    prepare_run_dir(cfg, run_dir, overwrite=False)
    return run(cfg, run_dir)


def _events(run_dir):
    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    tags = acc.Tags()
    scalars = {t: [(e.step, e.value) for e in acc.Scalars(t)] for t in tags["scalars"]}
    images = {t: [(e.step, e.encoded_image_string) for e in acc.Images(t)] for t in tags["images"]}
    return scalars, images


def test_a_runs_figures_and_tensorboard_events_are_the_same_with_and_without_the_worker(tiny_config, tmp_path):
    out = {}
    for background in (False, True):
        cfg = tiny_config(output__background=background, output__save_generated=True,
                          physics__viscosity__learnable="field")
        run_dir = tmp_path / f"background_{background}"
        summary = _run(cfg, run_dir)
        assert not _worker_alive()  # the run waited for it
        plots = {p.name: p.read_bytes() for p in sorted((run_dir / "plots").iterdir())}
        out[background] = plots, _events(run_dir), summary
    (plots_sync, events_sync, summary_sync), (plots_bg, events_bg, summary_bg) = out[False], out[True]
    assert {"frames.png", "spacetime.png", "rollout.gif", "rollout_error.png", "parameters.png", "losses.png"} <= set(
        plots_sync)
    assert any(name.startswith("generated_cycle_") for name in plots_sync)
    assert plots_bg == plots_sync  # the same files, byte for byte
    scalars_sync, images_sync = events_sync
    scalars_bg, images_bg = events_bg
    assert scalars_bg.keys() == scalars_sync.keys() and len(scalars_sync) > 5
    for tag, points in scalars_sync.items():
        if not tag.startswith("timings_s/"):  # wall-clock seconds differ from run to run
            assert [s for s, _ in scalars_bg[tag]] == [s for s, _ in points], tag
            assert [v for _, v in scalars_bg[tag]] == pytest.approx([v for _, v in points], rel=1e-6), tag
    assert images_bg == images_sync and {"rollout/validation", "parameters/viscosity"} <= set(images_sync)
    assert summary_bg["final"] == summary_sync["final"]


def test_a_failed_figure_ends_the_run_with_a_clear_error_after_summary_json(tiny_config, tmp_path, monkeypatch,
                                                                           caplog):
    import hybrid_jax.plots as plots

    def broken(*args, **kwargs):
        raise RuntimeError("the GIF writer broke")

    monkeypatch.setattr(plots, "rollout_gif", broken)
    run_dir = tmp_path / "run"
    with caplog.at_level(logging.INFO, "hybrid_jax"), pytest.raises(OutputsFailed, match="plots: RuntimeError: "
                                                                                          "the GIF writer broke"):
        _run(tiny_config(), run_dir)
    summary = json.loads((run_dir / "summary.json").read_text())  # everything else is written
    assert summary["cycles_done"] == 2 and (run_dir / "evaluation.json").is_file()
    assert (run_dir / "plots" / "losses.png").is_file() and (run_dir / "plots" / "rollout_error.png").is_file()
    assert "background output job 'plots' failed" in caplog.text and not _worker_alive()
