"""Worker run by the PEER venv (numpy < 2, imgaug): PaddleOCR 2.7.3's own detection transforms, timed.

Invoked as `<peer python> bench/peer_transforms.py ROOT`; reads one JSON job per stdin line and answers each
with one JSON line, so the caller can interleave blocks of peer work with blocks of its own. It imports nothing from
this repository (the peer venv does not have it). PaddleOCR's package `__init__` files pull in paddle and
dozens of unrelated ops, so the needed files are imported under bare package stubs, and `paddle` (only named
by ppocr.utils.logging and tools/infer/utility.py, never called on this path) is a stub module.

Job fields: samples [{path, label}], chain [{OpName: kwargs}] (YAML form), start, count, seed, eval_resize
{limit_side_len, limit_type} or null, eval_repeats. Sample k (start <= k < start + count) uses image
k % len(samples) and seed + k.
"""

from __future__ import annotations

import json
import random
import sys
import time
import types
from pathlib import Path


def install_stubs(root: Path) -> None:
    """Package stubs whose __path__ points into the unpacked wheel, so their __init__ files do not run."""
    paddle = types.ModuleType("paddle")
    paddle.__path__ = []  # type: ignore[attr-defined]
    distributed = types.ModuleType("paddle.distributed")
    distributed.get_rank = lambda: 0  # type: ignore[attr-defined]
    inference = types.ModuleType("paddle.inference")
    paddle.distributed, paddle.inference = distributed, inference  # type: ignore[attr-defined]
    sys.modules.update({"paddle": paddle, "paddle.distributed": distributed, "paddle.inference": inference})
    for name, rel in [("ppocr", "ppocr"), ("ppocr.data", "ppocr/data"), ("ppocr.data.imaug", "ppocr/data/imaug"),
                      ("ppocr.data.imaug.vqa", "ppocr/data/imaug/vqa"), ("ppocr.utils", "ppocr/utils"),
                      ("tools", "tools"), ("tools.infer", "tools/infer")]:
        package = types.ModuleType(name)
        package.__path__ = [str(root / rel)]  # type: ignore[attr-defined]
        sys.modules[name] = package
    sys.path.insert(0, str(root))


def op_classes() -> dict:
    from ppocr.data.imaug.copy_paste import CopyPaste
    from ppocr.data.imaug.iaa_augment import IaaAugment
    from ppocr.data.imaug.label_ops import DetLabelEncode
    from ppocr.data.imaug.make_border_map import MakeBorderMap
    from ppocr.data.imaug.make_shrink_map import MakeShrinkMap
    from ppocr.data.imaug.operators import DecodeImage, DetResizeForTest, KeepKeys, NormalizeImage, ToCHWImage
    from ppocr.data.imaug.random_crop_data import EastRandomCropData

    return {cls.__name__: cls for cls in (DecodeImage, DetLabelEncode, CopyPaste, IaaAugment, EastRandomCropData,
                                          MakeBorderMap, MakeShrinkMap, NormalizeImage, ToCHWImage, KeepKeys,
                                          DetResizeForTest)}


def build_chain(chain: list, classes: dict) -> list:
    ops = []
    for entry in chain:
        ((name, kwargs),) = entry.items()
        ops.append((name, classes[name](**(kwargs or {}))))
    return ops


def seed_everything(seed: int) -> None:
    import imgaug
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    imgaug.seed(seed)


def ext_sample(samples: list, prefix: list) -> list:
    """PaddleOCR SimpleDataSet.get_ext_data: a random other sample through the first ops, 4-point polys only."""
    while True:
        item = random.choice(samples)
        data = {"img_path": item["path"], "label": item["label"], "image": Path(item["path"]).read_bytes()}
        for _, op in prefix:
            data = op(data)
            if data is None:
                break
        if data is not None and data["polys"].shape[1] == 4:
            return [data]


def time_train_chain(job: dict, ops: list) -> dict:
    samples = job["samples"]
    needs_ext = any(name == "CopyPaste" for name, _ in ops)
    per_op = {name: 0.0 for name, _ in ops}
    per_sample, dropped = [], 0
    for index in range(job["start"], job["start"] + job["count"]):
        seed_everything(job["seed"] + index)
        item = samples[index % len(samples)]
        start = time.perf_counter()
        data = {"img_path": item["path"], "label": item["label"], "image": Path(item["path"]).read_bytes()}
        if needs_ext:
            data["ext_data"] = ext_sample(samples, ops[:2])
        per_op["read + ext_data"] = per_op.get("read + ext_data", 0.0) + time.perf_counter() - start
        for name, op in ops:
            tick = time.perf_counter()
            data = op(data)
            per_op[name] += time.perf_counter() - tick
            if data is None:
                dropped += 1
                break
        per_sample.append(time.perf_counter() - start)
    return {"per_sample_s": per_sample, "per_op_s": per_op, "dropped": dropped}


def time_eval_preprocess(job: dict, classes: dict) -> list:
    """DetResizeForTest + NormalizeImage + ToCHWImage on decoded images: seconds per image, per repeat."""
    import cv2

    resize = classes["DetResizeForTest"](**job["eval_resize"])
    normalize = classes["NormalizeImage"](scale="1./255.", mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225],
                                          order="hwc")
    to_chw = classes["ToCHWImage"]()
    images = [cv2.imread(item["path"]) for item in job["samples"]]
    times = []
    for _ in range(job["eval_repeats"]):
        start = time.perf_counter()
        for image in images:
            to_chw(normalize(resize({"image": image})))
        times.append((time.perf_counter() - start) / len(images))
    return times


def main() -> None:
    answers, sys.stdout = sys.stdout, sys.stderr  # anything the ops print must not corrupt the answers
    install_stubs(Path(sys.argv[1]))
    import cv2
    import imgaug
    import numpy

    cv2.setNumThreads(1)
    classes = op_classes()
    chains: dict = {}
    print(json.dumps({"ready": True, "numpy": numpy.__version__, "imgaug": imgaug.__version__,
                      "opencv": cv2.__version__}), file=answers, flush=True)
    for line in sys.stdin:
        job = json.loads(line)
        out: dict = {}
        if job.get("chain"):
            key = json.dumps(job["chain"], sort_keys=True)
            if key not in chains:
                chains[key] = build_chain(job["chain"], classes)
            out["train"] = time_train_chain(job, chains[key])
        if job.get("eval_resize"):
            out["eval_s"] = time_eval_preprocess(job, classes)
        print(json.dumps(out), file=answers, flush=True)


if __name__ == "__main__":
    main()
