"""Detection on very wide or tall images (panoramas, posters) in overlapping windows, as PaddleOCR slices them.

Resized whole (limit_side_len 960, "max"), a 10000x200 panorama becomes 960x32: its words shrink below what
the detector separates and merge into one long box. When the long side exceeds both `limit_side_len` and
SLICE_ASPECT times the short side, the image is cut along its long side into windows of WINDOW_ASPECT x the
short side that overlap by half the short side, each window is detected at full resolution, and the boxes
are joined:
- a box that does not touch an inner window edge is whole; duplicates (the same word seen whole by two
  overlapping windows) are reduced to the higher-scoring one;
- a box touching an inner edge is a fragment: dropped when a whole box covers it, otherwise fragments that
  intersect (one word longer than the overlap, cut in two windows) are joined into one box.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import cv2
import numpy as np
from shapely.geometry import Polygon

from det_model.postprocess.db import Detections, order_clockwise

SLICE_ASPECT = 2.0  # slice when long side > SLICE_ASPECT * short side (and > limit_side_len)
WINDOW_ASPECT = 2.0  # window length along the long side, in short sides
EDGE_PX = 3  # a box within this distance of an inner window edge was cut by it
COVERED = 0.5  # intersection / smaller area above which two boxes are the same text


@dataclass(frozen=True)
class Window:
    x0: int
    y0: int
    x1: int  # exclusive
    y1: int


def needs_slicing(height: int, width: int, limit_side_len: int) -> bool:
    long_side, short_side = max(height, width), min(height, width)
    return long_side > limit_side_len and long_side > SLICE_ASPECT * short_side


def slice_windows(height: int, width: int) -> list[Window]:
    """Overlapping windows along the long side that cover the image (the last one ends at the border)."""
    horizontal = width >= height
    long_side, short_side = (width, height) if horizontal else (height, width)
    length = min(long_side, int(WINDOW_ASPECT * short_side))
    step = max(1, length - short_side // 2)
    starts = list(range(0, max(long_side - length, 0) + 1, step))
    if starts[-1] + length < long_side:
        starts.append(long_side - length)
    if horizontal:
        return [Window(s, 0, s + length, height) for s in starts]
    return [Window(0, s, width, s + length) for s in starts]


def _touches_inner_edge(points: np.ndarray, window: Window, hw: tuple[int, int]) -> bool:
    xs, ys = points[:, 0], points[:, 1]
    height, width = hw
    return bool((window.x0 > 0 and xs.min() <= window.x0 + EDGE_PX)
                or (window.x1 < width and xs.max() >= window.x1 - 1 - EDGE_PX)
                or (window.y0 > 0 and ys.min() <= window.y0 + EDGE_PX)
                or (window.y1 < height and ys.max() >= window.y1 - 1 - EDGE_PX))


def _covered(a: Polygon, b: Polygon) -> bool:
    smaller = min(a.area, b.area)
    return smaller > 0 and a.intersection(b).area / smaller > COVERED


def _dedupe(candidates: list[tuple[np.ndarray, float]]) -> list[tuple[np.ndarray, float]]:
    kept: list[tuple[np.ndarray, float, Polygon]] = []
    for points, score in sorted(candidates, key=lambda c: -c[1]):
        shape = Polygon(points).buffer(0)
        if not any(_covered(shape, other) for _, _, other in kept):
            kept.append((points, score, shape))
    return [(points, score) for points, score, _ in kept]


def _join_fragments(fragments: list[tuple[np.ndarray, float]]) -> list[tuple[np.ndarray, float]]:
    """Union-find over intersecting fragments; each group becomes the min-area rectangle of its points."""
    shapes = [Polygon(points).buffer(0) for points, _ in fragments]
    parent = list(range(len(fragments)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(fragments)):
        for j in range(i + 1, len(fragments)):
            if shapes[i].intersects(shapes[j]):
                parent[root(i)] = root(j)
    groups: dict[int, list[int]] = {}
    for i in range(len(fragments)):
        groups.setdefault(root(i), []).append(i)
    joined = []
    for members in groups.values():
        points = np.concatenate([fragments[i][0] for i in members]).astype(np.float32)
        rect = order_clockwise(cv2.boxPoints(cv2.minAreaRect(points)))
        joined.append((rect, max(fragments[i][1] for i in members)))
    return joined


def merge_window_detections(per_window: Sequence[tuple[Window, Detections]], hw: tuple[int, int]) -> Detections:
    """Boxes of all windows (in window pixels) -> one Detections in image pixels (see module doc)."""
    whole, fragments = [], []
    for window, detections in per_window:
        for box, score in zip(detections.boxes, detections.scores):
            points = np.asarray(box, np.float32) + np.float32([window.x0, window.y0])
            if Polygon(points).buffer(0).area < 1:  # a sliver at a window edge; the next window has the text
                continue
            (fragments if _touches_inner_edge(points, window, hw) else whole).append((points, float(score)))
    kept = _dedupe(whole)
    kept_shapes = [Polygon(points).buffer(0) for points, _ in kept]
    orphans = [f for f in fragments if not any(_covered(Polygon(f[0]).buffer(0), s) for s in kept_shapes)]
    boxes = _dedupe(kept + _join_fragments(orphans))
    height, width = hw
    upper = np.float32([width - 1, height - 1])
    boxes.sort(key=lambda b: (float(b[0][:, 1].min()), float(b[0][:, 0].min())))
    arrays = [np.clip(np.round(points), 0, upper).astype(np.int32) for points, _ in boxes]
    scores = np.asarray([score for _, score in boxes], np.float32)
    if detections_are_quads(per_window):
        return Detections(boxes=np.stack(arrays) if arrays else np.zeros((0, 4, 2), np.int32), scores=scores)
    return Detections(boxes=arrays, scores=scores)


def detections_are_quads(per_window: Sequence[tuple[Window, Detections]]) -> bool:
    return all(not isinstance(d.boxes, list) for _, d in per_window)


def detect_sliced(detect: Callable[[np.ndarray], Detections], image: np.ndarray) -> Detections:
    """Run `detect` (image -> Detections in its pixels) on every window of `image` and merge the boxes."""
    height, width = image.shape[:2]
    per_window = [(w, detect(image[w.y0:w.y1, w.x0:w.x1])) for w in slice_windows(height, width)]
    return merge_window_detections(per_window, (height, width))
