"""Detection metrics (numpy + shapely; no paddle import)."""

from det_model.metrics.det_metric import (
    DetMetric,
    DistillationMetric,
    ImageCounts,
    build_metric,
    evaluate_image,
)

__all__ = ["DetMetric", "DistillationMetric", "ImageCounts", "build_metric", "evaluate_image"]
