"""Row 15 of issue 16: `det-model infer` on a 10000x200 panorama with the released weights finds the words one
box each (sliced, as PaddleOCR does), where the whole-image resize merges them."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from support.infer_fixtures import RELEASED_ONNX, config

from det_model.export import export_model
from det_model.inference.options import DetectorOptions
from det_model.modeling.onnx_import import import_onnx

pytestmark = pytest.mark.skipif(not RELEASED_ONNX.is_file(), reason=f"needs the released model {RELEASED_ONNX}")

LETTERS = "ABCDEFGHKLMNPRSTUVWXYZ"


@pytest.fixture(scope="module")
def released_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("released_slicing")
    import_onnx(RELEASED_ONNX, tmp / "student")
    cfg = config("ch_PP-OCRv3_det_student.yml", f"Global.pretrained_model={tmp / 'student.pdparams'}",
                 f"Global.save_inference_dir={tmp / 'inference'}", "Global.export_onnx=false")
    return export_model(cfg)["model"]


def panorama(seed: int = 0) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """White 10000x200 with black words (4-9 letters, ~40 px tall) 40-80 px apart; their boxes."""
    rng = np.random.default_rng(seed)
    image = np.full((200, 10000, 3), 255, np.uint8)
    words, x = [], 60
    font, scale, thickness = cv2.FONT_HERSHEY_SIMPLEX, 1.5, 3
    while True:
        word = "".join(rng.choice(list(LETTERS), int(rng.integers(4, 10))))
        (w, h), _ = cv2.getTextSize(word, font, scale, thickness)
        if x + w > 9940:
            return image, words
        y = int(rng.integers(60, 160))
        cv2.putText(image, word, (x, y), font, scale, (0, 0, 0), thickness, cv2.LINE_AA)
        words.append((x, y - h, x + w, y))
        x += w + int(rng.integers(40, 80))


def _boxes(detections) -> list[tuple[int, int, int, int]]:
    return [(int(b[:, 0].min()), int(b[:, 1].min()), int(b[:, 0].max()), int(b[:, 1].max()))
            for b in detections.boxes]


def _iou(a, b) -> float:
    w = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union if union else 0.0


def test_panorama_words_are_one_box_each_when_sliced(released_folder: Path) -> None:
    from det_model.inference.detector import TextDetector

    image, words = panorama()
    found = _boxes(TextDetector(released_folder)(image))
    widest = max(w[2] - w[0] for w in words)
    assert all(b[2] - b[0] <= widest + 60 for b in found)  # no box spans two words
    matched = [[b for b in found if _iou(b, word) > 0.5] for word in words]
    assert sum(len(m) == 1 for m in matched) >= 0.9 * len(words), (len(words), found)
    assert len(found) <= len(words) + 2

    # Resized whole (960x19 -> 960x32) the same words merge (measured: 17 boxes for 38 words, up to 927 px wide).
    whole = _boxes(TextDetector(released_folder, DetectorOptions(slice_long_images=False))(image))
    assert max((b[2] - b[0] for b in whole), default=0) > 2 * widest
