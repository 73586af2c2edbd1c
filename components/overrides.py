"""The `-o Section.key=value` lists the components pass to det_model: data, schedule, sizes, weights, resume."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Optional

from components.recipe_inputs import pretrained_overrides
from components.settings import TrainSettings
from det_model.config import DetConfig
from det_model.config.schema import DetResizeForTestConfig, EastRandomCropDataConfig
from det_model.data.fetch.layout import EVAL_LABEL, TRAIN_LABEL
from det_model.device import has_gpu
from det_model.training.checkpoint import BEST, LATEST

log = logging.getLogger(__name__)


def yaml_value(value: object) -> str:
    """JSON is valid YAML: quoting keeps paths with ':' or ',' intact through PaddleOCR's `-o` parsing."""
    return json.dumps(value)


def dataset_overrides(data_dir: str) -> list[str]:
    """Point Train and Eval at the Dataset artifact of fetch_hiertext (det_model.data.fetch.layout)."""
    return [
        f"Train.dataset.data_dir={yaml_value(data_dir)}",
        f"Train.dataset.label_file_list={yaml_value([f'{data_dir}/{TRAIN_LABEL}'])}",
        f"Eval.dataset.data_dir={yaml_value(data_dir)}",
        f"Eval.dataset.label_file_list={yaml_value([f'{data_dir}/{EVAL_LABEL}'])}",
    ]


def transform_index(cfg: DetConfig, section: str, kind: type) -> Optional[int]:
    """Index of the first transform of type `kind` in `section`.dataset.transforms (differs per recipe)."""
    data = getattr(cfg, section)
    for i, op in enumerate(data.dataset.transforms if data else ()):
        if isinstance(op, kind):
            return i
    return None


def size_overrides(recipe: DetConfig, image_size: int, eval_side_len: int) -> list[str]:
    """Training crop (EastRandomCropData.size) and eval resize (DetResizeForTest.limit_side_len) overrides."""
    out = []
    crop = transform_index(recipe, "Train", EastRandomCropDataConfig)
    if crop is not None and image_size > 0:
        out.append(f"Train.dataset.transforms.{crop}.EastRandomCropData.size=[{image_size},{image_size}]")
    resize = transform_index(recipe, "Eval", DetResizeForTestConfig)
    if resize is not None and eval_side_len > 0:
        out.append(f"Eval.dataset.transforms.{resize}.DetResizeForTest.limit_side_len={eval_side_len}")
    return out


def training_overrides(s: TrainSettings, recipe: DetConfig, save_dir: Path) -> list[str]:
    """The `-o` list of a stage: data, schedule, hardware, pretrained, then the user's free overrides."""
    out = dataset_overrides(s.dataset_dir) + [
        f"Global.save_model_dir={yaml_value(str(save_dir))}",
        f"Global.epoch_num={s.epochs}",
        f"Global.eval_batch_step=[0,{s.eval_interval}]",
        f"Global.use_gpu={yaml_value(s.gpus > 0)}",
        f"Global.use_amp={yaml_value(s.use_amp)}",
        f"Train.loader.batch_size_per_card={s.batch_size}",
        f"Train.loader.num_workers={s.num_workers}",
        f"Eval.loader.num_workers={s.num_workers}",
        f"Optimizer.lr.learning_rate={s.learning_rate}",
    ]
    out += size_overrides(recipe, s.image_size, s.eval_side_len)
    out += pretrained_overrides(recipe, s.pretrained)
    if (save_dir / f"{LATEST}.pdparams").exists():  # a retried step: continue from the last saved epoch
        log.info("resuming from %s/%s", save_dir, LATEST)
        out.append(f"Global.checkpoints={yaml_value(str(save_dir / LATEST))}")
    return out + list(s.overrides)


def inference_overrides(recipe: DetConfig, model_dir: str, dataset_dir: str = "") -> list[str]:
    """For evaluate/export: load weights from the trained Model and drop training-time pretrained paths."""
    out = [
        f"Global.checkpoints={yaml_value(f'{model_dir}/{BEST}')}",
        f"Global.use_gpu={yaml_value(has_gpu())}",
    ]
    sub_models = recipe.Architecture.Models if recipe.is_distillation else {}
    out += [f"Architecture.Models.{name}.pretrained=null" for name in sub_models]
    return out + (dataset_overrides(dataset_dir) if dataset_dir else [])
