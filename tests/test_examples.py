"""The example notebooks (examples/*.py, Jupyter percent format) run as plain scripts at their small
size (HYBRID_JAX_EXAMPLE_SMALL=1), from a foreign working directory, and write what they promise
only under HYBRID_JAX_EXAMPLE_OUT."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
NOTEBOOKS = ["quickstart.py", "own_data.py", "custom_pde.py", "reading_results.py"]


def _run(name: str, out: Path, cwd: Path) -> str:
    """Run examples/`name` as a script writing under `out`; its stdout (the exit status must be 0)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1", "MPLBACKEND": "Agg",
           "HYBRID_JAX_EXAMPLE_SMALL": "1", "HYBRID_JAX_EXAMPLE_OUT": str(out)}
    env.pop("HYBRID_JAX_RUN_DIR", None)
    r = subprocess.run([sys.executable, str(EXAMPLES / name)], cwd=cwd, env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, f"{name} failed:\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
    return r.stdout


@pytest.fixture
def dirs(tmp_path):
    """(out, cwd): the examples' output folder and an unrelated working directory, which must stay empty;
    the examples folder of the repository must not change either."""
    before = sorted(p.name for p in EXAMPLES.iterdir())
    (tmp_path / "cwd").mkdir()
    yield tmp_path / "out", tmp_path / "cwd"
    assert sorted(p.name for p in EXAMPLES.iterdir()) == before
    assert list((tmp_path / "cwd").iterdir()) == []


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_example_is_a_percent_format_notebook(name):
    """Markdown cells are comment lines only, and there are both markdown and code cells."""
    text = (EXAMPLES / name).read_text()
    assert text.startswith("# ---\n# jupyter:\n") and "formats: py:percent" in text
    cells = text.split("\n# %%")[1:]
    markdown = [c for c in cells if c.startswith(" [markdown]")]
    assert markdown and len(cells) > len(markdown)
    for cell in markdown:
        body = [line for line in cell.splitlines()[1:] if line.strip()]
        assert body and all(line.startswith("#") for line in body), cell[:200]


def test_quickstart_then_reading_results(dirs):
    out, cwd = dirs
    stdout = _run("quickstart.py", out, cwd)
    summary = json.loads((out / "quickstart" / "summary.json").read_text())
    assert summary["cycles_done"] == 1 and "viscosity: learned" in stdout and "a typo is refused" in stdout
    assert (out / "quickstart_rollout.png").stat().st_size > 1000 and (out / "data").is_dir()

    stdout = _run("reading_results.py", out, cwd)
    assert "no finished run" not in stdout  # it read the quick start's run
    assert f"viscosity: learned {summary['parameters']['learned']['viscosity']:.5g}" in stdout
    assert "physical: relative L2 error after 1 step" in stdout and "synthetic: relative L2" in stdout
    assert "scalar series" in stdout and "epoch_loss/synthetic" in stdout  # read by TensorBoard's own reader
    for figure in ("reading_results_rollout_error.png", "reading_results_losses.png"):
        assert (out / figure).stat().st_size > 1000


def test_own_data_trains_on_its_hdf5_file(dirs):
    out, cwd = dirs
    stdout = _run("own_data.py", out, cwd)
    with h5py.File(out / "own_data_burgers1d.h5", "r") as f:
        assert f["tensor"].shape == (4, 8, 32) and f["t-coordinate"].shape == (8,)
    run = out / "own_data"
    assert "source: files" in (run / "config.yaml").read_text()
    assert not (out / "data").exists()  # nothing was generated: the file was the data
    learned = json.loads((run / "summary.json").read_text())["parameters"]["learned"]["viscosity"]
    assert abs(learned - 0.02) < 0.5 * abs(0.05 - 0.02), learned  # moved from the guess towards the data's ν
    assert "viscosity: learned" in stdout and (out / "own_data.png").stat().st_size > 1000


def test_custom_pde_registers_and_trains_fisher_kpp(dirs):
    out, cwd = dirs
    stdout = _run("custom_pde.py", out, cwd)
    assert "refused: physics.diffusivity.true: must be <=" in stdout
    summary = json.loads((out / "custom_pde" / "summary.json").read_text())
    assert "name: fisher_kpp" in (out / "custom_pde" / "config.yaml").read_text()
    for name, init in {"diffusivity": 0.001, "rate": 1.0}.items():
        learned, true = summary["parameters"]["learned"][name], summary["parameters"]["true"][name]
        assert abs(learned - true) < abs(init - true), (name, learned)
        assert f"{name}: learned" in stdout
    assert (out / "custom_pde_simulation.png").stat().st_size > 1000


def test_custom_network_plugin_adds_an_architecture_with_its_own_hyperparameter(tmp_path):
    """examples/custom_network.py, named in a config's `plugins`, adds ``network.architecture: stack`` with
    the new key ``network.hidden``: checked when the config loads, sized by the preflight from the
    plugin's own count, trained and evaluated like a built-in network."""
    from helpers import tiny_dict

    import hybrid_jax as hj

    plugin = str(EXAMPLES / "custom_network.py")
    d = tiny_dict(tmp_path, plugins=[plugin], mode="synthetic", network={"architecture": "stack", "hidden": [4, 6]},
                  trainer__hybrid={"cycles": 1, "warmup_epochs": 0}, output__plots=False)
    with pytest.raises(hj.ConfigError, match=r"^network\.hidden: must be a non-empty list of widths >= 1"):
        hj.config_from_dict({**d, "network": {"architecture": "stack", "hidden": []}})
    with pytest.raises(hj.ConfigError, match=r"^network\.levels: unknown key"):  # the UNet's key is not its key
        hj.config_from_dict({**d, "network": {"architecture": "stack", "levels": 2}})
    cfg = hj.config_from_dict(d)
    assert cfg.network.hidden == (4, 6)
    assert cfg.network.footprint(1, 1, 1).params == 3 * 4 + 4 + 3 * 4 * 6 + 6 + 3 * 6 + 1  # three k=3 convolutions
    result = hj.run_experiment(cfg)
    assert result.summary["cycles_done"] == 1 and "synthetic" in result.evaluation["models"]
    assert "architecture: stack" in (result.run_dir / "config.yaml").read_text()
