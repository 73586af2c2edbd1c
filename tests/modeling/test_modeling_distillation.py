"""DistillationModel plumbing: prefixes, freezing, frozen-teacher mode, build_model (facts §4.1-4.2)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import paddle
import pytest

from modeling_configs import STUDENT_CFG
from modeling_configs import TEACHER_CFG as UNFROZEN_TEACHER_CFG
from det_model.config.schema import (
    DetModelConfig,
    DistillationModelConfig,
)
from det_model.modeling import DBDetector, DBMaps, DistillationModel, build_model
from det_model.modeling.weights import save_params

# The CML teacher: frozen, as in ch_PP-OCRv3_det_cml.yml
TEACHER_CFG = dataclasses.replace(UNFROZEN_TEACHER_CFG, freeze_params=True)
CML_CFG = DistillationModelConfig(
    Models={"Student": STUDENT_CFG, "Student2": STUDENT_CFG, "Teacher": TEACHER_CFG}
)


def _images(size: int = 64) -> paddle.Tensor:
    return paddle.to_tensor(np.random.default_rng(1).standard_normal((2, 3, size, size)).astype("float32"))


@pytest.fixture(scope="module")
def cml() -> DistillationModel:
    paddle.seed(0)
    return build_model(CML_CFG)


def _tiny_pair(frozen_in_eval_mode: bool) -> DistillationModel:
    """Two students, the second frozen: the cheap stand-in for a student/teacher pair."""
    from det_model.modeling import build_detector

    models = {"Student": build_detector(STUDENT_CFG), "Teacher": build_detector(STUDENT_CFG)}
    return DistillationModel(models, {"Teacher"}, frozen_in_eval_mode=frozen_in_eval_mode)


def test_cml_state_dict_prefixes_are_exactly_the_sub_models(cml: DistillationModel) -> None:
    assert {key.split(".", 1)[0] for key in cml.state_dict()} == {"Student", "Student2", "Teacher"}
    assert "Student.backbone.conv.conv.weight" in cml.state_dict()
    assert "Teacher.backbone.conv1_1._conv.weight" in cml.state_dict()


def test_teacher_is_frozen_and_not_in_the_trainable_list(cml: DistillationModel) -> None:
    teacher_params = cml.sub_model("Teacher").parameters()
    assert teacher_params and all(not p.trainable and p.stop_gradient for p in teacher_params)
    trainable_ids = {id(p) for p in cml.trainable_parameters()}
    assert not trainable_ids & {id(p) for p in teacher_params}
    student_count = sum(int(np.prod(p.shape)) for p in cml.trainable_parameters())
    assert student_count == 2 * 603_418  # both students, no BN statistics


def test_cml_forward_returns_named_maps(cml: DistillationModel) -> None:
    cml.train()
    outputs = cml(_images())
    assert list(outputs) == ["Student", "Student2", "Teacher"]
    assert all(isinstance(maps, DBMaps) for maps in outputs.values())
    assert outputs["Student"].binary is not None and outputs["Student2"].threshold is not None
    # Frozen teacher kept in eval mode: only its shrink map, which is all the CML loss reads.
    assert outputs["Teacher"].threshold is None and list(outputs["Teacher"].shrink.shape) == [2, 1, 64, 64]


def test_gradients_reach_students_only() -> None:
    model = _tiny_pair(frozen_in_eval_mode=False)
    model.train()
    outputs = model(_images())
    loss = sum(m.shrink.mean() + m.threshold.mean() for m in outputs.values())
    loss.backward()
    assert all(p.grad is not None for p in model.sub_model("Student").parameters() if p.trainable)
    assert all(p.grad is None for p in model.sub_model("Teacher").parameters())


def test_train_keeps_a_frozen_teacher_in_eval_mode() -> None:
    model = _tiny_pair(frozen_in_eval_mode=True)
    model.train()
    teacher, student = model.sub_model("Teacher"), model.sub_model("Student")
    assert not teacher.training and not any(layer.training for layer in teacher.sublayers())
    assert student.training and all(layer.training for layer in student.sublayers())
    model.eval()
    assert not student.training


@pytest.mark.parametrize(
    "frozen_in_eval_mode,stats_change",
    [
        (True, False),  # ours by default: the teacher's BN running statistics stay put
        (False, True),  # PaddleOCR: the teacher runs in train mode, its running statistics drift
    ],
)
def test_frozen_teacher_batch_norm_statistics(frozen_in_eval_mode: bool, stats_change: bool) -> None:
    model = _tiny_pair(frozen_in_eval_mode)
    model.train()
    before = model.sub_model("Teacher").state_dict()["backbone.conv.bn._mean"].numpy().copy()
    model(_images())
    after = model.sub_model("Teacher").state_dict()["backbone.conv.bn._mean"].numpy()
    assert (not np.allclose(before, after)) == stats_change


def test_unknown_frozen_name_is_rejected() -> None:
    from det_model.modeling import build_detector

    with pytest.raises(ValueError, match="Teacher"):
        DistillationModel({"Student": build_detector(STUDENT_CFG)}, {"Teacher"})


def test_build_model_plain_detector() -> None:
    model = build_model(STUDENT_CFG)
    assert isinstance(model, DBDetector)
    assert STUDENT_CFG.Neck.out_channels == 96  # the builder never writes channels back into the config


def test_build_model_loads_sub_model_pretrained_files(tmp_path: Path) -> None:
    paddle.seed(3)
    source = build_model(STUDENT_CFG)
    path = save_params({k: v.numpy() for k, v in source.state_dict().items()}, tmp_path / "student")
    sub = DetModelConfig(
        Backbone=STUDENT_CFG.Backbone,
        Neck=STUDENT_CFG.Neck,
        Head=STUDENT_CFG.Head,
        pretrained=str(tmp_path / "student"),
    )
    arch = DistillationModelConfig(Models={"Student": sub, "Student2": STUDENT_CFG})
    model = build_model(arch)
    key = "backbone.stage1.0.expand_conv.conv.weight"
    expected = source.state_dict()[key].numpy()
    assert np.array_equal(model.sub_model("Student").state_dict()[key].numpy(), expected)
    assert not np.array_equal(model.sub_model("Student2").state_dict()[key].numpy(), expected)
    assert path.name == "student.pdparams"
    skipped = build_model(arch, load_pretrained=False)
    assert not np.array_equal(skipped.sub_model("Student").state_dict()[key].numpy(), expected)
