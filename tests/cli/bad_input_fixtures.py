"""Bad inputs built in code for the issue-16 table: tiny data sets, broken images and label files."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

SIZE = 64


def text_image(seed: int) -> tuple[np.ndarray, list[dict]]:
    """A 64x64 light image with one dark bar and its label entry."""
    rng = np.random.default_rng(seed)
    image = np.full((SIZE, SIZE, 3), int(rng.integers(170, 255)), np.uint8)
    x0, y0 = int(rng.integers(2, 20)), int(rng.integers(2, 40))
    cv2.rectangle(image, (x0, y0), (x0 + 36, y0 + 12), (20, 20, 20), -1)
    box = {"transcription": "text", "points": [[x0, y0], [x0 + 36, y0], [x0 + 36, y0 + 12], [x0, y0 + 12]]}
    return image, [box]


def write_dataset(root: Path, count: int = 4, corrupt: tuple[int, ...] = ()) -> Path:
    """`count` images under root/images with a label file; images listed in `corrupt` are text, not PNG."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    lines = []
    for index in range(count):
        name = f"images/img_{index}.png"
        image, boxes = text_image(index)
        if index in corrupt:
            (root / name).write_text("this is not an image\n")
        else:
            cv2.imwrite(str(root / name), image)
        lines.append(f"{name}\t{json.dumps(boxes)}")
    label = root / "label.txt"
    label.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return label


def train_args(data: Path, save_dir: Path, *extra: str, epochs: int = 1) -> list[str]:
    """`det-model train` of the student recipe on 64x64 images in seconds."""
    return ["train", "-c", "ch_PP-OCRv3_det_student.yml", "-o", f"Global.save_model_dir={save_dir}",
            f"Global.epoch_num={epochs}", "Global.use_gpu=false", "Global.print_batch_step=1",
            "Global.eval_batch_step=[0, 2]", f"Train.dataset.data_dir={data}",
            f"Train.dataset.label_file_list=[{data / 'label.txt'}]",
            f"Train.dataset.transforms.3.EastRandomCropData.size=[{SIZE}, {SIZE}]",
            "Train.loader.batch_size_per_card=2", "Train.loader.num_workers=0", *eval_overrides(data), *extra]


def eval_overrides(data: Path) -> list[str]:
    return [f"Eval.dataset.data_dir={data}", f"Eval.dataset.label_file_list=[{data / 'label.txt'}]",
            f"Eval.dataset.transforms.2.DetResizeForTest.limit_side_len={SIZE}",
            "Eval.dataset.transforms.2.DetResizeForTest.limit_type=min", "Eval.loader.num_workers=0"]


def eval_args(data: Path, weights: Path, out: Path, *extra: str) -> list[str]:
    return ["eval", "-c", "ch_PP-OCRv3_det_student.yml", "-o", "Global.use_gpu=false",
            f"Global.pretrained_model={weights}", *eval_overrides(data), *extra, "--out", str(out)]
