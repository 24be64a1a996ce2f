"""The typed-config machinery: frozen dataclasses <-> YAML, with errors that name the key.

A config is a tree of frozen dataclasses. Every leaf is typed; each field's ``metadata`` may
carry a ``check`` (predicate, message) and a ``doc`` string. Bad input raises
:class:`ConfigError` naming the dotted key, with a suggestion for a misspelt one, e.g.
``trainer.synthetic.learning_rate: must be > 0, got -1``. A section whose keys depend on one
of them (``physics.name``) is a :class:`TaggedUnion`. This module knows no section: those are
in `hybrid_jax.config` and in the families' and networks' own modules.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import hashlib
import json
import math
import re
import types
import typing
from dataclasses import field
from typing import Any, Literal

import yaml

from hybrid_jax.errors import ConfigError


def option(default, doc, check=None, message=""):
    """A config field: its default, its `doc` (the key reference) and an optional `check`
    (predicate on the typed value) with the `message` of a failed check."""
    return field(default=default, metadata={"doc": doc, "check": check, "message": message})


def section(cls, doc):
    """A config field holding a nested section (a dataclass, default-constructed)."""
    return field(default_factory=cls, metadata={"doc": doc})


def positive(default, doc):
    return option(default, doc, lambda v: v > 0, "must be > 0")


def nonnegative(default, doc):
    return option(default, doc, lambda v: v >= 0, "must be >= 0")


class TaggedUnion:
    """Base of a section whose dataclass is chosen by one key (`tag`, e.g. ``physics.name``):
    subclasses name the key, the default variant, and how to list and find the variants."""

    tag: typing.ClassVar[str] = "name"
    default_variant: typing.ClassVar[str] = ""

    @classmethod
    def variant_names(cls) -> tuple[str, ...]:
        raise NotImplementedError

    @classmethod
    def variant(cls, name: str) -> type:
        raise NotImplementedError


def _type_name(tp) -> str:
    return getattr(tp, "__name__", str(tp))


def _coerce(tp, value, key: str):
    """Return `value` as type `tp`, or raise ConfigError naming `key`."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        for alternative in inner[:-1]:  # e.g. int | Literal["auto"]: the first that fits
            try:
                return _coerce(alternative, value, key)
            except ConfigError:
                pass
        return _coerce(inner[-1], value, key)
    if origin is Literal:
        if value not in args:
            close = difflib.get_close_matches(str(value), [str(a) for a in args], n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(f"{key}: must be one of {', '.join(map(str, args))}; got {value!r}{hint}")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: must be a list, got {value!r}")
        return tuple(_coerce(args[0], v, f"{key}[{i}]") for i, v in enumerate(value))
    if dataclasses.is_dataclass(tp) or (isinstance(tp, type) and issubclass(tp, TaggedUnion)):
        return from_dict(tp, value, key)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: must be a number, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"{key}: must be a finite number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: must be a string, got {value!r}")
        return value
    raise TypeError(f"unsupported config type {_type_name(tp)} at {key}")  # a bug in this module


def from_dict(cls, data: Any, prefix: str = ""):
    """Build dataclass `cls` from a plain dict, validating every key recursively."""
    where = prefix or "config"
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: must be a mapping, got {data!r}")
    # YAML 1.1 reads a bare `true:` / `false:` key (e.g. viscosity.true) as a boolean
    data = {({True: "true", False: "false"}[k] if isinstance(k, bool) else k): v for k, v in data.items()}
    if issubclass(cls, TaggedUnion):  # the variant named by its tag key
        tag = data.get(cls.tag, cls.default_variant)
        if not isinstance(tag, str) or tag not in cls.variant_names():
            _coerce(Literal[cls.variant_names()], tag, _join(prefix, cls.tag))
        cls = cls.variant(tag)
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for key in data:
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(f"{_join(prefix, key)}: unknown key{hint}")
    kwargs = {}
    for f in dataclasses.fields(cls):
        key = _join(prefix, f.name)
        if f.name not in data:
            continue
        value = _coerce(hints[f.name], data[f.name], key)
        check = f.metadata.get("check")
        if check is not None and not check(value):
            raise ConfigError(f"{key}: {f.metadata['message']}, got {data[f.name]!r}")
        kwargs[f.name] = value
    return cls(**kwargs)


