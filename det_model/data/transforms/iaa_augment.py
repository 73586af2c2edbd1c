"""PaddleOCR `IaaAugment` (ppocr/data/imaug/iaa_augment.py) without imgaug (unmaintained, broken on numpy 2).

The augmenters follow imgaug's semantics:
- `Fliplr(p)`: mirror left-right with probability p (image column i -> W-1-i, keypoint x -> W - x);
- `Affine(rotate=(a, b))`: angle ~ U[a, b] degrees about the image centre (W/2 - 0.5, H/2 - 0.5), same output
  size, constant 0 border (corners are cut);
- `Resize(size=(a, b))`: ONE factor v ~ U[a, b] for both axes, new size round(H v) x round(W v); keypoints are
  scaled by new/old size, pixels with cv2.resize's pixel-centre mapping.
Instead of resampling three times, the steps are composed into one affine matrix that is applied later in a
single bilinear warp (see warp.py); polygons are transformed with the keypoint version of the same matrices.
"""

from __future__ import annotations

import math
from typing import Any, Sequence, Union

import numpy as np

from det_model.config.schema import AffineConfig, AugmenterConfig, FliplrConfig, ResizeConfig
from det_model.data.transforms.warp import apply_to_points, defer_affine, image_hw, pixel_resize, scale, translate

_AUGMENTER_NAMES = {"Fliplr": FliplrConfig, "Affine": AffineConfig, "Resize": ResizeConfig}

# (image matrix, keypoint matrix, new (h, w)) for one step
Step = tuple[np.ndarray, np.ndarray, tuple[int, int]]


def _as_config(arg: Union[AugmenterConfig, dict[str, Any]]) -> AugmenterConfig:
    if not isinstance(arg, dict):
        return arg
    name = arg.get("type")
    if name not in _AUGMENTER_NAMES:
        raise ValueError(f"IaaAugment: unknown augmenter {name!r}; known: {sorted(_AUGMENTER_NAMES)}")
    args = {k: tuple(v) if isinstance(v, list) else v for k, v in (arg.get("args") or {}).items()}
    return _AUGMENTER_NAMES[name](**args)


def _flip(cfg: FliplrConfig, rng: np.random.Generator, h: int, w: int) -> Step:
    if rng.random() >= cfg.p:
        return np.eye(3), np.eye(3), (h, w)
    image = np.array([[-1.0, 0.0, w - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    points = np.array([[-1.0, 0.0, float(w)], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    return image, points, (h, w)


def _rotate(cfg: AffineConfig, rng: np.random.Generator, h: int, w: int) -> Step:
    angle = math.radians(rng.uniform(cfg.rotate[0], cfg.rotate[1]))
    cos, sin = math.cos(angle), math.sin(angle)
    cx, cy = w / 2.0 - 0.5, h / 2.0 - 0.5
    rotation = np.array([[cos, -sin, 0.0], [sin, cos, 0.0], [0.0, 0.0, 1.0]])
    matrix = translate(cx, cy) @ rotation @ translate(-cx, -cy)
    return matrix, matrix, (h, w)


def _resize(cfg: ResizeConfig, rng: np.random.Generator, h: int, w: int) -> Step:
    factor = rng.uniform(cfg.size[0], cfg.size[1])
    new_h, new_w = max(int(round(h * factor)), 1), max(int(round(w * factor)), 1)
    sx, sy = new_w / w, new_h / h
    return pixel_resize(sx, sy), scale(sx, sy), (new_h, new_w)


_STEPS = {FliplrConfig: _flip, AffineConfig: _rotate, ResizeConfig: _resize}


class IaaAugment:
    """`augmenter_args`: config dataclasses or PaddleOCR's `[{"type": "Fliplr", "args": {"p": 0.5}}, ...]`."""

    def __init__(self, augmenter_args: Sequence[Union[AugmenterConfig, dict[str, Any]]] = (
            FliplrConfig(), AffineConfig(), ResizeConfig())) -> None:
        self.augmenters = tuple(_as_config(a) for a in augmenter_args)
        for aug in self.augmenters:
            if type(aug) not in _STEPS:
                raise ValueError(f"IaaAugment: unsupported augmenter {aug!r}; known: {sorted(_AUGMENTER_NAMES)}")

    def __call__(self, sample: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        h, w = image_hw(sample)
        image_matrix, point_matrix = np.eye(3), np.eye(3)
        for aug in self.augmenters:
            step_image, step_points, (h, w) = _STEPS[type(aug)](aug, rng, h, w)
            image_matrix = step_image @ image_matrix
            point_matrix = step_points @ point_matrix
        defer_affine(sample, image_matrix, (h, w))
        sample["polys"] = apply_to_points(point_matrix, sample["polys"])
        return sample
