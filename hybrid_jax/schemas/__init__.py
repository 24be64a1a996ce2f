"""JSON Schemas of a run's output files, shipped with the package (docs/outputs.md).

``summary.schema.json`` (summary.json), ``evaluation.schema.json`` (evaluation.json),
``comparison.schema.json`` (comparison.json of ``compare``) and ``metrics_line.schema.json`` (each line
of metrics.jsonl). Every file (and every metrics line) carries ``schema_version``: it changes when a
key is renamed or removed, or changes meaning or unit.
"""

from __future__ import annotations

import json
from importlib import resources

SCHEMA_VERSION = 1
NAMES = ("summary", "evaluation", "comparison", "metrics_line")


def schema(name: str) -> dict:
    """The JSON Schema (draft 2020-12) of output `name` (one of `NAMES`)."""
    if name not in NAMES:
        raise KeyError(f"unknown output schema {name!r}; one of {', '.join(NAMES)}")
    return json.loads(resources.files(__name__).joinpath(f"{name}.schema.json").read_text())
