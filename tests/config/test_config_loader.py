"""Config loading: the bundled recipes, -o overrides, and every error naming file, line and key path."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from det_model.config import ConfigError, config_path, dump_config, load_config, parse_config
from det_model.config import schema

RECIPES = ["ch_PP-OCRv3_det_cml.yml", "ch_PP-OCRv3_det_dml.yml", "ch_PP-OCRv3_det_student.yml"]


@pytest.mark.parametrize("name", RECIPES)
def test_recipe_round_trips_through_dump(name: str, tmp_path: Path) -> None:
    config = load_config(config_path(name))
    again = load_config(dump_config(config, tmp_path / "resolved.yml"))
    assert again == config


def test_cml_recipe_values_match_paddleocr() -> None:
    cfg = load_config(config_path("ch_PP-OCRv3_det_cml.yml"))
    arch = cfg.Architecture
    assert isinstance(arch, schema.DistillationModelConfig)
    assert list(arch.Models) == ["Student", "Student2", "Teacher"]
    teacher = arch.Models["Teacher"]
    assert teacher.freeze_params and teacher.Head.kernel_list == (7, 2, 2)
    assert isinstance(teacher.Backbone, schema.ResNetVdConfig) and isinstance(teacher.Neck, schema.LKPANConfig)
    student = arch.Models["Student"]
    assert student.Backbone == schema.MobileNetV3Config(scale=0.5, model_name="large", disable_se=True)
    assert student.Head.kernel_list == (3, 2, 2)
    assert cfg.Global.eval_batch_step == (0, 400) and cfg.Global.epoch_num == 500
    assert cfg.Optimizer.regularizer == schema.L2RegularizerConfig(factor=5e-5)
    assert cfg.Optimizer.lr == schema.CosineLRConfig(learning_rate=0.001, warmup_epoch=2)
    terms = [type(t) for t in cfg.Loss.loss_config_list]
    assert terms == [
        schema.DistillationDilaDBLossConfig, schema.DistillationDMLLossConfig, schema.DistillationDBLossConfig
    ]
    dml = cfg.Loss.loss_config_list[1]
    assert dml.model_name_pairs == (("Student", "Student2"),)  # flat pair wrapped, as PaddleOCR does
    assert dml.maps_name == ("thrink_maps",)
    crop = cfg.Train.dataset.transforms[4]
    assert crop == schema.EastRandomCropDataConfig(size=(960, 960), max_tries=50, keep_ratio=True)
    assert cfg.Train.dataset.transforms[7].scale == pytest.approx(1 / 255)  # "1./255." parsed without eval
    assert cfg.Eval.dataset.transforms[2] == schema.DetResizeForTestConfig()
    assert cfg.PostProcess == schema.DistillationDBPostProcessConfig(
        model_name=("Student",), key="head_out", box_thresh=0.6, unclip_ratio=1.5
    )


def test_dml_and_student_recipes() -> None:
    dml = load_config(config_path("ch_PP-OCRv3_det_dml.yml"))
    assert list(dml.Architecture.Models) == ["Student", "Student2"]
    assert dml.Global.eval_batch_step == (3000, 2000) and dml.Global.epoch_num == 1200
    assert dml.Loss.loss_config_list[1].name == "DBLoss"
    assert any(isinstance(t, schema.CopyPasteConfig) for t in dml.Train.dataset.transforms)
    student = load_config(config_path("ch_PP-OCRv3_det_student.yml"))
    assert isinstance(student.Architecture, schema.DetModelConfig)
    assert not any(isinstance(t, schema.CopyPasteConfig) for t in student.Train.dataset.transforms)


@pytest.mark.parametrize(
    "override, read",
    [
        # scalar in Global
        ("Global.epoch_num=3", lambda c: c.Global.epoch_num == 3),
        # YAML-typed list value
        ("Global.eval_batch_step=[0, 5]", lambda c: c.Global.eval_batch_step == (0, 5)),
        # nested into a distillation sub-model
        ("Architecture.Models.Student.pretrained=./pre/x", lambda c: c.Architecture.Models["Student"].pretrained
         == "./pre/x"),
        # a key absent from the file but known to the schema
        ("Global.use_amp=true", lambda c: c.Global.use_amp is True),
        # into a list item by index
        ("Train.dataset.transforms.4.EastRandomCropData.size=[64, 64]",
         lambda c: c.Train.dataset.transforms[4].size == (64, 64)),
        ("Train.loader.num_workers=0", lambda c: c.Train.loader.num_workers == 0),
    ],
)
def test_override(override: str, read) -> None:
    assert read(load_config(config_path("ch_PP-OCRv3_det_cml.yml"), [override]))


def test_later_override_wins() -> None:
    cfg = load_config(config_path("ch_PP-OCRv3_det_student.yml"), ["Global.epoch_num=3", "Global.epoch_num=4"])
    assert cfg.Global.epoch_num == 4


MINIMAL = """\
Global:
  epoch_num: 2
Architecture:
  model_type: det
  algorithm: DB
  Backbone: {name: MobileNetV3, scale: 0.5, disable_se: true}
  Neck: {name: RSEFPN, out_channels: 96}
  Head: {name: DBHead, k: 50}
