"""DB post-processing: probability map -> text boxes in source-image coordinates.

DB paper (Liao et al., "Real-time Scene Text Detection with Differentiable Binarization", 2020) §3.5 and
PaddleOCR's `ppocr/postprocess/db_postprocess.py` (`DBPostProcess`, `DistillationDBPostProcess`) and
`tools/infer/predict_det.py` (`filter_tag_det_res`). The boxes are identical to PaddleOCR's on the same maps;
the per-pixel work (binarisation) and the per-box bookkeeping are vectorised, and only the calls that define
the result (findContours, minAreaRect, boxPoints, fillPoly + mean, clipper offset) stay per contour.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
import pyclipper
import shapely

from det_model.config.schema import DBPostProcessConfig, DistillationDBPostProcessConfig, PostProcessConfig

# PaddleOCR's `min_size`: candidates whose minimum-area rectangle is thinner than this are dropped before
# unclipping, and thinner than MIN_SIZE + 2 after.
MIN_SIZE = 3
BOX_TYPES = ("quad", "poly")
SCORE_MODES = ("fast", "slow")

Boxes = np.ndarray | list


@dataclass(frozen=True)
class Detections:
    """Text boxes of one image, in source-image pixels.

    Attributes:
        boxes: quad mode: int32 (K, 4, 2) as [top-left, top-right, bottom-right, bottom-left] (x, y);
            poly mode: a list of K int32 (P_k, 2) polygons.
        scores: float32 (K,) mean probability inside each box before unclipping.
    """

    boxes: Boxes
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)


# ------------------------------------------------------------------------------------- geometry helpers


def mini_boxes(rects: Sequence[tuple]) -> tuple[np.ndarray, np.ndarray]:
    """Corners of cv2.minAreaRect results as [tl, tr, br, bl] (PaddleOCR `get_mini_boxes`).

    Points are sorted by x (stable); of the two left ones the smaller y is top-left, of the two right ones
    the smaller y is top-right (ties go to the later point, as in PaddleOCR).

    Returns:
        boxes float32 (K, 4, 2) and short sides float64 (K,) = min(rect width, rect height).
    """
    if not rects:
        return np.zeros((0, 4, 2), np.float32), np.zeros((0,), np.float64)
    # Plain Python per box: with a handful of boxes per image, numpy's per-call overhead dominates.
    boxes = []
    for rect in rects:
        a, b, c, d = sorted(cv2.boxPoints(rect).tolist(), key=lambda p: p[0])  # stable, like PaddleOCR's
        top_left, bottom_left = (a, b) if b[1] > a[1] else (b, a)
        top_right, bottom_right = (c, d) if d[1] > c[1] else (d, c)
        boxes.append((top_left, top_right, bottom_right, bottom_left))
    short_sides = np.array([min(rect[1]) for rect in rects], np.float64)
    return np.array(boxes, np.float32), short_sides


def mean_inside(prob: np.ndarray, polygon: np.ndarray) -> float:
    """Mean of `prob` (H, W) over the filled polygon, evaluated on its clipped integer bounding box.

    PaddleOCR `box_score_fast` (float corners) / `box_score_slow` (integer contour): the bbox is
    floor/ceil of the corners clipped to the map, the polygon is shifted and truncated to int32.
    """
    height, width = prob.shape
    # Python scalars: four numpy reductions on a 4-point array cost more than the work they do.
    xs, ys = polygon[:, 0].tolist(), polygon[:, 1].tolist()
    x0 = min(max(math.floor(min(xs)), 0), width - 1)
    x1 = min(max(math.ceil(max(xs)), 0), width - 1)
    y0 = min(max(math.floor(min(ys)), 0), height - 1)
    y1 = min(max(math.ceil(max(ys)), 0), height - 1)
    local = (polygon - np.array([x0, y0], np.int32)).astype(np.int32)
    mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), np.uint8)
    cv2.fillPoly(mask, local[None], 1)
    return cv2.mean(prob[y0 : y1 + 1, x0 : x1 + 1], mask)[0]


def unclip_distances(polygons: Sequence[np.ndarray], unclip_ratio: float) -> np.ndarray:
    """Offset distance D = A * r / L per polygon (DB paper eq. 10 with r = unclip_ratio), via GEOS."""
    if isinstance(polygons, np.ndarray):
        geoms = shapely.polygons(polygons)
    else:
        geoms = np.array([shapely.Polygon(p) for p in polygons], dtype=object)
    return shapely.area(geoms) * unclip_ratio / shapely.length(geoms)


def unclip(polygon: np.ndarray, distance: float) -> list:
    """Expand a polygon by `distance` with round joins (pyclipper); returns clipper's list of paths."""
    offset = pyclipper.PyclipperOffset()
    offset.AddPath(polygon, pyclipper.JT_ROUND, pyclipper.ET_CLOSEDPOLYGON)
    return offset.Execute(float(distance))


