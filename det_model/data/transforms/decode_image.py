"""PaddleOCR `DecodeImage` (ppocr/data/imaug/operators.py): encoded bytes -> H x W x 3 uint8 image."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from det_model.data import skips
from det_model.data.skips import SkipSample


class DecodeImage:
    """Decode `sample["image"]` (bytes) with OpenCV (BGR; EXIF orientation applied unless
    `ignore_orientation`). A corrupt or empty file raises a counted `SkipSample`."""

    def __init__(self, img_mode: str = "BGR", channel_first: bool = False,
                 ignore_orientation: bool = False) -> None:
        if img_mode not in ("BGR", "RGB", "GRAY"):
            raise ValueError(f"DecodeImage.img_mode must be one of BGR, RGB, GRAY; got {img_mode!r}")
        self.img_mode = img_mode
        self.channel_first = channel_first
        flags = cv2.IMREAD_GRAYSCALE if img_mode == "GRAY" else cv2.IMREAD_COLOR
        self.flags = flags | cv2.IMREAD_IGNORE_ORIENTATION if ignore_orientation else flags

    def __call__(self, sample: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        data = sample["image"]
        image = None
        if isinstance(data, (bytes, bytearray)) and len(data) > 0:
            try:
                image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), self.flags)
            except cv2.error:
                image = None
        if image is None:
            raise SkipSample(skips.CORRUPT_IMAGE, f"{sample.get('img_path', '?')}: image cannot be decoded")
        if self.img_mode == "GRAY":
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        elif self.img_mode == "RGB":
            image = np.ascontiguousarray(image[:, :, ::-1])
        if self.channel_first:
            image = image.transpose((2, 0, 1))
        sample["image"] = image
        return sample
