"""Fine-tuning the released PP-OCRv3 student (imported from ONNX) on the ICDAR2015 sample training images.

Slow (minutes on 2 CPU cores): run with `make test-slow`. The figures are recorded in docs/training.md.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from det_model.config import config_path, load_config
from det_model.evaluation import evaluate_checkpoint, evaluator
from det_model.modeling.onnx_import import import_onnx
from det_model.training import train
from support.paths import RELEASED_ONNX as ONNX
from support.paths import SAMPLE_DIR as SAMPLE

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (SAMPLE / "label.txt").exists() or not ONNX.exists(),
                       reason="needs ../shared/data/icdar2015_sample and ../shared/models/ch_PP-OCRv3_det_infer.onnx"),
]


def _train_images_label(tmp_path: Path) -> Path:
    lines = [l for l in (SAMPLE / "label.txt").read_text(encoding="utf-8").splitlines() if "/train_img_" in l]
    label = tmp_path / "train_label.txt"
    label.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return label


def test_finetuning_the_released_student_raises_train_hmean(tmp_path: Path) -> None:
    weights = tmp_path / "ppocrv3_student.pdparams"
    import_onnx(ONNX, weights)
    label = _train_images_label(tmp_path)
    data = [f"Train.dataset.data_dir={SAMPLE}", f"Train.dataset.label_file_list=[{label}]",
            f"Eval.dataset.data_dir={SAMPLE}", f"Eval.dataset.label_file_list=[{label}]",
            "Global.use_gpu=false", "Eval.loader.num_workers=0"]
    recipe = config_path("ch_PP-OCRv3_det_student.yml")
    pretrained = load_config(recipe, data + [f"Global.pretrained_model={weights}"])
    before = evaluate_checkpoint(pretrained, tmp_path / "before")
    cfg = load_config(recipe, data + [
        f"Global.pretrained_model={weights}", f"Global.save_model_dir={tmp_path / 'ft'}",
        "Global.epoch_num=30", "Global.eval_batch_step=[0, 30]", "Global.print_batch_step=10",
        "Optimizer.lr.learning_rate=0.0005", "Optimizer.lr.warmup_epoch=1",
        "Train.dataset.transforms.3.EastRandomCropData.size=[640, 640]",
        "Train.loader.batch_size_per_card=4", "Train.loader.num_workers=2",
    ])
    result = train(cfg, evaluate=evaluator(cfg))
    tuned = load_config(recipe, data + [f"Global.checkpoints={tmp_path / 'ft' / 'best_accuracy'}"])
    after = evaluate_checkpoint(tuned, tmp_path / "after")
    record = {"before": before["hmean"], "after": after["hmean"], "steps": result.global_step}
    print("fine-tune result:", json.dumps(record))
    assert after["hmean"] > before["hmean"], record
