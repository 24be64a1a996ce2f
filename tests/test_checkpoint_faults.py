"""Fault injection on checkpoints: a corrupt or truncated latest checkpoint is detected by its
checksum, moved aside, and the run resumes from the newest intact one to a bitwise-equal result."""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import pytest

from helpers import tiny_dict
from helpers import assert_same_run, run_metrics

from hybrid_jax.config import config_from_dict
from hybrid_jax.errors import DataError
from hybrid_jax.run import run
from hybrid_jax.rundir import prepare_run_dir


def _biggest_file(folder: Path) -> Path:
    return max((p for p in folder.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)


def _flip_byte(path: Path) -> None:
    b = bytearray(path.read_bytes())
    b[len(b) // 2] ^= 0xFF
    path.write_bytes(bytes(b))


def _truncate(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ref")
    cfg = config_from_dict(tiny_dict(tmp, tasks=["generate", "train"], trainer__hybrid={"cycles": 3, "alpha": 0.5,
                                                                                         "warmup_epochs": 0}))
    prepare_run_dir(cfg, tmp / "ref", overwrite=False).release()
    run(cfg, tmp / "ref")
    return cfg, tmp / "ref"


def _flip_data_byte(states: Path) -> None:
    """Flip one bit in each data file of the array store (same sizes, metadata untouched)."""
    for path in states.glob("**/d/*"):
        b = bytearray(path.read_bytes())
        b[len(b) // 2] ^= 0x01
        path.write_bytes(bytes(b))


def _wrong_checksum(states: Path) -> None:
    """Valid files, but values that are not the ones saved (here: the recorded checksum is changed)."""
    meta = states.parent / "meta" / "metadata"
    record = json.loads(meta.read_text())
    meta.write_text(json.dumps({**record, "sha256": "0" * 64}))


@pytest.mark.parametrize("damage", [_flip_byte, _flip_data_byte, _truncate, _wrong_checksum])
def test_damaged_latest_checkpoint_falls_back_to_the_newest_intact_one(reference, tmp_path, damage, caplog):
    cfg, ref = reference
    out = tmp_path / "run"
    shutil.copytree(ref, out)
    shutil.rmtree(out / "checkpoints" / "3")  # as if killed before the last save
    states = out / "checkpoints" / "2" / "states"
    damage(states) if damage in (_flip_data_byte, _wrong_checksum) else damage(_biggest_file(states))
    with caplog.at_level(logging.WARNING, logger="hybrid_jax"):
        prepare_run_dir(cfg, out, overwrite=False).release()
        run(cfg, out)
    assert "resuming from checkpoint 1 instead" in caplog.text
    assert any(p.name.startswith("2-") for p in (out / "checkpoints.corrupt").iterdir())
    assert_same_run(ref, out)  # bitwise-equal final states and the same metrics lines


def test_no_intact_checkpoint_is_refused_clearly(reference, tmp_path):
    cfg, ref = reference
    out = tmp_path / "run"
    shutil.copytree(ref, out)
    for step in ("1", "2", "3"):
        (out / "checkpoints" / step / "meta" / "metadata").write_text('{"next_cycle": 9')
    with pytest.raises(DataError, match="no intact checkpoint .*checkpoint 3 is unreadable"):
        run(cfg, out)


def test_a_restart_before_the_first_checkpoint_writes_the_warmup_lines_once(tmp_path):
    cfg = config_from_dict(tiny_dict(tmp_path, tasks=["generate", "train"],
                                     trainer__hybrid={"cycles": 1, "alpha": 0.5, "warmup_epochs": 2}))
    prepare_run_dir(cfg, tmp_path / "ref", overwrite=False).release()
    run(cfg, tmp_path / "ref")
    out = tmp_path / "run"
    shutil.copytree(tmp_path / "ref", out)
    shutil.rmtree(out / "checkpoints")  # as if killed between the warm-up and the first checkpoint
    run(cfg, out)
    warmup = [r for r in run_metrics(out) if r["cycle"] == -1]
    assert len(warmup) == 2 + 1  # two epoch lines and one warm-up line, not twice that
    assert run_metrics(out) == run_metrics(tmp_path / "ref")


def test_load_run_falls_back_from_a_damaged_latest_checkpoint_as_a_resumed_run_does(reference, tmp_path, caplog):
    """hj.load_run reads through the same `restore_trained` as the CLI: a flipped byte in the latest
    checkpoint gives a warning, the checkpoint moved aside, and the previous checkpoint's parameters."""
    import numpy as np

    import hybrid_jax as hj

    cfg, ref = reference
    out, intact = tmp_path / "run", tmp_path / "intact"
    shutil.copytree(ref, out)
    shutil.copytree(ref, intact)
    shutil.rmtree(intact / "checkpoints" / "3")  # what the fallback must give: checkpoint 2
    _flip_byte(_biggest_file(out / "checkpoints" / "3" / "states"))
    with caplog.at_level(logging.WARNING, logger="hybrid_jax"):
        loaded = hj.load_run(out)
    assert "checkpoint 3 " in caplog.text and "resuming from checkpoint 2 instead" in caplog.text
    assert any(p.name.startswith("3-") for p in (out / "checkpoints.corrupt").iterdir())
    expected, latest = hj.load_run(intact).params, hj.load_run(ref).params
    for name, value in loaded.params.items():
        np.testing.assert_array_equal(value, expected[name])
    assert any(not np.array_equal(loaded.params[n], latest[n]) for n in latest)  # cycle 2's, not cycle 3's


def test_load_run_without_checkpoints_is_refused_clearly(reference, tmp_path):
    import hybrid_jax as hj

    cfg, ref = reference
    out = tmp_path / "run"
    shutil.copytree(ref, out)
    shutil.rmtree(out / "checkpoints")
    with pytest.raises(hj.ConfigError,
                       match="no checkpoint to load; run the train task first"):
        hj.load_run(out)
    assert not (out / "checkpoints").exists()  # reading a run creates nothing in it
