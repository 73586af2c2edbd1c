"""`det-model data inspect`: counts over a PaddleOCR label file and optional ground-truth overlays."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

import cv2
import numpy as np

from det_model.data.geometry import polygon_defect
from det_model.data.label_file import LabelRecord, read_label_file
from det_model.data.skips import SkipStats

CARE, IGNORED, DEGENERATE = (0, 255, 0), (0, 0, 255), (0, 255, 255)  # BGR overlay colours


@dataclass
class InspectReport:
    images: int = 0
    missing_images: int = 0
    boxes: int = 0
    ignored: int = 0
    degenerate: int = 0  # zero-area or self-intersecting (trained as ignored)
    point_counts: Counter = field(default_factory=Counter)
    bad_lines: SkipStats = field(default_factory=SkipStats)

    def lines(self) -> list[str]:
        out = [f"images: {self.images}", f"missing images: {self.missing_images}", f"boxes: {self.boxes}",
               f"ignored: {self.ignored}", f"degenerate: {self.degenerate}",
               f"points per box: {dict(sorted(self.point_counts.items()))}",
               f"bad lines: {self.bad_lines.skipped_samples}"]
        if self.bad_lines:
            out.append(self.bad_lines.summary())
        return out


def _draw(record: LabelRecord, image_path: str, out_dir: Path) -> None:
    image = cv2.imread(image_path, cv2.IMREAD_COLOR)
    if image is None:
        return
    for entry in record.entries:
        color = DEGENERATE if polygon_defect(entry.points) else IGNORED if entry.ignored else CARE
        cv2.polylines(image, [np.round(entry.points).astype(np.int32)], True, color, 2)
    out_dir.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out_dir / (Path(image_path).stem + ".jpg")), image)


def inspect_label_file(label_path: Union[str, Path], data_dir: Union[str, Path],
                       draw_dir: Optional[Union[str, Path]] = None, delimiter: str = "\t") -> InspectReport:
    """Count images, boxes, ignored and degenerate boxes; draw overlays (green care, red '###', yellow
    degenerate) into `draw_dir` when given."""
    records, bad_lines = read_label_file(label_path, delimiter)
    report = InspectReport(bad_lines=bad_lines)
    for record in records:
        report.images += 1
        rel = record.img_path if isinstance(record.img_path, str) else record.img_path[0]
        image_path = os.path.join(str(data_dir), rel)
        exists = os.path.isfile(image_path)
        report.missing_images += not exists
        for entry in record.entries:
            report.boxes += 1
            report.ignored += entry.ignored
            report.degenerate += polygon_defect(entry.points) is not None
            report.point_counts[len(entry.points)] += 1
        if draw_dir is not None and exists:
            _draw(record, image_path, Path(draw_dir))
    return report
