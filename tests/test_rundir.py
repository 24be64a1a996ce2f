"""Run directories: nothing the library did not create is written into, replaced or deleted;
run names are plain names; one run at a time per directory (an flock naming the holder)."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helpers import tiny_dict
from hybrid_jax import compare, train
from hybrid_jax.errors import ConfigError, RunDirError
from hybrid_jax.files import FileLock, is_plain_name
from hybrid_jax.rundir import LOCK, MARKER, prepare_run_dir

ROOT = Path(__file__).resolve().parents[1]


def _snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None) for p in sorted(folder.rglob("*"))}


@pytest.mark.parametrize("name, ok", [("run", True), ("a.b-c_1", True), (".", False), ("..", False), ("", False),
                                      ("a/b", False), ("..\\x", False), ("a\nb", False), ("a\x00", False),
                                      ("a\x7f", False)])
def test_run_names_are_plain_names(name, ok):
    assert is_plain_name(name) == ok


def test_no_flag_combination_touches_a_directory_that_is_not_a_run(tmp_path, capsys):
    theirs = tmp_path / "work" / "thesis"
    (theirs / "chapters").mkdir(parents=True)
    (theirs / "config.yaml").write_text("mine: 1\n")
    (theirs / "chapters" / "one.tex").write_text("\\chapter{One}\n")
    (theirs / "config_hash").write_text("0123\n")  # even a hash file without our marker is not ours
    before = _snapshot(theirs)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(tiny_dict(tmp_path, tasks=["generate"])))
    targets = [["--out", str(theirs)],
               [f"output.dir={theirs.parent}", "experiment_name=thesis"],
               [f"output.dir={theirs}", "experiment_name=.."], [f"output.dir={theirs}", "experiment_name=."],
               [f"output.dir={theirs / 'chapters'}", "experiment_name=.."]]
    codes = []
    for target, overwrite, resume in itertools.product(targets, [[], ["--overwrite"]], [[], ["--resume"]]):
        codes.append(train.main(["--config", str(cfg), *target, *overwrite, *resume]))
        assert _snapshot(theirs) == before, (target, overwrite, resume)
    for target, overwrite in itertools.product([targets[0]] + targets[2:], [[], ["--overwrite"]]):
        codes.append(compare.main(["--config", str(cfg), *target, *overwrite, "tasks=[train,evaluate]"]))
        assert _snapshot(theirs) == before, (target, overwrite)
    assert set(codes) == {2}
    err = capsys.readouterr().err
    assert "not a hybrid_jax run directory" in err and "experiment_name: must be a plain name" in err
    assert "Traceback" not in err


def test_overwrite_replaces_only_our_run_and_keeps_its_marker(tmp_path, tiny_config):
    cfg = tiny_config(tasks=["generate"])
    run_dir = tmp_path / "r"
    prepare_run_dir(cfg, run_dir, overwrite=False).release()
    assert (run_dir / MARKER).is_file() and (run_dir / "config_hash").is_file()
    (run_dir / "metrics.jsonl").write_text("{}\n")
    other = tiny_config(tasks=["generate"], seed=3)
    with pytest.raises(ConfigError, match="holds a run of a different config"):
        prepare_run_dir(other, run_dir, overwrite=False)
    prepare_run_dir(other, run_dir, overwrite=True).release()
    assert not (run_dir / "metrics.jsonl").exists() and (run_dir / MARKER).is_file()
    empty = tmp_path / "empty"
    empty.mkdir()
    prepare_run_dir(cfg, empty, overwrite=False).release()  # an empty directory has nothing to lose
    assert (empty / MARKER).is_file()


def test_a_second_run_into_a_locked_directory_is_refused_naming_the_holder(tmp_path, tiny_config):
    cfg = tiny_config(tasks=["generate"])
    lock = prepare_run_dir(cfg, tmp_path / "r", overwrite=False)
    with pytest.raises(RunDirError, match=f"in use by another run \\(pid {os.getpid()}\\)"):
        prepare_run_dir(cfg, tmp_path / "r", overwrite=True)
    lock.release()
    prepare_run_dir(cfg, tmp_path / "r", overwrite=False).release()


def test_the_lock_dies_with_its_process(tmp_path):
    path = tmp_path / LOCK
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; sys.path.insert(0, sys.argv[1]);"
                               "from hybrid_jax.files import FileLock; l = FileLock(sys.argv[2], 'x');"
                               "print('locked', flush=True); time.sleep(60)", str(ROOT), str(path)],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    with pytest.raises(RunDirError, match=f"pid {holder.pid}"):
        FileLock(path, "x")
    holder.kill()
    holder.wait()
    FileLock(path, "x").release()  # released by the OS: no stale lock
