"""Plugins: Python the config's ``plugins:`` key imports before the rest of the config is read.

A plugin is a dotted module name (imported as usual) or a ``.py`` file. A file named in a config
file is relative to that file's folder; one given on the command line or in a dict is relative to
the working directory. Files are recorded by absolute path (`resolve`), so a run's saved
``config.yaml`` loads them again from any folder. Importing a plugin runs its code, by design
(as Hydra's ``_target_`` does): name only files you trust. Every imported file is remembered
(`imported`) so that the run log can name it.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import logging
import sys
from pathlib import Path

from hybrid_jax.errors import ConfigError

log = logging.getLogger("hybrid_jax")

_IMPORTED: dict[str, str] = {}  # plugin as named in the config -> the file it imported


def is_file(plugin: str) -> bool:
    return plugin.endswith(".py")


def resolve(plugins, base: Path | None) -> list:
    """`plugins` with each ``.py`` path made absolute against `base` (the config file's folder;
    None: the working directory); module names, and entries that are not strings, as they are."""
    if not isinstance(plugins, (list, tuple)):
        return plugins
    root = Path.cwd() if base is None else Path(base)
    return [str((root / p).resolve()) if isinstance(p, str) and is_file(p) else p for p in plugins]


def load(plugins: tuple[str, ...]) -> tuple[str, ...]:
    """Import each plugin once (module names as usual, files by path, relative ones against the
    working directory); return `plugins` with the files' paths absolute. A missing file or a
    plugin that fails to import raises a one-line ConfigError naming what was tried."""
    resolved = tuple(resolve(list(plugins), None))
    for i, plugin in enumerate(resolved):
        try:
            _IMPORTED[plugin] = _import_file(Path(plugin)) if is_file(plugin) else _module_file(plugin)
        except FileNotFoundError:
            raise ConfigError(f"plugins[{i}]: no such file: {plugin}") from None
        except Exception as e:  # the plugin's own error, reported on one line
            first = (str(e).splitlines() or [""])[0]
            raise ConfigError(f"plugins[{i}]: cannot import {plugins[i]!r} ({type(e).__name__}: {first})") from None
    return resolved


def _import_file(path: Path) -> str:
    if not path.is_file():
        raise FileNotFoundError(path)
    name = f"hybrid_jax_plugin_{path.stem}_{hashlib.sha256(str(path).encode()).hexdigest()[:8]}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"{path}: not importable as a module")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
    return str(path)


def _module_file(name: str) -> str:
    module = importlib.import_module(name)
    return str(getattr(module, "__file__", None) or name)


def log_imported(plugins: tuple[str, ...]) -> None:
    """Log the file each of `plugins` (as a config holds them) imported: plugins run as code."""
    for plugin in plugins:
        what = f"file {plugin}" if is_file(plugin) else f"module {plugin} from {_IMPORTED.get(plugin, '?')}"
        log.info("plugin %s imported (a plugin is code: its file ran on import)", what)
