"""Training curves from a metrics.jsonl history: loss terms per logged step, eval metrics per evaluation.

`write_curves_html` gives one self-contained HTML page (a PNG plot embedded as a data URI plus the last
values in a table), which the KFP UI shows as an HTML visualisation of the training tasks.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any, Sequence

from det_model.training.history import read_history

NOT_PLOTTED = {"type", "epoch", "global_step", "elapsed_s", "lr", "ips"}


def series(records: Sequence[dict[str, Any]], kind: str) -> dict[str, list[tuple[int, float]]]:
    """Metric name -> [(global_step, value)] over the records of one kind ('train' or 'eval')."""
    out: dict[str, list[tuple[int, float]]] = {}
    for record in records:
        if record.get("type") != kind:
            continue
        for key, value in record.items():
            if key not in NOT_PLOTTED and isinstance(value, (int, float)):
                out.setdefault(key, []).append((int(record.get("global_step", 0)), float(value)))
    return out


def curves_png(records: Sequence[dict[str, Any]], title: str) -> bytes:
    """Two panels: loss terms (log scale) and evaluation metrics, both against the global step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for ax, kind, label in ((left, "train", "loss terms (smoothed)"), (right, "eval", "evaluation")):
        for name, points in sorted(series(records, kind).items()):
            steps, values = zip(*points)
            ax.plot(steps, values, marker="o" if kind == "eval" else None, markersize=3, label=name)
        ax.set_title(label)
        ax.set_xlabel("global step")
        if ax.lines:
            ax.legend(fontsize=7)
    if left.lines and all(v > 0 for line in left.lines for v in line.get_ydata()):
        left.set_yscale("log")
    fig.suptitle(title)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    return buffer.getvalue()


def write_curves_html(history: Path, out: Path, title: str) -> dict[str, float]:
    """Write the curves page for `history` (a note when it is missing); return the last evaluation."""
    records = read_history(history) if history.exists() else []
    evals = series(records, "eval")
    last = {name: points[-1][1] for name, points in evals.items()}
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{v:.4f}</td></tr>" for k, v in sorted(last.items()))
    body = "<p>No training history was written.</p>"
    if records:
        png = base64.b64encode(curves_png(records, title)).decode()
        body = f'<img alt="training curves" src="data:image/png;base64,{png}">'
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        f"<html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head><body>"
        f"<h2>{html.escape(title)}</h2>{body}"
        f"<table border='1'><tr><th>last evaluation</th><th>value</th></tr>{rows}</table></body></html>",
        encoding="utf-8",
    )
    return last
