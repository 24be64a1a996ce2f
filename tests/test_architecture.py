"""The project's own architecture test: the package's import graph, read with `ast` from every
``import`` statement (module level and inside functions: lazy imports count), has no cycle and keeps
the layer rules of DESIGN.md ("The layout today"), and no module exceeds 500 lines. A failure names
the offending edge (file, line).

``python -m pytest -s tests/test_architecture.py -k layers`` prints the graph's layers.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

PACKAGE = Path(os.environ.get("HYBRID_JAX_PACKAGE", Path(__file__).resolve().parents[1] / "hybrid_jax"))
"""The package checked (``$HYBRID_JAX_PACKAGE``: another checkout's, e.g. to list an old tree's faults)."""

ENTRY_POINTS = {"hybrid_jax.train", "hybrid_jax.compare", "hybrid_jax.sweep", "hybrid_jax.cli"}
"""The command-line entries: nothing imports them (``hybrid-jax`` dispatches by module name)."""
COMMAND_LINE = ENTRY_POINTS | {"hybrid_jax.boundary", "hybrid_jax.run", "hybrid_jax.api"}
FOUNDATION = {"hybrid_jax._registry", "hybrid_jax.errors", "hybrid_jax.files", "hybrid_jax.plugins"}
"""What the config machinery may consult: the registries, the error types, atomic file writes, the plugin importer."""
EVALUATION = {"hybrid_jax.evaluate", "hybrid_jax.plots", "hybrid_jax.plots_interaction"}


CONFIG = {"hybrid_jax.config", "hybrid_jax.typed_config", "hybrid_jax.trainer_config", "hybrid_jax.plugins",
          "hybrid_jax.sensor_config"}
"""The config: its machinery (typed_config, plugins) and its sections."""


def is_config(module: str) -> bool:
    return module in CONFIG


def _in(package: str):
    return lambda m: m == package or m.startswith(package + ".")


PHYSICS, NETWORKS, DATA, TRAINING = (_in(f"hybrid_jax.{p}") for p in ("physics", "networks", "data", "training"))

RULES = [  # (what the rule says, importer predicate, imported predicate): an edge matching both breaks it
    ("physics and networks import nothing of training, data, evaluation or the command line",
     lambda a: PHYSICS(a) or NETWORKS(a),
     lambda b: TRAINING(b) or DATA(b) or b in EVALUATION or b in COMMAND_LINE or b == "hybrid_jax.experiment"),
    ("rollout and losses import nothing of training, data, evaluation or the command line",
     lambda a: a in ("hybrid_jax.rollout", "hybrid_jax.losses"),
     lambda b: TRAINING(b) or DATA(b) or b in EVALUATION or b in COMMAND_LINE),
    ("data imports nothing of training, evaluation or the command line",
     DATA, lambda b: TRAINING(b) or b in EVALUATION or b in COMMAND_LINE),
    ("evaluation imports nothing of training or the command line",
     lambda a: a in EVALUATION, lambda b: TRAINING(b) or b in COMMAND_LINE),
    ("the experiment record sits below training and evaluation",
     lambda a: a == "hybrid_jax.experiment", lambda b: TRAINING(b) or b in EVALUATION or DATA(b)),
    ("training imports nothing of evaluation or the command line",
     TRAINING, lambda b: b in EVALUATION or b in COMMAND_LINE),
    ("nothing imports an entry point", lambda a: True, lambda b: b in ENTRY_POINTS),
    ("the config machinery consults the registry (hybrid_jax._registry), not the packages it names",
     is_config, lambda b: not (is_config(b) or b in FOUNDATION)),
    ("the foundation (registry, errors, files) imports only the foundation",
     lambda a: a in FOUNDATION, lambda b: b not in FOUNDATION),
]


def modules(package: Path) -> dict[str, Path]:
    """Dotted name -> file of every module of `package` (a package is named by its ``__init__.py``)."""
    out = {}
    for f in sorted(package.rglob("*.py")):
        parts = f.relative_to(package.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    return out


def imports(name: str, path: Path, known: set[str]) -> dict[str, int]:
    """The package modules `name` imports anywhere in its file -> the line of the first such import.
    ``from a import b`` counts as an import of ``a.b`` when that is a module, else of ``a``. Imports under
    ``if TYPE_CHECKING:`` never run (they are for type checkers and IDEs) and are not edges."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: dict[str, int] = {}
    tree = ast.parse(path.read_text(), str(path))
    typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                   and getattr(block.test, "id", getattr(block.test, "attr", None)) == "TYPE_CHECKING"
                   for stmt in block.body for n in ast.walk(stmt)}
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: `from . import x`, `from ..y import z`
                up = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        for t in targets:
            while t and t not in known:  # `import a.b.c` of an attribute path: its longest module prefix
                t = t.rpartition(".")[0]
            if t and t != name:
                out.setdefault(t, node.lineno)
    return out


