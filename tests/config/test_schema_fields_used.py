"""Every schema field has a consumer: changing it changes what is built from the config, or it is listed in
`schema.COMPATIBILITY_ONLY`.

Sections with a builder (model parts, losses, lr schedule, optimizer, transforms, post-processing, metric) are
checked by building the object twice, with the default and with the value in CHANGES, and comparing a
fingerprint of everything the object holds (attributes, parameter shapes and trainability). Sections read
while running (Global, the dataset and loader, sub-model weight loading) have no object built from them
alone; for those every field must be read by some det_model module outside config/ (RUN_TIME).
"""

from __future__ import annotations

import ast
import dataclasses
import typing
from pathlib import Path
from typing import Any, Callable

import numpy as np
import paddle
import pytest

from det_model.config import schema
from det_model.data.transforms import build_op
from det_model.losses import build_loss
from det_model.metrics import build_metric
from det_model.modeling.build import build_backbone, build_head, build_model, build_neck
from det_model.postprocess import build_postprocess
from det_model.training.loop import _build_optimizer
from det_model.training.schedule import build_lr_scheduler

ROOT = Path(__file__).resolve().parents[2]
S = schema
SMALL = S.MobileNetV3Config(scale=0.35)
SUBMODEL = S.DetModelConfig(Backbone=SMALL, Neck=S.RSEFPNConfig(out_channels=32), Head=S.DBHeadConfig())


def _optimizer(cfg: S.OptimizerConfig) -> paddle.optimizer.Optimizer:
    scheduler = build_lr_scheduler(cfg.lr, steps_per_epoch=4, epoch_num=3)
    return _build_optimizer(cfg, scheduler, [paddle.create_parameter([2], "float32")])


def _distillation(sub: S.DetModelConfig) -> Any:
    return build_model(S.DistillationModelConfig(Models={"Student": sub}), load_pretrained=False)


# class -> (default instance, builder). The builder is what the program builds from that section.
BUILT: dict[type, tuple[Any, Callable[[Any], Any]]] = {
    S.MobileNetV3Config: (SMALL, build_backbone),
    S.ResNetVdConfig: (S.ResNetVdConfig(), build_backbone),
    S.RSEFPNConfig: (S.RSEFPNConfig(), lambda c: build_neck(c, [16, 24, 48, 96])),
    S.LKPANConfig: (S.LKPANConfig(), lambda c: build_neck(c, [16, 24, 48, 96])),
    S.DBHeadConfig: (S.DBHeadConfig(), lambda c: build_head(c, 32)),
    S.DetModelConfig: (SUBMODEL, _distillation),
    S.DBLossConfig: (S.DBLossConfig(), build_loss),
    S.DistillationDilaDBLossConfig: (
        S.DistillationDilaDBLossConfig(model_name_pairs=(("Student", "Teacher"),)),
        lambda c: build_loss(S.CombinedLossConfig(loss_config_list=(c,))),
    ),
    S.DistillationDMLLossConfig: (
        S.DistillationDMLLossConfig(model_name_pairs=(("Student", "Student2"),)),
        lambda c: build_loss(S.CombinedLossConfig(loss_config_list=(c,))),
    ),
    S.DistillationDBLossConfig: (
        S.DistillationDBLossConfig(model_name_list=("Student",)),
        lambda c: build_loss(S.CombinedLossConfig(loss_config_list=(c,))),
    ),
    S.CosineLRConfig: (S.CosineLRConfig(), lambda c: build_lr_scheduler(c, 4, 3)),
    S.ConstLRConfig: (S.ConstLRConfig(), lambda c: build_lr_scheduler(c, 4, 3)),
    S.L2RegularizerConfig: (
        S.L2RegularizerConfig(factor=1e-5),
        lambda c: _optimizer(S.OptimizerConfig(regularizer=c)),
    ),
    S.OptimizerConfig: (S.OptimizerConfig(), _optimizer),
    S.DBPostProcessConfig: (S.DBPostProcessConfig(), build_postprocess),
    S.DistillationDBPostProcessConfig: (S.DistillationDBPostProcessConfig(), build_postprocess),
    S.DetMetricConfig: (S.DetMetricConfig(), build_metric),
    S.DistillationMetricConfig: (S.DistillationMetricConfig(), build_metric),
    S.FliplrConfig: (S.FliplrConfig(), lambda c: build_op(S.IaaAugmentConfig(augmenter_args=(c,)))),
    S.AffineConfig: (S.AffineConfig(), lambda c: build_op(S.IaaAugmentConfig(augmenter_args=(c,)))),
    S.ResizeConfig: (S.ResizeConfig(), lambda c: build_op(S.IaaAugmentConfig(augmenter_args=(c,)))),
    **{cls: (cls(), build_op) for cls in typing.get_args(S.TransformConfig)},
}

