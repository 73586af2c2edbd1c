"""The evaluate report: starting weights next to the trained model (metrics and drawn detections), and what it
says about a teacher trained in the same run."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from components.report import below_start_note, teacher_note, write_report

BOX = [[4, 4], [40, 4], [40, 16], [4, 16]]


def dataset(root: Path, n: int) -> Path:
    (root / "images").mkdir(parents=True)
    lines = []
    for i in range(n):
        cv2.imwrite(str(root / "images" / f"{i}.jpg"), np.full((24, 48, 3), 255, np.uint8))
        lines.append(f"images/{i}.jpg\t" + json.dumps([{"transcription": "t", "points": BOX}]))
    (root / "label_eval.txt").write_text("\n".join(lines) + "\n")
    return root


def predictions(folder: Path, n: int) -> Path:
    folder.mkdir(parents=True)
    rows = [json.dumps({"image": f"images/{i}.jpg", "polygons": [BOX]}) for i in range(n)]
    (folder / "predictions.jsonl").write_text("\n".join(rows) + "\n")
    return folder


@pytest.mark.parametrize("with_start", [True, False])
def test_report_shows_start_and_trained_side_by_side(tmp_path: Path, with_start: bool) -> None:
    data = dataset(tmp_path / "data", 3)
    metrics = {"hmean": 0.98, "precision": 0.97}
    if with_start:
        metrics |= {"start_hmean": 0.93, "start_precision": 0.91}
    start = predictions(tmp_path / "start", 3) if with_start else None
    out = tmp_path / "report.html"
    write_report(out, metrics, data, predictions(tmp_path / "trained", 3), 2, start_dir=start)
    text = out.read_text()
    assert text.count("<img ") == (4 if with_start else 2)  # two samples, one or two models each
    if with_start:
        assert "<th>starting weights</th><th>trained</th>" in text
        assert "<tr><td>hmean</td><td>0.9300</td><td>0.9800</td></tr>" in text
        assert "start_hmean" not in text
    else:
        assert "random initialisation" in text and "<tr><td>hmean</td><td>0.9800</td></tr>" in text


WEAKER = "weaker than the students' starting weights"


@pytest.mark.parametrize("meta, metrics, says, warns", [
    ({"recipe": "student-finetune"}, {"start_hmean": 0.97}, None, False),  # no teacher: nothing to say
    ({"recipe": "cml-finetune"}, {"start_hmean": 0.97}, None, False),  # a given teacher, not trained here
    ({"recipe": "full", "teacher_steps": 10.0, "teacher_hmean": 0.02}, {"start_hmean": 0.97},
     "recipe full: DML, 10 steps; hmean 0.0200 on these held-out images", True),
    ({"recipe": "dml-finetune", "teacher_steps": 400.0, "teacher_hmean": 0.99}, {"start_hmean": 0.97},
     "recipe dml-finetune: DML, 400 steps; hmean 0.9900", False),
    ({"recipe": "full", "teacher_steps": 4.0}, {}, "DML, 4 steps; never evaluated", True),
    ({"recipe": "full", "teacher_steps": 40.0, "teacher_hmean": 0.3}, {}, "DML, 40 steps; hmean 0.3000",
     False),
])
def test_teacher_note_says_how_trained_the_teacher_was(meta: dict, metrics: dict, says, warns: bool) -> None:
    note = teacher_note(meta, metrics)
    if says is None:
        assert note == ""
        return
    assert "teacher trained in this run" in note and says in note
    assert (WEAKER in note) == warns
    assert ("student-finetune" in note) == warns


def test_report_carries_the_teacher_note(tmp_path: Path) -> None:
    data = dataset(tmp_path / "data", 1)
    metrics = {"hmean": 0.9, "start_hmean": 0.97}
    meta = {"recipe": "full", "teacher_steps": 10.0, "teacher_hmean": 0.05}
    out = tmp_path / "report.html"
    trained, start = predictions(tmp_path / "trained", 1), predictions(tmp_path / "start", 1)
    write_report(out, metrics, data, trained, 1, start, meta)
    assert "teacher trained in this run" in out.read_text() and WEAKER in out.read_text()


@pytest.mark.parametrize("metrics, says", [
    ({"hmean": 0.9635, "start_hmean": 0.9710}, "(hmean 0.9635 &lt; 0.9710)"),
    ({"hmean": 0.9778, "start_hmean": 0.9710}, None),
    ({"hmean": 0.9710, "start_hmean": 0.9710}, None),  # not below
    ({"hmean": 0.5}, None),  # no starting weights
])
def test_below_start_note(metrics: dict, says) -> None:
    note = below_start_note(metrics)
    assert (says in note) if says else note == ""
