"""PP-OCRv3 detection networks (DB with MobileNetV3/RSEFPN student and ResNet_vd/LKPAN teacher)."""

from det_model.modeling.build import build_detector, build_model
from det_model.modeling.detector import DBDetector, DistillationModel
from det_model.modeling.heads.db_head import DBMaps
from det_model.modeling.weights import (
    LoadReport,
    apply_params,
    extract_prefix,
    load_params_file,
    load_weights,
)

__all__ = [
    "DBDetector",
    "DBMaps",
    "DistillationModel",
    "LoadReport",
    "apply_params",
    "build_detector",
    "build_model",
    "extract_prefix",
    "load_params_file",
    "load_weights",
]
