"""`det-model infer`: text detection with an exported model through `paddle.inference`.

PaddleOCR `tools/infer/predict_det.py` (`TextDetector`): DetResizeForTest (960 / "max" by default),
NormalizeImage, the predictor, DBPostProcess, then `filter_tag_det_res` (clockwise order, clip to the image,
drop boxes with a side <= 3 px). Images are read as BGR uint8 whatever they hold (grayscale, alpha, 16 bit);
a file that cannot be read is reported and the rest of the folder is still processed.
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
from det_model.postprocess import DBPostProcess, Detections, filter_det_boxes
from det_model.postprocess.slicing import detect_sliced, needs_slicing
from det_model.progress import progress

logger = logging.getLogger(__name__)

MODEL_PREFIX = "inference"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".jp2", ".pgm", ".ppm", ".pbm")
# A DB map costs ~4 bytes x 100 per input pixel in the network; refuse inputs a "min" limit blows up.
MAX_INPUT_PIXELS = 4096 * 4096
# PaddleOCR inference defaults (tools/infer/utility.py) when the folder has no inference.yml.
DEFAULT_POSTPROCESS = {"thresh": 0.3, "box_thresh": 0.6, "max_candidates": 1000, "unclip_ratio": 1.5}
RESULTS_FILE = "results.jsonl"
SUMMARY_FILE = "summary.json"
DRAWN_DIR = "drawn"


class ImageError(ValueError):
    """An input image that cannot be used; the message names the file."""


# ------------------------------------------------------------------------------------------ predictor


def model_files(model_dir: str | Path) -> tuple[Path, Path]:
    """(program, params) of an inference folder: inference.json (PIR) or inference.pdmodel (old IR)."""
    folder = Path(model_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"--model-dir {folder}: no such folder")
    params = folder / f"{MODEL_PREFIX}.pdiparams"
    for program in (folder / f"{MODEL_PREFIX}.json", folder / f"{MODEL_PREFIX}.pdmodel"):
        if program.is_file() and params.is_file():
            return program, params
    subfolders = sorted(p.name for p in folder.iterdir() if (p / f"{MODEL_PREFIX}.pdiparams").is_file())
    hint = (
        f"; it has sub-model folders {subfolders}: pass e.g. {folder / subfolders[0]}" if subfolders else ""
    )
    raise FileNotFoundError(
        f"--model-dir {folder}: no {MODEL_PREFIX}.json (or .pdmodel) + {MODEL_PREFIX}.pdiparams{hint}"
    )


def require_gpu() -> None:
    """--use-gpu is an explicit request: fail instead of printing Paddle's error and running on the CPU."""
    import paddle

    if not paddle.device.is_compiled_with_cuda():
        raise ValueError("--use-gpu: this Paddle build has no CUDA support (paddlepaddle, not paddlepaddle-gpu); "
                         "leave out --use-gpu to run on the CPU")
    if paddle.device.cuda.device_count() == 0:
        raise ValueError("--use-gpu: Paddle sees no CUDA device (check nvidia-smi and CUDA_VISIBLE_DEVICES); "
                         "leave out --use-gpu to run on the CPU")


