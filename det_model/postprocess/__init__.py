"""DB post-processing: probability map -> text boxes (numpy, cv2, pyclipper, shapely; no paddle import)."""

from det_model.postprocess.db import (
    DBPostProcess,
    Detections,
    DistillationDBPostProcess,
    build_postprocess,
    filter_det_boxes,
)

__all__ = [
    "DBPostProcess",
    "Detections",
    "DistillationDBPostProcess",
    "build_postprocess",
    "filter_det_boxes",
]
