"""PaddleOCR `EastRandomCropData` (ppocr/data/imaug/random_crop_data.py): a random crop that does not cut
through care text, resized to fit `size` (keep_ratio: pasted top-left on a zero canvas).

When the image is a pending warp (after IaaAugment) the crop and resize are folded into the same matrix, so
the source is resampled once, straight to the output size.
"""

from __future__ import annotations

from typing import Any, Sequence

import cv2
import numpy as np

from det_model.data.geometry import is_poly_outside_rect
from det_model.data.transforms.warp import PendingWarp, image_hw, pixel_resize, translate, warp


def _free_regions(axis: np.ndarray) -> list[np.ndarray]:
    """Runs of consecutive free indices. As in PaddleOCR's split_regions the LAST run is never returned
    (a reproduced quirk: it changes which crops are likely, not which are allowed)."""
    regions, start = [], 0
    for i in range(1, len(axis)):
        if axis[i] != axis[i - 1] + 1:
            regions.append(axis[start:i])
            start = i
    return regions


def _select_pair(axis: np.ndarray, regions: list[np.ndarray], size: int,
                 rng: np.random.Generator) -> tuple[int, int]:
    if len(regions) > 1:
        picked = rng.choice(len(regions), 2)
        values = [int(rng.choice(regions[i])) for i in picked]
    else:
        values = [int(v) for v in rng.choice(axis, size=2)]
    low, high = min(values), max(values)
    return int(np.clip(low, 0, size - 1)), int(np.clip(high, 0, size - 1))


def crop_area(hw: tuple[int, int], care_polys: Sequence[np.ndarray], min_crop_side_ratio: float,
              max_tries: int, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """(x, y, w, h) of a crop whose borders lie on rows/columns free of care text and that touches at
    least one care polygon; the whole image after `max_tries` failures."""
    h, w = hw
    rows, cols = np.zeros(h, dtype=bool), np.zeros(w, dtype=bool)
    for poly in care_polys:
        points = np.round(poly).astype(np.int64)
        # Clipped to the image: PaddleOCR slices with raw values, and a negative start wraps around.
        x0, x1 = np.clip([points[:, 0].min(), points[:, 0].max()], 0, w)
        y0, y1 = np.clip([points[:, 1].min(), points[:, 1].max()], 0, h)
        cols[x0:x1] = True
        rows[y0:y1] = True
    free_rows, free_cols = np.flatnonzero(~rows), np.flatnonzero(~cols)
    if len(free_rows) == 0 or len(free_cols) == 0:
        return 0, 0, w, h
    row_regions, col_regions = _free_regions(free_rows), _free_regions(free_cols)
    for _ in range(max_tries):
        xmin, xmax = _select_pair(free_cols, col_regions, w, rng)
        ymin, ymax = _select_pair(free_rows, row_regions, h, rng)
        if xmax - xmin < min_crop_side_ratio * w or ymax - ymin < min_crop_side_ratio * h:
            continue
        if any(not is_poly_outside_rect(p, xmin, ymin, xmax - xmin, ymax - ymin) for p in care_polys):
            return xmin, ymin, xmax - xmin, ymax - ymin
    return 0, 0, w, h


class EastRandomCropData:
    """`size` is (width, height) as in PaddleOCR. Polygons are shifted and scaled, and kept unless they lie
    completely outside the resized crop (partial polygons are not clipped)."""

    def __init__(self, size: Sequence[int] = (640, 640), max_tries: int = 10, min_crop_side_ratio: float = 0.1,
                 keep_ratio: bool = True) -> None:
        self.size = (int(size[0]), int(size[1]))
        self.max_tries = max_tries
        self.min_crop_side_ratio = min_crop_side_ratio
        self.keep_ratio = keep_ratio

    def __call__(self, sample: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        polys, tags = sample["polys"], np.asarray(sample["ignore_tags"], dtype=bool)
        care = [polys[i] for i in range(len(polys)) if not tags[i]]
        x, y, cw, ch = crop_area(image_hw(sample), care, self.min_crop_side_ratio, self.max_tries, rng)
        s = min(self.size[0] / cw, self.size[1] / ch)
        if self.keep_ratio:
            out_w, out_h, sx, sy = int(cw * s), int(ch * s), s, s
        else:
            out_w, out_h = self.size
            sx, sy = out_w / cw, out_h / ch
        resized = self._crop_resize(sample["image"], (x, y, cw, ch), (out_h, out_w))
        if self.keep_ratio:
            canvas = np.zeros((self.size[1], self.size[0]) + resized.shape[2:], dtype=resized.dtype)
            canvas[:out_h, :out_w] = resized
            resized = canvas
        moved = (polys - np.float32([x, y])) * np.float32([sx, sy])
        keep = [i for i in range(len(moved)) if not is_poly_outside_rect(moved[i], 0, 0, out_w, out_h)]
        sample["image"] = resized
        sample["polys"] = moved[keep].astype(np.float32).reshape((len(keep),) + polys.shape[1:])
        sample["ignore_tags"] = tags[keep]
        sample["texts"] = [sample["texts"][i] for i in keep]
        return sample

    @staticmethod
    def _crop_resize(image: Any, box: tuple[int, int, int, int], out_hw: tuple[int, int]) -> np.ndarray:
        x, y, cw, ch = box
        out_h, out_w = out_hw
        if isinstance(image, PendingWarp):
            crop = pixel_resize(out_w / cw, out_h / ch) @ translate(-x, -y)
            return warp(image.source, crop @ image.matrix, (out_h, out_w))
        return cv2.resize(image[y: y + ch, x: x + cw], (out_w, out_h))
