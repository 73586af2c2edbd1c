"""Loss values on hand-made maps (computed by hand from PaddleOCR's DB and distillation loss definitions)
and the config knobs PaddleOCR ignores."""

from __future__ import annotations

from typing import NamedTuple, Optional

import cv2
import numpy as np
import paddle
import pytest

from det_model.config import schema
from det_model.losses import build_loss
from det_model.losses.basic import balance_loss, dice_loss, dilate_2x2
from det_model.losses.db_loss import DBLoss
from det_model.losses.distillation import DistillationDilaDBLoss, DistillationDMLLoss


class Maps(NamedTuple):
    shrink: paddle.Tensor
    threshold: Optional[paddle.Tensor] = None
    binary: Optional[paddle.Tensor] = None


def t(a) -> paddle.Tensor:
    return paddle.to_tensor(np.asarray(a, dtype="float32"))


def _batch(n: int = 2, h: int = 16, w: int = 16, with_text: bool = True, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    shrink = np.zeros((n, h, w), "float32")
    if with_text:
        shrink[:, 4:8, 3:12] = 1
    return {
        "shrink_map": t(shrink),
        "shrink_mask": t(np.ones((n, h, w))),
        "threshold_map": t(rng.uniform(0.3, 0.7, (n, h, w))),
        "threshold_mask": t(rng.integers(0, 2, (n, h, w))),
    }


def _maps(n: int = 2, h: int = 16, w: int = 16, seed: int = 1) -> Maps:
    rng = np.random.default_rng(seed)
    return Maps(*(t(rng.uniform(0.01, 0.99, (n, 1, h, w))) for _ in range(3)))


def _reference_balance_loss(pred, gt, mask, pixel_loss, ratio=3.0, eps=1e-6):
    """Literal PaddleOCR BalanceLoss: full descending sort of the negatives."""
    positive, negative = gt * mask, (1 - gt) * mask
    p = int(positive.sum())
    n = int(min(negative.sum(), p * ratio))
    pos_loss = positive * pixel_loss
    neg_loss = np.sort((negative * pixel_loss).ravel())[::-1][:n]
    if n > 0:
        return (pos_loss.sum() + neg_loss.sum()) / (p + n + eps)
    return pos_loss.sum() / (p + eps)


def test_dice_balance_loss_equals_literal_sorted_version() -> None:
    batch, maps = _batch(), _maps()
    pred, gt, mask = maps.shrink[:, 0], batch["shrink_map"], batch["shrink_mask"]
    d = float(dice_loss(pred, gt, mask))
    expected = _reference_balance_loss(pred.numpy(), gt.numpy(), mask.numpy(), np.full(gt.shape, d, "float32"))
    assert float(balance_loss(pred, gt, mask)) == pytest.approx(expected, rel=1e-5)
    # ≈ the Dice value itself: "OHEM" is a no-op with DiceLoss (PaddleOCR issue #11627)
    assert float(balance_loss(pred, gt, mask)) == pytest.approx(d, rel=1e-4)


def test_bce_balance_loss_equals_literal_sorted_version() -> None:
    batch, maps = _batch(), _maps()
    pred, gt, mask = maps.shrink[:, 0], batch["shrink_map"], batch["shrink_mask"]
    p, g = pred.numpy(), gt.numpy()
    bce = -(g * np.log(p) + (1 - g) * np.log(1 - p))
    expected = _reference_balance_loss(p, g, mask.numpy(), bce)
    assert float(balance_loss(pred, gt, mask, main_loss_type="BCELoss")) == pytest.approx(expected, rel=1e-4)


def test_unknown_main_loss_type_is_an_error() -> None:
    batch, maps = _batch(), _maps()
    with pytest.raises(ValueError, match="main_loss_type 'Focal' is not supported; known: BCELoss"):
        balance_loss(maps.shrink[:, 0], batch["shrink_map"], batch["shrink_mask"], main_loss_type="Focal")


def test_shrink_term_is_zero_for_a_perfect_prediction_and_without_positives() -> None:
    batch = _batch()
    perfect = batch["shrink_map"].unsqueeze(1)
    maps = _maps()
    terms = DBLoss()(Maps(perfect, maps.threshold, maps.binary), batch)
    assert float(terms["loss_shrink_maps"]) == pytest.approx(0.0, abs=1e-5)
    empty = _batch(with_text=False)
    terms = DBLoss()(maps, empty)
    assert float(terms["loss_shrink_maps"]) == 0.0


def test_db_loss_terms_and_total() -> None:
    batch, maps = _batch(), _maps()
    terms = DBLoss()(maps, batch)
    assert set(terms) == {"loss", "loss_shrink_maps", "loss_threshold_maps", "loss_binary_maps", "loss_cbn"}
    l1 = (np.abs(maps.threshold.numpy()[:, 0] - batch["threshold_map"].numpy()) * batch["threshold_mask"].numpy()).sum()
    l1 /= batch["threshold_mask"].numpy().sum() + 1e-6
    assert float(terms["loss_threshold_maps"]) == pytest.approx(10 * l1, rel=1e-5)
    total = sum(float(terms[k]) for k in terms if k != "loss")
    assert float(terms["loss"]) == pytest.approx(total, rel=1e-6)


def test_losses_are_finite_on_a_batch_without_text() -> None:
    cfg = load_cml_loss()
    empty = _batch(with_text=False)
    preds = {name: _maps(seed=i) for i, name in enumerate(["Student", "Student2", "Teacher"])}
    for value in cfg(preds, empty).values():
        assert np.isfinite(value.numpy()).all()


def load_cml_loss():
    from det_model.config import config_path, load_config

    return build_loss(load_config(config_path("ch_PP-OCRv3_det_cml.yml")).Loss)


def test_cml_loss_keys_match_paddleocr_logs() -> None:
    preds = {name: _maps(seed=i) for i, name in enumerate(["Student", "Student2", "Teacher"])}
    keys = set(load_cml_loss()(preds, _batch()))
    assert {"loss", "dila_dbloss_Student_Teacher", "dila_dbloss_Student2_Teacher", "dml_thrink_maps_0",
            "db_Student_loss_shrink_maps", "db_Student2_loss_threshold_maps", "db_Student_loss_cbn"} <= keys


def test_dml_of_identical_maps_is_mean_p_times_log_one_plus_eps() -> None:
    maps = _maps()
    loss = DistillationDMLLoss(model_name_pairs=(("A", "B"),))({"A": maps, "B": maps}, {})
    # log(1 + 1e-5) evaluated in float32, as the network computes it
    expected = maps.shrink.numpy().mean() * np.log(np.float32(1) + np.float32(1e-5))
    assert float(loss["loss"]) == pytest.approx(expected, rel=1e-4)


def test_dml_paddleocr_reduction_keeps_the_per_sample_vector() -> None:
    a, b = _maps(seed=1), _maps(seed=2)
    mean = DistillationDMLLoss(model_name_pairs=(("A", "B"),))({"A": a, "B": b}, {})["loss"]
    vector = DistillationDMLLoss(model_name_pairs=(("A", "B"),), reduction="paddleocr")({"A": a, "B": b}, {})["loss"]
    assert vector.shape == [2] and mean.shape == []
    assert float(vector.mean()) == pytest.approx(float(mean), rel=1e-6)


def test_dml_gradients_reach_both_students() -> None:
    a, b = _maps(seed=1), _maps(seed=2)
    a.shrink.stop_gradient = False
    b.shrink.stop_gradient = False
    DistillationDMLLoss(model_name_pairs=(("A", "B"),))({"A": a, "B": b}, {})["loss"].backward()
    assert float(a.shrink.grad.abs().sum()) > 0 and float(b.shrink.grad.abs().sum()) > 0


def test_dilation_matches_cv2_and_turns_one_pixel_into_a_2x2_block() -> None:
    rng = np.random.default_rng(3)
    binary = (rng.uniform(size=(3, 12, 9)) > 0.85).astype("float32")
    binary[0, 0, 0] = 1  # corner: the block is cut at the border
    ours = dilate_2x2(t(binary)).numpy()
    kernel = np.ones((2, 2), np.uint8)
    expected = np.stack([cv2.dilate(b.astype(np.uint8), kernel) for b in binary]).astype("float32")
    np.testing.assert_array_equal(ours, expected)
    single = np.zeros((1, 6, 6), "float32")
    single[0, 2, 3] = 1
    assert np.argwhere(dilate_2x2(t(single)).numpy()[0]).tolist() == [[2, 3], [2, 4], [3, 3], [3, 4]]


def test_dila_db_uses_teacher_map_above_threshold_as_label() -> None:
    batch = _batch()
    student = _maps(seed=1)
    teacher_prob = np.zeros((2, 1, 16, 16), "float32")
    teacher_prob[:, :, 5, 5] = 0.9  # one confident teacher pixel -> 2x2 pseudo label
    loss = DistillationDilaDBLoss(model_name_pairs=(("S", "T"),))({"S": student, "T": Maps(t(teacher_prob))}, batch)
    pseudo = np.zeros((2, 16, 16), "float32")
    pseudo[:, 5:7, 5:7] = 1
    mask = batch["shrink_mask"]
    expected = 5 * float(balance_loss(student.shrink[:, 0], t(pseudo), mask)) + float(
        dice_loss(student.binary[:, 0], t(pseudo), mask)
    )
    assert float(loss["dila_dbloss_S_T"]) == pytest.approx(expected, rel=1e-6)


def test_configured_alpha_reaches_distillation_db_loss() -> None:
    """PaddleOCR's DistillationDBLoss ignores its YAML alpha/beta; ours must not."""
    preds = {"Student": _maps(seed=1)}
    batch = _batch()

    def shrink_term(alpha: float) -> float:
        cfg = schema.CombinedLossConfig(
            loss_config_list=(schema.DistillationDBLossConfig(model_name_list=("Student",), alpha=alpha),)
        )
        return float(build_loss(cfg)(preds, batch)["db_Student_loss_shrink_maps"])

    assert shrink_term(2.0) == pytest.approx(shrink_term(1.0) * 2, rel=1e-6)


def test_unknown_sub_model_in_loss_is_named() -> None:
    cfg = schema.CombinedLossConfig(loss_config_list=(schema.DistillationDBLossConfig(model_name_list=("Studnet",)),))
    with pytest.raises(KeyError, match="sub-model 'Studnet', but the model has Student"):
        build_loss(cfg)({"Student": _maps()}, _batch())
