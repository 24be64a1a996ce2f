"""docs/your_own_pde.md, executed: its files are written into a fresh project folder and its commands run
from a working directory that is neither the project's nor the repository's. A user's family, named by a
plugin path relative to its config, runs without a hand-written bound; its learned values read back
through documented keys (validated against the shipped JSON Schemas) agree with the independent solver's
coefficients; summary.json's timings add up to the process's measured elapsed time; a missing plugin is
one line naming the path tried."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from helpers import assert_valid_outputs

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "your_own_pde.md"
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1", "MPLBACKEND": "Agg"}


def _blocks() -> tuple[dict[str, str], list[str]]:
    """The page's files (``file=PATH`` code blocks) and its commands (``bash run`` blocks, one per line)."""
    files, commands = {}, []
    for info, body in re.findall(r"```([^\n]*)\n(.*?)```", DOC.read_text(), re.S):
        m = re.search(r"\bfile=(\S+)", info)
        if m:
            files[m.group(1)] = body
        elif info.split() == ["bash", "run"]:
            commands += [line for line in body.splitlines() if line.strip()]
    return files, commands


def _python(command: str, cwd: Path, **paths) -> subprocess.CompletedProcess:
    args = shlex.split(command)
    assert args[0] == "python"
    args = [sys.executable] + [str(paths.get(a, a)) for a in args[1:]]
    return subprocess.run(args, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=600)


def test_the_page_uses_only_the_public_api():
    files, commands = _blocks()
    assert set(files) == {f"my_project/{n}" for n in ("reaction_diffusion.py", "reaction_diffusion.yaml",
                                                       "make_data.py", "read_results.py")}
    assert len(commands) == 3
    for name, body in files.items():
        imports = re.findall(r"^\s*(?:from|import) (hybrid_jax\S*)", body, re.M)
        assert set(imports) <= {"hybrid_jax"}, (name, imports)  # `import hybrid_jax as hj`, nothing private
    assert "def bounds" not in files["my_project/reaction_diffusion.py"]  # no hand-written stability bound


@pytest.fixture(scope="module")
def worked(tmp_path_factory):
    """Write the page's files into <tmp>/work/my_project and run its data and train commands from <tmp>/work;
    the train command's elapsed time is measured around the process."""
    tmp = tmp_path_factory.mktemp("own_pde")
    work, elsewhere = tmp / "work", tmp / "elsewhere"
    elsewhere.mkdir()
    files, (make_data, train, read) = _blocks()
    for name, body in files.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_text(body)
    r = _python(make_data, work)
    assert r.returncode == 0, r.stderr[-3000:]
    t0 = time.perf_counter()
    r = _python(train, work)
    elapsed = time.perf_counter() - t0
    assert r.returncode == 0, r.stderr[-3000:]
    return work, elsewhere, read, work / "runs" / "reaction_diffusion", elapsed, r


def test_fitted_from_another_folder_and_read_back_through_documented_keys(worked):
    work, elsewhere, read, run_dir, _, train = worked
    assert "diffusivity: learned" in train.stdout and "rate: learned" in train.stdout
    assert_valid_outputs(run_dir)
    summary = json.loads((run_dir / "summary.json").read_text())
    p = summary["parameters"]
    assert abs(p["learned"]["diffusivity"] / 0.003 - 1) < 0.05, p  # measured: 0.9 %, from a guess 2x the truth
    assert abs(p["learned"]["rate"] / 1.5 - 1) < 0.02, p  # measured: 0.02 %, from a guess half the truth
    assert p["range"] == {"diffusivity": [0.0015, 0.012], "rate": [0.375, 3.0]}
    assert summary["stability"]["substeps"] == 3 and "3 substep(s)" in train.stderr
    # the saved config names the plugin by its absolute path; the log names the file it imported
    plugin = work / "my_project" / "reaction_diffusion.py"
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["plugins"] == [str(plugin)]
    assert f"plugin file {plugin} imported" in (run_dir / "train.log").read_text()
    # read back from an unrelated folder (the page's command, with absolute paths)
    r = _python(read, elsewhere, **{"my_project/read_results.py": work / "my_project" / "read_results.py",
                                    "runs/reaction_diffusion": run_dir})
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"diffusivity: learned {p['learned']['diffusivity']:.5g}, true 0.003" in r.stdout
    assert "substeps: 3" in r.stdout and "10 steps: (1, 10, 64, 1)" in r.stdout
    assert list(elsewhere.iterdir()) == []


def test_timings_add_up_to_the_measured_elapsed_time_of_the_cli_process(worked):
    *_, run_dir, elapsed, _ = worked
    t = json.loads((run_dir / "summary.json").read_text())["timings_s"]
    parts = sum(v for k, v in t.items() if k != "total")
    print(f"timings_s {t}; parts sum {parts:.2f} s, total {t['total']:.2f} s, measured elapsed {elapsed:.2f} s")
    assert abs(parts - t["total"]) <= 0.05 * t["total"]
    assert abs(t["total"] - elapsed) <= 0.05 * elapsed
    assert t["compilation"] > 0 and t["startup"] > 0 and t["training"] > 0


def test_plugin_files_resolve_against_their_config_file_or_the_working_directory(tmp_path, monkeypatch):
    import hybrid_jax as hj

    (tmp_path / "plugins").mkdir()
    (tmp_path / "configs").mkdir()
    (tmp_path / "plugins" / "noop.py").write_text("MARK = 1\n")
    (tmp_path / "configs" / "a.yaml").write_text("plugins: [../plugins/noop.py, json]\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    cfg = hj.load_config(tmp_path / "configs" / "a.yaml")  # relative to the config file, not to the cwd
    assert cfg.plugins == (str(tmp_path / "plugins" / "noop.py"), "json")  # saved absolute; modules as named
    monkeypatch.chdir(tmp_path / "plugins")
    assert hj.load_config(None, ["plugins=[noop.py]"]).plugins == (str(tmp_path / "plugins" / "noop.py"),)
    with pytest.raises(hj.ConfigError, match=r"^plugins\[0\]: no such file: " + re.escape(str(elsewhere / "noop.py"))):
        monkeypatch.chdir(elsewhere)
        hj.load_config(None, ["plugins=[noop.py]"])  # on the command line: relative to the working directory


def test_a_missing_plugin_is_one_line_naming_the_path_tried(tmp_path):
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "mine.yaml").write_text("plugins: [my_pde.py]\n")
    r = subprocess.run([sys.executable, "-m", "hybrid_jax.train", "--config", "configs/mine.yaml"], cwd=tmp_path,
                       env=ENV, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2
    assert r.stderr == f"error: plugins[0]: no such file: {tmp_path / 'configs' / 'my_pde.py'}\n"
