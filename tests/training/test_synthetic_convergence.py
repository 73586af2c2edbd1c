"""From scratch on synthetic scene text, the PP-OCRv3 student reaches hmean >= 0.85 on held-out images.

Slow (about half an hour on 2 CPU cores): run with `make test-slow`. The recorded curve is in docs/training.md.
A fixed step budget (not a time limit) keeps the test deterministic; its wall time is reported, not asserted.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from det_model.config import config_path, load_config
from det_model.data.sources.synth import generate_synthetic
from det_model.training import train
from det_model.training.history import read_history

pytestmark = [
    pytest.mark.slow,
    # An open target, not a flaky test: the recorded runs reach 0.826-0.832 (docs/training.md).
    pytest.mark.xfail(reason="open: best recorded hmean 0.83 < 0.85 (docs/training.md)", strict=False),
]

# The recipe of docs/training.md: the student config with PaddleOCR's augmentation, a 320 crop, batch 8.
SYNTHETIC_OVERRIDES = [
    "Global.epoch_num=10",
    "Global.eval_batch_step=[0, 75]",
    "Global.print_batch_step=25",
    "Global.use_gpu=false",
    "Optimizer.lr.learning_rate=0.002",
    "Optimizer.lr.warmup_epoch=1",
    "Train.dataset.transforms.3.EastRandomCropData.size=[320, 320]",
    "Train.loader.batch_size_per_card=8",
    "Train.loader.num_workers=2",
    "Eval.dataset.transforms.2.DetResizeForTest.limit_side_len=512",
    "Eval.dataset.transforms.2.DetResizeForTest.limit_type=max",
    "Eval.loader.num_workers=0",
]


def test_student_from_scratch_reaches_085_hmean_on_synthetic_text(tmp_path: Path) -> None:
    train_label = generate_synthetic(tmp_path / "train", 600, seed=1)
    val_label = generate_synthetic(tmp_path / "val", 60, seed=2)
    overrides = SYNTHETIC_OVERRIDES + [
        f"Global.save_model_dir={tmp_path / 'out'}",
        f"Train.dataset.data_dir={train_label.parent}",
        f"Train.dataset.label_file_list=[{train_label}]",
        f"Eval.dataset.data_dir={val_label.parent}",
        f"Eval.dataset.label_file_list=[{val_label}]",
    ]
    result = train(load_config(config_path("ch_PP-OCRv3_det_student.yml"), overrides))
    curve = [(r["global_step"], round(r["hmean"], 4), r["elapsed_s"])
             for r in read_history(tmp_path / "out" / "metrics.jsonl") if r["type"] == "eval"]
    print("synthetic curve (step, hmean, seconds):", json.dumps(curve))
    assert result.best_metrics["hmean"] >= 0.85, curve