def to_source_coords(points: np.ndarray, map_hw: tuple[int, int], src_w, src_h) -> None:
    """In place: map-pixel (x, y) -> source pixels, rounded (half to even) and clipped to [0, src]."""
    height, width = map_hw
    points[..., 0] = np.clip(np.round(points[..., 0] / width * src_w), 0, src_w)
    points[..., 1] = np.clip(np.round(points[..., 1] / height * src_h), 0, src_h)


# ---------------------------------------------------------------------------------------- DBPostProcess


class DBPostProcess:
    """Binarise the shrink-probability map and expand each kernel back to a text box.

    Args:
        thresh: pixel threshold on P (strict `P > thresh`).
        box_thresh: minimum mean P inside a candidate (a score equal to it is kept).
        max_candidates: only the first this many contours (cv2 order) are considered.
        unclip_ratio: r in D = A * r / L (DB paper eq. 10).
        use_dilation: dilate the bitmap with a 2x2 kernel before finding contours.
        score_mode: "fast" = mean inside the minimum-area box, "slow" = inside the raw contour.
        box_type: "quad" = rotated rectangles, "poly" = polygons (score is always "fast" for poly).
    """

    def __init__(
        self,
        thresh: float = 0.3,
        box_thresh: float = 0.7,
        max_candidates: int = 1000,
        unclip_ratio: float = 2.0,
        use_dilation: bool = False,
        score_mode: Literal["fast", "slow"] = "fast",
        box_type: Literal["quad", "poly"] = "quad",
    ) -> None:
        if score_mode not in SCORE_MODES:
            raise ValueError(
                f"PostProcess.score_mode: unknown {score_mode!r}; known: {', '.join(SCORE_MODES)}"
            )
        if box_type not in BOX_TYPES:
            raise ValueError(f"PostProcess.box_type: unknown {box_type!r}; known: {', '.join(BOX_TYPES)}")
        self.thresh = thresh
        self.box_thresh = box_thresh
        self.max_candidates = max_candidates
        self.unclip_ratio = unclip_ratio
        self.use_dilation = use_dilation
        self.score_mode = score_mode
        self.box_type = box_type

    def __call__(self, prob_maps: np.ndarray, shapes: np.ndarray) -> list[Detections]:
        """Decode a batch.

        Args:
            prob_maps: (N, 1, H, W) or (N, H, W) probabilities P.
            shapes: (N, 4) rows of (src_h, src_w, ratio_h, ratio_w); only src_h/src_w are used (the map is
                scaled to the source size directly, as PaddleOCR does).
        """
        prob_maps = np.asarray(prob_maps)
        if prob_maps.ndim == 4:
            prob_maps = prob_maps[:, 0]
        if prob_maps.ndim != 3:
            raise ValueError(f"prob_maps: expected (N, 1, H, W) or (N, H, W), got shape {prob_maps.shape}")
        if len(shapes) != len(prob_maps):
            raise ValueError(f"shapes: {len(shapes)} rows for {len(prob_maps)} maps")
        return [self.decode_one(prob_maps[i], shapes[i][0], shapes[i][1]) for i in range(len(prob_maps))]

    def decode_one(self, prob: np.ndarray, src_h, src_w) -> Detections:
        """Boxes of one (H, W) map, in a source image of src_h x src_w pixels."""
        prob = np.ascontiguousarray(prob)
        bitmap = self.binarize(prob)
        contours, _ = cv2.findContours(bitmap, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        contours = contours[: self.max_candidates]
        if self.box_type == "quad":
            return self.quads_from_contours(prob, contours, src_h, src_w)
        return self.polygons_from_contours(prob, contours, src_h, src_w)

    def binarize(self, prob: np.ndarray) -> np.ndarray:
        """uint8 {0, 1} bitmap of `prob > thresh` (findContours treats any non-zero pixel as foreground).

        The bool result is reinterpreted as uint8 in place: no multiply and no copy.
        """
        bitmap = (prob > self.thresh).view(np.uint8)
        if self.use_dilation:
            bitmap = cv2.dilate(bitmap, np.ones((2, 2), np.uint8))
        return bitmap

    def quads_from_contours(
        self, prob: np.ndarray, contours: Sequence[np.ndarray], src_h, src_w
    ) -> Detections:
        """PaddleOCR `boxes_from_bitmap`: min-area box -> score -> unclip -> min-area box -> scale."""
        rects = [cv2.minAreaRect(c) for c in contours]
        # Most contours of a real map are specks: drop them before computing their corners.
        keep = np.flatnonzero([min(rect[1]) >= MIN_SIZE for rect in rects]).astype(np.int64)
        boxes, _ = mini_boxes([rects[i] for i in keep])
        if self.score_mode == "fast":
            scores = np.array([mean_inside(prob, box) for box in boxes], np.float64)
        else:
            scores = np.array([mean_inside(prob, contours[i].reshape(-1, 2)) for i in keep], np.float64)
        passed = scores >= self.box_thresh
        keep, scores, boxes = keep[passed], scores[passed], boxes[passed]

        distances = unclip_distances(boxes, self.unclip_ratio) if len(keep) else []
        rects, kept_scores = [], []
        for box, distance, score in zip(boxes, distances, scores):
            paths = unclip(box, distance)
            if len(paths) != 1:  # a convex box always expands to one path; guard anyway
                continue
            rects.append(cv2.minAreaRect(np.asarray(paths[0]).reshape(-1, 1, 2)))
            kept_scores.append(score)
        expanded, short_sides = mini_boxes(rects)
        big = short_sides >= MIN_SIZE + 2
        expanded = expanded[big]
        to_source_coords(expanded, prob.shape, src_w, src_h)
        return Detections(boxes=expanded.astype(np.int32), scores=np.array(kept_scores, np.float32)[big])

    def polygons_from_contours(
        self, prob: np.ndarray, contours: Sequence[np.ndarray], src_h, src_w
    ) -> Detections:
        """PaddleOCR `polygons_from_bitmap`: approxPolyDP (eps = 0.002 * perimeter) -> score -> unclip."""
        polygons, scores = [], []
        for contour in contours:
            approx = cv2.approxPolyDP(contour, 0.002 * cv2.arcLength(contour, True), True).reshape(-1, 2)
            if len(approx) < 4:
                continue
            score = mean_inside(prob, approx)
            if score < self.box_thresh:
                continue
            paths = unclip(approx, unclip_distances([approx], self.unclip_ratio)[0])
            if len(paths) != 1:
                continue
            polygon = np.asarray(paths[0])  # int64 (P, 2)
            _, short_side = mini_boxes([cv2.minAreaRect(polygon.reshape(-1, 1, 2))])
            if short_side[0] < MIN_SIZE + 2:
                continue
            to_source_coords(polygon, prob.shape, src_w, src_h)
            polygons.append(polygon.astype(np.int32))
            scores.append(score)
        return Detections(boxes=polygons, scores=np.array(scores, np.float32))


class DistillationDBPostProcess:
    """PaddleOCR `DistillationDBPostProcess`: one DBPostProcess applied to each named sub-model's map."""

    def __init__(self, model_name: Sequence[str], postprocess: DBPostProcess) -> None:
        self.model_name = tuple(model_name)
        self.postprocess = postprocess

    def __call__(
        self, prob_maps: Mapping[str, np.ndarray], shapes: np.ndarray
    ) -> dict[str, list[Detections]]:
        missing = [name for name in self.model_name if name not in prob_maps]
        if missing:
            raise ValueError(f"PostProcess.model_name: {missing} not in model outputs {sorted(prob_maps)}")
        return {name: self.postprocess(prob_maps[name], shapes) for name in self.model_name}


def build_postprocess(cfg: PostProcessConfig) -> DBPostProcess | DistillationDBPostProcess:
    """Config -> post-processor (the Distillation variant returns a dict per sub-model)."""
    if isinstance(cfg, (DBPostProcessConfig, DistillationDBPostProcessConfig)):
        single = DBPostProcess(
            thresh=cfg.thresh,
            box_thresh=cfg.box_thresh,
            max_candidates=cfg.max_candidates,
            unclip_ratio=cfg.unclip_ratio,
            use_dilation=cfg.use_dilation,
            score_mode=cfg.score_mode,
            box_type=cfg.box_type,
        )
        if isinstance(cfg, DistillationDBPostProcessConfig):
            return DistillationDBPostProcess(cfg.model_name, single)
        return single
    raise ValueError(
        f"PostProcess.name: unknown {getattr(cfg, 'name', cfg)!r}; "
        "known: DBPostProcess, DistillationDBPostProcess"
    )


# ------------------------------------------------------------------------------- inference-side filter


def order_clockwise(box: np.ndarray) -> np.ndarray:
    """[tl, tr, br, bl] by x+y (min = tl, max = br) and y-x of the other two (min = tr, max = bl).

    PaddleOCR `TextDetector.order_points_clockwise`; returns float32 (4, 2).
    """
    sums = box.sum(axis=1)
    first, last = int(np.argmin(sums)), int(np.argmax(sums))
    rest = np.delete(box, (first, last), axis=0)
    diffs = np.diff(rest, axis=1)
    ordered = np.empty((4, 2), np.float32)
    ordered[0], ordered[2] = box[first], box[last]
    ordered[1], ordered[3] = rest[np.argmin(diffs)], rest[np.argmax(diffs)]
    return ordered


def filter_det_boxes(detections: Detections, image_hw: tuple[int, int]) -> Detections:
    """PaddleOCR `filter_tag_det_res` (quad) / `filter_tag_det_res_only_clip` (poly list).

    Quads are put in clockwise order, clipped to [0, w-1] x [0, h-1] and dropped when an integer side
    (tl-tr or tl-bl) is <= 3 px. Polygons are only clipped.
    """
    height, width = image_hw
    upper = np.array([width - 1, height - 1], np.float32)
    if isinstance(detections.boxes, list):
        clipped = [np.clip(p, 0, upper).astype(np.int32) for p in detections.boxes]
        return Detections(boxes=clipped, scores=detections.scores)
    kept_boxes, kept = [], []
    for index, box in enumerate(detections.boxes):
        ordered = np.clip(order_clockwise(np.asarray(box)), 0, upper).astype(np.int32).astype(np.float32)
        side_w = int(np.linalg.norm(ordered[0] - ordered[1]))
        side_h = int(np.linalg.norm(ordered[0] - ordered[3]))
        if side_w <= 3 or side_h <= 3:
            continue
        kept_boxes.append(ordered.astype(np.int32))
        kept.append(index)
    boxes = np.stack(kept_boxes) if kept_boxes else np.zeros((0, 4, 2), np.int32)
    return Detections(boxes=boxes, scores=np.asarray(detections.scores)[kept])
