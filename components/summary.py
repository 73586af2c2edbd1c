"""Flat training summaries for KFP Metrics artifacts, and the tail both training components share."""

from __future__ import annotations

from pathlib import Path

from det_model.training.history import read_history


def summarise(best: dict[str, float], epochs: int, steps: int) -> dict[str, float]:
    """Flat metrics for a KFP Metrics artifact: best_<key> per best-checkpoint value, epochs, steps."""
    numbers = {k: float(v) for k, v in best.items() if isinstance(v, (int, float))}
    out = {(k if k.startswith("best_") else f"best_{k}"): v for k, v in numbers.items()}
    return out | {"epochs": float(epochs), "steps": float(steps)}


def summarise_metrics_log(path: Path) -> dict[str, float]:
    """Best hmean record of a metrics.jsonl (one JSON object per evaluation) as `summarise` does it."""
    records = read_history(path) if path.exists() else []
    evals = [r for r in records if "hmean" in r]
    best = max(evals, key=lambda r: r["hmean"], default={})
    epochs = max((int(r.get("epoch", 0)) for r in records), default=0)
    steps = max((int(r.get("global_step", 0)) for r in records), default=0)
    return summarise({k: v for k, v in best.items() if k not in ("epoch", "global_step")}, epochs, steps)


def record_training(summary: dict[str, float], metrics, model) -> None:
    """Log `summary` to the Metrics artifact and stamp the Model artifact (both training components)."""
    for key, value in summary.items():
        metrics.log_metric(key, value)
    model.metadata.update({"framework": "paddlepaddle", "layout": "paddleocr-checkpoints", **summary})
