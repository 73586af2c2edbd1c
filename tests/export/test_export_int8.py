"""Global.export_int8: calibration-set errors, the int8 folder (released weights), the operators kept in float,
and the box-parity check."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from support.infer_fixtures import RELEASED_ONNX, config, random_weights

from det_model.data.sources.synth import generate_synthetic
from det_model.export import export_model
from det_model.inference.detector import TextDetector
from det_model.inference.images import read_image
from det_model.modeling.onnx_import import import_onnx
from det_model import quantize
from det_model.quantize import (
    BOX_AGREEMENT_MIN,
    SKIP_QUANT_ATTR,
    box_agreement,
    calibration_images,
    float_op_weights,
    mark_float_ops,
    read_program,
)

STUDENT = "ch_PP-OCRv3_det_student.yml"


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synth")
    generate_synthetic(root, 3, seed=5)
    return root


def _train(root: Path, *extra: str):
    return config(
        STUDENT, f"Train.dataset.data_dir={root}", f"Train.dataset.label_file_list=[{root / 'label.txt'}]", *extra
    )


@pytest.mark.parametrize(
    ("count", "data_dir", "message"),
    [
        (0, None, "export_int8_calibration_images must be >= 1"),
        (2, "/nonexistent-dir", "no calibration image found"),
    ],
)
def test_bad_calibration_settings_name_the_key(synth, count, data_dir, message):
    cfg = _train(synth, *([f"Train.dataset.data_dir={data_dir}"] if data_dir else []))
    with pytest.raises(ValueError, match=message):
        calibration_images(cfg, count)


def test_calibration_images_are_spread_over_the_train_set(synth):
    chosen = calibration_images(_train(synth), 2)
    assert [p.name for p in chosen] == ["synth_5_000000.jpg", "synth_5_000001.jpg"]
    assert len(calibration_images(_train(synth), 10)) == 3  # no more than there are


@pytest.fixture(scope="module")
def int8_export(synth, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    if not RELEASED_ONNX.is_file():
        pytest.skip(f"needs the released model {RELEASED_ONNX} (../shared)")
    tmp = tmp_path_factory.mktemp("int8")
    import_onnx(RELEASED_ONNX, tmp / "student")
    cfg = _train(
        synth,
        f"Global.pretrained_model={tmp / 'student.pdparams'}",
        f"Global.save_inference_dir={tmp / 'inf'}",
        "Global.export_onnx=false",
        "Global.export_int8=true",
        "Global.export_int8_calibration_images=3",
    )
    return export_model(cfg)


def test_int8_folder_is_written_next_to_the_fp32_one(int8_export):
    assert set(int8_export) == {"model", "model_int8"}
    folder = int8_export["model_int8"]
    assert folder == int8_export["model"] / "int8"
    assert {p.name for p in folder.iterdir()} >= {"inference.pdmodel", "inference.pdiparams", "inference.yml"}
    assert yaml.safe_load((folder / "inference.yml").read_text())["Global"]["precision"] == "int8"
    assert "quantize_linear" in (folder / "inference.pdmodel").read_bytes().decode("latin-1")


def _convolutions(folder: Path) -> list:
    program = read_program((folder / "inference.pdmodel").read_bytes())
    return [op for op in program.global_block().ops if op.type in ("conv2d", "depthwise_conv2d")]


def test_depthwise_convolutions_fed_by_hard_swish_stay_in_float(int8_export):
    fp32_program = read_program((int8_export["model"] / "inference.pdmodel").read_bytes())
    floating = set(float_op_weights(fp32_program))
    assert len(floating) == 9  # PP-OCRv3's MobileNetV3: the depthwise convolutions of the 1/16 and 1/32 stages
    convolutions = _convolutions(int8_export["model_int8"])
    assert len(convolutions) == 74
    for op in convolutions:
        weight = op.input("Filter")[0]
        skipped = op.has_attr(SKIP_QUANT_ATTR) and op.attr(SKIP_QUANT_ATTR) == 1
        assert skipped == (weight in floating), weight
        assert weight.endswith(".dequantized") == (weight not in floating), weight  # int8 weights or float ones


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ({"no_such_weight"}, "found 0 of the 1 operators to keep float"),
        (None, "found 8 of the 9 operators to keep float"),
    ],
)
def test_marking_float_operators_refuses_a_weight_it_cannot_find(int8_export, weights, message):
    program = (int8_export["model"] / "inference.pdmodel").read_bytes()
    floating = set(float_op_weights(read_program(program)))
    if weights is None:  # one of them renamed, as a quantized weight would be
        weights = (floating - {min(floating)}) | {f"{min(floating)}.quantized.dequantized"}
    with pytest.raises(RuntimeError, match=message):
        mark_float_ops(program, weights)


def test_int8_detector_finds_the_fp32_boxes(int8_export, synth):
    detector = TextDetector(int8_export["model_int8"])
    assert detector.int8 and not TextDetector(int8_export["model"]).int8
    images = sorted((synth / "images").glob("*.jpg"))
    assert len(detector(read_image(images[0])).boxes) > 0
    agreement, boxes = box_agreement(int8_export["model"], int8_export["model_int8"], images)
    assert boxes > 0 and agreement >= BOX_AGREEMENT_MIN


def test_int8_export_below_the_agreement_bound_fails_with_the_figures(synth, tmp_path, monkeypatch):
    monkeypatch.setattr(quantize, "calibration_inputs", lambda folder, images: [])
    monkeypatch.setattr(quantize, "post_training_quantize", lambda folder, inputs, out: out.mkdir())
    monkeypatch.setattr(quantize, "box_agreement", lambda fp32, int8, images: (0.15, 12))
    cfg = _train(synth, "Global.export_int8_calibration_images=2")
    figures = r"F = 0\.150 < 0\.8 on 2 calibration images \(12 fp32 boxes\)"
    with pytest.raises(quantize.Int8AgreementError, match=figures):
        quantize.export_int8(cfg, tmp_path, 2)
    assert issubclass(quantize.Int8AgreementError, ValueError)  # the CLI reports it in one line


def test_box_agreement_rejects_another_model(int8_export, synth, tmp_path):
    weights = random_weights(config(STUDENT), tmp_path / "random.pdparams")
    (other,) = export_model(
        config(STUDENT, f"Global.pretrained_model={weights}", f"Global.save_inference_dir={tmp_path / 'inf'}",
               "Global.export_onnx=false")
    ).values()
    agreement, boxes = box_agreement(int8_export["model"], other, sorted((synth / "images").glob("*.jpg")))
    assert boxes > 0 and agreement < BOX_AGREEMENT_MIN
