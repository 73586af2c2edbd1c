"""Counts reported by the converters (HierText, ICDAR2015)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

import numpy as np

from det_model.data import skips
from det_model.data.geometry import polygon_defect
from det_model.data.label_file import format_label_line
from det_model.data.skips import NoUsableDataError, SkipStats

MALFORMED_GT = "malformed_ground_truth"  # a ground-truth line or element that cannot be read: skipped


@dataclass
class ConversionStats:
    images: int = 0
    boxes: int = 0  # written, including ignored ones
    ignored: int = 0  # written as "###"
    dropped: int = 0  # degenerate polygons not written
    degenerate_ignored: int = 0  # degenerate polygons written as "###"
    missing_images: int = 0  # images listed in the ground truth but absent on disk (not written)
    point_counts: Counter = field(default_factory=Counter)  # points per written polygon
    notes: Counter = field(default_factory=Counter)  # source-specific counts (e.g. handwritten, vertical)
    skipped: SkipStats = field(default_factory=SkipStats)  # missing images, malformed ground truth: examples

    def summary(self) -> str:
        parts = [f"images {self.images}", f"boxes {self.boxes}", f"ignored {self.ignored}",
                 f"degenerate dropped {self.dropped}", f"degenerate as ### {self.degenerate_ignored}"]
        if self.missing_images:
            parts.append(f"missing images {self.missing_images} (not written)")
        if len(self.point_counts) > 1 or 4 not in self.point_counts:
            parts.append(f"points per box {dict(sorted(self.point_counts.items()))}")
        parts += [f"{k} {v}" for k, v in sorted(self.notes.items())]
        text = ", ".join(parts)
        return f"{text}\nskipped:\n{self.skipped.summary()}" if self.skipped else text


class LabelWriter:
    """Collect (points, transcription) boxes per image, handling degenerate polygons, and write the file.

    `degenerate`: "drop" removes polygons with < 3 points, zero area or self-intersections, "ignore" writes
    the ones with >= 3 points as "###" (fewer points are always dropped: PaddleOCR cannot read them)."""

    def __init__(self, out_path: Path, degenerate: str = "drop") -> None:
        if degenerate not in ("drop", "ignore"):
            raise ValueError(f"degenerate must be 'drop' or 'ignore', got {degenerate!r}")
        self.out_path = Path(out_path)
        self.degenerate = degenerate
        self.stats = ConversionStats()
        self.lines: list[str] = []

    def skip(self, reason: str, where: str, message: str) -> None:
        """Count a ground-truth line or image that cannot be converted (the rest of the file still is)."""
        self.stats.skipped.add(reason, where, message)

    def add_image(self, img_path: str, boxes: Iterable[tuple[list, str]], exists: Optional[bool] = None,
                  where: str = "") -> None:
        """Add one image's boxes; an image known to be absent (`exists=False`) is counted and named, not
        written (training would skip its line anyway). `where` names the ground truth it came from."""
        if exists is False:
            self.stats.missing_images += 1
            self.skip(skips.MISSING_IMAGE, where or img_path, f"image {img_path} not found; its line is not written")
            return
        kept = []
        for points, text in boxes:
            points_array = np.asarray(points, dtype=np.float64).reshape(-1, 2) if len(points) else np.zeros((0, 2))
            if len(points_array) < 3 or polygon_defect(points_array) is not None:
                if self.degenerate == "drop" or len(points_array) < 3:
                    self.stats.dropped += 1
                    continue
                self.stats.degenerate_ignored += 1
                text = "###"
            kept.append((points_array.tolist(), text))
            self.stats.point_counts[len(points_array)] += 1
            self.stats.ignored += text == "###"
        self.stats.images += 1
        self.stats.boxes += len(kept)
        self.lines.append(format_label_line(img_path, kept))

    def write(self) -> ConversionStats:
        if not self.lines:
            raise NoUsableDataError(f"{self.out_path}: not written, no image could be converted; skipped:\n"
                                    f"{self.stats.skipped.summary()}")
        self.out_path.parent.mkdir(parents=True, exist_ok=True)
        self.out_path.write_text("".join(line + "\n" for line in self.lines), encoding="utf-8")
        return self.stats
