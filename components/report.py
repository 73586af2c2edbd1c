"""The evaluate step's HTML report (metrics + sample detections) and optional upload of run results.

Sample images show ground truth in green (don't-care `###` boxes in grey) and detections in red. Detections
come from `predictions.jsonl` in the evaluation folder (one `{"image": ..., "polygons": [[[x, y], ...], ...]}`
per line) when det_model.evaluation writes it; otherwise the samples show ground truth only and say so.
"""

from __future__ import annotations

import base64
import html
import json
import os
import urllib.parse
from pathlib import Path
from typing import Any, Mapping, Optional

from det_model.data.fetch.layout import EVAL_LABEL
from det_model.data.label_file import IGNORE_TRANSCRIPTIONS
from det_model.evaluation import PREDICTIONS_FILE

GT_COLOR, IGNORED_COLOR, PRED_COLOR = (0, 200, 0), (160, 160, 160), (0, 0, 255)  # BGR
MAX_SIDE = 640  # HierText pages are ~1600-4000 px: full-size PNGs made the report tens of MB
JPEG_QUALITY = 85


def load_predictions(eval_dir: Path) -> dict[str, list]:
    """Image name -> polygons, from eval_dir/predictions.jsonl (empty when absent)."""
    path = eval_dir / PREDICTIONS_FILE
    if not path.exists():
        return {}
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            out[Path(record["image"]).name] = record.get("polygons") or record.get("boxes") or []
    return out


def render_sample(image_path: Path, gt: list[dict], predictions: Optional[list]) -> Optional[str]:
    """A JPEG data URI of the image with boxes drawn, at most MAX_SIDE px, or None when it cannot be read."""
    import cv2
    import numpy as np

    image = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
    if image is None:
        return None
    for box in gt:
        color = IGNORED_COLOR if box.get("transcription") in IGNORE_TRANSCRIPTIONS else GT_COLOR
        cv2.polylines(image, [np.asarray(box["points"], np.int32)], True, color, 1)
    for polygon in predictions or []:
        cv2.polylines(image, [np.asarray(polygon, np.int32)], True, PRED_COLOR, 2)
    scale = MAX_SIDE / max(image.shape[:2])
    if scale < 1:  # boxes are drawn at full size first, so they stay where they belong
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    return f"data:image/jpeg;base64,{base64.b64encode(jpeg.tobytes()).decode()}" if ok else None


def metrics_table(metrics: dict[str, float], with_start: bool) -> str:
    """One row per metric; with starting weights, their value sits next to the trained model's."""
    if not with_start:
        rows = "".join(
            f"<tr><td>{html.escape(k)}</td><td>{v:.4f}</td></tr>" for k, v in sorted(metrics.items())
        )
        return f"<table border='1'><tr><th>metric</th><th>value</th></tr>{rows}</table>"
    keys = sorted(k for k in metrics if not k.startswith("start_"))
    cells = [(k, metrics.get(f"start_{k}", float("nan")), metrics[k]) for k in keys]
    rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{start:.4f}</td><td>{trained:.4f}</td></tr>"
        for k, start, trained in cells
    )
    return (
        "<table border='1'><tr><th>metric</th><th>starting weights</th><th>trained</th></tr>"
        f"{rows}</table>"
    )


def teacher_note(model_meta: Mapping[str, Any], metrics: Mapping[str, float]) -> str:
    """For a student distilled from a teacher trained in the same run (recipes full, dml-finetune): how long
    that teacher trained and how it scored, and, when it scores below the students' starting weights, what a
    teacher that brief was measured to do (docs/training.md)."""
    if "teacher_steps" not in model_meta:
        return ""
    steps, hmean = int(model_meta["teacher_steps"]), model_meta.get("teacher_hmean")
    scored = f"hmean {float(hmean):.4f} on these held-out images" if hmean is not None else "never evaluated"
    text = (
        f"The students were distilled (CML) from a teacher trained in this run (recipe "
        f"{html.escape(str(model_meta.get('recipe', '?')))}: DML, {steps} steps; {scored})."
    )
    start = metrics.get("start_hmean")
    if hmean is None or (start is not None and float(hmean) < start):
        text += (
            f"<br><b>This teacher is weaker than the students' starting weights"
            f"{f' (hmean {start:.4f})' if start is not None else ''}</b>, so it has nothing to teach them. "
            "Measured on the default local data (docs/training.md, 'A briefly trained teacher'): a 10-step "
            "teacher (hmean 0) neither helped nor measurably hurt the students, and the run took over ten "
            "times as long as recipe student-finetune, the better choice for a short run. The full recipe's "
            "teacher is meant to train for hundreds of epochs on GPUs."
        )
    return f"<p>{text}</p>"


