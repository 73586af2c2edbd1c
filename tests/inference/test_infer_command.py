"""det-model infer: TextDetector on an exported student, bad images, and model folders that do not fit."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import paddle
import pytest
from support.infer_fixtures import config, random_weights

from det_model.cli import main
from det_model.export import export_model
from det_model.inference.detector import TextDetector
from det_model.inference.images import ImageError, read_image
from det_model.inference.options import DetectorOptions

STUDENT = "ch_PP-OCRv3_det_student.yml"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("infer_model")
    weights = random_weights(config(STUDENT), tmp / "student.pdparams")
    cfg = config(
        STUDENT,
        f"Global.pretrained_model={weights}",
        f"Global.save_inference_dir={tmp / 'inf'}",
        "Global.export_onnx=false",
    )
    return export_model(cfg)["model"]


def _photo(h: int = 120, w: int = 200) -> np.ndarray:
    image = np.full((h, w, 3), 255, np.uint8)
    cv2.putText(image, "TEXT 42", (10, h // 2), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (0, 0, 0), 3)
    return image


def _encode(image: np.ndarray, suffix: str) -> bytes:
    ok, data = cv2.imencode(suffix, image)
    assert ok
    return data.tobytes()


# name -> (file bytes, None if it must load, else a substring of the error)
def _bad_inputs() -> dict[str, tuple[bytes, str | None]]:
    jpeg = _encode(_photo(), ".jpg")
    deep = _photo().astype(np.uint16) * 257
    return {
        "empty.jpg": (b"", "empty file"),  # zero bytes
        "truncated.jpg": (jpeg[: len(jpeg) // 2], "truncated"),  # download cut in half
        "garbage.png": (b"not an image at all", "cannot be decoded"),  # wrong content
        "gray.png": (_encode(_photo()[:, :, 0], ".png"), None),  # one channel
        "rgba.png": (_encode(cv2.cvtColor(_photo(), cv2.COLOR_BGR2BGRA), ".png"), None),  # alpha channel
        "deep.png": (_encode(deep, ".png"), None),  # 16 bit per channel
        "wide.jpg": (_encode(_photo(120, 10000), ".jpg"), None),  # 10000 px: the 960 limit applies
        "ok.jpg": (jpeg, None),
    }


@pytest.mark.parametrize("name", sorted(_bad_inputs()))
def test_read_image_gives_bgr_uint8_or_a_named_error(tmp_path, name):
    data, error = _bad_inputs()[name]
    path = tmp_path / name
    path.write_bytes(data)
    if error is None:
        image = read_image(path)
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    else:
        with pytest.raises(ImageError, match=error) as info:
            read_image(path)
        assert name in str(info.value)


def test_sixteen_bit_values_are_scaled_not_clipped(tmp_path):
    deep = np.full((40, 40, 3), 40000, np.uint16)
    (tmp_path / "deep.png").write_bytes(_encode(deep, ".png"))
    assert int(read_image(tmp_path / "deep.png")[0, 0, 0]) == 40000 >> 8


def infer(model_dir, image, out) -> int:
    """`det-model infer` with its default settings; the exit code."""
    return main(["infer", "--model-dir", str(model_dir), "--image", str(image), "--out", str(out)])


def test_folder_with_bad_files_is_processed_to_the_end(tmp_path, model_dir):
    images = tmp_path / "images"
    images.mkdir()
    for name, (data, _) in _bad_inputs().items():
        (images / name).write_bytes(data)
    (images / "notes.txt").write_text("not an image suffix: ignored")
    out = tmp_path / "out"
    assert infer(model_dir, images, out) == 1  # some images failed
    records = {
        Path(r["image"]).name: r for r in map(json.loads, (out / "results.jsonl").read_text().splitlines())
    }
    assert set(records) == set(_bad_inputs())
    for name, (_, error) in _bad_inputs().items():
        if error is None:
            assert set(records[name]) >= {"boxes", "scores", "timing_ms", "height", "width"}
            assert (out / "drawn" / f"{Path(name).stem}.jpg").is_file()
        else:
            assert error in records[name]["error"]
    assert records["wide.jpg"]["width"] == 10000
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["images"], summary["processed"]) == (8, 5)


def test_single_image_succeeds(tmp_path, model_dir):
    path = tmp_path / "one.png"
    path.write_bytes(_encode(_photo(), ".png"))
    assert infer(model_dir, path, tmp_path / "out") == 0


def test_detector_returns_boxes_inside_the_image(model_dir):
    detector = TextDetector(model_dir, DetectorOptions(cpu_threads=1))
    image = _photo(300, 500)
    detections, timing = detector.detect(image)
    assert set(timing) == {"preprocess_ms", "forward_ms", "postprocess_ms", "total_ms"}
    assert detections.boxes.dtype == np.int32 and detections.boxes.shape[1:] == (4, 2)
    if len(detections):
        assert detections.boxes[..., 0].max() <= 499 and detections.boxes[..., 1].max() <= 299
    assert detector.preprocess(image)[0].shape == (1, 3, 288, 512)  # 960 max: no resize; round(300/32) = 9


def test_min_limit_on_a_huge_image_is_refused(model_dir):
    detector = TextDetector(model_dir, DetectorOptions(limit_side_len=736, limit_type="min"))
    with pytest.raises(ImageError, match="limit_type 'max'"):
        detector.preprocess(np.zeros((300, 10000, 3), np.uint8))  # 736 / 300 upscales to 24544 px wide


class _Classifier(paddle.nn.Layer):
    def __init__(self) -> None:
        super().__init__()
        self.conv = paddle.nn.Conv2D(3, 4, 3)
        self.fc = paddle.nn.Linear(4, 10)

    def forward(self, x):
        return self.fc(paddle.mean(self.conv(x), axis=[2, 3]))


def test_model_of_another_architecture_is_refused(tmp_path):
    spec = paddle.static.InputSpec([None, 3, -1, -1], "float32", name="x")
    paddle.jit.save(_Classifier(), str(tmp_path / "inference"), input_spec=[spec])
    with pytest.raises(ValueError, match="not a DB text detector"):
        TextDetector(tmp_path)


def test_missing_model_files_name_the_sub_model_folders(tmp_path, model_dir):
    (tmp_path / "Student").symlink_to(model_dir, target_is_directory=True)
    with pytest.raises(FileNotFoundError, match="Student"):
        TextDetector(tmp_path)
    with pytest.raises(FileNotFoundError, match="no such folder"):
        TextDetector(tmp_path / "absent")