Loss: {name: DBLoss}
Optimizer: {name: Adam}
PostProcess: {name: DBPostProcess}
Metric: {name: DetMetric}
"""


@pytest.mark.parametrize(
    "text, overrides, message",
    [
        # unknown key, with its line and the known keys listed
        (MINIMAL.replace("epoch_num: 2", "epoch_nmu: 2"), [], r"cfg\.yml:2: Global\.epoch_nmu: unknown key; did you mean 'epoch_num'\? known keys"),
        # duplicate key (PaddleOCR's own cml.yml has one): PyYAML would silently keep the last
        (MINIMAL.replace("  epoch_num: 2", "  epoch_num: 2\n  epoch_num: 3"), [],
         r"cfg\.yml:3: Global\.epoch_num: duplicate key \(first at line 2\)"),
        # wrong type
        (MINIMAL.replace("epoch_num: 2", "epoch_num: two"), [], r"cfg\.yml:2: Global\.epoch_num: expected an integer"),
        # bool where a bool is expected is strict
        (MINIMAL.replace("disable_se: true", "disable_se: 1"), [], r"Architecture\.Backbone\.disable_se: expected true/false"),
        # unknown component name lists the known ones
        (MINIMAL.replace("name: RSEFPN", "name: FPN"), [],
         r"cfg\.yml:7: Architecture\.Neck\.name: unknown name 'FPN'; known: LKPAN, RSEFPN"),
        (MINIMAL.replace("name: DBLoss", "name: CTCLoss"), [], r"Loss\.name: unknown name 'CTCLoss'; known: CombinedLoss, DBLoss"),
        # Literal values
        (MINIMAL.replace("model_type: det", "model_type: rec"), [], r"Architecture\.model_type: 'rec' is not one of 'det'"),
        # missing required section
        (MINIMAL.replace("Metric: {name: DetMetric}\n", ""), [], r"Metric: required key is missing"),
        # override errors name the override
        (MINIMAL, ["Global.epoch_num=abc"], r"-o Global\.epoch_num=abc: Global\.epoch_num: expected an integer"),
        (MINIMAL, ["Globl.epoch_num=3"], r"-o 'Globl\.epoch_num=3': unknown section 'Globl'"),
        (MINIMAL, ["Global.epoch_num"], r"expected Section\.key=value"),
        (MINIMAL, ["Global.epoch_num.x=1"], r"Global\.epoch_num is a value, not a section"),
        (MINIMAL, ["Global.bogus=1"], r"-o Global\.bogus=1: Global\.bogus: unknown key"),
        # not YAML / not a mapping / empty
        ("Global: [1,\n", [], r"cfg\.yml: not valid YAML"),
        ("", [], r"cfg\.yml: the file is empty"),
        ("- 1\n- 2\n", [], r"top level must be a mapping"),
    ],
)
def test_config_errors(text: str, overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(text, source="cfg.yml", overrides=overrides)


def test_transform_errors_name_the_list_item() -> None:
    base = load_config(config_path("ch_PP-OCRv3_det_student.yml"))
    assert base.Train is not None
    with pytest.raises(ConfigError, match=r"Train\.dataset\.transforms\[3\]\.EastRandomCropData\.size: expected 2 values"):
        load_config(config_path("ch_PP-OCRv3_det_student.yml"), ["Train.dataset.transforms.3.EastRandomCropData.size=[1]"])
    text = config_path("ch_PP-OCRv3_det_student.yml").read_text().replace("- ToCHWImage:", "- ToCHW:")
    with pytest.raises(ConfigError, match=r"unknown name 'ToCHW'; known: CopyPaste, .*ToCHWImage"):
        parse_config(text, source="s.yml")
    text = config_path("ch_PP-OCRv3_det_student.yml").read_text().replace("type': Fliplr", "type': Flip")
    with pytest.raises(ConfigError, match=r"augmenter_args\[0\]\.type: unknown augmenter 'Flip'"):
        parse_config(text, source="s.yml")


def test_missing_file_and_unknown_recipe() -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        load_config("/nonexistent/x.yml")
    with pytest.raises(ConfigError, match="bundled: ch_PP-OCRv3_det_cml.yml"):
        config_path("nope.yml")


@pytest.mark.parametrize("recipe, by_index, by_name", [
    ("dml", "Train.dataset.transforms.4.EastRandomCropData.size=[64,64]",
     "Train.dataset.transforms.EastRandomCropData.size=[64,64]"),
    ("cml", "Loss.loss_config_list.1.DistillationDMLLoss.weight=2.5",
     "Loss.loss_config_list.DistillationDMLLoss.weight=2.5"),
    ("student", "Eval.dataset.transforms.2.DetResizeForTest={limit_side_len: 64, limit_type: min}",
     "Eval.dataset.transforms.DetResizeForTest={limit_side_len: 64, limit_type: min}"),
])
def test_override_addresses_a_list_item_by_name(recipe: str, by_index: str, by_name: str) -> None:
    path = config_path(f"ch_PP-OCRv3_det_{recipe}.yml")
    assert load_config(path, [by_name]) == load_config(path, [by_index]) != load_config(path)


@pytest.mark.parametrize("override, message", [
    ("Global.eval_batch_step=[0, -5]", r"Global\.eval_batch_step\[1\]: must be >= 0, got -5"),
    ("Train.loader.batch_size_per_card=0", r"batch_size_per_card: must be >= 1, got 0"),
    ("Train.dataset.transforms.EastRandomCropData.size=[640, 100]", r"size\[1\]: must be >= 32 and a multiple"),
    ("Train.dataset.transforms.MakeBorderMap.shrink_ratio=1.5", r"shrink_ratio: must be > 0 and < 1, got 1\.5"),
    ("Optimizer.lr.learning_rate=.nan", r"learning_rate: must be > 0, got nan"),
    ("Train.dataset.ratio_list=[1.0, 0]", r"ratio_list\[1\]: must be > 0, got 0"),
])
def test_out_of_range_values_name_the_flag(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"-o {override}: ") + r"[\w.\[\]]*" + message):
        load_config(config_path("ch_PP-OCRv3_det_student.yml"), [override])
