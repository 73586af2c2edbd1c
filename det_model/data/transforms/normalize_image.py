"""PaddleOCR `NormalizeImage` (ppocr/data/imaug/operators.py): (img * scale - mean) / std in float32.

The image is BGR while mean/std are ImageNet's RGB constants, so channel 0 (B) uses 0.485/0.229; inference
does the same, and so do we. For uint8 images the result is read from a per-channel 256-entry table
(cv2.LUT), computed with the same float32 operations, so it is bit-identical and several times faster.
"""

from __future__ import annotations

from typing import Any, Sequence, Union

import cv2
import numpy as np

from det_model.data.transforms.warp import materialize_image


def _parse_scale(scale: Union[float, str]) -> float:
    if isinstance(scale, str):  # PaddleOCR YAML writes `1./255.`
        numerator, _, denominator = scale.partition("/")
        return float(numerator) / float(denominator) if denominator else float(numerator)
    return float(scale)


class NormalizeImage:
    def __init__(self, scale: Union[float, str] = 1.0 / 255.0, mean: Sequence[float] = (0.485, 0.456, 0.406),
                 std: Sequence[float] = (0.229, 0.224, 0.225), order: str = "hwc") -> None:
        if order not in ("hwc", "chw"):
            raise ValueError(f"NormalizeImage.order must be 'hwc' or 'chw', got {order!r}")
        self.order = order
        self.scale = np.float32(_parse_scale(scale))
        shape = (1, 1, 3) if order == "hwc" else (3, 1, 1)
        self.mean = np.array(mean, dtype=np.float32).reshape(shape)
        self.std = np.array(std, dtype=np.float32).reshape(shape)
        levels = np.arange(256, dtype=np.float32).reshape(256, 1)
        table = (levels * self.scale - self.mean.reshape(1, 3)) / self.std.reshape(1, 3)  # (256, 3) float32
        self.table = np.ascontiguousarray(table.reshape(1, 256, 3))

    def __call__(self, sample: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        image = materialize_image(sample)
        if image.dtype == np.uint8 and self.order == "hwc" and image.ndim == 3 and image.shape[2] == 3:
            sample["image"] = cv2.LUT(image, self.table)
        else:
            sample["image"] = (image.astype(np.float32) * self.scale - self.mean) / self.std
        return sample
