"""`det-model extract-params`: one sub-model's weights out of a distillation checkpoint.

The documented PaddleOCR step between the recipes: keep the `Student.` keys of the DML checkpoint, strip the
prefix, and save `dml_teacher.pdparams` for the CML teacher.
"""

from __future__ import annotations

import logging
from pathlib import Path

from det_model.modeling.weights import extract_prefix, load_params_file, save_params

logger = logging.getLogger(__name__)


def extract_params(src: str | Path, dst: str | Path, prefix: str = "Student") -> Path:
    params = extract_prefix(load_params_file(src), prefix)
    written = save_params(params, dst)
    logger.info("extracted %d %s.* tensors from %s into %s", len(params), prefix, src, written)
    return written
