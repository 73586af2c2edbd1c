"""`det-model infer`: text detection with an exported model through `paddle.inference`.

PaddleOCR `tools/infer/predict_det.py` (`TextDetector`): DetResizeForTest (960 / "max" by default),
NormalizeImage, the predictor, DBPostProcess, then `filter_tag_det_res` (clockwise order, clip to the image,
drop boxes with a side <= 3 px). `infer_images` runs it over one image or a folder: a file that cannot be
read is reported and the rest of the folder is still processed. The predictor lives in
`det_model.inference.predictor`, image decoding and drawing in `det_model.inference.images`.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from det_model.data.transforms import DetResizeForTest, NormalizeImage
from det_model.inference.images import ImageError, draw_detections, list_images, read_image
from det_model.inference.options import DetectorOptions
from det_model.inference.predictor import PRECISION_KEY, MODEL_PREFIX, create_predictor, run_predictor
from det_model.postprocess import DBPostProcess, Detections, filter_det_boxes
from det_model.postprocess.slicing import detect_sliced, needs_slicing
from det_model.progress import progress

logger = logging.getLogger(__name__)

# A DB map costs ~4 bytes x 100 per input pixel in the network; refuse inputs a "min" limit blows up.
MAX_INPUT_PIXELS = 4096 * 4096
# PaddleOCR inference defaults (tools/infer/utility.py) when the folder has no inference.yml.
DEFAULT_POSTPROCESS = {"thresh": 0.3, "box_thresh": 0.6, "max_candidates": 1000, "unclip_ratio": 1.5}
RESULTS_FILE = "results.jsonl"
SUMMARY_FILE = "summary.json"
DRAWN_DIR = "drawn"


# ---------------------------------------------------------------------------------- inference.yml


def read_inference_yml(folder: Path) -> dict[str, Any]:
    path = folder / f"{MODEL_PREFIX}.yml"
    if not path.is_file():
        return {}
    data = yaml.safe_load(path.read_text()) or {}
    post = data.get("PostProcess") or {}
    if post and post.get("name") != "DBPostProcess":
        raise ValueError(
            f"{path}: PostProcess.name is {post.get('name')!r}; this tool runs DB detectors only"
        )
    return data


def postprocess_from_yml(data: dict[str, Any]) -> DBPostProcess:
    post = {k: v for k, v in (data.get("PostProcess") or {}).items() if k != "name"}
    return DBPostProcess(**{**DEFAULT_POSTPROCESS, **post})


def normalize_from_yml(data: dict[str, Any]) -> NormalizeImage:
    for op in (data.get("PreProcess") or {}).get("transform_ops") or []:
        if isinstance(op, dict) and "NormalizeImage" in op:
            return NormalizeImage(**(op["NormalizeImage"] or {}))
    return NormalizeImage()


# -------------------------------------------------------------------------------------------- detector


class TextDetector:
    """Exported DB detector + PaddleOCR's inference pre/post-processing. `detector(bgr) -> Detections`.

    Resize, predictor and slicing settings come from `options`; post-processing settings from the folder's
    inference.yml (PaddleOCR's inference defaults thresh 0.3, box_thresh 0.6, unclip_ratio 1.5 without one).
    """

    def __init__(self, model_dir: str | Path, options: DetectorOptions = DetectorOptions()) -> None:
        folder = Path(model_dir)
        self.options = options
        self.resize = DetResizeForTest(limit_side_len=options.limit_side_len, limit_type=options.limit_type)
        settings = read_inference_yml(folder)
        self.int8 = (settings.get("Global") or {}).get(PRECISION_KEY) == "int8"
        self.predictor = create_predictor(
            folder,
            cpu_threads=options.cpu_threads,
            enable_mkldnn=options.enable_mkldnn,
            use_gpu=options.use_gpu,
            int8=self.int8,
        )
        self.postprocess = postprocess_from_yml(settings)
        self.normalize = normalize_from_yml(settings)

    def preprocess(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """BGR uint8 (H, W, 3) -> input (1, 3, H', W') float32 and shape row (1, 4)."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ImageError(f"expected a BGR uint8 (H, W, 3) image, got {image.dtype} {image.shape}")
        out_h, out_w = self.resize.output_size(*image.shape[:2])
        if out_h * out_w > MAX_INPUT_PIXELS:
            side, limit = self.options.limit_side_len, self.options.limit_type
            raise ImageError(
                f"image {image.shape[1]}x{image.shape[0]} resizes to {out_w}x{out_h} (limit_side_len "
                f"{side}, limit_type {limit!r}), over {MAX_INPUT_PIXELS} pixels; "
                "use limit_type 'max' to bound the long side"
            )
        sample = self.normalize(self.resize({"image": image}, None), None)
        return sample["image"].transpose(2, 0, 1)[None], sample["shape"][None]

    def detect(self, image: np.ndarray) -> tuple[Detections, dict[str, float]]:
        """Boxes in `image` pixels, and the time of each stage in milliseconds."""
        tick = time.perf_counter()
        x, shape = self.preprocess(image)
        prepared = time.perf_counter()
        prob = run_predictor(self.predictor, x)
        forwarded = time.perf_counter()
        (detections,) = self.postprocess(prob, shape)
        detections = filter_det_boxes(detections, image.shape[:2])
        done = time.perf_counter()
        timing = {
            "preprocess_ms": 1e3 * (prepared - tick),
            "forward_ms": 1e3 * (forwarded - prepared),
            "postprocess_ms": 1e3 * (done - forwarded),
            "total_ms": 1e3 * (done - tick),
        }
        return detections, timing

    def __call__(self, image: np.ndarray) -> Detections:
        """Boxes in `image` pixels; a very wide or tall image is detected in overlapping windows (slicing.py)."""
        if self._sliced(image):
            return detect_sliced(lambda window: self.detect(window)[0], image)
        return self.detect(image)[0]

    def _sliced(self, image: np.ndarray) -> bool:
        height, width = image.shape[:2]
        return self.options.slice_long_images and needs_slicing(height, width, self.options.limit_side_len)

    def detect_timed(self, image: np.ndarray) -> tuple[Detections, dict[str, float]]:
        """`self(image)` and its total time in milliseconds (stage times when the image is not sliced)."""
        if not self._sliced(image):
            return self.detect(image)
        tick = time.perf_counter()
        detections = self(image)
        return detections, {"total_ms": 1e3 * (time.perf_counter() - tick)}


# ----------------------------------------------------------------------------------------- folder runs


def _result_record(path: Path, detections: Detections, timing: dict[str, float], hw: tuple[int, int]) -> dict:
    return {
        "image": str(path),
        "height": hw[0],
        "width": hw[1],
        "boxes": [np.asarray(b).tolist() for b in detections.boxes],
        "scores": [round(float(s), 6) for s in detections.scores],
        "timing_ms": {k: round(v, 3) for k, v in timing.items()},
    }


def infer_images(
    model_dir: str | Path,
    image_path_or_dir: str | Path,
    out_dir: str | Path,
    options: DetectorOptions = DetectorOptions(),
) -> dict[str, Any]:
    """Detect text in one image or every image of a folder.

    Writes out_dir/results.jsonl (one JSON object per image: boxes, scores, timing_ms, or error),
    out_dir/summary.json and out_dir/drawn/<name>. Returns the summary (`failed`: image -> error).
    """
    images = list_images(image_path_or_dir)
    detector = TextDetector(model_dir, options)
    out = Path(out_dir)
    (out / DRAWN_DIR).mkdir(parents=True, exist_ok=True)
    failed: dict[str, str] = {}
    total_ms, boxes = [], 0
    with open(out / RESULTS_FILE, "w") as results:
        for path in progress(images, desc="infer", unit="images", enabled=len(images) > 1):
            try:
                image = read_image(path)
                detections, timing = detector.detect_timed(image)
            except (ImageError, OSError) as exc:
                failed[str(path)] = str(exc)
                logger.error("%s", exc)
                results.write(json.dumps({"image": str(path), "error": str(exc)}) + "\n")
                continue
            results.write(json.dumps(_result_record(path, detections, timing, image.shape[:2])) + "\n")
            cv2.imwrite(str(out / DRAWN_DIR / f"{path.stem}.jpg"), draw_detections(image, detections))
            total_ms.append(timing["total_ms"])
            boxes += len(detections)
    summary = {
        "model_dir": str(model_dir),
        "images": len(images),
        "processed": len(images) - len(failed),
        "failed": failed,
        "boxes": boxes,
        "mean_total_ms": float(np.mean(total_ms)) if total_ms else None,
    }
    (out / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n")
    return summary
