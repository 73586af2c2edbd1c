"""PaddleOCR detection label files: `img_path<delimiter>[{"points": [[x, y], ...], "transcription": str}, ...]`.

Every line is parsed and validated once, up front, into a `LabelRecord`; each problem names `file:line`.
`strict=True` raises `LabelLineError` at the first bad line; otherwise bad lines are skipped and counted by
reason in a `SkipStats`. A file with no label lines always raises (PaddleOCR would train on nothing).
"""

from __future__ import annotations

import json
import math
import numbers
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Union

import numpy as np

from det_model.data import skips
from det_model.data.skips import SkipSample, SkipStats

IGNORE_TRANSCRIPTIONS = ("###", "*")  # PaddleOCR DetLabelEncode's don't-care markers


class LabelLineError(SkipSample):
    """A label line that cannot be used; the message starts with `file:line:`."""

    def __init__(self, reason: str, where: str, detail: str) -> None:
        super().__init__(reason, f"{where}: {detail}")
        self.where = where
        self.detail = detail


class LabelFileError(ValueError):
    """A label file that cannot be used at all (missing or without any label line)."""


@dataclass(frozen=True)
class LabelEntry:
    points: np.ndarray  # float32 [P, 2], P >= 3, finite
    transcription: str

    @property
    def ignored(self) -> bool:
        return self.transcription in IGNORE_TRANSCRIPTIONS


@dataclass(frozen=True)
class LabelRecord:
    """One label line. `img_path` is relative to the dataset's data_dir; a tuple lists alternatives of which
    one is chosen at random per sample (PaddleOCR's `[...]` path syntax)."""

    img_path: Union[str, tuple[str, ...]]
    entries: tuple[LabelEntry, ...]
    where: str  # "file:line"


def _bad(reason: str, where: str, message: str) -> LabelLineError:
    return LabelLineError(reason, where, message)


def _parse_point(point: Any, where: str, box: int, k: int) -> tuple[float, float]:
    if not isinstance(point, (list, tuple)) or len(point) != 2:
        raise _bad(skips.BAD_SCHEMA, where, f"box {box} point {k} is not an [x, y] pair: {point!r}")
    for value in point:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise _bad(skips.NON_NUMERIC_COORDINATES, where, f"box {box} point {k} has a non-numeric "
                       f"coordinate: {point!r}")
        if not math.isfinite(value):
            raise _bad(skips.NON_FINITE_COORDINATES, where, f"box {box} point {k} is not finite: {point!r}")
    return float(point[0]), float(point[1])


def _parse_entry(item: Any, where: str, box: int) -> LabelEntry:
    if not isinstance(item, dict) or "points" not in item or "transcription" not in item:
        raise _bad(skips.BAD_SCHEMA, where, f"box {box} must be an object with 'points' and 'transcription'")
    transcription, points = item["transcription"], item["points"]
    if not isinstance(transcription, str):
        raise _bad(skips.BAD_SCHEMA, where, f"box {box} transcription is not a string: {transcription!r}")
    if not isinstance(points, list):
        raise _bad(skips.BAD_SCHEMA, where, f"box {box} points is not a list: {points!r}")
    if len(points) < 3:
        raise _bad(skips.TOO_FEW_POINTS, where, f"box {box} has {len(points)} point(s); a polygon needs >= 3")
    xy = [_parse_point(p, where, box, k) for k, p in enumerate(points)]
    return LabelEntry(points=np.asarray(xy, dtype=np.float32), transcription=transcription)


def parse_label_json(text: str, where: str) -> tuple[LabelEntry, ...]:
    """Parse the JSON part of a label line; raises LabelLineError naming `where`."""
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _bad(skips.BAD_JSON, where, f"invalid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(items, list):
        raise _bad(skips.BAD_SCHEMA, where, f"label must be a JSON list, got {type(items).__name__}")
    return tuple(_parse_entry(item, where, box) for box, item in enumerate(items))


def _parse_img_path(text: str, where: str) -> Union[str, tuple[str, ...]]:
    if text.startswith("["):
        try:
            paths = json.loads(text)
        except json.JSONDecodeError:
            raise _bad(skips.BAD_LINE, where, f"image path list is not valid JSON: {text!r}") from None
        if not paths or not all(isinstance(p, str) and p for p in paths):
            raise _bad(skips.BAD_LINE, where, f"image path list must be non-empty strings: {text!r}")
        return tuple(paths)
    if not text.strip():
        raise _bad(skips.BAD_LINE, where, "empty image path")
    return text


def parse_label_line(line: str, where: str, delimiter: str = "\t") -> LabelRecord:
    """Parse one line (without its newline) into a LabelRecord."""
    if delimiter not in line:
        raise _bad(skips.BAD_LINE, where, f"no delimiter {delimiter!r} between image path and label")
    path_text, label_text = line.split(delimiter, 1)
    img_path = _parse_img_path(path_text, where)
    return LabelRecord(img_path=img_path, entries=parse_label_json(label_text, where), where=where)


def _decoded_lines(path: Path) -> Iterable[tuple[int, Union[str, LabelLineError]]]:
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            where = f"{path}:{number}"
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield number, _bad(skips.BAD_LINE, where, f"not UTF-8 ({exc.reason})")
                continue
            if number == 1:
                text = text.lstrip("\ufeff")
            yield number, text.rstrip("\r\n")


def read_label_file(path: Union[str, Path], delimiter: str = "\t", *, strict: bool = False
                    ) -> tuple[list[LabelRecord], SkipStats]:
    """Read a PaddleOCR label file. Blank lines are ignored; bad lines raise (strict) or are counted."""
    path = Path(path)
    if not path.is_file():
        raise LabelFileError(f"{path}: label file not found")
    records: list[LabelRecord] = []
    stats = SkipStats()
    seen_lines = 0
    for number, text in _decoded_lines(path):
        if isinstance(text, str) and not text.strip():
            continue
        seen_lines += 1
        try:
            if isinstance(text, LabelLineError):
                raise text
            records.append(parse_label_line(text, f"{path}:{number}", delimiter))
        except LabelLineError as exc:
            if strict:
                raise
            stats.add(exc.reason, exc.where, exc.detail)
    if seen_lines == 0:
        raise LabelFileError(f"{path}: label file is empty (no `img_path{delimiter}json` lines)")
    return records, stats


def format_label_line(img_path: str, entries: Iterable[tuple[Any, str]], delimiter: str = "\t") -> str:
    """One PaddleOCR label line from (points, transcription) pairs (points: [[x, y], ...])."""
    items = [{"transcription": text, "points": np.asarray(points).tolist()} for points, text in entries]
    return f"{img_path}{delimiter}{json.dumps(items, ensure_ascii=False)}"
