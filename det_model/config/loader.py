"""Load PaddleOCR-schema YAML into the frozen dataclasses of `schema.py`.

`load_config(path, overrides)` reads the YAML node tree itself (instead of `yaml.safe_load`) so that every
value keeps its line number and duplicate keys are errors: PyYAML would silently keep the last one, which
is how PaddleOCR's own cml.yml ends up with a different `model_name_pairs` than its first spelling says.
Overrides use PaddleOCR's `-o Section.key=value` syntax with YAML-typed values.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import importlib.resources
import logging
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal, Sequence, Union

import yaml

from det_model.config import schema
from det_model.config.ranges import range_problems

logger = logging.getLogger(__name__)

# The bundled recipes are package data (configs/det/ch_PP-OCRv3 in the repository links here), so a wheel
# install finds them by name as the editable checkout does.
RECIPES_PACKAGE, RECIPES_FOLDER = "det_model.config", "recipes"

KeyPath = tuple[Union[str, int], ...]


class ConfigError(ValueError):
    """A config problem, phrased as `<file>:<line>: <key path>: <what is wrong>`."""


# ------------------------------------------------------------------------------------------ reading


@dataclasses.dataclass
class _Located:
    """Raw YAML data plus where each key path came from (file:line, or the -o override text)."""

    data: dict[str, Any]
    origin: dict[KeyPath, str]
    source: str

    def where(self, path: KeyPath) -> str:
        for cut in range(len(path), -1, -1):
            if path[:cut] in self.origin:
                return self.origin[path[:cut]]
        return self.source


def _format_path(path: KeyPath) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "<root>"


def _read_yaml(text: str, source: str) -> _Located:
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from exc
    finally:
        loader.dispose()
    if root is None:
        raise ConfigError(f"{source}: the file is empty")
    origin: dict[KeyPath, str] = {}

    def convert(node: yaml.Node, path: KeyPath) -> Any:
        origin[path] = f"{source}:{node.start_mark.line + 1}"
        if isinstance(node, yaml.MappingNode):
            loader.flatten_mapping(node)
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = loader.construct_object(key_node, deep=True)
                if key in out:
                    raise ConfigError(
                        f"{source}:{key_node.start_mark.line + 1}: {_format_path(path + (key,))}: duplicate key "
                        f"(first at line {origin[path + (key,)].rsplit(':', 1)[1]}); YAML would silently keep "
                        "the last value, so remove one of them"
                    )
                out[key] = convert(value_node, path + (key,))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [convert(item, path + (i,)) for i, item in enumerate(node.value)]
        return loader.construct_object(node, deep=True)

    data = convert(root, ())
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: the top level must be a mapping of sections (Global, Architecture, ...)"
        )
    return _Located(data, origin, source)


def _single_key(item: Any) -> Any:
    """The name of a single-key list item ({Name: params}: a transform, a loss term), else None."""
    return next(iter(item)) if isinstance(item, dict) and len(item) == 1 else None


def _listing(items: list) -> str:
    return ", ".join(f"{i} {_single_key(item)}" for i, item in enumerate(items))


def _resolve_list_names(data: dict[str, Any], parts: list[str | int], text: str) -> list[str | int]:
    """Let `-o` address a {Name: params} list item by name (`...transforms.EastRandomCropData.size=...`), and
    check that an index addresses the item named after it (`transforms.3.EastRandomCropData` where index 3
    is IaaAugment is the flag's mistake: it names the flag and the transforms at each index)."""
    resolved: list[str | int] = []
    node: Any = data
    for i, part in enumerate(parts):
        if isinstance(node, list) and isinstance(part, str) and any(_single_key(it) for it in node):
            found = [k for k, item in enumerate(node) if _single_key(item) == part]
            if len(found) != 1:
                problem = "no item named" if not found else f"several items ({found}) named"
                raise ConfigError(f"-o {text!r}: {_format_path(tuple(resolved))}: {problem} {part!r}; "
                                  f"items: {_listing(node)}")
            resolved.append(found[0])
            node = node[found[0]]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node) and i + 1 < len(parts):
            name, following = _single_key(node[part]), parts[i + 1]
            if name is not None and isinstance(following, str) and following != name:
                at = [k for k, item in enumerate(node) if _single_key(item) == following]
                hint = f"{following} is at index {at[0]}; " if at else ""
                raise ConfigError(f"-o {text!r}: item {part} of {_format_path(tuple(resolved))} is {name}, not "
                                  f"{following}; {hint}items: {_listing(node)} (or write the name instead of "
                                  "the index)")
        resolved.append(part)
        node = node.get(part) if isinstance(node, dict) else node[part] if (
            isinstance(node, list) and isinstance(part, int) and part < len(node)) else None
    return resolved