# (class, field) -> a value different from BUILT's instance. One row per field a builder consumes.
CHANGES: dict[tuple[type, str], Any] = {
    (S.MobileNetV3Config, "in_channels"): 1,
    (S.MobileNetV3Config, "model_name"): "small",  # rejected by the builder: only large is implemented
    (S.MobileNetV3Config, "scale"): 0.5,
    (S.MobileNetV3Config, "disable_se"): True,
    (S.ResNetVdConfig, "in_channels"): 1,
    (S.ResNetVdConfig, "layers"): 18,  # rejected by the builder: 50, 101, 152, 200 are built
    (S.RSEFPNConfig, "out_channels"): 64,
    (S.RSEFPNConfig, "shortcut"): False,
    (S.LKPANConfig, "out_channels"): 64,
    (S.LKPANConfig, "mode"): "lite",
    (S.DBHeadConfig, "k"): 30,
    (S.DBHeadConfig, "kernel_list"): (5, 2, 2),
    (S.DetModelConfig, "freeze_params"): True,
    (S.DetModelConfig, "return_all_feats"): True,
    **{
        (cls, name): value
        for cls in (S.DBLossConfig, S.DistillationDilaDBLossConfig, S.DistillationDBLossConfig)
        for name, value in (
            ("balance_loss", False), ("main_loss_type", "BCELoss"), ("alpha", 1.0), ("beta", 2.0),
            ("ohem_ratio", 2.0), ("eps", 1e-3),
        )
    },
    (S.DistillationDilaDBLossConfig, "weight"): 0.5,
    (S.DistillationDilaDBLossConfig, "model_name_pairs"): (("Student2", "Teacher"),),
    (S.DistillationDilaDBLossConfig, "name"): "other",
    (S.DistillationDilaDBLossConfig, "teacher_thresh"): 0.5,
    (S.DistillationDMLLossConfig, "weight"): 0.5,
    (S.DistillationDMLLossConfig, "model_name_pairs"): (("Student", "Teacher"),),
    (S.DistillationDMLLossConfig, "maps_name"): ("binary_maps",),
    (S.DistillationDMLLossConfig, "act"): "sigmoid",
    (S.DistillationDMLLossConfig, "use_log"): True,
    (S.DistillationDMLLossConfig, "multi_head"): True,
    (S.DistillationDMLLossConfig, "name"): "other",
    (S.DistillationDMLLossConfig, "reduction"): "paddleocr",
    (S.DistillationDBLossConfig, "weight"): 0.5,
    (S.DistillationDBLossConfig, "model_name_list"): ("Student", "Student2"),
    (S.DistillationDBLossConfig, "name"): "other",
    (S.CosineLRConfig, "learning_rate"): 0.01,
    (S.CosineLRConfig, "warmup_epoch"): 1.0,
    (S.ConstLRConfig, "learning_rate"): 0.01,
    (S.ConstLRConfig, "warmup_epoch"): 1.0,
    (S.L2RegularizerConfig, "factor"): 1e-4,
    (S.OptimizerConfig, "beta1"): 0.8,
    (S.OptimizerConfig, "beta2"): 0.99,
    (S.OptimizerConfig, "epsilon"): 1e-6,
    (S.OptimizerConfig, "lr"): S.ConstLRConfig(),
    (S.OptimizerConfig, "regularizer"): S.L2RegularizerConfig(factor=1e-5),
    **{
        (cls, name): value
        for cls in (S.DBPostProcessConfig, S.DistillationDBPostProcessConfig)
        for name, value in (
            ("thresh", 0.5), ("box_thresh", 0.9), ("max_candidates", 10), ("unclip_ratio", 3.0),
            ("use_dilation", True), ("score_mode", "slow"), ("box_type", "poly"),
        )
    },
    (S.DistillationDBPostProcessConfig, "model_name"): ("Student", "Student2"),
    (S.DetMetricConfig, "main_indicator"): "precision",
    (S.DistillationMetricConfig, "main_indicator"): "precision",
    (S.DistillationMetricConfig, "key"): "Student2",
    (S.FliplrConfig, "p"): 0.1,
    (S.AffineConfig, "rotate"): (-5.0, 5.0),
    (S.ResizeConfig, "size"): (0.5, 2.0),
    (S.DecodeImageConfig, "img_mode"): "RGB",
    (S.DecodeImageConfig, "channel_first"): True,
    (S.DecodeImageConfig, "ignore_orientation"): True,
    (S.CopyPasteConfig, "objects_paste_ratio"): 0.5,
    (S.CopyPasteConfig, "limit_paste"): False,
    (S.IaaAugmentConfig, "augmenter_args"): (S.FliplrConfig(),),
    (S.EastRandomCropDataConfig, "size"): (320, 320),
    (S.EastRandomCropDataConfig, "max_tries"): 5,
    (S.EastRandomCropDataConfig, "min_crop_side_ratio"): 0.2,
    (S.EastRandomCropDataConfig, "keep_ratio"): False,
    (S.MakeBorderMapConfig, "shrink_ratio"): 0.5,
    (S.MakeBorderMapConfig, "thresh_min"): 0.2,
    (S.MakeBorderMapConfig, "thresh_max"): 0.8,
    (S.MakeShrinkMapConfig, "shrink_ratio"): 0.5,
    (S.MakeShrinkMapConfig, "min_text_size"): 4,
    (S.NormalizeImageConfig, "scale"): 1.0,
    (S.NormalizeImageConfig, "mean"): (0.5, 0.5, 0.5),
    (S.NormalizeImageConfig, "std"): (0.5, 0.5, 0.5),
    (S.NormalizeImageConfig, "order"): "chw",
    (S.KeepKeysConfig, "keep_keys"): ("image",),
    (S.DetResizeForTestConfig, "limit_side_len"): 960,
    (S.DetResizeForTestConfig, "limit_type"): "max",
    (S.DetResizeForTestConfig, "image_shape"): (640, 640),
    (S.DetResizeForTestConfig, "keep_ratio"): True,
    (S.DetResizeForTestConfig, "resize_long"): 960,
}

