"""PaddleOCR `KeepKeys`: keep only the listed fields. Returns a dict (named batch fields), not a list."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from det_model.data.transforms.warp import materialize_image


class KeepKeys:
    def __init__(self, keep_keys: Sequence[str] = ()) -> None:
        self.keep_keys = tuple(keep_keys)

    def __call__(self, sample: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        missing = [k for k in self.keep_keys if k not in sample]
        if missing:
            raise KeyError(f"KeepKeys: sample has no {missing}; available: {sorted(sample)}")
        if "image" in self.keep_keys:
            materialize_image(sample)
        return {k: sample[k] for k in self.keep_keys}
