"""A hint for crops that never contain text: `loss_shrink_maps` stays 0 and nothing is learnt, silently."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

PATIENCE = 20  # consecutive batches without a text pixel before warning


def has_text_target(batch: dict[str, Any]) -> bool:
    """True when some shrink-map pixel is text and scored (shrink_mask 1); True when the batch has no maps."""
    if "shrink_map" not in batch or "shrink_mask" not in batch:
        return True
    shrink = np.asarray(batch["shrink_map"].numpy() if hasattr(batch["shrink_map"], "numpy") else batch["shrink_map"])
    mask = np.asarray(batch["shrink_mask"].numpy() if hasattr(batch["shrink_mask"], "numpy") else batch["shrink_mask"])
    return bool(np.any((shrink > 0) & (mask > 0)))


class EmptyTargetWatch:
    """Counts consecutive batches whose shrink maps hold no scored text pixel; warns once per streak."""

    def __init__(self, crop_hint: str, patience: int = PATIENCE) -> None:
        self.crop_hint, self.patience = crop_hint, patience
        self.streak = 0

    def observe(self, batch: dict[str, Any], global_step: int) -> bool:
        """Returns True when it warned at this batch."""
        self.streak = 0 if has_text_target(batch) else self.streak + 1
        if self.streak != self.patience:
            return False
        logger.warning(
            "the last %d batches (up to global step %d) had no scored text pixel in their shrink maps, so "
            "loss_shrink_maps is 0 and the detector learns nothing: the crops miss the text or shrink it below "
            "MakeShrinkMap.min_text_size. %s", self.patience, global_step, self.crop_hint)
        return True


def crop_hint(transforms: Any) -> str:
    """Names the crop size to raise, from a Train.dataset.transforms tuple."""
    for index, op in enumerate(transforms):
        size = getattr(op, "size", None)
        if type(op).__name__ == "EastRandomCropDataConfig" and size is not None:
            return (f"Raise the crop, e.g. -o Train.dataset.transforms.EastRandomCropData.size="
                    f"[{2 * size[0]},{2 * size[1]}] (now {list(size)}), or check the labels with det-model data inspect.")
    return "Check the labels with det-model data inspect."
