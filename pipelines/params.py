"""Typed `--set key=value` handling against the pipeline's declared parameters (types and defaults)."""

from __future__ import annotations

import json
from typing import Any, Mapping, Sequence

# KFP component-spec type names -> converters from CLI text.
_BOOLS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def parameter_specs(pipeline: Any) -> dict[str, Any]:
    """Name -> kfp InputSpec (`.type`, `.default`) of a compiled-in-memory pipeline function."""
    return dict(pipeline.component_spec.inputs or {})


def defaults(pipeline: Any) -> dict[str, Any]:
    return {name: spec.default for name, spec in parameter_specs(pipeline).items()}


def describe(pipeline: Any, local_defaults: Mapping[str, Any] = {}) -> str:  # noqa: B006 - read only
    """The parameters `--set` accepts, one a line with its type and default (for --help); `local_defaults`
    replace the pipeline's (run-local's tiny values)."""
    lines = ["pipeline parameters (--set NAME=VALUE; a list takes JSON or one item, repeated --set appends):"]
    for name, spec in sorted(parameter_specs(pipeline).items()):
        default = local_defaults.get(name, spec.default)
        lines.append(f"  {name:<24} {_kind(spec.type):<8} default {json.dumps(default)}")
    return "\n".join(lines)


def _kind(spec_type: str) -> str:
    """'typing.List[str]' -> 'List'; 'Integer' stays."""
    base = spec_type.removeprefix("typing.").split("[")[0]
    return {"list": "List", "dict": "Dict"}.get(base.lower(), base)


def _convert(name: str, kind: str, text: str) -> Any:
    try:
        if kind == "Integer":
            return int(text)
        if kind == "Float":
            return float(text)
        if kind == "Boolean":
            return _BOOLS[text.strip().lower()]
        if kind == "List":
            return json.loads(text) if text.lstrip().startswith("[") else [text]
        if kind == "Dict":
            return json.loads(text)
        return text
    except (ValueError, KeyError) as exc:
        raise ValueError(f"--set {name}={text!r}: not a valid {kind}") from exc


def parse_sets(pipeline: Any, items: Sequence[str]) -> dict[str, Any]:
    """`["epochs=2", "dml_overrides=Global.seed=3", ...]` -> typed values; a repeated list key appends."""
    specs = parameter_specs(pipeline)
    out: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep:
            raise ValueError(f"--set {item!r}: expected key=value")
        if name not in specs:
            raise ValueError(f"--set {name}: unknown parameter; known: {', '.join(sorted(specs))}")
        kind = _kind(specs[name].type)
        value = _convert(name, kind, text)
        if kind == "List" and name in out:
            out[name] = out[name] + value
        else:
            out[name] = value
    return out
