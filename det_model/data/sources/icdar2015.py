"""ICDAR2015 Incidental Scene Text (`gt_img_<n>.txt` per image) -> PaddleOCR label file.

Each line is `x1,y1,x2,y2,x3,y3,x4,y4,transcription`: files start with a UTF-8 BOM, use CRLF, and the
transcription itself may contain commas (so only the first 8 commas split). `###` marks don't-care text.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Optional, Union

from det_model.data.sources.conversion import ConversionStats, LabelWriter

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".JPG", ".PNG")


def parse_icdar2015_gt(path: Path) -> list[tuple[list, str]]:
    """(points [[x, y] x 4], transcription) per line; raises ValueError naming file:line."""
    boxes = []
    text = path.read_bytes().decode("utf-8-sig")
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split(",", 8)
        if len(parts) != 9:
            raise ValueError(f"{path}:{number}: expected 8 coordinates and a transcription, got {line!r}")
        try:
            values = [float(v) for v in parts[:8]]
        except ValueError:
            raise ValueError(f"{path}:{number}: non-numeric coordinate in {line!r}") from None
        boxes.append(([[values[i], values[i + 1]] for i in range(0, 8, 2)], parts[8]))
    return boxes


def _natural_key(path: Path) -> tuple:
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name))


def _find_image(image_dir: Path, stem: str) -> Optional[Path]:
    for suffix in IMAGE_SUFFIXES:
        candidate = image_dir / f"{stem}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def convert_icdar2015(gt_dir: Union[str, Path], image_dir: Union[str, Path], out_label_path: Union[str, Path], *,
                      degenerate: str = "drop", image_prefix: Optional[str] = None) -> ConversionStats:
    """Write a PaddleOCR label file from `gt_dir/gt_img_<n>.txt` for images `image_dir/img_<n>.jpg`.
    Image paths are `<image_prefix>/<name>`, by default `image_dir` relative to the label file's folder."""
    gt_dir, image_dir, out_label_path = Path(gt_dir), Path(image_dir), Path(out_label_path)
    gt_files = sorted(gt_dir.glob("gt_*.txt"), key=_natural_key)
    if not gt_files:
        raise FileNotFoundError(f"{gt_dir}: no gt_*.txt files")
    prefix = image_prefix if image_prefix is not None else os.path.relpath(image_dir, out_label_path.parent)
    writer = LabelWriter(out_label_path, degenerate)
    for gt_file in gt_files:
        stem = gt_file.stem[len("gt_"):]
        image = _find_image(image_dir, stem)
        name = image.name if image is not None else f"{stem}.jpg"
        img_path = name if prefix in ("", ".") else f"{prefix}/{name}"
        writer.add_image(img_path, parse_icdar2015_gt(gt_file), exists=image is not None)
    return writer.write()
