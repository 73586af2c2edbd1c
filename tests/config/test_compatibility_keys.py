"""schema.COMPATIBILITY_ONLY: the keys accepted from PaddleOCR configs that nothing here acts on.

A non-default value of an ignored key is warned about, one that would change the results is rejected with its
file:line, and no det_model module reads any of these fields.
"""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import pytest

from det_model.config import ConfigError, config_path, load_config, parse_config, schema

ROOT = Path(__file__).resolve().parents[2]
STUDENT = config_path("ch_PP-OCRv3_det_student.yml")

# Each row: an override, and what loading must do: "warn", "reject" or "silent".
CASES = [
    ("Global.use_visualdl=true", "warn"),  # ignored key set: a warning names it
    ("Global.to_static=true", "warn"),  # dynamic-to-static is not implemented: warned
    ("Global.use_sync_bn=true", "reject"),  # would change BN statistics if honoured
    ("Global.infer_img=x.jpg", "silent"),  # a PaddleOCR tool's input: informational
    ("Global.use_visualdl=false", "silent"),  # the default: nothing to say
]


@pytest.mark.parametrize("override,outcome", CASES)
def test_compatibility_keys_table(override: str, outcome: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="det_model.config.loader")
    if outcome == "reject":
        with pytest.raises(ConfigError, match=r"Global\.use_sync_bn: True is not supported"):
            load_config(STUDENT, [override])
        return
    load_config(STUDENT, [override])
    warned = [r for r in caplog.records if "accepted for compatibility" in r.getMessage()]
    assert len(warned) == (1 if outcome == "warn" else 0), [r.getMessage() for r in warned]


def test_rejection_names_the_file_and_line() -> None:
    text = "Global:\n  use_sync_bn: true\n"
    with pytest.raises(ConfigError, match=r"^cfg\.yml:2: Global\.use_sync_bn"):
        parse_config(text, source="cfg.yml")


def test_bundled_recipes_load_without_compatibility_warnings(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="det_model.config.loader")
    for name in ("ch_PP-OCRv3_det_student.yml", "ch_PP-OCRv3_det_dml.yml", "ch_PP-OCRv3_det_cml.yml"):
        load_config(config_path(name))
    assert [r.getMessage() for r in caplog.records if "compatibility" in r.getMessage()] == []


def attribute_reads(field: str) -> list[str]:
    """det_model places (outside config/) that read `<something>.<field>` other than as a call."""
    found = []
    for path in sorted((ROOT / "det_model").rglob("*.py")):
        if path.parent.name == "config":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        calls = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
        found += [f"{path.relative_to(ROOT)}:{n.lineno}" for n in ast.walk(tree)
                  if isinstance(n, ast.Attribute) and n.attr == field and id(n) not in calls]
    return found


def consumed_elsewhere(field: str) -> bool:
    """A name another schema class uses for a field that is read (`key` of DistillationMetric): a read of
    `.key` cannot be told apart, so tests/config/test_schema_fields_used.py covers these."""
    classes = [getattr(schema, n) for n in dir(schema) if isinstance(getattr(schema, n), type)]
    return any(
        field in getattr(cls, "__dataclass_fields__", {})
        and field not in schema.COMPATIBILITY_ONLY.get(cls, {})
        for cls in classes
    )


@pytest.mark.parametrize(
    "cls,field",
    [
        (cls, f)
        for cls, fields in schema.COMPATIBILITY_ONLY.items()
        for f in fields
        if not consumed_elsewhere(f)
    ],
)
def test_compatibility_only_fields_are_read_nowhere(cls: type, field: str) -> None:
    assert field in cls.__dataclass_fields__
    assert attribute_reads(field) == []
