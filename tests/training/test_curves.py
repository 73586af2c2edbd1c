"""Training-curves page (det_model.training.curves) from a metrics.jsonl history built in code."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import cv2
import numpy as np

from det_model.training.curves import series, write_curves_html


def history(path: Path) -> Path:
    records = [
        {
            "type": "train",
            "epoch": 1,
            "global_step": s,
            "lr": 0.001,
            "ips": 3.0,
            "loss": 2.0 / s,
            "loss_shrink_maps": 1.0 / s,
        }
        for s in (1, 2, 3, 4)
    ] + [{"type": "eval", "epoch": 1, "global_step": s, "hmean": 0.1 * s, "precision": 0.2} for s in (2, 4)]
    path.write_text("\n".join(json.dumps(r) for r in records))
    return path


def test_series_split_loss_terms_and_eval_metrics(tmp_path: Path) -> None:
    from det_model.training.history import read_history

    records = read_history(history(tmp_path / "metrics.jsonl"))
    assert set(series(records, "train")) == {"loss", "loss_shrink_maps"}  # lr/ips are not curves
    assert series(records, "eval")["hmean"] == [(2, 0.2), (4, 0.4)]


def test_page_embeds_a_real_plot_and_the_last_evaluation(tmp_path: Path) -> None:
    out = tmp_path / "curves.html"
    last = write_curves_html(history(tmp_path / "metrics.jsonl"), out, "train-cml-student")
    assert last == {"hmean": 0.4, "precision": 0.2}
    page = out.read_text()
    (png,) = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page)
    image = cv2.imdecode(np.frombuffer(base64.b64decode(png), np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and image.shape[1] > 400 and image.std() > 10  # a drawn figure, not a blank
    assert "<td>hmean</td><td>0.4000</td>" in page


def test_missing_history_says_so(tmp_path: Path) -> None:
    out = tmp_path / "curves.html"
    assert write_curves_html(tmp_path / "absent.jsonl", out, "t") == {}
    assert "No training history" in out.read_text()
