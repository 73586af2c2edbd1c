"""Detection precision / recall / hmean under the ICDAR2015 protocol.

PaddleOCR `ppocr/metrics/det_metric.py` (`DetMetric`), `eval_det_iou.py` (`DetectionIoUEvaluator`) and
`distillation_metric.py` (`DistillationMetric`):

- polygons that GEOS reports as invalid (self-intersecting, fewer than 3 distinct points, NaN) are dropped,
  for ground truth and detections alike, and counted;
- a detection is "don't care" when more than half of its own area lies inside some ignored (`###`) GT box;
- matching is one-to-one and greedy in GT order then detection order, on IoU > 0.5 (strict), between
  cared-for GT boxes and cared-for detections;
- precision, recall and hmean come from counts summed over all images, not from per-image averages.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import shapely

from det_model.config.schema import DetMetricConfig, DistillationMetricConfig, MetricConfig

logger = logging.getLogger(__name__)

IOU_THRESHOLD = 0.5  # DetectionIoUEvaluator.iou_constraint; matched when IoU > it
DONT_CARE_OVERLAP = 0.5  # area_precision_constraint; det ignored when overlap/own area > it

Polygons = np.ndarray | Sequence[np.ndarray]


@dataclass(frozen=True)
class ImageCounts:
    """Per-image counts: PaddleOCR's gtCare / detCare / detMatched, plus the detections given (`boxes`) and
    the invalid polygons dropped."""

    gt_care: int
    det_care: int
    det_matched: int
    boxes: int = 0
    gt_invalid: int = 0
    det_invalid: int = 0


def to_geometries(polygons: Polygons) -> tuple[np.ndarray, np.ndarray]:
    """Shapely polygons and a validity mask; anything GEOS cannot build or calls invalid is not valid."""
    geoms = np.empty(len(polygons), dtype=object)
    valid = np.zeros(len(polygons), bool)
    for index, points in enumerate(polygons):
        points = np.asarray(points, np.float64).reshape(-1, 2)
        try:
            geom = shapely.Polygon(points)
        except (ValueError, shapely.errors.GEOSException):  # fewer than 3 points
            continue
        geoms[index], valid[index] = geom, geom.is_valid
    return geoms, valid


def dont_care_detections(dets: np.ndarray, ignored_gts: np.ndarray) -> np.ndarray:
    """Bool (D,): area(det ∩ ignored GT) / area(det) > 0.5 for some ignored GT (a zero-area det gives 0)."""
    if len(dets) == 0 or len(ignored_gts) == 0:
        return np.zeros(len(dets), bool)
    overlap = shapely.area(shapely.intersection(ignored_gts[:, None], dets[None, :]))  # (G_ignored, D)
    det_area = shapely.area(dets)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(det_area > 0, overlap / np.where(det_area > 0, det_area, 1.0), 0.0)
    return (ratio > DONT_CARE_OVERLAP).any(axis=0)


def iou_matrix(gts: np.ndarray, dets: np.ndarray) -> np.ndarray:
    """(G, D) IoU = area(det ∩ gt) / area(det ∪ gt), both from GEOS overlays (not area sums)."""
    inter = shapely.area(shapely.intersection(dets[None, :], gts[:, None]))
    union = shapely.area(shapely.union(dets[None, :], gts[:, None]))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def greedy_match(iou: np.ndarray, gt_care: np.ndarray, det_care: np.ndarray) -> int:
    """Number of one-to-one matches, taking for each GT (in order) the first free det with IoU > 0.5."""
    det_free = det_care.copy()
    matched = 0
    for g in np.flatnonzero(gt_care):
        candidates = np.flatnonzero(det_free & (iou[g] > IOU_THRESHOLD))
        if len(candidates):
            det_free[candidates[0]] = False
            matched += 1
    return matched


def evaluate_image(det_polys: Polygons, gt_polys: Polygons, ignore_tags: Sequence[bool]) -> ImageCounts:
    """Counts for one image. `det_polys`/`gt_polys` are (K, P, 2) arrays or lists of (P_k, 2) arrays."""
    if len(gt_polys) != len(ignore_tags):
        raise ValueError(f"ignore_tags: {len(ignore_tags)} tags for {len(gt_polys)} ground-truth polygons")
    gt_geoms, gt_valid = to_geometries(gt_polys)
    det_geoms, det_valid = to_geometries(det_polys)
    gts, gt_ignored = gt_geoms[gt_valid], np.asarray(ignore_tags, bool).reshape(-1)[gt_valid]
    dets = det_geoms[det_valid]
    det_ignored = dont_care_detections(dets, gts[gt_ignored])
    matched = 0
    if len(gts) and len(dets):
        matched = greedy_match(iou_matrix(gts, dets), ~gt_ignored, ~det_ignored)
    return ImageCounts(
        gt_care=int((~gt_ignored).sum()),
        det_care=int((~det_ignored).sum()),
        det_matched=matched,
        boxes=len(det_polys),
        gt_invalid=int((~gt_valid).sum()),
        det_invalid=int((~det_valid).sum()),
    )


def combine(counts: Sequence[ImageCounts]) -> dict[str, float]:
    """Global precision/recall/hmean from summed counts (PaddleOCR `combine_results`), plus the sums."""
    totals = {key: sum(getattr(c, key) for c in counts) for key in ImageCounts.__dataclass_fields__}
    recall = totals["det_matched"] / totals["gt_care"] if totals["gt_care"] else 0.0
    precision = totals["det_matched"] / totals["det_care"] if totals["det_care"] else 0.0
    hmean = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "hmean": hmean, "images": len(counts), **totals}


class DetMetric:
    """Accumulates ImageCounts over `update` calls; `get_metric` returns the global result and resets."""

    def __init__(self, main_indicator: str = "hmean") -> None:
        self.main_indicator = main_indicator
        self.counts: list[ImageCounts] = []

    def update(self, pred_boxes: Polygons, gt_polys: Polygons, ignore_tags: Sequence[bool]) -> ImageCounts:
        """Add one image: detections and GT in the same (source-image) coordinates."""
        counts = evaluate_image(pred_boxes, gt_polys, ignore_tags)
        self.counts.append(counts)
        return counts

    def update_batch(
        self,
        pred_boxes: Sequence[Polygons],
        gt_polys: Sequence[Polygons],
        ignore_tags: Sequence[Sequence[bool]],
    ) -> None:
        if not len(pred_boxes) == len(gt_polys) == len(ignore_tags):
            raise ValueError(
                f"batch sizes differ: {len(pred_boxes)} predictions, {len(gt_polys)} GT, "
                f"{len(ignore_tags)} tags"
            )
        for boxes, polys, tags in zip(pred_boxes, gt_polys, ignore_tags):
            self.update(boxes, polys, tags)

    def get_metric(self) -> dict[str, float]:
        result = combine(self.counts)
        if result["gt_invalid"] or result["det_invalid"]:
            logger.warning(
                "DetMetric: dropped %d invalid ground-truth and %d invalid detected polygons over %d images",
                result["gt_invalid"],
                result["det_invalid"],
                result["images"],
            )
        self.reset()
        return result

    def reset(self) -> None:
        self.counts = []


class DistillationMetric:
    """One DetMetric per sub-model; `key`'s results unprefixed, the others as "{name}_{metric}"."""

    def __init__(self, key: str = "Student", main_indicator: str = "hmean") -> None:
        self.key = key
        self.main_indicator = main_indicator
        self.metrics: dict[str, DetMetric] = {}

    def update(
        self, pred_boxes: Mapping[str, Polygons], gt_polys: Polygons, ignore_tags: Sequence[bool]
    ) -> None:
        for name, boxes in pred_boxes.items():
            self.metrics.setdefault(name, DetMetric(self.main_indicator)).update(boxes, gt_polys, ignore_tags)

    def update_batch(
        self,
        pred_boxes: Mapping[str, Sequence[Polygons]],
        gt_polys: Sequence[Polygons],
        ignore_tags: Sequence[Sequence[bool]],
    ) -> None:
        for name, boxes in pred_boxes.items():
            self.metrics.setdefault(name, DetMetric(self.main_indicator)).update_batch(
                boxes, gt_polys, ignore_tags
            )

    def get_metric(self) -> dict[str, float]:
        if self.metrics and self.key not in self.metrics:
            raise ValueError(
                f"Metric.key: {self.key!r} is not among the evaluated models {sorted(self.metrics)}"
            )
        output: dict[str, float] = {}
        for name, metric in self.metrics.items():
            result = metric.get_metric()
            if name == self.key:
                output.update(result)
            else:
                output.update({f"{name}_{k}": v for k, v in result.items()})
        return output

    def reset(self) -> None:
        for metric in self.metrics.values():
            metric.reset()


def build_metric(cfg: MetricConfig) -> DetMetric | DistillationMetric:
    if isinstance(cfg, DetMetricConfig):
        return DetMetric(cfg.main_indicator)
    if isinstance(cfg, DistillationMetricConfig):
        if cfg.base_metric_name != "DetMetric":
            raise ValueError(f"Metric.base_metric_name: unknown {cfg.base_metric_name!r}; known: DetMetric")
        return DistillationMetric(cfg.key, cfg.main_indicator)
    raise ValueError(
        f"Metric.name: unknown {getattr(cfg, 'name', cfg)!r}; known: DetMetric, DistillationMetric"
    )


__all__ = [
    "DetMetric",
    "DistillationMetric",
    "ImageCounts",
    "build_metric",
    "combine",
    "evaluate_image",
]
