"""Turn a typed config back into PaddleOCR-schema YAML (the inverse of `loader.load_config`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml

from det_model.config import schema

_SINGLE_KEY = {cls: name for name, cls in {**schema.TRANSFORMS, **schema.LOSS_TERMS}.items()}
_AUGMENTER = {cls: name for name, cls in schema.AUGMENTERS.items()}


def to_dict(value: Any) -> Any:
    """Plain YAML-ready data: dataclasses become mappings, tuples lists; list items keep PaddleOCR's shapes."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        data = {
            f.name: to_dict(getattr(value, f.name)) for f in dataclasses.fields(value) if f.name != "source"
        }
        cls = type(value)
        if cls in _SINGLE_KEY:
            return {_SINGLE_KEY[cls]: data or None}
        if cls in _AUGMENTER:
            return {"type": _AUGMENTER[cls], "args": data}
        return data
    if isinstance(value, (list, tuple)):
        return [to_dict(v) for v in value]
    if isinstance(value, dict):
        return {k: to_dict(v) for k, v in value.items()}
    return value


def dump_config(config: schema.DetConfig, path: str | Path) -> Path:
    """Write the resolved config; `load_config` reads it back to an equal object."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(to_dict(config), sort_keys=False, allow_unicode=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path