def import_graph(package: Path = PACKAGE) -> tuple[dict[str, dict[str, int]], dict[str, Path]]:
    files = modules(package)
    return {m: imports(m, f, set(files)) for m, f in files.items()}, files


def find_cycle(graph: dict[str, dict[str, int]]) -> list[str] | None:
    """One import cycle ``[a, b, …, a]``, or None (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in sorted(graph):
        if state.get(root):
            continue
        path, stack = [root], [iter(sorted(graph[root]))]
        state[root] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph[nxt])))
    return None


def violations(graph: dict[str, dict[str, int]], files: dict[str, Path]) -> list[str]:
    """Every edge that breaks a rule, as ``file:line: importer -> imported: rule``."""
    out = []
    for a, deps in sorted(graph.items()):
        for b, line in sorted(deps.items()):
            for rule, src, dst in RULES:
                if src(a) and dst(b):
                    out.append(f"{files[a].relative_to(PACKAGE.parent)}:{line}: {a} -> {b}: {rule}")
    return out


def layers(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Modules by layer: layer 0 imports no package module, layer k imports some module of layer k-1
    and none above (longest import chain below a module). Needs an acyclic graph."""
    depth: dict[str, int] = {}

    def level(m: str) -> int:
        if m not in depth:
            depth[m] = 1 + max((level(d) for d in graph[m]), default=-1)
        return depth[m]

    for m in graph:
        level(m)
    return [sorted(m for m, d in depth.items() if d == k) for k in range(max(depth.values()) + 1)]


def test_the_package_imports_form_no_cycle():
    graph, _ = import_graph()
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_every_import_keeps_the_layer_rules():
    graph, files = import_graph()
    found = violations(graph, files)
    assert not found, "layer rules broken:\n" + "\n".join(found)


def test_layers_of_the_import_graph():
    graph, _ = import_graph()
    assert find_cycle(graph) is None, "no layers: the graph has a cycle (see the cycle test)"
    found = layers(graph)
    for k, ms in enumerate(found):
        print(f"layer {k}: {', '.join(m.removeprefix('hybrid_jax.') for m in ms)}")
    assert set(found[-1]) <= COMMAND_LINE, f"only the command line sits on top, got {found[-1]}"
    assert {"hybrid_jax._registry", "hybrid_jax.errors", "hybrid_jax.memory"} <= set(found[0])


def test_the_checker_sees_lazy_imports_cycles_and_broken_rules(tmp_path):
    """The checker itself: a function-level import closing a cycle, a relative import, a rule broken."""
    pkg = tmp_path / "hybrid_jax"
    (pkg / "physics").mkdir(parents=True)
    (pkg / "training").mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "physics" / "__init__.py").write_text("from . import base\n")
    (pkg / "physics" / "base.py").write_text("def f():\n    from hybrid_jax.training.loop import g\n")
    (pkg / "training" / "__init__.py").write_text("")
    (pkg / "training" / "loop.py").write_text("import hybrid_jax.physics.base as b\nfrom ..physics import base\n")
    graph, files = import_graph(pkg)
    assert graph["hybrid_jax.physics"] == {"hybrid_jax.physics.base": 1}
    assert graph["hybrid_jax.physics.base"] == {"hybrid_jax.training.loop": 2}
    assert graph["hybrid_jax.training.loop"] == {"hybrid_jax.physics.base": 1}
    assert find_cycle(graph) == ["hybrid_jax.physics.base", "hybrid_jax.training.loop", "hybrid_jax.physics.base"]
    found = [v.replace(str(tmp_path), "") for v in violations(graph, {m: PACKAGE.parent / f.relative_to(tmp_path)
                                                                     for m, f in files.items()})]
    assert found == ["hybrid_jax/physics/base.py:2: hybrid_jax.physics.base -> hybrid_jax.training.loop: "
                     "physics and networks import nothing of training, data, evaluation or the command line"]
    del graph["hybrid_jax.physics.base"]["hybrid_jax.training.loop"]
    assert find_cycle(graph) is None
    assert layers(graph) == [["hybrid_jax", "hybrid_jax.physics.base", "hybrid_jax.training"],
                             ["hybrid_jax.physics", "hybrid_jax.training.loop"]]


def test_no_module_is_over_500_lines():
    sizes = {m: len(f.read_text().splitlines()) for m, f in modules(PACKAGE).items()}
    assert max(sizes.values()) <= 500, sorted(((n, m) for m, n in sizes.items() if n > 500), reverse=True)