# Sections read while running; each of their fields must be read by a det_model module outside config/.
RUN_TIME: dict[type, tuple[str, ...]] = {
    S.GlobalConfig: tuple(f.name for f in dataclasses.fields(S.GlobalConfig)),
    S.DatasetConfig: tuple(f.name for f in dataclasses.fields(S.DatasetConfig)),
    S.LoaderConfig: tuple(f.name for f in dataclasses.fields(S.LoaderConfig)),
    S.DetModelConfig: ("pretrained",),  # loaded into the sub-model by build_model (a weights file)
    S.DistillationModelConfig: ("frozen_in_eval_mode",),  # the trainer passes it to build_model
}


def schema_classes() -> list[type]:
    """Every dataclass reachable from DetConfig."""
    seen: list[type] = []

    def visit(tp: Any) -> None:
        for arg in typing.get_args(tp) or (tp,):
            if dataclasses.is_dataclass(arg) and arg not in seen:
                seen.append(arg)
                for hint in typing.get_type_hints(arg).values():
                    visit(hint)
            elif typing.get_args(arg):
                visit(arg)

    visit(S.DetConfig)
    return seen


def fixed_by_type(cls: type, name: str) -> bool:
    """Fields whose type admits one value (`name: Literal["DBHead"]`, `Transform: None`): nothing to change,
    and the `name` keys the loader dispatches on."""
    hint = typing.get_type_hints(cls)[name]
    if hint is type(None):
        return True
    if typing.get_origin(hint) is typing.Literal:
        return len(typing.get_args(hint)) == 1
    return name == "name" and cls not in (
        S.DistillationDilaDBLossConfig, S.DistillationDMLLossConfig, S.DistillationDBLossConfig,
    )


