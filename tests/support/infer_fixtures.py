"""Shared helpers for the eval / export / infer tests: configs, random-weight students, exported folders."""

from __future__ import annotations

from pathlib import Path

import paddle

from det_model.config import config_path, load_config
from det_model.config.schema import DetConfig
from det_model.modeling import build_model

from support.paths import RELEASED_ONNX, SAMPLE_DIR

__all__ = ["RELEASED_ONNX", "SAMPLE_DIR", "config", "random_weights"]


def config(recipe: str, *overrides: str) -> DetConfig:
    return load_config(config_path(recipe), ["Global.use_gpu=false", *overrides])


def random_weights(cfg: DetConfig, path: Path, seed: int = 7) -> Path:
    """Save a freshly initialised model of `cfg.Architecture` as `.pdparams` (export needs weights)."""
    paddle.seed(seed)
    model = build_model(cfg.Architecture)
    paddle.save(model.state_dict(), str(path))
    return path
