"""Shared fixtures (the helpers they use, and tests import explicitly, are in helpers.py)."""

from __future__ import annotations

import pytest

from helpers import tiny_dict
from hybrid_jax.backend import setup
from hybrid_jax.config import config_from_dict

setup()  # PhiFlow's JAX backend (turns on x64), as the entry points do


@pytest.fixture
def tiny_config(tmp_path):
    """Factory: `tiny_config(mode="synthetic", trainer__hybrid__alpha=0.0)` -> Config."""
    return lambda **kw: config_from_dict(tiny_dict(tmp_path, **kw))
