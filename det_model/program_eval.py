"""Evaluation through the program `det-model export` writes, run by the predictor `det-model infer` builds.

`run_evaluation` calls `program_forward(detector)` once per evaluation for the (sub-)model it scores: the
detector's probability-map wrapper (`ProbabilityMap`, with the exported DB head) is traced to an old-IR
program in a scratch folder and loaded with `create_predictor`'s `det-model infer` settings (oneDNN, CPU
threads; the GPU when the evaluation runs on one). The forward passes then cost what inference costs, and the
maps, hence the boxes, are those `det-model infer` finds on the same input tensors. Building it (trace + save +
predictor) costs a few seconds, once per evaluation (docs/benchmarks.md, section eval).
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import paddle
from paddle import nn

from det_model.config.schema import DetConfig
from det_model.export import ProbabilityMap, save_inference_program
from det_model.inference.predictor import create_predictor, run_predictor

logger = logging.getLogger(__name__)

CPU_THREADS = 2  # det-model infer's default


def program_forward(detector: nn.Layer) -> Callable[[Any], np.ndarray]:
    """(N, 3, H, W) image batch (paddle or numpy) -> probability maps (N, 1, H, W) via the inference program."""
    tick = time.perf_counter()
    was_training = detector.training
    detector.eval()
    use_gpu = "gpu" in str(paddle.get_device())
    with tempfile.TemporaryDirectory(prefix="eval-program-") as scratch:
        save_inference_program(ProbabilityMap(detector), Path(scratch), with_pir=False)
        predictor = create_predictor(scratch, cpu_threads=CPU_THREADS, enable_mkldnn=not use_gpu, use_gpu=use_gpu)
    if was_training:
        detector.train()
    logger.info("evaluation program built in %.1f s", time.perf_counter() - tick)

    def forward(image: Any) -> np.ndarray:
        array = image.numpy() if isinstance(image, paddle.Tensor) else np.asarray(image, np.float32)
        return run_predictor(predictor, array)

    return forward


def forward_builder(cfg: DetConfig) -> Callable[[nn.Layer], Callable[[Any], np.ndarray]] | None:
    """What run_evaluation's `build` gets: program_forward, or None (dygraph) when
    `Global.eval_with_inference_program` is false."""
    return program_forward if cfg.Global.eval_with_inference_program else None
