"""Paths of the repository and of the shared reference folder (`../shared` next to the checkout)."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO / ".." / "shared"
RELEASED_ONNX = SHARED / "models" / "ch_PP-OCRv3_det_infer.onnx"
SAMPLE_DIR = SHARED / "data" / "icdar2015_sample"
