"""End to end with the released PP-OCRv3 weights on the 13 ICDAR2015 sample photos, all in our code.

Our path: import the released ONNX into the student (`import_onnx`), then `evaluate_checkpoint` with the
student recipe (PaddleOCR's eval settings: DetResizeForTest 736 / "min", DBPostProcess 0.3 / 0.6 / 1.5,
DetMetric).
Independent path, PaddleOCR-style: onnxruntime runs the released ONNX file directly on images resized and
normalised by the few lines below, then the same DBPostProcess and DetMetric. The two must agree exactly.

Recorded on this machine (CPU, paddlepaddle 3.3.1, onnxruntime 1.31.1):
    train_* (10 images): precision 15/29 = 0.5172, recall 15/21 = 0.7143, hmean 0.6000
    test_*  (3 images):  precision 7/11 = 0.6364,  recall 7/20 = 0.3500,  hmean 0.4516
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from support.infer_fixtures import RELEASED_ONNX, SAMPLE_DIR, config

from det_model.evaluation import evaluate_checkpoint
from det_model.export import export_model
from det_model.inference.detector import TextDetector
from det_model.inference.images import read_image
from det_model.inference.predictor import create_predictor, run_predictor
from det_model.metrics import DetMetric
from det_model.modeling.onnx_import import import_onnx
from det_model.postprocess import DBPostProcess

pytestmark = pytest.mark.skipif(
    not (RELEASED_ONNX.is_file() and (SAMPLE_DIR / "label.txt").is_file()),
    reason=f"needs the released model {RELEASED_ONNX} and the sample set {SAMPLE_DIR} (../shared)",
)

SPLITS = {"train": 10, "test": 3}
COUNT_KEYS = ("gt_care", "det_care", "det_matched", "images")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("released")
    import_onnx(RELEASED_ONNX, tmp / "student")
    lines = (SAMPLE_DIR / "label.txt").read_text().splitlines()
    for split in SPLITS:  # label files only (in tmp): the images stay in ../shared
        (tmp / f"{split}.txt").write_text(
            "\n".join(l for l in lines if l.startswith(f"images/{split}_")) + "\n"
        )
    return tmp


def _eval_config(workdir: Path, split: str, *extra: str):
    return config(
        "ch_PP-OCRv3_det_student.yml",
        f"Global.pretrained_model={workdir / 'student.pdparams'}",
        f"Eval.dataset.data_dir={SAMPLE_DIR}",
        f"Eval.dataset.label_file_list=[{workdir / f'{split}.txt'}]",
        "Eval.loader.num_workers=0",
        *extra,
    )


def _independent_metrics(label_file: Path) -> dict:
    """onnxruntime on the released file + 736/min resize written here + our DBPostProcess and DetMetric."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(RELEASED_ONNX), providers=["CPUExecutionProvider"])
    post, metric = (
        DBPostProcess(thresh=0.3, box_thresh=0.6, max_candidates=1000, unclip_ratio=1.5),
        DetMetric(),
    )
    mean, std = np.array([0.485, 0.456, 0.406], np.float32), np.array([0.229, 0.224, 0.225], np.float32)
    for line in label_file.read_text().splitlines():
        name, label = line.split("\t")
        image = cv2.imread(str(SAMPLE_DIR / name))
        h, w = image.shape[:2]
        ratio = 736 / min(h, w) if min(h, w) < 736 else 1.0
        rh, rw = (max(int(round(int(side * ratio) / 32) * 32), 32) for side in (h, w))
        x = ((cv2.resize(image, (rw, rh)).astype(np.float32) / 255 - mean) / std).transpose(2, 0, 1)[None]
        (prob,) = session.run(None, {"x": x})
        (detections,) = post(prob, np.array([[h, w, rh / h, rw / w]]))
        boxes = json.loads(label)
        metric.update(
            detections.boxes,
            [np.array(b["points"], np.float32) for b in boxes],
            [b["transcription"] in ("###", "*") for b in boxes],
        )
    return metric.get_metric()


@pytest.mark.parametrize("split", sorted(SPLITS))
def test_released_weights_eval_matches_independent_evaluation(workdir, split):
    ours = evaluate_checkpoint(_eval_config(workdir, split), workdir / split)
    independent = _independent_metrics(workdir / f"{split}.txt")
    assert ours["images"] == SPLITS[split]
    assert {k: ours[k] for k in COUNT_KEYS} == {k: independent[k] for k in COUNT_KEYS}
    assert ours["hmean"] == independent["hmean"]
    written = json.loads((workdir / split / "metrics.json").read_text())
    assert written["hmean"] == ours["hmean"] and written["fps"] > 0
    predictions = [json.loads(l) for l in (workdir / split / "predictions.jsonl").read_text().splitlines()]
    labelled = [l.split("\t")[0].split("/")[-1] for l in (workdir / f"{split}.txt").read_text().splitlines()]
    assert sorted(p["image"] for p in predictions) == sorted(labelled)
    assert sum(len(p["polygons"]) for p in predictions) == ours["boxes"]
    assert all(len(p["scores"]) == len(p["polygons"]) for p in predictions)
    # The ballpark for the released model on these photos (exact values in the module docstring).
    assert ours["hmean"] == pytest.approx({"train": 0.60, "test": 0.45}[split], abs=0.03)


def test_exported_released_student_equals_the_released_onnx_and_detects_text(workdir):
    import onnxruntime

    cfg = config(
        "ch_PP-OCRv3_det_student.yml",
        f"Global.pretrained_model={workdir / 'student.pdparams'}",
        f"Global.save_inference_dir={workdir / 'inference'}",
        "Global.export_onnx=false",
    )
    folder = export_model(cfg)["model"]
    x = np.random.default_rng(5).standard_normal((1, 3, 224, 320)).astype(np.float32)
    session = onnxruntime.InferenceSession(str(RELEASED_ONNX), providers=["CPUExecutionProvider"])
    (released,) = session.run(None, {"x": x})
    assert np.abs(run_predictor(create_predictor(folder, cpu_threads=0), x) - released).max() <= 1e-4

    detector = TextDetector(folder)  # inference defaults: 960 / max
    for path in sorted((SAMPLE_DIR / "images").glob("test_*.jpg")):
        image = read_image(path)
        detections = detector(image)
        assert len(detections) > 0, path.name
        assert detections.boxes[..., 0].max() <= image.shape[1] - 1
        assert detections.boxes[..., 1].max() <= image.shape[0] - 1
        assert np.all(detections.scores >= 0.6)
