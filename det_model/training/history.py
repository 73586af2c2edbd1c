"""Smoothed loss logging (median over `log_smooth_window`, as PaddleOCR logs) and the metrics.jsonl history."""

from __future__ import annotations

import json
import time
from collections import deque
from pathlib import Path
from statistics import median
from typing import Any, Optional

METRICS_LOG = "metrics.jsonl"  # one JSON record per train log / evaluation, in the save folder


class SmoothedLosses:
    def __init__(self, window: int):
        self.window = max(1, window)
        self.values: dict[str, deque[float]] = {}

    def update(self, values: dict[str, float]) -> None:
        for key, value in values.items():
            self.values.setdefault(key, deque(maxlen=self.window)).append(value)

    def median(self, key: str) -> float:
        return median(self.values[key]) if self.values.get(key) else float("nan")

    def medians(self) -> dict[str, float]:
        return {key: median(values) for key, values in self.values.items() if values}


class MetricsHistory:
    """Appends one JSON object per line (train logs and eval results) for curves; None path = no file (rank > 0)."""

    def __init__(self, path: Optional[Path]):
        self.path = path
        self.started = time.monotonic()
        self._handle = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = open(path, "a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        if self._handle is not None:
            record = {**record, "elapsed_s": round(time.monotonic() - self.started, 2)}
            self._handle.write(json.dumps(record, sort_keys=False) + "\n")
            self._handle.flush()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def read_history(path: str | Path) -> list[dict[str, Any]]:
    """The records of a metrics.jsonl (one JSON object a line), in order."""
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]
