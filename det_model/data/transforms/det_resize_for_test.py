"""PaddleOCR `DetResizeForTest` (ppocr/data/imaug/operators.py): eval/inference resize to multiples of 32.

Modes: `image_shape` (fixed size, optional keep_ratio width rounded up to 32), `limit_side_len` + `limit_type`
("min" | "max" | "resize_long"), `resize_long` (multiple of 128); no argument = 736 / "min" (PaddleOCR's eval
default; inference uses 960 / "max"). Images with h + w < 64 are first zero-padded to at least 32 x 32.
`shape` = (src_h, src_w, ratio_h, ratio_w); polygons are left in source coordinates.
"""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence

import cv2
import numpy as np

from det_model.data.transforms.warp import materialize_image

LIMIT_TYPES = ("min", "max", "resize_long")


def limited_size(h: int, w: int, limit_side_len: int, limit_type: str) -> tuple[int, int]:
    """Output (h, w) of the type-0 resize; Python's round is half-to-even, as in PaddleOCR."""
    if limit_type == "max":
        ratio = float(limit_side_len) / max(h, w) if max(h, w) > limit_side_len else 1.0
    elif limit_type == "min":
        ratio = float(limit_side_len) / min(h, w) if min(h, w) < limit_side_len else 1.0
    elif limit_type == "resize_long":
        ratio = float(limit_side_len) / max(h, w)
    else:
        raise ValueError(f"DetResizeForTest.limit_type must be one of {LIMIT_TYPES}, got {limit_type!r}")
    resize_h, resize_w = int(h * ratio), int(w * ratio)
    return max(int(round(resize_h / 32) * 32), 32), max(int(round(resize_w / 32) * 32), 32)


def pad_small(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    padded = np.zeros((max(32, h), max(32, w)) + image.shape[2:], dtype=image.dtype)
    padded[:h, :w] = image
    return padded


class DetResizeForTest:
    def __init__(self, limit_side_len: Optional[int] = None, limit_type: Optional[str] = None,
                 image_shape: Optional[Sequence[int]] = None, keep_ratio: bool = False,
                 resize_long: Optional[int] = None) -> None:
        self.image_shape = tuple(image_shape) if image_shape is not None else None
        self.keep_ratio = keep_ratio
        self.resize_long = resize_long
        self.limit_side_len = 736 if limit_side_len is None else limit_side_len
        self.limit_type = "min" if limit_type is None else limit_type
        # PaddleOCR's precedence: image_shape, then limit_side_len, then resize_long, then 736 / "min".
        if self.image_shape is not None:
            self.mode = "image_shape"
        elif limit_side_len is None and resize_long is not None:
            self.mode = "resize_long"
        else:
            self.mode = "limit_side_len"
        if self.limit_type not in LIMIT_TYPES:
            raise ValueError(f"DetResizeForTest.limit_type must be one of {LIMIT_TYPES}, got {limit_type!r}")

    def output_size(self, h: int, w: int) -> tuple[int, int]:
        """(h, w) after resizing an (already padded) h x w image."""
        if self.mode == "image_shape":
            out_h, out_w = self.image_shape
            if self.keep_ratio:
                out_w = math.ceil(w * out_h / h / 32) * 32
            return int(out_h), int(out_w)
        if self.mode == "resize_long":
            ratio = float(self.resize_long) / max(h, w)
            out_h, out_w = int(h * ratio), int(w * ratio)
            return (out_h + 127) // 128 * 128, (out_w + 127) // 128 * 128
        return limited_size(h, w, self.limit_side_len, self.limit_type)

    def __call__(self, sample: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        image = materialize_image(sample)
        src_h, src_w = image.shape[:2]
        if src_h + src_w < 64:
            image = pad_small(image)
        h, w = image.shape[:2]
        out_h, out_w = self.output_size(h, w)
        sample["image"] = cv2.resize(image, (out_w, out_h))
        sample["shape"] = np.array([src_h, src_w, out_h / float(h), out_w / float(w)], dtype=np.float64)
        return sample
