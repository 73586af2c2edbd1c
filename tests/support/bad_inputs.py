"""Bad inputs built in code for tests/cli/test_bad_inputs.py (issue 16's table): tiny data sets, broken
images and label files."""

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


def write_dataset(root: Path, count: int = 4, corrupt: tuple[int, ...] = (), text: str = "text") -> Path:
    """`count` images under root/images with a label file; images listed in `corrupt` are text, not PNG;
    text="###" marks every box ignored (no scored text region)."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    lines = []
    for index in range(count):
        name = f"images/img_{index}.png"
        image, boxes = text_image(index)
        boxes = [{**box, "transcription": text} for box in boxes]
        if index in corrupt:
            (root / name).write_text("this is not an image\n")
        else:
            cv2.imwrite(str(root / name), image)
        lines.append(f"{name}\t{json.dumps(boxes)}")
    label = root / "label.txt"
    label.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return label


def train_args(data: Path, save_dir: Path, *extra: str, epochs: int = 1, recipe: str = "student") -> list[str]:
    """`det-model train` of a recipe on 64x64 images in seconds."""
    return ["train", "-c", f"ch_PP-OCRv3_det_{recipe}.yml", "-o", f"Global.save_model_dir={save_dir}",
            f"Global.epoch_num={epochs}", "Global.use_gpu=false", "Global.print_batch_step=1",
            "Global.eval_batch_step=[0, 2]", f"Train.dataset.data_dir={data}",
            f"Train.dataset.label_file_list=[{data / 'label.txt'}]",
            f"Train.dataset.transforms.EastRandomCropData.size=[{SIZE}, {SIZE}]",
            "Train.loader.batch_size_per_card=2", "Train.loader.num_workers=0", *eval_overrides(data), *extra]


def eval_overrides(data: Path) -> list[str]:
    return [f"Eval.dataset.data_dir={data}", f"Eval.dataset.label_file_list=[{data / 'label.txt'}]",
            f"Eval.dataset.transforms.2.DetResizeForTest.limit_side_len={SIZE}",
            "Eval.dataset.transforms.2.DetResizeForTest.limit_type=min", "Eval.loader.num_workers=0"]


def without_keys(weights: Path, out: Path, prefix: str) -> Path:
    """A copy of a .pdparams without the keys starting with `prefix` (weights that do not fit)."""
    import paddle

    state = paddle.load(str(weights))
    paddle.save({k: v for k, v in state.items() if not k.startswith(prefix)}, str(out))
    return out


def eval_args(data: Path, weights: Path, out: Path, *extra: str) -> list[str]:
    return ["eval", "-c", "ch_PP-OCRv3_det_student.yml", "-o", "Global.use_gpu=false",
            f"Global.pretrained_model={weights}", *eval_overrides(data), *extra, "--out", str(out)]


def write_jpeg(path: Path, seed: int = 0) -> bytes:
    image, _ = text_image(seed)
    ok, encoded = cv2.imencode(".jpg", image)
    assert ok
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encoded.tobytes())
    return encoded.tobytes()


def inspect_input(root: Path, defect: str) -> list[str]:
    """`data inspect` of a label file with one good image and one image with `defect`: truncated, text,
    missing or far_box."""
    write_jpeg(root / "good.jpg")
    box = [[4, 4], [40, 4], [40, 16], [4, 16]]
    if defect == "truncated":
        data = write_jpeg(root / "bad.jpg", seed=1)
        (root / "bad.jpg").write_bytes(data[: len(data) // 2])
    elif defect == "text":
        (root / "bad.jpg").write_text("hello, I am a text file\n")
    elif defect == "far_box":
        write_jpeg(root / "bad.jpg", seed=1)
        box = [[5000, 4000], [5040, 4000], [5040, 4012], [5000, 4012]]
    elif defect != "missing":
        raise ValueError(defect)
    entry = lambda points: json.dumps([{"transcription": "t", "points": points}])  # noqa: E731
    (root / "label.txt").write_text(f"good.jpg\t{entry([[4, 4], [40, 4], [40, 16], [4, 16]])}\n"
                                    f"bad.jpg\t{entry(box)}\n")
    return ["data", "inspect", str(root / "label.txt"), "--data-dir", str(root)]


def icdar_input(root: Path, defect: str) -> list[str]:
    """`data convert --format icdar2015` with two gt files; `defect`: missing_image or bad_line (img_1)."""
    (root / "gt").mkdir(parents=True)
    write_jpeg(root / "images" / "img_1.jpg")
    lines = ["1,1,30,1,30,12,1,12,good"]
    if defect == "bad_line":
        lines.append("1,1,thirty,1,30,12,1,12,bad")
        write_jpeg(root / "images" / "img_2.jpg")
    elif defect != "missing_image":
        raise ValueError(defect)
    (root / "gt" / "gt_img_1.txt").write_text("\n".join(lines) + "\n")
    (root / "gt" / "gt_img_2.txt").write_text("2,2,20,2,20,9,2,9,other\n")
    return ["data", "convert", "--format", "icdar2015", "--gt", str(root / "gt"), "--image-dir",
            str(root / "images"), "--out", str(root / "label.txt")]