def create_predictor(
    model_dir: str | Path,
    *,
    cpu_threads: int = 2,
    enable_mkldnn: bool = False,
    use_gpu: bool = False,
    ir_optim: bool = True,
):
    """A paddle.inference predictor for an exported detector, checked to map (N,3,H,W) -> (N,1,H,W).

    `ir_optim=False` runs the program as saved (no operator fusion such as folding BatchNorm into the
    convolution, which changes float rounding): what export's parity checks compare with the dygraph model.
    """
    from paddle import inference

    if use_gpu:
        require_gpu()
    program, params = model_files(model_dir)
    config = inference.Config(str(program), str(params))
    if use_gpu:
        config.enable_use_gpu(500, 0)
    else:
        config.disable_gpu()
        if cpu_threads > 0:  # 0 keeps Paddle's default (the same kernels and summation order as dygraph)
            config.set_cpu_math_library_num_threads(cpu_threads)
        if enable_mkldnn:
            config.enable_mkldnn()
        else:  # Paddle 3.x turns oneDNN on by default for CPU
            config.disable_mkldnn()
    config.switch_ir_optim(ir_optim)
    if program.suffix == ".pdmodel":  # Paddle 3.3 fails to create PIR predictors with this pass
        config.enable_memory_optim()  # reuse intermediate buffers, as PaddleOCR's predictor does
    config.disable_glog_info()
    try:
        predictor = inference.create_predictor(config)
    except Exception as exc:  # paddle raises assorted types for unreadable programs
        raise ValueError(
            f"--model-dir {model_dir}: paddle.inference cannot load {program.name}: {exc}"
        ) from exc
    try:
        check_detector_io(predictor, Path(model_dir))
    except ValueError as exc:
        if not (enable_mkldnn and not use_gpu):
            raise
        # Some programs hold ops oneDNN cannot run (e.g. float64 interpolate scales in Paddle 3.3).
        logger.warning("%s: oneDNN cannot run this model (%s); using the plain CPU kernels", model_dir, exc)
        return create_predictor(
            model_dir, cpu_threads=cpu_threads, enable_mkldnn=False, use_gpu=False, ir_optim=ir_optim
        )
    return predictor


def run_predictor(predictor, x: np.ndarray) -> np.ndarray:
    """One forward pass: (N, 3, H, W) float32 -> the first output as numpy."""
    handle = predictor.get_input_handle(predictor.get_input_names()[0])
    handle.reshape(list(x.shape))
    handle.copy_from_cpu(np.ascontiguousarray(x, dtype=np.float32))
    predictor.run()
    return predictor.get_output_handle(predictor.get_output_names()[0]).copy_to_cpu()


def check_detector_io(predictor, folder: Path) -> None:
    """Refuse programs that are not a DB detector: one input, one output, (1,3,32,32) -> (1,1,32,32)."""
    inputs, outputs = predictor.get_input_names(), predictor.get_output_names()
    what = f"--model-dir {folder}: not a DB text detector"
    if len(inputs) != 1 or len(outputs) != 1:
        raise ValueError(f"{what} (inputs {inputs}, outputs {outputs}; expected one image in, one map out)")
    input_shape = predictor.get_input_handle(inputs[0]).shape()  # PIR programs report [0] until reshaped
    if len(input_shape) == 4 and input_shape[1] not in (3, -1):
        raise ValueError(f"{what} (input {inputs[0]} has shape {input_shape}; expected [N, 3, H, W])")
    try:
        probe = run_predictor(predictor, np.zeros((1, 3, 32, 32), np.float32))
    except Exception as exc:  # any failure means the program is not a detector
        raise ValueError(f"{what} (a (1, 3, 32, 32) input fails: {exc})") from exc
    if probe.shape != (1, 1, 32, 32):
        raise ValueError(
            f"{what} (a (1, 3, 32, 32) input gives {list(probe.shape)}; expected [1, 1, 32, 32])"
        )


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


# --------------------------------------------------------------------------------------------- images


def to_bgr_uint8(image: np.ndarray, source: str = "image") -> np.ndarray:
    """Grayscale -> BGR, alpha dropped, 16-bit scaled to 8-bit; anything else raises ImageError."""
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise ImageError(f"{source}: unsupported pixel type {image.dtype} (expected 8- or 16-bit integers)")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    if image.ndim == 3 and image.shape[2] == 1:
        return cv2.cvtColor(image[:, :, 0], cv2.COLOR_GRAY2BGR)
    raise ImageError(f"{source}: unsupported image layout {image.shape}")


def read_image(path: str | Path) -> np.ndarray:
    """Decode a file to BGR uint8 (EXIF orientation applied, as cv2.imread does); ImageError if unusable."""
    path = Path(path)
    data = path.read_bytes()
    if not data:
        raise ImageError(f"{path}: empty file")
    if data[:2] == b"\xff\xd8" and not data.rstrip(b"\x00\r\n ").endswith(b"\xff\xd9"):
        raise ImageError(f"{path}: truncated JPEG (no end-of-image marker)")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH)
    if image is None or image.size == 0:
        raise ImageError(f"{path}: cannot be decoded (corrupt, truncated or not an image)")
    return to_bgr_uint8(image, str(path))


