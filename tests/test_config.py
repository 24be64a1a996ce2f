"""Config loading: types, ranges, unknown keys, overrides, the CLI's error contract."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hybrid_jax.config import Config, ConfigError, apply_overrides, config_from_dict, load_config, to_dict

ROOT = Path(__file__).resolve().parents[1]


def test_defaults_and_smoke_config_load():
    cfg = load_config(ROOT / "configs" / "smoke.yaml")
    assert isinstance(cfg, Config)
    assert cfg.physics.resolution == (32, 32) and cfg.mode == "hybrid"
    assert load_config(None) == Config()
    with pytest.raises(Exception):
        cfg.seed = 3  # frozen


@pytest.mark.parametrize("data, message", [
    ({"trainer": {"synthetic": {"learning_rate": -1}}}, "trainer.synthetic.learning_rate: must be > 0, got -1"),
    ({"trainer": {"synthetic": {"learning_rat": 0.1}}},
     "trainer.synthetic.learning_rat: unknown key (did you mean 'learning_rate'?)"),
    ({"physics": {"dt": "fast"}}, "physics.dt: must be a number, got 'fast'"),
    ({"data": {"num_trajectories": 2.5}}, "data.num_trajectories: must be an integer, got 2.5"),
    ({"mode": "hybird"}, "mode: must be one of synthetic, physical, hybrid; got 'hybird' (did you mean 'hybrid'?)"),
    ({"physics": {"resolution": [32, 3]}}, "physics.resolution: must have 1-3 entries, each >= 4"),
    ({"physics": {"domain": [1.0]}}, "physics.domain: must have as many entries as physics.resolution"),
    ({"physics": {"resolution": [30, 30]}, "network": {"levels": 3}}, "physics.resolution[0]: must be divisible"),
    ({"trainer": {"hybrid": {"alpha": -0.1}}}, "trainer.hybrid.alpha: must be >= 0, got -0.1"),
    ({"trainer": "fast"}, "trainer: must be a mapping"),
    ({"data": {"source": "files"}}, "data.path: required when data.source = files"),
    ({"physics": {"name": "navier"}}, "physics.name: must be one of"),
    ({"output": {"progress": "yes"}}, "output.progress: must be true or false"),
])
def test_bad_values_name_the_dotted_key(data, message):
    with pytest.raises(ConfigError) as e:
        config_from_dict(data)
    assert str(e.value).startswith(message)


def test_overrides_parse_yaml_values_and_nest():
    d = apply_overrides({"trainer": {"hybrid": {"alpha": 0.1}}},
                        ["trainer.hybrid.alpha=0.3", "physics.resolution=[16, 16]"])
    assert d["trainer"]["hybrid"]["alpha"] == 0.3 and d["physics"]["resolution"] == [16, 16]
    cfg = config_from_dict(d)
    assert cfg.trainer.hybrid.alpha == 0.3 and cfg.physics.resolution == (16, 16)
    with pytest.raises(ConfigError, match="dotted.key=value"):
        apply_overrides({}, ["trainer.hybrid.alpha"])


def test_round_trip_through_yaml(tmp_path):
    cfg = load_config(ROOT / "configs" / "smoke.yaml", ["seed=7"])
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(to_dict(cfg)))
    assert load_config(tmp_path / "c.yaml") == cfg


@pytest.mark.parametrize("args, message", [
    (["--config", "configs/smoke.yaml", "trainer.synthetic.learning_rate=-1"],
     "error: trainer.synthetic.learning_rate: must be > 0, got -1"),
    (["--config", "does/not/exist.yaml"], "error: does/not/exist.yaml: config file not found"),
    (["--config", "configs/smoke.yaml", "trainer.hybrid.alpah=1"],
     "error: trainer.hybrid.alpah: unknown key (did you mean 'alpha'?)"),
])
def test_cli_bad_config_exits_2_with_one_line(args, message):
    r = subprocess.run([sys.executable, "-m", "hybrid_jax.train", *args], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2
    assert r.stderr.strip() == message  # one line, no traceback


def test_key_reference_documents_every_key_and_is_up_to_date():
    from hybrid_jax.config import reference

    rows = reference()
    assert all(doc for _, _, _, doc in rows), [key for key, _, _, doc in rows if not doc]
    r = subprocess.run([sys.executable, "-m", "hybrid_jax.config"], cwd=ROOT, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0
    assert (ROOT / "docs" / "config.md").read_text() == r.stdout, \
        "regenerate: python -m hybrid_jax.config > docs/config.md"
