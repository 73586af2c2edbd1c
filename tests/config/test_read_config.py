"""read_config: a config read once, overrides applied later with the same result and messages as load_config."""

from __future__ import annotations

from pathlib import Path

import pytest

from det_model.config import ConfigError, config_path, load_config, read_config

STUDENT = config_path("ch_PP-OCRv3_det_student.yml")

# Each row: overrides, applied to one read_config and to load_config; both must give the same config.
OVERRIDES = [
    [],  # nothing: the recipe itself
    ["Global.epoch_num=3"],  # a scalar
    ["Train.dataset.transforms.3.EastRandomCropData.size=[320, 320]"],  # a list item by index
    ["Global.epoch_num=3", "Global.epoch_num=4"],  # the later one wins
]


@pytest.mark.parametrize("overrides", OVERRIDES)
def test_with_overrides_equals_load_config(overrides: list[str]) -> None:
    assert read_config(STUDENT).with_overrides(overrides) == load_config(STUDENT, overrides)


def test_overrides_do_not_leak_between_calls() -> None:
    recipe = read_config(STUDENT)
    assert recipe.with_overrides(["Global.epoch_num=3"]).Global.epoch_num == 3
    assert recipe.with_overrides([]).Global.epoch_num == recipe.config.Global.epoch_num != 3


def test_the_file_is_read_once(tmp_path: Path) -> None:
    path = tmp_path / "cfg.yml"
    path.write_text(STUDENT.read_text())
    recipe = read_config(path)
    path.unlink()
    assert recipe.with_overrides(["Global.epoch_num=3"]).source == str(path)


def test_errors_keep_file_line_and_flag(tmp_path: Path) -> None:
    path = tmp_path / "cfg.yml"
    path.write_text(STUDENT.read_text().replace("epoch_num: 500", "epoch_num: many", 1))
    with pytest.raises(ConfigError, match=rf"^{path}:\d+: Global\.epoch_num"):
        read_config(path)
    recipe = read_config(STUDENT)
    with pytest.raises(ConfigError, match=r"^-o Global\.epoch_num=many: Global\.epoch_num"):
        recipe.with_overrides(["Global.epoch_num=many"])
