"""`det-model eval`: run a detector over the Eval set, decode with DBPostProcess, score with DetMetric.

PaddleOCR `tools/eval.py` + `tools/program.py::eval`. `fps` is images per second of forward time (network
plus copying the map to numpy), as PaddleOCR measures it; post-processing and metric time are excluded.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import paddle

from det_model.config.schema import DetConfig
from det_model.data.skips import NoUsableDataError, SkipStats
from det_model.device import select_device
from det_model.metrics import DetMetric, DistillationMetric, build_metric
from det_model.postprocess import DBPostProcess, Detections, DistillationDBPostProcess, build_postprocess
from det_model.progress import progress as progress_bar
from det_model.training.checkpoint import load_eval_weights

logger = logging.getLogger(__name__)

PREDICTIONS_FILE = "predictions.jsonl"
METRICS_FILE = "metrics.json"

__all__ = ["build_metric", "evaluate_checkpoint", "evaluator", "run_evaluation"]


def _as_numpy(value: Any) -> Any:
    if isinstance(value, paddle.Tensor):
        return value.numpy()
    if isinstance(value, (list, tuple)):
        return [_as_numpy(v) for v in value]
    return value


def _shrink_maps(outputs: Any) -> np.ndarray | dict[str, np.ndarray]:
    """Eval-mode model output -> (N, 1, H, W) probability maps (a dict per sub-model for distillation)."""
    if isinstance(outputs, Mapping):
        return {name: _shrink_maps(out) for name, out in outputs.items()}
    shrink = getattr(outputs, "shrink", outputs)  # DBMaps, or a bare tensor (exported models)
    return shrink.numpy() if isinstance(shrink, paddle.Tensor) else np.asarray(shrink)


def _update_metric(
    metric: DetMetric | DistillationMetric,
    postprocess: DBPostProcess | DistillationDBPostProcess,
    maps: np.ndarray | dict[str, np.ndarray],
    batch: Mapping[str, Any],
) -> list[Detections] | dict[str, list[Detections]]:
    """Decode `maps`, feed the metric, and return the detections (one list per sub-model for distillation)."""
    shapes = np.asarray(_as_numpy(batch["shape"]))
    polys, tags = _as_numpy(batch["polys"]), _as_numpy(batch["ignore_tags"])
    if isinstance(postprocess, DistillationDBPostProcess) != isinstance(maps, dict):
        raise ValueError(
            f"PostProcess {type(postprocess).__name__} does not fit the model output "
            f"({'one map per sub-model' if isinstance(maps, dict) else 'a single map'}): use "
            "DistillationDBPostProcess with a DistillationModel and DBPostProcess with a plain detector"
        )
    detections = postprocess(maps, shapes)
    if isinstance(detections, dict):
        if not isinstance(metric, DistillationMetric):
            raise ValueError("Metric: a DistillationDBPostProcess needs Metric.name DistillationMetric")
        metric.update_batch({name: [d.boxes for d in dets] for name, dets in detections.items()}, polys, tags)
    else:
        if isinstance(metric, DistillationMetric):
            raise ValueError("Metric: DistillationMetric needs PostProcess.name DistillationDBPostProcess")
        metric.update_batch([d.boxes for d in detections], polys, tags)
    return detections


def _prediction_records(batch: Mapping[str, Any], detections, metric) -> list[dict[str, Any]]:
    if isinstance(detections, dict):
        detections = detections.get(getattr(metric, "key", ""), next(iter(detections.values())))
    paths = batch.get("img_path") or [""] * len(detections)
    return [
        {"image": Path(path).name, "polygons": [np.asarray(b).tolist() for b in d.boxes],
         "scores": np.asarray(d.scores).round(4).tolist()}
        for path, d in zip(paths, detections)
    ]


ForwardBuilder = Callable[[paddle.nn.Layer], Callable[[Any], Any]]


def evaluated_forward(
    model: paddle.nn.Layer,
    postprocess: DBPostProcess | DistillationDBPostProcess,
    metric: DetMetric | DistillationMetric,
    all_sub_models: bool,
    build: ForwardBuilder | None = None,
) -> tuple[Callable[[paddle.Tensor], Any], DBPostProcess | DistillationDBPostProcess]:
    """(forward, post-processing) of an evaluation. A distillation model scored by a DistillationMetric
    runs only the sub-model the metric reports (`Metric.key`, e.g. Student: not the ResNet50 teacher and
    Student2, which PaddleOCR also runs); `Global.eval_all_sub_models` runs and scores all of them.
    `build(detector)`, when given, makes the forward of a single detector once per evaluation (the CLI and
    pipeline pass det_model.program_eval.program_forward: the inference program)."""
    key = getattr(metric, "key", None)  # DistillationModel: model_names + sub_model(name)
    names = getattr(model, "model_names", ())
    if all_sub_models or key not in names or not isinstance(postprocess, DistillationDBPostProcess):
        return (build(model) if build and not names else model), postprocess
    sub_model = model.sub_model(key)
    run = build(sub_model) if build else sub_model
    return (lambda image: {key: run(image)}), DistillationDBPostProcess((key,), postprocess.postprocess)


def run_evaluation(
    model: paddle.nn.Layer,
    loader: Iterable[Mapping[str, Any]],
    postprocess: DBPostProcess | DistillationDBPostProcess,
    metric: DetMetric | DistillationMetric,
    *,
    progress: bool = True,
    predictions: list[dict[str, Any]] | None = None,
    all_sub_models: bool = False,
    build: ForwardBuilder | None = None,
) -> dict[str, float]:
    """Evaluate `model` on batches with `image`, `shape`, `polys`, `ignore_tags` (KeepKeys order-free).

    The model runs in eval mode under no_grad and is put back in its previous mode afterwards.
    Returns the metric's dict (precision, recall, hmean, counts, ...) plus `fps`. When `predictions` is a
    list, one {"image", "polygons", "scores"} per image is appended (the metric's key model for distillation).
    Which sub-models run: `evaluated_forward`.
    """
    forward, postprocess = evaluated_forward(model, postprocess, metric, all_sub_models, build)
    was_training = model.training
    model.eval()
    forward_seconds, images = 0.0, 0
    try:
        with paddle.no_grad():
            for batch in progress_bar(loader, desc="eval", unit="batches", enabled=progress):
                image = batch["image"]
                image = image if isinstance(image, paddle.Tensor) else paddle.to_tensor(np.asarray(image))
                start = time.perf_counter()
                maps = _shrink_maps(forward(image))
                forward_seconds += time.perf_counter() - start
                images += int(image.shape[0])
                detections = _update_metric(metric, postprocess, maps, batch)
                if predictions is not None:
                    predictions.extend(_prediction_records(batch, detections, metric))
    finally:
        if was_training:
            model.train()
    if images == 0:
        raise NoUsableDataError(f"no usable evaluation image (every sample was skipped):\n"
                                f"{loader_skips(loader).summary()}")
    result = metric.get_metric()
    result["fps"] = images / forward_seconds if forward_seconds > 0 else 0.0
    return result


def loader_skips(loader: Any) -> SkipStats:
    """Skipped label lines (at load) and samples (last pass) of a DetDataLoader; empty for other iterables."""
    skipped = SkipStats()
    for stats in (getattr(getattr(loader, "dataset", None), "load_skips", None),
                  getattr(loader, "epoch_skips", None)):
        if stats:
            skipped.merge(stats)
    return skipped


def evaluator(
    cfg: DetConfig, build: ForwardBuilder | None = None
) -> Callable[[paddle.nn.Layer, Iterable[Mapping[str, Any]]], dict[str, float]]:
    """run_evaluation with `cfg`'s PostProcess and a fresh Metric per call, quietly (the trainer's evaluate)."""

    def evaluate(model: paddle.nn.Layer, loader: Iterable[Mapping[str, Any]]) -> dict[str, float]:
        return run_evaluation(
            model, loader, build_postprocess(cfg.PostProcess), build_metric(cfg.Metric), progress=False,
            all_sub_models=cfg.Global.eval_all_sub_models, build=build,
        )

    return evaluate


def evaluate_checkpoint(
    cfg: DetConfig, out_dir: str | Path, build: ForwardBuilder | None = None
) -> dict[str, float]:
    """`det-model eval`: build, load weights, evaluate `cfg.Eval`; returns the metrics, also written to
    out_dir/metrics.json (with the weights, config and device used)."""
    from det_model.data.dataset import build_dataloader
    from det_model.modeling import build_model

    if cfg.Eval is None:
        raise ValueError(f"{cfg.source or 'config'}: an Eval section is required for det-model eval")
    device = select_device(cfg.Global.use_gpu)
    model = build_model(cfg.Architecture)
    weights = load_eval_weights(cfg, model)
    loader = build_dataloader(cfg.Eval, mode="eval", seed=cfg.Global.seed)
    predictions: list[dict[str, Any]] = []
    metrics = run_evaluation(
        model, loader, build_postprocess(cfg.PostProcess), build_metric(cfg.Metric), predictions=predictions,
        all_sub_models=cfg.Global.eval_all_sub_models, build=build,
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / PREDICTIONS_FILE, "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(p) + "\n" for p in predictions)
    skipped = dict(sorted(loader_skips(loader).counts.items()))  # by reason; {} when nothing was skipped
    record = {**metrics, "skipped": skipped, "weights": weights, "config": cfg.source, "device": device}
    (out / METRICS_FILE).write_text(json.dumps(record, indent=2) + "\n")
    logger.info("metrics written to %s", out / METRICS_FILE)
    return metrics
