"""The name -> class tables come from the config Unions: every YAML name resolves to the class that carries it."""

from __future__ import annotations

from typing import Union

import pytest

from det_model.config import schema

# Each row: a table and one YAML name in it with its expected class.
CASES = [
    (schema.BACKBONES, "ResNet_vd", schema.ResNetVdConfig),  # `name:` differs from the class name
    (schema.ARCHITECTURES, "BaseModel", schema.DetModelConfig),  # likewise
    (schema.HEADS, "DBHead", schema.DBHeadConfig),  # a single class, not a Union
    (schema.TRANSFORMS, "DetResizeForTest", schema.DetResizeForTestConfig),  # single-key mapping
    (schema.LOSS_TERMS, "DistillationDMLLoss", schema.DistillationDMLLossConfig),  # key, not its `name: dml`
    (schema.AUGMENTERS, "Fliplr", schema.FliplrConfig),
]


@pytest.mark.parametrize("table,name,cls", CASES)
def test_tables_map_names_to_classes(table: dict, name: str, cls: type) -> None:
    assert table[name] is cls


def test_a_class_added_to_a_union_is_dispatched() -> None:
    union = Union[schema.CosineLRConfig, schema.ConstLRConfig]
    assert schema.by_name(union) == {"Cosine": schema.CosineLRConfig, "Const": schema.ConstLRConfig}
    assert schema.by_key(Union[schema.FliplrConfig, schema.ResizeConfig]) == {
        "Fliplr": schema.FliplrConfig,
        "Resize": schema.ResizeConfig,
    }
