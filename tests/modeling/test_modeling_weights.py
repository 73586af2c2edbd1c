"""`.pdparams` loading: round trips, the load report, prefix handling and every error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import paddle
import pytest

from modeling_configs import STUDENT_CFG
from det_model.modeling import DBDetector, DistillationModel, build_detector
from det_model.modeling.weights import (
    apply_params,
    extract_prefix,
    load_params_file,
    load_weights,
    save_params,
)

STEM = "backbone.conv.conv.weight"


def _student(seed: int) -> DBDetector:
    paddle.seed(seed)
    return build_detector(STUDENT_CFG)


def _params(model: paddle.nn.Layer) -> dict[str, np.ndarray]:
    return {key: value.numpy() for key, value in model.state_dict().items()}


@pytest.fixture(scope="module")
def source_params() -> dict[str, np.ndarray]:
    params = _params(_student(seed=7))
    # Non-default BN statistics, so a lost running mean/variance would show up in the outputs.
    rng = np.random.default_rng(7)
    for key in params:
        if key.endswith("_mean"):
            params[key] = rng.normal(0, 0.1, params[key].shape).astype("float32")
        elif key.endswith("_variance"):
            params[key] = rng.uniform(0.5, 1.5, params[key].shape).astype("float32")
    return params


def test_round_trip_restores_every_tensor_and_the_outputs(tmp_path: Path, source_params) -> None:
    source = _student(seed=0)
    apply_params(source, source_params, source="memory")
    path = save_params(source_params, tmp_path / "model")
    target = _student(seed=1)
    report = load_weights(target, path)
    assert sorted(report.loaded) == sorted(source_params)
    assert not (report.missing or report.unexpected or report.shape_mismatched or report.cast)
    for key, value in _params(target).items():
        assert np.array_equal(value, source_params[key]), key
    images = paddle.to_tensor(np.random.default_rng(0).random((1, 3, 64, 64)).astype("float32"))
    source.eval(), target.eval()
    assert np.array_equal(source(images).shrink.numpy(), target(images).shrink.numpy())


@pytest.mark.parametrize("suffix", ["", ".pdparams"])  # PaddleOCR accepts the path with or without suffix
def test_load_params_file_accepts_both_spellings(tmp_path: Path, source_params, suffix: str) -> None:
    save_params(source_params, tmp_path / "model.pdparams")
    loaded = load_params_file(tmp_path / f"model{suffix}")
    assert set(loaded) == set(source_params)
    assert np.array_equal(loaded[STEM], source_params[STEM])


def test_missing_file_names_both_tried_paths(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as error:
        load_params_file(tmp_path / "absent")
    assert f"tried {tmp_path / 'absent.pdparams'}, {tmp_path / 'absent'}" in str(error.value)


def test_mismatches_are_skipped_and_reported(source_params) -> None:
    params = dict(source_params)
    params[STEM] = np.zeros((4, 3, 3, 3), "float32")  # wrong shape
    params["head.binarize.conv3.bias"] = params["head.binarize.conv3.bias"].astype(
        "float64"
    )  # castable dtype
    params["neck.extra.weight"] = np.zeros(3, "float32")  # not in the model
    del params["head.thresh.conv1.weight"]  # not in the file
    model = _student(seed=2)
    before = model.state_dict()[STEM].numpy().copy()
    report = apply_params(model, params, source="edited")
    assert report.shape_mismatched == [(STEM, (4, 3, 3, 3), (8, 3, 3, 3))]
    assert np.array_equal(model.state_dict()[STEM].numpy(), before)  # left alone
    assert report.cast == [("head.binarize.conv3.bias", "float64", "float32")]
    assert model.state_dict()["head.binarize.conv3.bias"].dtype == paddle.float32
    assert report.unexpected == ["neck.extra.weight"] and report.missing == ["head.thresh.conv1.weight"]
    summary = report.summary()
    for text in ("edited", "missing 1", "unexpected 1", "shape-mismatched 1", "dtype-cast 1", STEM):
        assert text in summary


def test_plain_detector_takes_the_student_from_a_distillation_file(source_params) -> None:
    params = {f"Student.{k}": v for k, v in source_params.items()}
    params.update({f"Teacher.{k}": np.zeros_like(v) for k, v in source_params.items()})
    model = _student(seed=3)
    report = apply_params(model, params, source="best_accuracy")
    assert report.used_prefix == "Student" and "'Student'" in report.summary()
    assert len(report.loaded) == len(source_params)
    assert np.array_equal(model.state_dict()[STEM].numpy(), source_params[STEM])


def test_distillation_file_without_student_lists_its_prefixes(source_params) -> None:
    params = {f"{name}.{k}": v for name in ("Teacher", "Student2") for k, v in source_params.items()}
    with pytest.raises(ValueError, match=r"\['Student2', 'Teacher'\]"):
        apply_params(_student(seed=4), params, source="teacher_only")


def test_plain_file_into_distillation_model_points_to_sub_model_pretrained(source_params) -> None:
    model = DistillationModel({"Student": _student(5), "Student2": _student(6)}, set())
    with pytest.raises(ValueError, match=r"Architecture\.Models\.<Name>\.pretrained"):
        apply_params(model, source_params, source="student")


def test_distillation_file_into_distillation_model(source_params) -> None:
    model = DistillationModel({"Student": _student(5), "Student2": _student(6)}, set())
    params = {f"{name}.{k}": v for name in ("Student", "Student2") for k, v in source_params.items()}
    report = apply_params(model, params, source="ckpt")
    assert len(report.loaded) == 2 * len(source_params) and report.used_prefix is None


def test_a_file_matching_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="none of its 1 keys match"):
        apply_params(_student(seed=8), {"fc.weight": np.zeros(2, "float32")}, source="classifier")


@pytest.mark.parametrize(
    "prefix",
    [
        "Teacher",  # as PaddleOCR's docs write it
        "Teacher.",  # with the separator
    ],
)
def test_extract_prefix_strips_the_sub_model_name(prefix: str) -> None:
    params = {"Student.head.w": np.ones(1), "Teacher.head.w": np.zeros(1), "Teacher.neck.w": np.zeros(2)}
    assert sorted(extract_prefix(params, prefix)) == ["head.w", "neck.w"]


def test_extract_absent_prefix_lists_the_present_ones() -> None:
    with pytest.raises(ValueError, match=r"\['Student', 'Teacher'\]"):
        extract_prefix({"Student.a": np.ones(1), "Teacher.a": np.ones(1)}, "Student2")
