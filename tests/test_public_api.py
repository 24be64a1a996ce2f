"""The public names of `hybrid_jax`: the lazy table and the TYPE_CHECKING imports IDEs read agree."""

from __future__ import annotations

import ast
from pathlib import Path

import hybrid_jax as hj


def test_type_checking_imports_name_exactly_the_lazy_public_api():
    tree = ast.parse(Path(hj.__file__).read_text())
    (block,) = [n for n in tree.body if isinstance(n, ast.If) and getattr(n.test, "id", None) == "TYPE_CHECKING"]
    imported = {(alias.name, node.module) for node in block.body if isinstance(node, ast.ImportFrom)
                for alias in node.names}
    assert imported == {(name, module) for name, module in hj._API.items()}
    for name in hj.__all__:  # and each resolves to what the block imports
        assert getattr(hj, name) is getattr(__import__(hj._API[name], fromlist=[name]), name)
