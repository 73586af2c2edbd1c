"""The evaluate report: starting weights next to the trained model (metrics and drawn detections)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from components.report import write_report

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
