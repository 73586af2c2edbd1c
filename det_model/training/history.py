"""Smoothed loss logging (median over `log_smooth_window`, as PaddleOCR logs) and the metrics.jsonl history."""

from __future__ import annotations

import json
import logging
import os
import time
from collections import deque
from pathlib import Path
from statistics import median
from typing import Any, Optional

logger = logging.getLogger(__name__)

METRICS_LOG = "metrics.jsonl"  # one JSON record per train log / evaluation, in the save folder


class SmoothedLosses:
    def __init__(self, window: int, recent: Optional[dict[str, list[float]]] = None):
        self.window = max(1, window)
        self.values: dict[str, deque[float]] = {}
        self.update_many(recent or {})

    def update_many(self, recent: dict[str, list[float]]) -> None:
        """Refill the window (a resumed run logs the medians an uninterrupted run would)."""
        for key, values in recent.items():
            self.values.setdefault(key, deque(maxlen=self.window)).extend(values)

    def recent(self) -> dict[str, list[float]]:
        return {key: list(values) for key, values in self.values.items()}

    def update(self, values: dict[str, float]) -> None:
        for key, value in values.items():
            self.values.setdefault(key, deque(maxlen=self.window)).append(value)

    def median(self, key: str) -> float:
        return median(self.values[key]) if self.values.get(key) else float("nan")

    def medians(self) -> dict[str, float]:
        return {key: median(values) for key, values in self.values.items() if values}


class MetricsHistory:
    """Appends one JSON object per line (train logs and eval results) for curves; None path = no file (rank > 0)."""

    def __init__(self, path: Optional[Path], elapsed_before: float = 0.0):
        self.path = path
        self.started = time.monotonic() - elapsed_before  # a resumed run continues the clock
        self._handle = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = open(path, "a", encoding="utf-8")

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def write(self, record: dict[str, Any]) -> None:
        if self._handle is not None:
            record = {**record, "elapsed_s": round(self.elapsed(), 2)}
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


def file_sizes(paths: list[Path]) -> dict[str, int]:
    """Current sizes of the log files that exist, by file name (stored with a checkpoint)."""
    return {p.name: p.stat().st_size for p in paths if p.is_file()}


def rewind_logs(directory: Path, sizes: dict[str, int]) -> None:
    """Cut each log file back to its size at the checkpoint being resumed, so that the history after the resume
    reads as one uninterrupted run. The cut tail (steps that are trained again) is appended to
    `<name>.discarded` next to it, so nothing written is lost."""
    for name, size in sizes.items():
        path = directory / name
        if not path.is_file() or path.stat().st_size <= size:
            continue
        with open(path, "rb+") as handle:
            handle.seek(size)
            tail = handle.read()
            with open(directory / f"{name}.discarded", "ab") as discarded:
                discarded.write(tail)
                discarded.flush()
                os.fsync(discarded.fileno())
            handle.truncate(size)
        logger.info("%s: rewound to the checkpoint (%d bytes of replaced history moved to %s.discarded)",
                    path, len(tail), name)
