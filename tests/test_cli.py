"""The `hybrid-jax` command (run as `python -m hybrid_jax.cli`, the console script's function)."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

from helpers import tiny_dict

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "hybrid_jax.cli", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def test_console_script_is_the_cli_main():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"hybrid-jax": "hybrid_jax.cli:main"}


def test_help_lists_the_commands_and_unknown_commands_are_one_line_errors():
    r = _cli("--help")
    assert r.returncode == 0 and all(c in r.stdout for c in ("train", "compare", "sweep", "config", "inspect"))
    r = _cli("fly")
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and "unknown command 'fly'" in r.stderr
    for command, text in (("sweep", "comma lists sweep"), ("compare", "--modes"), ("train", "--resume")):
        r = _cli(command, "--help")
        assert r.returncode == 0 and text in r.stdout, command


def test_config_prints_the_reference_and_validates(tmp_path):
    r = _cli("config")
    assert r.returncode == 0 and r.stdout.startswith("| key | type | default | meaning |")
    assert "| output.tensorboard |" in r.stdout and "| data.format |" in r.stdout
    r = _cli("config", "configs/smoke.yaml", "trainer.hybrid.alpha=0.3")
    assert r.returncode == 0 and yaml.safe_load(r.stdout)["trainer"]["hybrid"]["alpha"] == 0.3
    r = _cli("config", "--check", "configs/smoke.yaml")
    assert r.returncode == 0 and r.stdout == "configs/smoke.yaml: valid\n"
    r = _cli("config", "--check", "configs/smoke.yaml", "trainer.hybrid.alpah=0.3")
    assert r.returncode == 2 and r.stderr == "error: trainer.hybrid.alpah: unknown key (did you mean 'alpha'?)\n"


def test_train_then_inspect_the_run_directory(tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_dict(tmp_path, trainer__hybrid__cycles=1, output__plots=False)))
    run_dir = tmp_path / "run"
    r = _cli("inspect", run_dir)
    assert r.returncode == 2 and "not a run directory" in r.stderr
    from hybrid_jax.cli import main

    assert main(["train", "--config", str(config), "--out", str(run_dir)]) == 0  # in-process: the same function
    r = _cli("inspect", run_dir)
    assert r.returncode == 0, r.stderr
    assert "tiny (hybrid), burgers [16]" in r.stdout and "cycles: 1 of 1 recorded; checkpoints [1]" in r.stdout
    assert "viscosity: learned" in r.stdout and "synthetic rollout over 5 steps" in r.stdout
    info = json.loads(_cli("inspect", "--json", run_dir).stdout)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert info["summary"] == summary and info["checkpoints"] == [1] and info["tensorboard"] is True
    assert info["last_cycle"]["synthetic_val_loss"] == summary["final"]["synthetic_val_loss"]
