"""PaddleOCR `CopyPaste` (ppocr/data/imaug/copy_paste.py): paste text instances cut from another sample.

Per selected instance of `sample["ext_data"][0]`: perspective-crop the quad (tools/infer/utility.py
get_rotate_crop_image), rotate it by a random integer angle in [0, 360) with an expanded canvas, and paste
it at a random position whose box touches no existing polygon (50 tries, `limit_paste`). Done in OpenCV:
PaddleOCR's PIL RGBA round trip (BGR -> RGB -> BGR, nearest-neighbour rotate, alpha paste) is equivalent.
"""

from __future__ import annotations

from typing import Any, Optional

import cv2
import numpy as np

from det_model.data.geometry import is_poly_outside_rect
from det_model.data.transforms.det_label_encode import pad_polygons
from det_model.data.transforms.warp import materialize_image

PLACEMENT_TRIES = 50
MAX_PASTED = 30


def rotate_crop(image: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """Perspective-rectify a 4-point box; turn it upright when h/w >= 1.5 (get_rotate_crop_image)."""
    quad = quad.astype(np.float32)
    w = int(max(np.linalg.norm(quad[0] - quad[1]), np.linalg.norm(quad[2] - quad[3])))
    h = int(max(np.linalg.norm(quad[0] - quad[3]), np.linalg.norm(quad[1] - quad[2])))
    if w < 1 or h < 1:
        return np.zeros((0, 0) + image.shape[2:], dtype=image.dtype)
    target = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    matrix = cv2.getPerspectiveTransform(quad, target)
    crop = cv2.warpPerspective(image, matrix, (w, h), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC)
    if crop.shape[0] * 1.0 / max(crop.shape[1], 1) >= 1.5:
        crop = np.rot90(crop)
    return crop


def rotate_expanded(crop: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rotate counter-clockwise by `angle` degrees on a canvas that holds the whole result (PIL
    rotate(expand=1), nearest). Returns (image, alpha mask, rotated corner box [4, 2])."""
    h, w = crop.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), angle, 1.0)
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float64)
    rotated = corners @ matrix[:, :2].T + matrix[:, 2]
    new_w = int(np.ceil(rotated[:, 0].max() - rotated[:, 0].min()))
    new_h = int(np.ceil(rotated[:, 1].max() - rotated[:, 1].min()))
    matrix[:, 2] -= rotated.min(axis=0)
    box = (corners @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)
    size = (max(new_w, 1), max(new_h, 1))
    image = cv2.warpAffine(crop, matrix, size, flags=cv2.INTER_NEAREST, borderValue=0)
    alpha = cv2.warpAffine(np.full((h, w), 255, np.uint8), matrix, size, flags=cv2.INTER_NEAREST, borderValue=0)
    return image, alpha, box


class CopyPaste:
    """`objects_paste_ratio` of the ext sample's boxes (at least 1, at most 30) among its care boxes."""

    ext_data_num = 1  # the dataset attaches this many ext samples (4-point polygons only)

    def __init__(self, objects_paste_ratio: float = 0.2, limit_paste: bool = True) -> None:
        self.objects_paste_ratio = objects_paste_ratio
        self.limit_paste = limit_paste

    def __call__(self, sample: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        ext_list = sample.pop("ext_data", None) or []
        if not ext_list:
            return sample
        ext = ext_list[0]
        image = materialize_image(sample).copy()
        point_num = sample["polys"].shape[1]
        polys = [p for p in sample["polys"]]
        texts = list(sample["texts"])
        ignores = list(sample["ignore_tags"])
        care = [i for i, tag in enumerate(ext["ignore_tags"]) if not tag]
        select_num = max(1, min(int(self.objects_paste_ratio * len(ext["polys"])), MAX_PASTED))
        rng.shuffle(care)
        for idx in care[:select_num]:
            crop = rotate_crop(ext["image"], ext["polys"][idx][:4])
            box = self._paste(image, crop, polys, rng)
            if box is None:
                continue
            padded = np.concatenate([box, np.repeat(box[-1:], max(point_num - 4, 0), axis=0)])
            polys.append(padded.astype(np.float32))  # pad_polygons below evens out the point counts
            texts.append(ext["texts"][idx])
            ignores.append(bool(ext["ignore_tags"][idx]))
        h, w = image.shape[:2]
        stacked = pad_polygons(polys) if polys else sample["polys"]  # pasted quads may exceed P < 4
        stacked[:, :, 0] = np.clip(stacked[:, :, 0], 0, w)
        stacked[:, :, 1] = np.clip(stacked[:, :, 1], 0, h)
        sample.update(image=image, polys=stacked, texts=texts, ignore_tags=np.asarray(ignores, dtype=bool))
        return sample

    def _paste(self, image: np.ndarray, crop: np.ndarray, polys: list[np.ndarray],
               rng: np.random.Generator) -> Optional[np.ndarray]:
        if crop.size == 0:
            return None
        rotated, alpha, box = rotate_expanded(crop, float(rng.integers(0, 360)))
        src_h, src_w = image.shape[:2]
        box_h, box_w = rotated.shape[:2]
        if src_w - box_w < 0 or src_h - box_h < 0:
            return None
        position = self._select_position(polys, box, src_w - box_w, src_h - box_h, rng)
        if position is None:
            return None
        x, y = position
        region = image[y: y + box_h, x: x + box_w]
        region[alpha > 0] = rotated[alpha > 0]
        return box + np.float32([x, y])

    def _select_position(self, polys: list[np.ndarray], box: np.ndarray, end_x: int, end_y: int,
                         rng: np.random.Generator) -> Optional[tuple[int, int]]:
        if not self.limit_paste:
            return int(rng.integers(0, end_x + 1)), int(rng.integers(0, end_y + 1))
        xmin, ymin = box.min(axis=0)
        xmax, ymax = box.max(axis=0)
        for _ in range(PLACEMENT_TRIES):
            x, y = int(rng.integers(0, end_x + 1)), int(rng.integers(0, end_y + 1))
            if all(is_poly_outside_rect(p, xmin + x, ymin + y, xmax - xmin, ymax - ymin) for p in polys):
                return x, y
        return None
