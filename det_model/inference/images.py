"""Image I/O for inference: files decoded to BGR uint8 whatever they hold (grayscale, alpha, 16 bit), folder
listing, and detections drawn over an image."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from det_model.postprocess import Detections

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".jp2", ".pgm", ".ppm", ".pbm")


class ImageError(ValueError):
    """An input image that cannot be used; the message names the file."""


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
    return decode_image(data, str(path))


def decode_image(data: bytes, source: str) -> np.ndarray:
    """Encoded image bytes -> BGR uint8; ImageError naming `source` if truncated or undecodable."""
    if data[:2] == b"\xff\xd8" and not data.rstrip(b"\x00\r\n ").endswith(b"\xff\xd9"):
        raise ImageError(f"{source}: truncated JPEG (no end-of-image marker)")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH)
    if image is None or image.size == 0:
        raise ImageError(f"{source}: cannot be decoded (corrupt, truncated or not an image)")
    return to_bgr_uint8(image, source)


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


def draw_detections(image: np.ndarray, detections: Detections) -> np.ndarray:
    canvas = image.copy()
    polygons = [np.asarray(b, np.int32).reshape(-1, 1, 2) for b in detections.boxes]
    cv2.polylines(canvas, polygons, isClosed=True, color=(0, 255, 0), thickness=2)
    return canvas
