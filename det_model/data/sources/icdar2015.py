"""ICDAR2015 Incidental Scene Text (`gt_img_<n>.txt` per image) -> PaddleOCR label file.

Each line is `x1,y1,x2,y2,x3,y3,x4,y4,transcription`: files start with a UTF-8 BOM, use CRLF, and the
transcription itself may contain commas (so only the first 8 commas split). `###` marks don't-care text.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Optional, Union

from det_model.data.sources.conversion import MALFORMED_GT, ConversionStats, LabelWriter

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".JPG", ".PNG")


def parse_icdar2015_line(line: str) -> tuple[list, str]:
    """(points [[x, y] x 4], transcription) of one line; ValueError says what is wrong."""
    parts = line.split(",", 8)
    if len(parts) != 9:
        raise ValueError(f"expected 8 coordinates and a transcription, got {line!r:.80}")
    try:
        values = [float(v) for v in parts[:8]]
    except ValueError:
        raise ValueError(f"non-numeric coordinate in {line!r:.80}") from None
    return [[values[i], values[i + 1]] for i in range(0, 8, 2)], parts[8]


def parse_icdar2015_gt(path: Path) -> tuple[list[tuple[list, str]], list[tuple[str, str]]]:
    """The boxes of a gt file, and (file:line, problem) for each line that cannot be read (skipped)."""
    boxes, bad = [], []
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return [], [(str(path), f"not UTF-8 ({exc.reason}); the whole file is skipped")]
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            boxes.append(parse_icdar2015_line(line))
        except ValueError as exc:
            bad.append((f"{path}:{number}", str(exc)))
    return boxes, bad


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
        boxes, bad = parse_icdar2015_gt(gt_file)
        for where, problem in bad:
            writer.skip(MALFORMED_GT, where, problem)
        writer.add_image(img_path, boxes, exists=image is not None, where=str(gt_file))
    return writer.write()
