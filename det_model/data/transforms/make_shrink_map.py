"""PaddleOCR `MakeShrinkMap` (ppocr/data/imaug/make_shrink_map.py): the DB probability target.

Polygons are clipped to the image IN PLACE (so `polys` changes, as in PaddleOCR), those with |area| < 1 become
ignored, and positively oriented ones are reversed. Ignored polygons and those whose bbox is thinner than
`min_text_size` are zeroed in `shrink_mask`. Others are shrunk by D = A (1 - r^2) / L for r in
arange(shrink_ratio, 1, shrink_ratio) (= [0.4, 0.8]) until pyclipper returns exactly one polygon; every
returned polygon is filled into `shrink_map`. An empty result zeroes the mask and marks the polygon ignored.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from det_model.data.geometry import offset_polygon, paddle_signed_area, shrink_distance
from det_model.data.transforms.warp import image_hw


class MakeShrinkMap:
    def __init__(self, shrink_ratio: float = 0.4, min_text_size: int = 8) -> None:
        self.shrink_ratio = shrink_ratio
        self.min_text_size = min_text_size

    def validate_polygons(self, polys: np.ndarray, tags: np.ndarray, h: int, w: int) -> None:
        polys[:, :, 0] = np.clip(polys[:, :, 0], 0, w - 1)
        polys[:, :, 1] = np.clip(polys[:, :, 1], 0, h - 1)
        for i in range(len(polys)):
            area = paddle_signed_area(polys[i])
            if abs(area) < 1:
                tags[i] = True
            if area > 0:
                polys[i] = polys[i][::-1].copy()

    def shrink(self, poly: np.ndarray) -> list[np.ndarray]:
        shrunk: list[np.ndarray] = []
        for ratio in np.arange(self.shrink_ratio, 1, self.shrink_ratio):
            distance, _ = shrink_distance(poly, float(ratio))
            shrunk = offset_polygon(poly, -distance)
            if len(shrunk) == 1:
                break
        return shrunk

    def __call__(self, sample: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        h, w = image_hw(sample)
        polys = np.array(sample["polys"], dtype=np.float32)
        tags = np.array(sample["ignore_tags"], dtype=bool)
        self.validate_polygons(polys, tags, h, w)
        gt = np.zeros((h, w), dtype=np.float32)
        mask = np.ones((h, w), dtype=np.float32)
        for i, poly in enumerate(polys):
            extent = poly.max(axis=0) - poly.min(axis=0)
            shrunk = [] if tags[i] or extent.min() < self.min_text_size else self.shrink(poly)
            if not shrunk:
                cv2.fillPoly(mask, [poly.astype(np.int32)], 0.0)
                tags[i] = True
                continue
            for piece in shrunk:  # one call per polygon: overlapping pieces must not cancel out
                cv2.fillPoly(gt, [piece.astype(np.int32)], 1.0)
        sample.update(polys=polys, ignore_tags=tags, shrink_map=gt, shrink_mask=mask)
        return sample
