"""Polygon helpers shared by the label checks and the DB target makers (numpy, shapely, pyclipper)."""

from __future__ import annotations

from typing import Optional

import numpy as np
import pyclipper
from shapely.geometry import Polygon

from det_model.data import skips


def paddle_signed_area(poly: np.ndarray) -> float:
    """Trapezoid-rule signed area as PaddleOCR's MakeShrinkMap.polygon_area computes it:
    sum((x[i+1] - x[i]) * (y[i+1] + y[i])) / 2. Positive for counter-clockwise order in image coordinates."""
    nxt = np.roll(poly, -1, axis=0)
    return float(np.sum((nxt[:, 0] - poly[:, 0]) * (nxt[:, 1] + poly[:, 1])) / 2.0)


def is_poly_outside_rect(poly: np.ndarray, x: float, y: float, w: float, h: float) -> bool:
    """True when the polygon's bounding box does not touch the rectangle [x, x + w] x [y, y + h]
    (PaddleOCR random_crop_data.is_poly_outside_rect)."""
    poly = np.asarray(poly)
    if poly[:, 0].max() < x or poly[:, 0].min() > x + w:
        return True
    return bool(poly[:, 1].max() < y or poly[:, 1].min() > y + h)


def offset_polygon(poly: np.ndarray, distance: float) -> list[np.ndarray]:
    """Offset a closed polygon by `distance` (> 0 grows, < 0 shrinks) with round joins, as DB's label
    generation does (Vatti clipping via pyclipper; pyclipper truncates coordinates to integers).
    Returns the resulting polygons ([] when the offset removes everything)."""
    offset = pyclipper.PyclipperOffset()
    try:
        offset.AddPath([tuple(p) for p in poly], pyclipper.JT_ROUND, pyclipper.ET_CLOSEDPOLYGON)
        result = offset.Execute(distance)
    except pyclipper.ClipperException:
        return []
    return [np.asarray(path, dtype=np.int64).reshape(-1, 2) for path in result if len(path) >= 3]


def dedupe_consecutive(poly: np.ndarray) -> np.ndarray:
    """Drop points equal to their predecessor (including the repeats DetLabelEncode pads with)."""
    keep = np.ones(len(poly), dtype=bool)
    keep[1:] = np.any(poly[1:] != poly[:-1], axis=1)
    out = poly[keep]
    if len(out) > 1 and np.all(out[0] == out[-1]):
        out = out[:-1]
    return out


def shrink_distance(poly: np.ndarray, ratio: float) -> tuple[float, float]:
    """DB paper eq. 1 offset D = A (1 - r^2) / L for a polygon; returns (D, area). D is 0 for zero area."""
    shape = Polygon(poly)
    area, length = shape.area, shape.length
    if area <= 0 or length <= 0:
        return 0.0, float(area)
    return float(area * (1.0 - ratio * ratio) / length), float(area)


def polygon_defect(poly: np.ndarray) -> Optional[str]:
    """`skips.BOX_DEGENERATE` for zero area, `skips.BOX_SELF_INTERSECTING` for a self-intersecting ring,
    None for a usable polygon. Such polygons crash PaddleOCR's MakeBorderMap (empty pyclipper result)."""
    ring = dedupe_consecutive(np.asarray(poly, dtype=np.float64))
    if len(ring) < 3:
        return skips.BOX_DEGENERATE
    shape = Polygon(ring)
    if shape.area <= 0:
        return skips.BOX_DEGENERATE
    if not shape.is_valid:
        return skips.BOX_SELF_INTERSECTING
    return None
