"""Deferred geometric warps: IaaAugment records its flip/rotate/resize as ONE affine matrix instead of
resampling, and EastRandomCropData folds its crop+resize into the same matrix, so a training sample is
resampled once (source -> 960x960) instead of three times at up to 3x the source size.

`sample["image"]` is then a `PendingWarp`; ops that need pixels call `materialize_image`, ops that need only
the size call `image_hw`. The matrices map source pixel-index coordinates to output pixel-index coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np


@dataclass(frozen=True)
class PendingWarp:
    source: np.ndarray  # H x W x C uint8 image the matrix reads from
    matrix: np.ndarray  # 3 x 3 float64, source pixel -> output pixel
    size: tuple[int, int]  # output (h, w)


def image_hw(sample: dict[str, Any]) -> tuple[int, int]:
    image = sample["image"]
    if isinstance(image, PendingWarp):
        return image.size
    return int(image.shape[0]), int(image.shape[1])


def defer_affine(sample: dict[str, Any], matrix: np.ndarray, size: tuple[int, int]) -> None:
    """Append `matrix` (3x3, current image -> new image of `size`) to the pending warp."""
    image = sample["image"]
    if isinstance(image, PendingWarp):
        sample["image"] = PendingWarp(image.source, matrix @ image.matrix, size)
    else:
        sample["image"] = PendingWarp(image, matrix, size)


def warp(source: np.ndarray, matrix: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear affine warp with a constant 0 border (imgaug Affine's cval 0, mode constant)."""
    h, w = size
    return cv2.warpAffine(source, matrix[:2], (w, h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def materialize_image(sample: dict[str, Any]) -> np.ndarray:
    image = sample["image"]
    if isinstance(image, PendingWarp):
        image = warp(image.source, image.matrix, image.size)
        sample["image"] = image
    return image


def apply_to_points(matrix: np.ndarray, polys: np.ndarray) -> np.ndarray:
    """Apply a 3x3 affine matrix to float32 polygons [K, P, 2]."""
    if polys.size == 0:
        return polys.astype(np.float32)
    out = polys.astype(np.float64) @ matrix[:2, :2].T + matrix[:2, 2]
    return out.astype(np.float32)


def translate(tx: float, ty: float) -> np.ndarray:
    return np.array([[1.0, 0.0, tx], [0.0, 1.0, ty], [0.0, 0.0, 1.0]])


def scale(sx: float, sy: float) -> np.ndarray:
    return np.array([[sx, 0.0, 0.0], [0.0, sy, 0.0], [0.0, 0.0, 1.0]])


def pixel_resize(sx: float, sy: float) -> np.ndarray:
    """cv2.resize's pixel-centre mapping: x' = (x + 0.5) * sx - 0.5."""
    return translate(-0.5, -0.5) @ scale(sx, sy) @ translate(0.5, 0.5)
