"""PaddleOCR `MakeBorderMap` (ppocr/data/imaug/make_border_map.py): the DB threshold target.

For each care polygon G with offset D = A (1 - r^2) / L (DB paper eq. 1), the padded polygon G_d (G grown by
D) is filled into `threshold_mask`, and inside its bounding box the canvas holds 1 - min(dist / D, 1) where
dist is DBNet's point-to-edge distance (quirk kept: the triangle height, replaced by the nearer endpoint's
distance where the angle at the pixel is acute). `threshold_map = canvas (thresh_max - thresh_min) + thresh_min`.

Distances are computed in float64 from the float32 polygon, as PaddleOCR does (its pixel grid comes from
np.linspace, float64; only the squared edge length stays float32): a pixel lying exactly on an edge can give
a tiny negative sin^2 and a NaN distance, and such a pixel keeps its previous canvas value (np.fmax skips NaN)
at the same pixels as in PaddleOCR; in float32 those pixels differ. Each edge's distance / D is clipped and stored in float32 as PaddleOCR's distance_map, so
the threshold map is the same bit for bit (tests/data/test_data_targets.py checks it against a per-edge
float64 reference on polygons with pixels on their edges).

Differences from PaddleOCR: distances of all edges are computed at once and only over the part of the box
inside the image (same values); an empty pyclipper result (degenerate or self-touching polygon, PaddleOCR's
IndexError) marks the polygon ignored and counts it; repeated consecutive points are dropped first (a
zero-length edge gives NaN at its own pixel in PaddleOCR).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from det_model.data import skips
from det_model.data.geometry import dedupe_consecutive, offset_polygon, shrink_distance
from det_model.data.skips import SkipRecord
from det_model.data.transforms.warp import image_hw


def edge_distances(xs: np.ndarray, ys: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """DBNet's `_distance` for E edges at once: xs (1, 1, W), ys (1, H, 1), starts/ends (E, 2) -> (E, H, W).

    With MakeBorderMap's float64 grid and float32 polygon this is PaddleOCR's precision exactly: distances to
    the pixels in float64, the squared edge length in float32 (the polygon's dtype)."""
    x1, y1 = starts[:, 0, None, None], starts[:, 1, None, None]
    x2, y2 = ends[:, 0, None, None], ends[:, 1, None, None]
    d1 = np.square(xs - x1) + np.square(ys - y1)
    d2 = np.square(xs - x2) + np.square(ys - y2)
    edge = np.square(x1 - x2) + np.square(y1 - y2)
    with np.errstate(divide="ignore", invalid="ignore"):
        product = d1 * d2
        cosin = (edge - d1 - d2) / (2.0 * np.sqrt(product))
        square_sin = np.nan_to_num(1.0 - np.square(cosin))
        height = np.sqrt(product * square_sin / edge)
    return np.where(cosin < 0, np.sqrt(np.minimum(d1, d2)), height)


def draw_border(poly: np.ndarray, distance: float, padded: np.ndarray, canvas: np.ndarray) -> None:
    """Write 1 - clip(dist / distance, 0, 1) into `canvas` (fmax) over padded's bbox ∩ canvas."""
    h, w = canvas.shape
    xmin, ymin = padded.min(axis=0)
    xmax, ymax = padded.max(axis=0)
    x0, x1 = max(int(xmin), 0), min(int(xmax), w - 1)
    y0, y1 = max(int(ymin), 0), min(int(ymax), h - 1)
    if x0 > x1 or y0 > y1:
        return
    # Pixel coordinates relative to the padded bbox, float64 as PaddleOCR's linspace grid; the polygon relative
    # to it is rounded to float32 first (PaddleOCR writes it back into the float32 polygon array).
    xs = np.arange(x0 - xmin, x1 - xmin + 1, dtype=np.float64)[None, None, :]
    ys = np.arange(y0 - ymin, y1 - ymin + 1, dtype=np.float64)[None, :, None]
    rel = (poly - np.float32([xmin, ymin])).astype(np.float32)
    dist = edge_distances(xs, ys, rel, np.roll(rel, -1, axis=0)).min(axis=0)  # NaN on an edge propagates
    dist = np.clip(dist / float(distance), 0.0, 1.0).astype(np.float32)
    region = canvas[y0: y1 + 1, x0: x1 + 1]
    np.fmax(1.0 - dist, region, out=region)


class MakeBorderMap:
    def __init__(self, shrink_ratio: float = 0.4, thresh_min: float = 0.3, thresh_max: float = 0.7) -> None:
        self.shrink_ratio = shrink_ratio
        self.thresh_min = thresh_min
        self.thresh_max = thresh_max

    def __call__(self, sample: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        h, w = image_hw(sample)
        canvas = np.zeros((h, w), dtype=np.float32)
        mask = np.zeros((h, w), dtype=np.float32)
        tags = np.array(sample["ignore_tags"], dtype=bool)
        for i, poly in enumerate(sample["polys"]):
            if tags[i]:
                continue
            ring = dedupe_consecutive(poly.astype(np.float32))
            if len(ring) < 3:
                continue
            distance, area = shrink_distance(ring, self.shrink_ratio)
            if area <= 0:
                continue
            grown = offset_polygon(ring, distance)
            if not grown:
                tags[i] = True
                sample.setdefault("skips", []).append(SkipRecord(
                    skips.BOX_OFFSET_EMPTY, str(sample.get("img_path", "?")), f"box {i}: empty offset polygon"))
                continue
            cv2.fillPoly(mask, [grown[0].astype(np.int32)], 1.0)
            draw_border(ring, distance, grown[0], canvas)
        sample["threshold_map"] = canvas * (self.thresh_max - self.thresh_min) + self.thresh_min
        sample["threshold_mask"] = mask
        sample["ignore_tags"] = tags
        return sample
