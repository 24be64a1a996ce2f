"""The output files' contract: the shipped JSON Schemas are valid, versioned, packaged, and every key they
name is documented in docs/outputs.md (real outputs are validated in test_smoke, test_compare,
test_reference_configs and test_your_own_pde)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import jsonschema
import pytest

from hybrid_jax.schemas import NAMES, SCHEMA_VERSION, schema

ROOT = Path(__file__).resolve().parents[1]


def _keys(node) -> set[str]:
    """Every property name a schema defines, at any depth."""
    out = set()
    if isinstance(node, dict):
        out |= set(node.get("properties", {}))
        for value in node.values():
            out |= _keys(value)
    elif isinstance(node, list):
        for value in node:
            out |= _keys(value)
    return out


@pytest.mark.parametrize("name", NAMES)
def test_schema_is_valid_versioned_and_every_key_is_documented(name):
    s = schema(name)
    jsonschema.Draft202012Validator.check_schema(s)
    assert _keys(s) >= {"schema_version"}
    version = s["properties"]["schema_version"] if "schema_version" in s.get("properties", {}) else \
        s["oneOf"][0]["properties"]["schema_version"]
    assert version["const"] == SCHEMA_VERSION
    documented = set(re.findall(r"`([A-Za-z0-9_<>\[\]\.]+)`", (ROOT / "docs" / "outputs.md").read_text()))
    documented = {part for d in documented for part in re.split(r"[.\[\]]+", d) if part}
    missing = {k for k in _keys(s) if k not in documented}
    assert not missing, f"docs/outputs.md does not document {sorted(missing)} of {name}"


def test_schemas_are_package_data_and_a_wrong_output_is_refused():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert data["hybrid_jax.schemas"] == ["*.json"]
    assert {p.name for p in (ROOT / "hybrid_jax" / "schemas").glob("*.json")} == {f"{n}.schema.json" for n in NAMES}
    line = {"schema_version": 1, "kind": "epoch", "cycle": 0, "model": "synthetic", "epoch": 0, "loss": 0.1}
    jsonschema.validate(line, schema("metrics_line"))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**line, "loss": "0.1"}, schema("metrics_line"))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**line, "schema_version": 2}, schema("metrics_line"))
    with pytest.raises(KeyError, match="unknown output schema"):
        schema("summaries")