def nested_section(cls: type, name: str) -> bool:
    """Fields holding another section (walked as that section's class) or the source path."""
    return (cls, name) in {
        (S.DetModelConfig, "Backbone"), (S.DetModelConfig, "Neck"), (S.DetModelConfig, "Head"),
        (S.DistillationModelConfig, "Models"), (S.CombinedLossConfig, "loss_config_list"),
        (S.DataSectionConfig, "dataset"), (S.DataSectionConfig, "loader"),
    } or cls is S.DetConfig


def every_field() -> list[tuple[type, str]]:
    return [(cls, f.name) for cls in schema_classes() for f in dataclasses.fields(cls)]


def fingerprint(obj: Any, depth: int = 0) -> Any:
    """What an object holds: parameters (shape, trainable), primitive attributes, nested objects."""
    if depth > 14:
        return type(obj).__name__
    if isinstance(obj, (bool, int, float, str, type(None))):
        return obj
    if isinstance(obj, paddle.Tensor):
        return ("tensor", tuple(obj.shape), bool(obj.stop_gradient))
    if isinstance(obj, np.ndarray):
        return ("array", obj.shape, obj.tobytes())
    if isinstance(obj, (list, tuple, set, frozenset)):
        return tuple(fingerprint(x, depth + 1) for x in obj)
    if isinstance(obj, dict):
        return tuple(sorted((str(k), fingerprint(v, depth + 1)) for k, v in obj.items()))
    if callable(obj) and not hasattr(obj, "__dict__"):
        return getattr(obj, "__qualname__", repr(obj))
    attrs = getattr(obj, "__dict__", None)
    if attrs is None:
        return repr(obj)
    kept = {k: v for k, v in attrs.items() if not k.startswith("_parameters_") and k != "_helper"}
    return (type(obj).__name__, fingerprint(kept, depth + 1))


@pytest.mark.parametrize("cls,name", every_field(), ids=lambda x: getattr(x, "__name__", x))
def test_field_is_consumed_or_compatibility_only(cls: type, name: str) -> None:
    if name in S.COMPATIBILITY_ONLY.get(cls, {}) or fixed_by_type(cls, name) or nested_section(cls, name):
        return
    if name in RUN_TIME.get(cls, ()):
        assert attribute_reads(name), f"{cls.__name__}.{name}: no det_model module reads it"
        return
    assert (cls, name) in CHANGES, f"{cls.__name__}.{name}: add a CHANGES row, a RUN_TIME entry or list it " \
                                   "in schema.COMPATIBILITY_ONLY"
    base, build = BUILT[cls]
    changed = dataclasses.replace(base, **{name: CHANGES[(cls, name)]})
    assert changed != base, f"{cls.__name__}.{name}: the CHANGES value is the default"
    paddle.seed(0)
    before = fingerprint(build(base))
    paddle.seed(0)
    try:
        after = fingerprint(build(changed))
    except ValueError as exc:  # a value the builder refuses, naming the field or the value: the field is read
        assert name in str(exc) or repr(CHANGES[(cls, name)]) in str(exc), exc
        return
    assert before != after, f"{cls.__name__}.{name} is accepted but does not change what is built"


def test_every_field_is_accounted_for() -> None:
    """CHANGES and RUN_TIME name only real fields, so a renamed field cannot leave a stale row behind."""
    fields = set(every_field())
    stale = [key for key in CHANGES if key not in fields]
    stale += [(cls, n) for cls, names in RUN_TIME.items() for n in names if (cls, n) not in fields]
    assert stale == []


def attribute_reads(field: str) -> list[str]:
    """det_model places outside config/ that read `<something>.<field>`."""
    found = []
    for path in sorted((ROOT / "det_model").rglob("*.py")):
        if path.parent.name == "config":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found += [f"{path.relative_to(ROOT)}:{n.lineno}" for n in ast.walk(tree)
                  if isinstance(n, ast.Attribute) and n.attr == field]
    return found