def list_images(path: str | Path) -> list[Path]:
    path = Path(path)
    if path.is_file():
        return [path]
    if path.is_dir():
        images = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            raise FileNotFoundError(f"--image {path}: no files with suffixes {', '.join(IMAGE_SUFFIXES)}")
        return images
    raise FileNotFoundError(f"--image {path}: no such file or folder")


# -------------------------------------------------------------------------------------------- detector


class TextDetector:
    """Exported DB detector + PaddleOCR's inference pre/post-processing. `detector(bgr) -> Detections`.

    Post-processing settings come from the folder's inference.yml (PaddleOCR's inference defaults
    thresh 0.3, box_thresh 0.6, unclip_ratio 1.5 without one).
    """

    def __init__(
        self,
        model_dir: str | Path,
        *,
        limit_side_len: int = 960,
        limit_type: str = "max",
        cpu_threads: int = 2,
        enable_mkldnn: bool = True,
        use_gpu: bool = False,
        slice_long_images: bool = True,
    ) -> None:
        folder = Path(model_dir)
        self.limit_side_len, self.limit_type = limit_side_len, limit_type
        self.slice_long_images = slice_long_images
        self.resize = DetResizeForTest(limit_side_len=limit_side_len, limit_type=limit_type)
        self.predictor = create_predictor(
            folder, cpu_threads=cpu_threads, enable_mkldnn=enable_mkldnn, use_gpu=use_gpu
        )
        settings = read_inference_yml(folder)
        self.postprocess = postprocess_from_yml(settings)
        self.normalize = normalize_from_yml(settings)

    def preprocess(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """BGR uint8 (H, W, 3) -> input (1, 3, H', W') float32 and shape row (1, 4)."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ImageError(f"expected a BGR uint8 (H, W, 3) image, got {image.dtype} {image.shape}")
        out_h, out_w = self.resize.output_size(*image.shape[:2])
        if out_h * out_w > MAX_INPUT_PIXELS:
            raise ImageError(
                f"image {image.shape[1]}x{image.shape[0]} resizes to {out_w}x{out_h} (limit_side_len "
                f"{self.limit_side_len}, limit_type {self.limit_type!r}), over {MAX_INPUT_PIXELS} pixels; "
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
        height, width = image.shape[:2]
        if self.slice_long_images and needs_slicing(height, width, self.limit_side_len):
            return detect_sliced(lambda window: self.detect(window)[0], image)
        return self.detect(image)[0]

    def detect_timed(self, image: np.ndarray) -> tuple[Detections, dict[str, float]]:
        """`self(image)` and its total time in milliseconds (stage times when the image is not sliced)."""
        height, width = image.shape[:2]
        if not (self.slice_long_images and needs_slicing(height, width, self.limit_side_len)):
            return self.detect(image)
        tick = time.perf_counter()
        detections = self(image)
        return detections, {"total_ms": 1e3 * (time.perf_counter() - tick)}


# --------------------------------------------------------------------------------------------- command


def draw_detections(image: np.ndarray, detections: Detections) -> np.ndarray:
    canvas = image.copy()
    polygons = [np.asarray(b, np.int32).reshape(-1, 1, 2) for b in detections.boxes]
    cv2.polylines(canvas, polygons, isClosed=True, color=(0, 255, 0), thickness=2)
    return canvas


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
    *,
    limit_side_len: int = 960,
    limit_type: str = "max",
    cpu_threads: int = 2,
    enable_mkldnn: bool = True,
    use_gpu: bool = False,
    slice_long_images: bool = True,
) -> dict[str, Any]:
    """Detect text in one image or every image of a folder.

    Writes out_dir/results.jsonl (one JSON object per image: boxes, scores, timing_ms, or error),
    out_dir/summary.json and out_dir/drawn/<name>. Returns the summary (`failed`: image -> error).
    """
    images = list_images(image_path_or_dir)
    detector = TextDetector(
        model_dir,
        limit_side_len=limit_side_len,
        limit_type=limit_type,
        cpu_threads=cpu_threads,
        enable_mkldnn=enable_mkldnn,
        use_gpu=use_gpu,
        slice_long_images=slice_long_images,
    )
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
