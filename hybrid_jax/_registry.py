"""A lazy name → object registry, extensible by users and by installed packages (private).

An entry is an object, or an import path ``"package.module:attribute"`` that is imported on
first use. Besides the built-in and the registered entries, a registry reads the package
entry-point group it is given (``importlib.metadata``), so an installed distribution adds one
with, in its ``pyproject.toml``::

    [project.entry-points."hybrid_jax.families"]
    fisher_kpp = "my_package.fisher_kpp:FAMILY"

Nothing is imported until a name is looked up.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from typing import Any, Callable


class Registry:
    """Names of one kind (PDE families, network architectures) and the objects they stand for."""

    def __init__(self, kind: str, group: str, builtins: dict[str, str], check: str | Callable[[str, Any], None]):
        self.kind, self.group = kind, group
        self._entries: dict[str, Any] = dict(builtins)  # name -> object, or "module:attribute" not yet imported
        self._check_entry = check  # (name, object) -> None, raises TypeError/ValueError for a malformed entry
        self._plugins_read = False

    def _check(self, name: str, entry: Any) -> None:
        check = self._check_entry
        if isinstance(check, str):  # "module:function", imported when first needed
            check = self._check_entry = _resolve(check)
        check(name, entry)

    def register(self, name: str, entry: Any) -> None:
        """Add (or replace) `name`: an object, or a ``"module:attribute"`` path imported when first used."""
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"{self.kind} name must be an identifier, got {name!r}")
        if not isinstance(entry, str):
            self._check(name, entry)
        self._entries[name] = entry

    def _read_plugins(self) -> None:
        """Add the installed packages' entry points (once; registered names take precedence)."""
        if self._plugins_read:
            return
        self._plugins_read = True
        for ep in importlib.metadata.entry_points(group=self.group):
            self._entries.setdefault(ep.name, ep)

    def names(self) -> tuple[str, ...]:
        self._read_plugins()
        return tuple(self._entries)

    def __contains__(self, name) -> bool:
        return name in self.names()

    def get(self, name: str) -> Any:
        """The object of `name`, imported on first use; KeyError for an unknown name."""
        if name not in self:
            raise KeyError(f"unknown {self.kind} {name!r}; known: {', '.join(self.names())}")
        entry = self._entries[name]
        if isinstance(entry, importlib.metadata.EntryPoint):
            entry = entry.load()
        elif isinstance(entry, str):
            entry = _resolve(entry)
        else:
            return entry
        self._check(name, entry)
        self._entries[name] = entry
        return entry


def _resolve(path: str) -> Any:
    """The object at import path ``"package.module:attribute"``."""
    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module), attribute)


# The library's registries. They name their entries by import path, so this module (and the
# config, which consults it) imports no family or network module.
families = Registry("PDE family", "hybrid_jax.families", {
    "burgers": "hybrid_jax.physics.burgers:FAMILY",
    "advection_diffusion": "hybrid_jax.physics.advection_diffusion:FAMILY",
    "burgers_potential": "hybrid_jax.physics.burgers_potential:FAMILY",
    "gray_scott": "hybrid_jax.physics.gray_scott:FAMILY",
    "smoke": "hybrid_jax.physics.smoke:FAMILY",
    "closed_smoke": "hybrid_jax.physics.closed_smoke:FAMILY",
    "vortex_advection": "hybrid_jax.physics.vortex_advection:FAMILY",
}, "hybrid_jax.physics.base:check_family")

architectures = Registry("network architecture", "hybrid_jax.networks", {
    "unet": "hybrid_jax.networks.unet:NETWORK",
    "convnet": "hybrid_jax.networks.convnet:NETWORK",
    "resnet": "hybrid_jax.networks.resnet:NETWORK",
    "neural_field": "hybrid_jax.networks.neural_field:NETWORK",  # (x, t) -> state, not state -> state
}, "hybrid_jax.networks.base:check_network")

data_formats = Registry("data format", "hybrid_jax.data_formats", {
    "npz": "hybrid_jax.data.formats:read_npz",
    "hdf5": "hybrid_jax.data.formats:read_hdf5",
    "scene": "hybrid_jax.data.scene:read_scene",
    "npy": "hybrid_jax.data.formats:read_npy",
    "original": "hybrid_jax.data.original:read_original",
}, "hybrid_jax.data.formats:check_reader")