def _apply_override(located: _Located, text: str) -> None:
    """Apply one `-o a.b.c=value` (value parsed as YAML, as PaddleOCR does); list items by index, or
    {Name: params} items (transforms, loss terms) by name."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"-o {text!r}: expected Section.key=value")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise ConfigError(f"-o {text!r}: value is not valid YAML: {exc}") from exc
    parts: list[str | int] = [int(p) if p.isdigit() else p for p in key.strip().split(".")]
    parts = _resolve_list_names(located.data, parts, text)
    if parts[0] not in located.data:
        raise ConfigError(f"-o {text!r}: unknown section {parts[0]!r}; sections: {', '.join(located.data)}")
    node: Any = located.data
    for depth, part in enumerate(parts[:-1]):
        here = tuple(parts[: depth + 1])
        if isinstance(node, list):
            if not isinstance(part, int) or part >= len(node):
                raise ConfigError(f"-o {text!r}: {_format_path(here)}: no such list item")
            node = node[part]
        else:
            if node.get(part) is None:
                node[part] = {}
            node = node[part]
        if not isinstance(node, (dict, list)):
            raise ConfigError(f"-o {text!r}: {_format_path(here)} is a value, not a section")
    last = parts[-1]
    if isinstance(node, list):
        if not isinstance(last, int) or last >= len(node):
            raise ConfigError(f"-o {text!r}: {_format_path(tuple(parts))}: no such list item")
    node[last] = value
    path = tuple(parts)
    for known in [p for p in located.origin if p[: len(path)] == path]:
        del located.origin[known]
    located.origin[path] = f"-o {text}"


# ----------------------------------------------------------------------------------------- building


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


_FRACTION = re.compile(r"^\s*([0-9.eE+-]+)\s*/\s*([0-9.eE+-]+)\s*$")

# Unions whose members are chosen by a single mapping key ({Name: params}) or by {type: Name, args: ...}.
_SINGLE_KEY_UNIONS: list[tuple[Any, dict[str, type]]] = [
    (schema.TransformConfig, schema.TRANSFORMS),
    (schema.LossTermConfig, schema.LOSS_TERMS),
]
_NAMED_UNIONS: list[tuple[Any, dict[str, type]]] = [
    (schema.BackboneConfig, schema.BACKBONES),
    (schema.NeckConfig, schema.NECKS),
    (schema.ArchitectureConfig, schema.ARCHITECTURES),
    (schema.LossConfig, schema.LOSSES),
    (schema.LRConfig, schema.LR_SCHEDULES),
    (schema.PostProcessConfig, schema.POSTPROCESSES),
    (schema.MetricConfig, schema.METRICS),
]
_NAME_DEFAULTS: dict[Any, str] = {schema.ArchitectureConfig: "BaseModel"}
# Classes dispatched by `name` that have a single choice (the name is still checked).
_NAMED_CLASSES: dict[type, dict[str, type]] = {
    schema.DBHeadConfig: schema.HEADS,
    schema.L2RegularizerConfig: schema.REGULARIZERS,
    schema.DatasetConfig: schema.DATASETS,
}


class _Builder:
    def __init__(self, located: _Located):
        self.located = located

    def fail(self, path: KeyPath, problem: str) -> ConfigError:
        return ConfigError(f"{self.located.where(path)}: {_format_path(path)}: {problem}")

    def build(self, tp: Any, value: Any, path: KeyPath) -> Any:
        for union, table in _SINGLE_KEY_UNIONS:
            if tp == union:
                return self.build_single_key(table, value, path)
        for union, table in _NAMED_UNIONS:
            if tp == union:
                return self.build_named(table, value, path, _NAME_DEFAULTS.get(union))
        if tp == schema.AugmenterConfig:
            return self.build_augmenter(value, path)
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin in (Union, types.UnionType):
            if value is None and type(None) in args:
                return None
            inner = [a for a in args if a is not type(None)]
            return self.build(inner[0] if len(inner) == 1 else Union[tuple(inner)], value, path)
        if dataclasses.is_dataclass(tp):
            if tp in _NAMED_CLASSES:
                return self.build_named(
                    _NAMED_CLASSES[tp], value, path, tp.__dataclass_fields__["name"].default
                )
            return self.build_dataclass(tp, value, path)
        if origin is Literal:
            if value not in args:
                raise self.fail(path, f"{value!r} is not one of {', '.join(repr(a) for a in args)}")
            return value
        if origin is tuple:
            return self.build_tuple(args, value, path)
        if origin is dict:
            if not isinstance(value, dict):
                raise self.fail(path, f"expected a mapping, got {type(value).__name__} {value!r}")
            return {str(k): self.build(args[1], v, path + (k,)) for k, v in value.items()}
        return self.build_scalar(tp, value, path)

    def build_scalar(self, tp: Any, value: Any, path: KeyPath) -> Any:
        if tp is type(None):
            if value is not None:
                raise self.fail(path, f"must be empty (null), got {value!r}")
            return None
        if tp is bool:
            if not isinstance(value, bool):
                raise self.fail(path, f"expected true/false, got {value!r}")
            return value
        if tp is int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise self.fail(path, f"expected an integer, got {value!r}")
            return value
        if tp is float:
            if isinstance(value, str) and (match := _FRACTION.match(value)):
                value = float(match.group(1)) / float(match.group(2))
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise self.fail(path, f"expected a number, got {value!r}")
            return float(value)
        if tp is str:
            if not isinstance(value, str):
                raise self.fail(path, f"expected a string, got {type(value).__name__} {value!r}")
            return value
        raise TypeError(f"unsupported config type {tp!r} at {_format_path(path)}")

    def build_tuple(self, args: tuple[Any, ...], value: Any, path: KeyPath) -> tuple[Any, ...]:
        if isinstance(value, str) and args == (str, Ellipsis):
            value = [value]  # PaddleOCR accepts a single name where a list is expected (maps_name)
        if not isinstance(value, (list, tuple)):
            raise self.fail(path, f"expected a list, got {type(value).__name__} {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            item = args[0]
            # A flat pair [A, B] where a list of pairs is expected, as PaddleOCR's model_name_pairs allows.
            if typing.get_origin(item) is tuple and value and not isinstance(value[0], (list, tuple)):
                value = [value]
            return tuple(self.build(item, v, path + (i,)) for i, v in enumerate(value))
        if len(value) != len(args):
            raise self.fail(path, f"expected {len(args)} values, got {len(value)}: {value!r}")
        return tuple(self.build(a, v, path + (i,)) for i, (a, v) in enumerate(zip(args, value)))

    def build_dataclass(self, cls: type, value: Any, path: KeyPath, skip: tuple[str, ...] = ()) -> Any:
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise self.fail(path, f"expected a mapping for {cls.__name__}, got {value!r}")
        hints = _hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls) if f.init and f.name != "source"}
        unknown = [k for k in value if k not in fields and k not in skip]
        if unknown:
            close = difflib.get_close_matches(str(unknown[0]), list(fields), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise self.fail(
                path + (unknown[0],), f"unknown key; {hint}known keys here: {', '.join(sorted(fields))}"
            )
        kwargs = {}
        for name, fld in fields.items():
            if name in value:
                kwargs[name] = self.build(hints[name], value[name], path + (name,))
            elif fld.default is dataclasses.MISSING and fld.default_factory is dataclasses.MISSING:
                raise self.fail(path + (name,), "required key is missing")
        for where, problem in range_problems(cls, kwargs):
            raise self.fail(path + where, problem)
        self.check_compatibility_only(cls, kwargs, path)
        return cls(**kwargs)

    def check_compatibility_only(self, cls: type, kwargs: dict[str, Any], path: KeyPath) -> None:
        """Warn about (or reject) a non-default value of a key listed in schema.COMPATIBILITY_ONLY."""
        for name, kind in schema.COMPATIBILITY_ONLY.get(cls, {}).items():
            if name not in kwargs or kwargs[name] == cls.__dataclass_fields__[name].default:
                continue
            if kind == schema.IGNORED:
                logger.warning("%s: %s=%r is accepted for compatibility with PaddleOCR configs and ignored",
                               self.located.where(path + (name,)), _format_path(path + (name,)), kwargs[name])
            elif kind != schema.INFORMATIONAL:
                raise self.fail(path + (name,), f"{kwargs[name]!r} is not supported ({kind}); remove the key")

    def build_named(self, table: dict[str, type], value: Any, path: KeyPath, default: str | None) -> Any:
        if not isinstance(value, dict):
            raise self.fail(path, f"expected a mapping with a `name`, got {value!r}")
        name = value.get("name", default)
        if name not in table:
            raise self.fail(path + ("name",), f"unknown name {name!r}; known: {', '.join(sorted(table))}")
        return self.build_dataclass(table[name], value, path)

    def build_single_key(self, table: dict[str, type], value: Any, path: KeyPath) -> Any:
        if not isinstance(value, dict) or len(value) != 1:
            raise self.fail(path, f"expected a single-key mapping like {{Name: {{...}}}}, got {value!r}")
        ((name, params),) = value.items()
        if name not in table:
            raise self.fail(path + (name,), f"unknown name {name!r}; known: {', '.join(sorted(table))}")
        return self.build_dataclass(table[name], params, path + (name,))

    def build_augmenter(self, value: Any, path: KeyPath) -> Any:
        if not isinstance(value, dict) or "type" not in value:
            raise self.fail(path, f"expected {{type: Name, args: {{...}}}}, got {value!r}")
        unknown = set(value) - {"type", "args"}
        if unknown:
            raise self.fail(path + (sorted(unknown)[0],), "unknown key; known keys here: args, type")
        name = value["type"]
        if name not in schema.AUGMENTERS:
            raise self.fail(
                path + ("type",), f"unknown augmenter {name!r}; known: {', '.join(sorted(schema.AUGMENTERS))}"
            )
        return self.build_dataclass(schema.AUGMENTERS[name], value.get("args"), path + ("args",))


# ------------------------------------------------------------------------------------------- public


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> schema.DetConfig:
    """Read a PaddleOCR-schema detection config, apply `-o` overrides, and return the typed config."""
    return _build_config(_read_file(path), overrides)


def parse_config(text: str, *, source: str = "<string>", overrides: Sequence[str] = ()) -> schema.DetConfig:
    return _build_config(_read_yaml(text, source), overrides)


@dataclasses.dataclass(frozen=True)
class LoadedConfig:
    """A config file read once: its typed `config`, and its YAML tree with each key's file:line, so that
    `with_overrides` applies `-o` overrides later without reading the file again, with the same messages."""

    config: schema.DetConfig
    _tree: _Located = dataclasses.field(repr=False, compare=False)

    def with_overrides(self, overrides: Sequence[str]) -> schema.DetConfig:
        """`load_config(<the file>, overrides)`, from what was read."""
        return _build_config(copy.deepcopy(self._tree), overrides)


def read_config(path: str | Path) -> LoadedConfig:
    """Read a config once (e.g. a recipe whose values decide the overrides to apply to it)."""
    tree = _read_file(path)
    return LoadedConfig(_build_config(copy.deepcopy(tree), ()), tree)


def _read_file(path: str | Path) -> _Located:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder; -c takes a config .yml file or a bundled recipe name") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a text (UTF-8) YAML file ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror})") from None
    return _read_yaml(text, str(path))


def _build_config(located: _Located, overrides: Sequence[str]) -> schema.DetConfig:
    for override in overrides:
        _apply_override(located, override)
    config = _Builder(located).build(schema.DetConfig, located.data, ())
    return dataclasses.replace(config, source=located.source)


def config_path(name: str) -> Path:
    """Resolve a bundled recipe name (e.g. "ch_PP-OCRv3_det_cml.yml") or an existing path."""
    candidate = Path(name)
    if candidate.exists():
        return candidate
    recipes = Path(str(importlib.resources.files(RECIPES_PACKAGE) / RECIPES_FOLDER))
    bundled = recipes / candidate.name
    if bundled.is_file():
        return bundled
    known = sorted(p.name for p in recipes.glob("*.yml"))
    raise ConfigError(f"{name}: no such config file or bundled recipe; bundled: {', '.join(known)}")
