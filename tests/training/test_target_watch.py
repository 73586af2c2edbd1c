"""Row 18 of issue 16: crops without a scored text pixel for many batches in a row are reported once."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from det_model.config import config_path, load_config
from det_model.training.target_watch import PATIENCE, EmptyTargetWatch, crop_hint, has_text_target


def _batch(text: bool, masked: bool = False) -> dict[str, np.ndarray]:
    shrink = np.zeros((2, 16, 16), np.float32)
    mask = np.ones((2, 16, 16), np.float32)
    if text:
        shrink[1, 4:8, 4:12] = 1.0
        if masked:
            mask[1, 4:8, 4:12] = 0.0
    return {"image": np.zeros((2, 3, 16, 16), np.float32), "shrink_map": shrink, "shrink_mask": mask}


@pytest.mark.parametrize("batch, expected", [
    (_batch(text=True), True),
    (_batch(text=False), False),
    (_batch(text=True, masked=True), False),  # text under an ignored (###) region scores nothing
    ({"image": np.zeros((1, 3, 4, 4))}, True),  # batches without DB targets are never reported
])
def test_has_text_target(batch, expected: bool) -> None:
    assert has_text_target(batch) is expected


def test_warns_once_per_streak_and_names_the_crop_override(caplog) -> None:
    transforms = load_config(config_path("ch_PP-OCRv3_det_student.yml")).Train.dataset.transforms
    watch = EmptyTargetWatch(crop_hint(transforms))
    with caplog.at_level(logging.WARNING):
        warned = [watch.observe(_batch(text=False), step) for step in range(1, 2 * PATIENCE + 1)]
    assert warned.count(True) == 1 and warned.index(True) == PATIENCE - 1
    assert "EastRandomCropData.size=[1920,1920] (now [960, 960])" in caplog.text
    watch.observe(_batch(text=True), 100)  # a batch with text ends the streak; the next streak warns again
    assert [watch.observe(_batch(text=False), s) for s in range(PATIENCE)].count(True) == 1
