"""From scratch on synthetic scene text, the PP-OCRv3 student reaches hmean >= 0.85 on held-out images
within 30 minutes on 2 CPU cores.

Slow (about half an hour): run with `make test-slow`. The recorded curves are in docs/training.md.
Paddle's CPU training kernels use one core per process (more OpenMP threads make a step slower), so the
recipe trains data parallel with `det-model train --nproc 2`, one process per core, 4 images per process.
A fixed step budget (not a time limit) keeps the run deterministic; its wall time is printed and checked
against the 30 minutes only as a report line, never as an assertion.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from det_model.data.sources.synth import generate_synthetic
from det_model.training.history import read_history

pytestmark = pytest.mark.slow

TARGET_HMEAN = 0.85
PROCESSES = 2
# docs/training.md run E: the student config with PaddleOCR's augmentation, a 320 crop, global batch 8.
SYNTHETIC_OVERRIDES = [
    "Global.epoch_num=14",
    "Global.eval_batch_step=[0, 75]",
    "Global.print_batch_step=25",
    "Global.use_gpu=false",
    "Optimizer.lr.learning_rate=0.004",
    "Optimizer.lr.warmup_epoch=1",
    "Train.dataset.transforms.3.EastRandomCropData.size=[320, 320]",
    "Train.loader.batch_size_per_card=4",
    "Train.loader.num_workers=1",
    "Eval.dataset.transforms.2.DetResizeForTest.limit_side_len=512",
    "Eval.dataset.transforms.2.DetResizeForTest.limit_type=max",
    "Eval.loader.num_workers=0",
]


def test_student_from_scratch_reaches_085_hmean_on_synthetic_text(tmp_path: Path) -> None:
    start = time.monotonic()
    train_label = generate_synthetic(tmp_path / "train", 600, seed=1)
    val_label = generate_synthetic(tmp_path / "val", 60, seed=2)
    overrides = SYNTHETIC_OVERRIDES + [
        f"Global.save_model_dir={tmp_path / 'out'}",
        f"Train.dataset.data_dir={train_label.parent}",
        f"Train.dataset.label_file_list=[{train_label}]",
        f"Eval.dataset.data_dir={val_label.parent}",
        f"Eval.dataset.label_file_list=[{val_label}]",
    ]
    run = subprocess.run(
        [sys.executable, "-m", "det_model", "train", "--nproc", str(PROCESSES),
         "--launch-log-dir", str(tmp_path / "log"), "-c", "ch_PP-OCRv3_det_student.yml", "-o", *overrides],
        capture_output=True, text=True, timeout=3 * 3600,
    )
    minutes = (time.monotonic() - start) / 60
    assert run.returncode == 0, run.stderr[-3000:]
    curve = [(r["global_step"], round(r["hmean"], 4), round(r["elapsed_s"] / 60, 1))
             for r in read_history(tmp_path / "out" / "metrics.jsonl") if r["type"] == "eval"]
    print(f"synthetic curve (step, hmean, minutes): {json.dumps(curve)}; wall {minutes:.1f} min "
          f"(issue budget 30 min on 2 cores)")
    best = max(hmean for _, hmean, _ in curve)
    assert best >= TARGET_HMEAN, curve
