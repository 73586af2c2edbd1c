"""Tiny synthetic detection data (drawn here) and overrides that make every recipe run in seconds."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

IMAGE_SIZE = 64


def write_tiny_dataset(root: Path, count: int, seed: int) -> Path:
    """`count` 64x64 images with one or two dark text-like bars each, plus a PaddleOCR label file."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    lines = []
    for index in range(count):
        image = np.full((IMAGE_SIZE, IMAGE_SIZE, 3), rng.integers(170, 255), np.uint8)
        boxes = []
        for _ in range(int(rng.integers(1, 3))):
            x0, y0 = int(rng.integers(2, 24)), int(rng.integers(2, 48))
            w, h = int(rng.integers(24, 38)), int(rng.integers(10, 14))
            cv2.rectangle(image, (x0, y0), (x0 + w, y0 + h), (20, 20, 20), -1)
            boxes.append({"transcription": "text", "points": [[x0, y0], [x0 + w, y0], [x0 + w, y0 + h], [x0, y0 + h]]})
        name = f"images/img_{index}.png"
        cv2.imwrite(str(root / name), image)
        lines.append(f"{name}\t{json.dumps(boxes)}")
    label = root / "label.txt"
    label.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return label


def tiny_overrides(data_dir: Path, label: Path, save_dir: Path, *, recipe: str, epochs: int = 1) -> list[str]:
    crop_index = 3 if recipe == "student" else 4  # the student recipe has no CopyPaste
    return [
        f"Global.save_model_dir={save_dir}",
        f"Global.epoch_num={epochs}",
        "Global.use_gpu=false",
        "Global.print_batch_step=1",
        "Global.eval_batch_step=[0, 2]",
        f"Train.dataset.data_dir={data_dir}",
        f"Train.dataset.label_file_list=[{label}]",
        f"Train.dataset.transforms.{crop_index}.EastRandomCropData.size=[{IMAGE_SIZE}, {IMAGE_SIZE}]",
        "Train.loader.batch_size_per_card=2",
        "Train.loader.num_workers=0",
        f"Eval.dataset.data_dir={data_dir}",
        f"Eval.dataset.label_file_list=[{label}]",
        f"Eval.dataset.transforms.2.DetResizeForTest.limit_side_len={IMAGE_SIZE}",
        "Eval.dataset.transforms.2.DetResizeForTest.limit_type=min",
        "Eval.loader.num_workers=0",
    ]