def below_start_note(metrics: Mapping[str, float]) -> str:
    """Says so when the trained student scores below its starting weights on the same images."""
    start, trained = metrics.get("start_hmean"), metrics.get("hmean")
    if start is None or trained is None or trained >= start:
        return ""
    return (
        f"<p><b>The trained student scores below its starting weights on these images</b> (hmean "
        f"{trained:.4f} &lt; {start:.4f}).</p>"
    )


def _figure(image: Path, gt: list[dict], predictions: dict[str, list], caption: str) -> str:
    uri = render_sample(image, gt, predictions.get(image.name))
    return f'<figure><img src="{uri}"><figcaption>{html.escape(caption)}</figcaption></figure>' if uri else ""


def write_report(
    out: Path,
    metrics: dict[str, float],
    dataset_dir: Path,
    eval_dir: Path,
    num_samples: int,
    start_dir: Optional[Path] = None,
    model_meta: Mapping[str, Any] = {},  # noqa: B006 (read only)
) -> None:
    """HTML: the metrics table and `num_samples` held-out images with detections (start | trained with
    `start_dir`, the evaluation folder of the starting weights); `model_meta`, the trained Model's metadata,
    adds teacher_note."""
    predictions = load_predictions(eval_dir)
    start = load_predictions(start_dir) if start_dir else None
    rows = []
    lines = (dataset_dir / EVAL_LABEL).read_text(encoding="utf-8").splitlines()
    for line in lines[:num_samples]:
        name, _, boxes = line.partition("\t")
        gt = json.loads(boxes)
        cells = []
        if start is not None:
            cells.append(_figure(dataset_dir / name, gt, start, f"{name}: starting weights"))
        cells.append(_figure(dataset_dir / name, gt, predictions, f"{name}: trained"))
        rows.append(f"<div style='display:flex;gap:8px'>{''.join(cells)}</div>")
    note = (
        "" if predictions else "<p>No per-image predictions were written; samples show ground truth only.</p>"
    )
    heading = (
        "<p>Starting weights (what the students started from) and the trained student, on the same held-out "
        "images with the same settings.</p>"
        if start is not None
        else "<p>No starting weights were given: the students started from random initialisation.</p>"
    )
    heading += teacher_note(model_meta, metrics) + below_start_note(metrics)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        "<html><head><meta charset='utf-8'><title>PP-OCRv3 det evaluation</title></head><body>"
        f"<h2>Evaluation</h2>{heading}{metrics_table(metrics, start is not None)}"
        "<p>green: ground truth, grey: don't care (###), red: detections</p>"
        f"{note}{''.join(rows)}</body></html>",
        encoding="utf-8",
    )


def publish_results(results_uri: str, run_id: str, files: dict[str, Path]) -> None:
    """Copy `files` to `<results_uri>/<run_id>/<name>` (s3:// through the env-configured client, or file://).

    This gives `python -m pipelines compare` a known place to read a remote run's metrics from, without MLMD.
    """
    parts = urllib.parse.urlsplit(results_uri)
    present = {name: path for name, path in files.items() if path.exists()}
    if parts.scheme == "s3":
        from det_model.data.fetch.transport import minio_client_from_env

        client = minio_client_from_env()
        prefix = parts.path.strip("/")
        for name, path in present.items():
            client.fput_object(parts.netloc, "/".join(p for p in (prefix, run_id, name) if p), str(path))
    elif parts.scheme in ("file", ""):
        target = Path(urllib.parse.unquote(parts.path) if parts.scheme else results_uri) / run_id
        os.makedirs(target, exist_ok=True)
        for name, path in present.items():
            (target / name).write_bytes(path.read_bytes())
    else:
        raise ValueError(f"results_uri {results_uri!r}: known schemes: s3, file")
