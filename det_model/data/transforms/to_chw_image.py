"""PaddleOCR `ToCHWImage`: H x W x C -> C x H x W (a view; the collate copies it into the batch)."""

from __future__ import annotations

from typing import Any

import numpy as np

from det_model.data.transforms.warp import materialize_image


class ToCHWImage:
    def __call__(self, sample: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        sample["image"] = materialize_image(sample).transpose((2, 0, 1))
        return sample
