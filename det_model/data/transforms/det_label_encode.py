"""PaddleOCR `DetLabelEncode` (ppocr/data/imaug/label_ops.py): label entries -> polys / texts / ignore_tags."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from det_model.data import skips
from det_model.data.geometry import polygon_defect
from det_model.data.label_file import LabelEntry, parse_label_json
from det_model.data.skips import SkipRecord
from det_model.data.transforms.warp import PendingWarp


def pad_polygons(polygons: Sequence[np.ndarray], min_points: int = 4) -> np.ndarray:
    """Stack variable-length polygons into float32 [K, P, 2], P = max point count, by repeating each
    polygon's last point (PaddleOCR's expand_points_num). No polygons gives shape [0, min_points, 2]."""
    if not polygons:
        return np.zeros((0, min_points, 2), dtype=np.float32)
    count = max(len(p) for p in polygons)
    out = np.empty((len(polygons), count, 2), dtype=np.float32)
    for k, poly in enumerate(polygons):
        out[k, : len(poly)] = poly
        out[k, len(poly):] = poly[-1]
    return out


class DetLabelEncode:
    """`transcription in ("###", "*")` marks a box as ignored (don't-care).

    Beyond PaddleOCR, each box is checked against the decoded image: a box with no point inside the image
    is dropped, a zero-area or self-intersecting box is kept as ignored; both are counted in
    `sample["skips"]`. An image with no boxes is kept as a negative sample (PaddleOCR re-draws it).
    """

    def __call__(self, sample: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        label = sample.pop("label")
        where = str(sample.get("where", sample.get("img_path", "?")))
        entries: Sequence[LabelEntry] = parse_label_json(label, where) if isinstance(label, str) else label
        image = sample.get("image")
        hw = image.shape[:2] if isinstance(image, np.ndarray) else (image.size if isinstance(image, PendingWarp)
                                                                    else None)
        events = sample.setdefault("skips", [])
        polys, texts, ignore_tags = [], [], []
        for k, entry in enumerate(entries):
            points = entry.points
            if hw is not None and _outside(points, hw):
                events.append(SkipRecord(skips.BOX_OUTSIDE_IMAGE, where, f"box {k} lies outside the "
                                         f"{hw[1]}x{hw[0]} image"))
                continue
            ignored = entry.ignored
            defect = polygon_defect(points)
            if defect is not None and not ignored:
                events.append(SkipRecord(defect, where, f"box {k} kept as ignored"))
                ignored = True
            polys.append(points)
            texts.append(entry.transcription)
            ignore_tags.append(ignored)
        sample["polys"] = pad_polygons(polys)
        sample["texts"] = texts
        sample["ignore_tags"] = np.asarray(ignore_tags, dtype=bool)
        return sample


def _outside(points: np.ndarray, hw: tuple[int, int]) -> bool:
    h, w = hw
    xs, ys = points[:, 0], points[:, 1]
    return bool(xs.max() < 0 or xs.min() > w or ys.max() < 0 or ys.min() > h)
