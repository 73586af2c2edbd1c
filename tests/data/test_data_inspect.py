"""`data inspect` opens every image (row 7 of issue 16) and names truncated and undecodable files."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from det_model.data.inspect_labels import image_problem


def _noisy(shape=(240, 320, 3)) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 255, shape, dtype=np.uint8)


@pytest.mark.parametrize("suffix, keep, reason", [
    (".jpg", 1.0, None),
    (".jpg", 0.8, "truncated_image"),  # named as truncated, whether or not the decoder returns a partial image
    (".png", 1.0, None),
    (".png", 0.8, "truncated_image"),
    (".jpg", 0.0, "corrupt_image"),  # an empty file
])
def test_image_problem(tmp_path: Path, suffix: str, keep: float, reason) -> None:
    ok, encoded = cv2.imencode(suffix, _noisy())
    data = encoded.tobytes()[: int(len(encoded) * keep)]
    path = tmp_path / f"x{suffix}"
    path.write_bytes(data)
    image, problem = image_problem(str(path))
    assert (problem[0] if problem else None) == reason
    if reason is None:
        assert image.shape == (240, 320, 3)
