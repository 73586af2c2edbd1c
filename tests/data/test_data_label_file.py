"""Label-file parsing: every bad line names file:line and is counted (or raised in strict mode)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from det_model.data import skips
from det_model.data.label_file import (LabelFileError, LabelLineError, format_label_line, parse_label_line,
                                       read_label_file)

GOOD_JSON = json.dumps([{"transcription": "A", "points": [[0, 0], [10, 0], [10, 5], [0, 5]]}])

BAD_LINES = [
    # (case, line, expected reason)
    ("no delimiter", "img.jpg " + GOOD_JSON, skips.BAD_LINE),
    ("empty image path", "\t" + GOOD_JSON, skips.BAD_LINE),
    ("truncated JSON", "img.jpg\t[{\"points\": [[0, 0]", skips.BAD_JSON),
    ("JSON object, not list", "img.jpg\t{\"points\": []}", skips.BAD_SCHEMA),
    ("missing transcription", "img.jpg\t[{\"points\": [[0, 0], [1, 0], [1, 1]]}]", skips.BAD_SCHEMA),
    ("transcription not a string", "img.jpg\t[{\"points\": [[0, 0], [1, 0], [1, 1]], \"transcription\": 5}]",
     skips.BAD_SCHEMA),
    ("point is not a pair", "img.jpg\t[{\"points\": [[0, 0, 1], [1, 0], [1, 1]], \"transcription\": \"a\"}]",
     skips.BAD_SCHEMA),
    ("two points", "img.jpg\t[{\"points\": [[0, 0], [1, 0]], \"transcription\": \"a\"}]", skips.TOO_FEW_POINTS),
    ("no points", "img.jpg\t[{\"points\": [], \"transcription\": \"a\"}]", skips.TOO_FEW_POINTS),
    ("string coordinate", "img.jpg\t[{\"points\": [[\"0\", 0], [1, 0], [1, 1]], \"transcription\": \"a\"}]",
     skips.NON_NUMERIC_COORDINATES),
    ("null coordinate", "img.jpg\t[{\"points\": [[null, 0], [1, 0], [1, 1]], \"transcription\": \"a\"}]",
     skips.NON_NUMERIC_COORDINATES),
    ("boolean coordinate", "img.jpg\t[{\"points\": [[true, 0], [1, 0], [1, 1]], \"transcription\": \"a\"}]",
     skips.NON_NUMERIC_COORDINATES),
    ("NaN coordinate", "img.jpg\t[{\"points\": [[NaN, 0], [1, 0], [1, 1]], \"transcription\": \"a\"}]",
     skips.NON_FINITE_COORDINATES),
    ("infinite coordinate", "img.jpg\t[{\"points\": [[Infinity, 0], [1, 0], [1, 1]], \"transcription\": \"a\"}]",
     skips.NON_FINITE_COORDINATES),
    ("bad path list", "[\"a.jpg\", 3]\t" + GOOD_JSON, skips.BAD_LINE),
]


@pytest.mark.parametrize("case,line,reason", BAD_LINES, ids=[c[0] for c in BAD_LINES])
def test_bad_line_is_counted_with_file_and_line(tmp_path: Path, case: str, line: str, reason: str) -> None:
    path = tmp_path / "label.txt"
    path.write_text(f"good.jpg\t{GOOD_JSON}\n{line}\n", encoding="utf-8")
    records, stats = read_label_file(path)
    assert len(records) == 1 and records[0].img_path == "good.jpg"
    assert stats.counts == {reason: 1}
    assert stats.examples[reason].startswith(f"{path}:2")


@pytest.mark.parametrize("case,line,reason", BAD_LINES, ids=[c[0] for c in BAD_LINES])
def test_bad_line_raises_in_strict_mode(tmp_path: Path, case: str, line: str, reason: str) -> None:
    path = tmp_path / "label.txt"
    path.write_text(f"good.jpg\t{GOOD_JSON}\n{line}\n", encoding="utf-8")
    with pytest.raises(LabelLineError, match=f"{path}:2: ") as info:
        read_label_file(path, strict=True)
    assert info.value.reason == reason


def test_non_utf8_line_is_counted(tmp_path: Path) -> None:
    path = tmp_path / "label.txt"
    path.write_bytes(b"\xff\xfeimg.jpg\t[]\n" + f"ok.jpg\t{GOOD_JSON}\n".encode())
    records, stats = read_label_file(path)
    assert [r.img_path for r in records] == ["ok.jpg"] and stats.counts == {skips.BAD_LINE: 1}


@pytest.mark.parametrize("content", [
    "",  # zero bytes
    "\n\n  \n",  # blank lines only
])
def test_empty_label_file_raises(tmp_path: Path, content: str) -> None:
    path = tmp_path / "label.txt"
    path.write_text(content)
    with pytest.raises(LabelFileError, match="empty"):
        read_label_file(path)


def test_missing_label_file_raises(tmp_path: Path) -> None:
    with pytest.raises(LabelFileError, match="not found"):
        read_label_file(tmp_path / "nope.txt")


def test_bom_crlf_variable_points_and_ignore_markers(tmp_path: Path) -> None:
    items = [{"transcription": "###", "points": [[0, 0], [4, 0], [4, 4], [0, 4]]},
             {"transcription": "*", "points": [[0, 0], [4, 0], [4, 4]]},
             {"transcription": "", "points": [[0, 0], [4, 0], [6, 2], [4, 4], [0, 4], [1, 2]], "difficult": 1}]
    path = tmp_path / "label.txt"
    path.write_bytes(("\ufeffa.jpg\t" + json.dumps(items) + "\r\n").encode("utf-8"))
    (record,), stats = read_label_file(path)
    assert not stats and record.img_path == "a.jpg" and record.where == f"{path}:1"
    assert [e.ignored for e in record.entries] == [True, True, False]  # empty text is NOT ignored
    assert [len(e.points) for e in record.entries] == [4, 3, 6]


def test_path_list_and_custom_delimiter() -> None:
    record = parse_label_line('["a.jpg", "b.jpg"]|' + GOOD_JSON, "f:1", delimiter="|")
    assert record.img_path == ("a.jpg", "b.jpg") and record.entries[0].transcription == "A"


def test_format_then_parse_round_trip() -> None:
    line = format_label_line("x/y.jpg", [([[1, 2], [3, 4], [5, 7]], "héllo")])
    record = parse_label_line(line, "f:1")
    assert record.entries[0].transcription == "héllo"
    assert record.entries[0].points.tolist() == [[1, 2], [3, 4], [5, 7]]
