"""`det-model data inspect`: counts over a PaddleOCR label file, with every image opened and checked, and
optional ground-truth overlays.

Each image is decoded (a text file named .jpg is `corrupt_image`), checked for truncation (a JPEG without its
end marker after the last scan, a PNG without IEND: OpenCV decodes these with a grey tail and no error) and
its boxes are checked against its size (`box_outside_image`: no point inside, dropped by training;
`box_partly_outside`: a corner more than one pixel outside). Every problem is counted by reason with the first
`file:line` that shows it, so a missing image is named, not only counted.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

import cv2
import numpy as np

from det_model.data import skips
from det_model.data.geometry import polygon_defect
from det_model.data.label_file import LabelRecord, read_label_file
from det_model.data.skips import SkipStats

CARE, IGNORED, DEGENERATE = (0, 255, 0), (0, 0, 255), (0, 255, 255)  # BGR overlay colours
TRUNCATED_IMAGE = "truncated_image"
BOX_PARTLY_OUTSIDE = "box_partly_outside"
OUTSIDE_TOLERANCE = 1.0  # pixels: corners on the border (x == w) are normal in converted labels


@dataclass
class InspectReport:
    images: int = 0
    missing_images: int = 0
    boxes: int = 0
    ignored: int = 0
    degenerate: int = 0  # zero-area or self-intersecting (trained as ignored)
    point_counts: Counter = field(default_factory=Counter)
    bad_lines: SkipStats = field(default_factory=SkipStats)
    problems: SkipStats = field(default_factory=SkipStats)  # images and boxes, by reason, with the first example

    @property
    def clean(self) -> bool:
        return not self.bad_lines and not self.problems

    def lines(self) -> list[str]:
        out = [f"images: {self.images}", f"missing images: {self.missing_images}", f"boxes: {self.boxes}",
               f"ignored: {self.ignored}", f"degenerate: {self.degenerate}",
               f"points per box: {dict(sorted(self.point_counts.items()))}",
               f"bad lines: {self.bad_lines.skipped_samples}"]
        if self.bad_lines:
            out.append(self.bad_lines.summary())
        out.append(f"image and box problems: {sum(self.problems.counts.values())}")
        if self.problems:
            out.append(self.problems.summary())
        return out


def image_problem(path: str) -> tuple[Optional[np.ndarray], Optional[tuple[str, str]]]:
    """(decoded BGR image or None, (reason, message) or None)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return None, (skips.MISSING_IMAGE, f"{path}: {exc.strerror or 'cannot be read'}")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
    # JPEG: the end marker must follow the last start-of-scan (an EXIF thumbnail has its own pair before).
    if data[:2] == b"\xff\xd8" and data.rfind(b"\xff\xd9") < max(data.rfind(b"\xff\xda"), 2):
        return image, (TRUNCATED_IMAGE, f"{path}: truncated JPEG (no end marker after the last scan)")
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data.rfind(b"IEND") < 0:
        return image, (TRUNCATED_IMAGE, f"{path}: truncated PNG (no IEND chunk)")
    if image is None:
        return None, (skips.CORRUPT_IMAGE, f"{path}: not a decodable image ({len(data)} bytes)")
    return image, None


def _check_boxes(record: LabelRecord, hw: tuple[int, int], problems: SkipStats) -> None:
    h, w = hw
    for k, entry in enumerate(record.entries):
        xs, ys = entry.points[:, 0], entry.points[:, 1]
        if xs.max() < 0 or xs.min() > w or ys.max() < 0 or ys.min() > h:
            problems.add(skips.BOX_OUTSIDE_IMAGE, record.where, f"box {k} lies outside the {w}x{h} image")
        elif (xs.min() < -OUTSIDE_TOLERANCE or ys.min() < -OUTSIDE_TOLERANCE
              or xs.max() > w + OUTSIDE_TOLERANCE or ys.max() > h + OUTSIDE_TOLERANCE):
            problems.add(BOX_PARTLY_OUTSIDE, record.where, f"box {k} reaches outside the {w}x{h} image")


def _draw(record: LabelRecord, image: np.ndarray, image_path: str, out_dir: Path) -> None:
    for entry in record.entries:
        color = DEGENERATE if polygon_defect(entry.points) else IGNORED if entry.ignored else CARE
        cv2.polylines(image, [np.round(entry.points).astype(np.int32)], True, color, 2)
    out_dir.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out_dir / (Path(image_path).stem + ".jpg")), image)


def _count_boxes(record: LabelRecord, report: InspectReport) -> None:
    for entry in record.entries:
        report.boxes += 1
        report.ignored += entry.ignored
        report.degenerate += polygon_defect(entry.points) is not None
        report.point_counts[len(entry.points)] += 1


def inspect_label_file(label_path: Union[str, Path], data_dir: Union[str, Path],
                       draw_dir: Optional[Union[str, Path]] = None, delimiter: str = "\t") -> InspectReport:
    """Count images, boxes, ignored and degenerate boxes, open every image and check it and its boxes; draw
    overlays (green care, red '###', yellow degenerate) into `draw_dir` when given."""
    records, bad_lines = read_label_file(label_path, delimiter)
    report = InspectReport(bad_lines=bad_lines)
    for record in records:
        report.images += 1
        _count_boxes(record, report)
        paths = record.img_path if isinstance(record.img_path, tuple) else (record.img_path,)
        for rel in paths:
            image_path = os.path.join(str(data_dir), rel)
            image, problem = image_problem(image_path)
            if problem is not None:
                report.problems.add(problem[0], record.where, problem[1])
            report.missing_images += problem is not None and problem[0] == skips.MISSING_IMAGE
            if image is None:
                continue
            _check_boxes(record, image.shape[:2], report.problems)
            if draw_dir is not None:
                _draw(record, image, image_path, Path(draw_dir))
    return report