def _join(prefix: str, key) -> str:
    key = key if isinstance(key, str) and key.isidentifier() else repr(key)  # odd keys stay on one line
    return f"{prefix}.{key}" if prefix else key


MAX_YAML_NODES = 100_000  # a config expands to far fewer nodes; more is an alias bomb ("billion laughs")


class _StrictLoader(yaml.SafeLoader):
    """Safe YAML that refuses duplicate keys and reads `1e-3` (no dot) as a float, as YAML 1.2 does."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                key = (key_node.tag, key_node.value)
                if key in seen:
                    raise ConfigError(f"duplicate key {key_node.value!r} (line {key_node.start_mark.line + 1})")
                seen.add(key)
        return super().construct_mapping(node, deep)


_StrictLoader.add_implicit_resolver("tag:yaml.org,2002:float",
                                    re.compile(r"^[-+]?[0-9][0-9_]*(\.[0-9_]*)?[eE][-+]?[0-9]+$"), list("-+0123456789"))


def _expanded_size(root) -> int:
    """Nodes of a composed YAML document once its aliases are expanded; refuses cycles and MAX_YAML_NODES."""
    memo: dict[int, int] = {}
    active: set[int] = set()

    def size(node) -> int:
        if id(node) in memo:
            return memo[id(node)]
        if id(node) in active:
            raise ConfigError(f"circular alias (line {node.start_mark.line + 1})")
        active.add(id(node))
        children = node.value if isinstance(node, yaml.SequenceNode) else \
            [n for kv in node.value for n in kv] if isinstance(node, yaml.MappingNode) else []
        total = 1 + sum(size(c) for c in children)
        active.discard(id(node))
        if total > MAX_YAML_NODES:
            raise ConfigError(f"expands to more than {MAX_YAML_NODES} values through aliases; refused")
        memo[id(node)] = total
        return total

    return size(root)


def parse_yaml(text: str, where: str) -> Any:
    """Parse one YAML document safely (no tags, bounded aliases, no duplicate keys); errors name `where`."""
    loader = None
    try:
        loader = _StrictLoader(text)
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node)
        return loader.construct_document(node)
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{where}: not valid YAML ({' '.join(str(e).split())})") from None
    except RecursionError:
        raise ConfigError(f"{where}: nested too deeply") from None
    finally:
        if loader is not None:
            loader.dispose()


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Set dotted `key=value` overrides (values parsed as YAML) in a nested dict copy."""
    data = copy.deepcopy(data)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"{' '.join(item.split())}: an override must look like dotted.key=value")
        key, raw = item.split("=", 1)
        node = data
        parts = key.strip().split(".")
        if not all(parts):
            raise ConfigError(f"{' '.join(key.split())!r}: an override key must be dotted names, "
                              f"e.g. trainer.hybrid.alpha")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"{key}: '{part}' is not a section")
            node = child
        node[parts[-1]] = parse_yaml(raw, f"override {key}")
    return data


def to_dict(cfg) -> dict:
    """Plain nested dict of a config (tuples as lists), suitable for YAML/JSON."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def config_hash(section) -> str:
    """Stable short hash of a config (or of any JSON-able section of one)."""
    payload = to_dict(section) if dataclasses.is_dataclass(section) else section
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def reference(cls, prefix: str = "") -> list[tuple[str, str, str, str]]:
    """(dotted key, type, default, doc) of every key of dataclass `cls`; a tagged union's keys once per variant."""
    rows = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        key, tp = _join(prefix, f.name), hints[f.name]
        if isinstance(tp, type) and issubclass(tp, TaggedUnion):
            for name in tp.variant_names():
                rows += reference(tp.variant(name), f"{key}[{name}]")
        elif dataclasses.is_dataclass(tp):
            rows += reference(tp, key)
        else:
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            type_name = tp.__name__ if isinstance(tp, type) else str(tp).replace("typing.", "")
            rows.append((key, type_name, json.dumps(default), f.metadata.get("doc", "")))
    return rows
