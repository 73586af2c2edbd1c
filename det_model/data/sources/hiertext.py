"""HierText (google-research-datasets/hiertext) -> PaddleOCR label file.

`gt/{train,validation,test}.jsonl.gz` is ONE gzipped JSON object `{"info": ..., "annotations": [...]}` with
paragraphs > lines > words per image. Level "line" (default; PP-OCR detects text lines) writes each line's
4-point rotated box; level "word" writes each word's tight polygon (often more than 4 points). Illegible text
has an EMPTY string in HierText, which PaddleOCR would train as text, so it is written as "###" (a line is
legible only if all its words are; an illegible paragraph makes all its lines/words "###"). A line without
words falls back to its own box at word level (as HierText's eval.py does).
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any, Iterator, Optional, Union

from det_model.data.sources.conversion import MALFORMED_GT, ConversionStats, LabelWriter

LEVELS = ("line", "word")


def load_hiertext_annotations(gt_path: Union[str, Path]) -> list[dict[str, Any]]:
    """The `annotations` list of a HierText ground-truth file (.jsonl.gz or plain JSON)."""
    gt_path = Path(gt_path)
    if not gt_path.is_file():
        raise FileNotFoundError(f"{gt_path}: HierText ground truth not found")
    raw = gt_path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{gt_path}: not a HierText JSON object ({exc})") from None
    if not isinstance(document, dict) or not isinstance(document.get("annotations"), list):
        raise ValueError(f"{gt_path}: expected a JSON object with an 'annotations' list")
    return document["annotations"]


def _boxes(annotation: dict[str, Any], level: str, stats: ConversionStats,
           where: str) -> Iterator[tuple[list, str]]:
    for paragraph in annotation.get("paragraphs", []):
        paragraph_legible = bool(paragraph.get("legible", True))
        stats.notes["illegible_paragraphs"] += not paragraph_legible
        for line in paragraph.get("lines", []):
            stats.notes["handwritten_lines"] += bool(line.get("handwritten", False))
            stats.notes["vertical_lines"] += bool(line.get("vertical", False))
            line_legible = paragraph_legible and bool(line.get("legible", True))
            words = line.get("words", [])
            if level == "line" or not words:
                yield _vertices(line, where), (line.get("text", "") if line_legible else "###")
                continue
            for word in words:
                legible = paragraph_legible and bool(word.get("legible", True))
                yield _vertices(word, where), (word.get("text", "") if legible else "###")


def _vertices(element: dict[str, Any], where: str) -> list:
    vertices = element.get("vertices", [])
    if not isinstance(vertices, list) or not all(isinstance(v, list) and len(v) == 2 for v in vertices):
        raise ValueError(f"{where}: vertices must be a list of [x, y] pairs, got {vertices!r:.80}")
    return vertices


def convert_hiertext(gt_path: Union[str, Path], image_dir: Union[str, Path], out_label_path: Union[str, Path],
                     level: str = "line", *, degenerate: str = "drop",
                     image_prefix: Optional[str] = None) -> ConversionStats:
    """Write a PaddleOCR label file for one HierText split.

    Image paths are `<image_prefix>/<image_id>.jpg`; the default prefix is `image_dir` relative to the label
    file's folder, so `data_dir` = that folder. `degenerate`: "drop" or "ignore" (write as "###")."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
    image_dir, out_label_path = Path(image_dir), Path(out_label_path)
    prefix = image_prefix if image_prefix is not None else os.path.relpath(image_dir, out_label_path.parent)
    writer = LabelWriter(out_label_path, degenerate)
    for number, annotation in enumerate(load_hiertext_annotations(gt_path)):
        image_id = annotation.get("image_id") if isinstance(annotation, dict) else None
        if not isinstance(image_id, str) or not image_id:
            writer.skip(MALFORMED_GT, f"{gt_path}: annotations[{number}]", "no image_id; skipped")
            continue
        where = f"{gt_path}: image {image_id}"
        try:
            boxes = list(_boxes(annotation, level, writer.stats, where))
        except (ValueError, TypeError, AttributeError) as exc:  # a malformed element: skip this image only
            writer.skip(MALFORMED_GT, where, f"{exc}; the image is skipped")
            continue
        name = f"{image_id}.jpg"
        img_path = name if prefix in ("", ".") else f"{prefix}/{name}"
        writer.add_image(img_path, boxes, exists=(image_dir / name).is_file(), where=where)
    return writer.write()
