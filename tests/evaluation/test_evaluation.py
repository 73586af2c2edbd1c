"""run_evaluation with a stand-in network whose probability map is known, plain and distillation."""

from __future__ import annotations

import numpy as np
import paddle
import pytest

from det_model.evaluation import run_evaluation
from det_model.metrics import DetMetric, DistillationMetric
from det_model.modeling import DBMaps
from det_model.postprocess import DBPostProcess, DistillationDBPostProcess

HW = (64, 96)
TEXT = (20, 16, 70, 30)  # kernel pixels (x0, y0, x1, y1) the stand-in network "sees"


class StandInDetector(paddle.nn.Layer):
    """Returns a map that is 1 on TEXT (plus 0 * a parameter so there is something to train/eval)."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = self.create_parameter([1])
        self.seen_training: list[bool] = []

    def forward(self, x: paddle.Tensor) -> DBMaps:
        self.seen_training.append(self.training)
        prob = np.zeros((x.shape[0], 1, *x.shape[2:]), np.float32)
        x0, y0, x1, y1 = TEXT
        prob[:, :, y0 : y1 + 1, x0 : x1 + 1] = 1.0
        return DBMaps(paddle.to_tensor(prob) + 0 * self.scale)


class StandInDistillation(paddle.nn.Layer):
    def __init__(self) -> None:
        super().__init__()
        self.student = StandInDetector()

    def forward(self, x: paddle.Tensor) -> dict[str, DBMaps]:
        found = self.student(x)
        return {"Student": found, "Student2": DBMaps(found.shrink * 0)}  # Student2 finds nothing


def _batches(count: int, gt_box: list[list[float]]) -> list[dict]:
    """Eval batches as the loader yields them: image tensor, shape rows, per-image polys and tags."""
    shape = np.array([[HW[0], HW[1], 1.0, 1.0]])
    return [
        {
            "image": paddle.zeros([1, 3, *HW]),
            "shape": shape,
            "polys": [np.array([gt_box], np.float32)],
            "ignore_tags": [np.array([False])],
        }
        for _ in range(count)
    ]


def _box_around_text(pad: float) -> list[list[float]]:
    x0, y0, x1, y1 = TEXT
    return [[x0 - pad, y0 - pad], [x1 + pad, y0 - pad], [x1 + pad, y1 + pad], [x0 - pad, y1 + pad]]


def test_found_text_scores_one_and_model_mode_is_restored():
    model = StandInDetector()
    model.train()
    result = run_evaluation(
        model,
        _batches(3, _box_around_text(4)),
        DBPostProcess(box_thresh=0.6, unclip_ratio=1.5),
        DetMetric(),
        progress=False,
    )
    assert (result["hmean"], result["images"], result["boxes"]) == (1.0, 3, 3)
    assert result["fps"] > 0
    assert model.seen_training == [False] * 3  # forward ran in eval mode
    assert model.training  # and the caller's training mode is back


def test_missed_text_scores_zero():
    far_away = [[0, 50], [10, 50], [10, 60], [0, 60]]
    result = run_evaluation(
        StandInDetector(), _batches(2, far_away), DBPostProcess(box_thresh=0.6), DetMetric(), progress=False
    )
    assert (result["precision"], result["recall"], result["hmean"]) == (0.0, 0.0, 0.0)


def test_distillation_reports_key_model_unprefixed():
    post = DistillationDBPostProcess(["Student", "Student2"], DBPostProcess(box_thresh=0.6, unclip_ratio=1.5))
    result = run_evaluation(
        StandInDistillation(),
        _batches(2, _box_around_text(4)),
        post,
        DistillationMetric("Student"),
        progress=False,
    )
    assert result["hmean"] == 1.0 and result["Student2_hmean"] == 0.0 and result["Student2_images"] == 2


class StandInSubModels(paddle.nn.Layer):
    """DistillationModel's interface (model_names, sub_model); records which sub-models ran."""

    def __init__(self) -> None:
        super().__init__()
        self.student, self.student2 = StandInDetector(), StandInDetector()
        self.model_names = ["Student", "Student2"]

    def sub_model(self, name: str) -> StandInDetector:
        return {"Student": self.student, "Student2": self.student2}[name]

    def forward(self, x: paddle.Tensor) -> dict[str, DBMaps]:
        return {name: self.sub_model(name)(x) for name in self.model_names}


@pytest.mark.parametrize("all_sub_models, student2_runs", [(False, 0), (True, 2)])
def test_distillation_runs_only_the_metric_key_model_unless_asked(all_sub_models, student2_runs):
    model = StandInSubModels()
    post = DistillationDBPostProcess(["Student", "Student2"], DBPostProcess(box_thresh=0.6, unclip_ratio=1.5))
    result = run_evaluation(
        model, _batches(2, _box_around_text(4)), post, DistillationMetric("Student"), progress=False,
        all_sub_models=all_sub_models,
    )
    assert result["hmean"] == 1.0 and result["images"] == 2
    assert len(model.student.seen_training) == 2 and len(model.student2.seen_training) == student2_runs
    assert ("Student2_hmean" in result) == all_sub_models


@pytest.mark.parametrize(
    "model, post, metric, match",
    [
        # a plain detector with the distillation post-processing
        (
            StandInDetector,
            lambda: DistillationDBPostProcess(["Student"], DBPostProcess()),
            DetMetric,
            "PostProcess",
        ),
        # a distillation model with the plain post-processing
        (StandInDistillation, DBPostProcess, DetMetric, "PostProcess"),
        # distillation post-processing with a plain metric
        (
            StandInDistillation,
            lambda: DistillationDBPostProcess(["Student"], DBPostProcess()),
            DetMetric,
            "Metric",
        ),
    ],
)
def test_mismatched_sections_raise(model, post, metric, match):
    with pytest.raises(ValueError, match=match):
        run_evaluation(model(), _batches(1, _box_around_text(4)), post(), metric(), progress=False)
