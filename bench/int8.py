"""int8: the student exported with `Global.export_int8=true` (Paddle post-training quantization, calibrated on
32 synthetic training images; the depthwise convolutions fed by hard_swish stay in float) vs the fp32 export of
the same weights (released weights imported), both through `det-model infer`'s predictor on CPU, 2 threads.
Throughput on the ICDAR2015 sample at 736 / min (network time, the same input tensors), hmean of both on that
sample (736 / min) and on 400 held-out synthetic images (960 / max), and how well the int8 boxes agree with the
fp32 boxes. Goals: int8 images/s >= 1.5x fp32's, |hmean(int8) - hmean(fp32)| <= 0.01 on both sets.

400 held-out images, not 40: int8 flips a few boxes whose score is near box_thresh either way, and on 40 images
(about 140 boxes to find) that alone moves the hmean difference by up to +-0.02 from one seed to the next
(bench/findings.md, int8), more than the goal's tolerance; on 400 it measures the quantization, not the draw.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Callable

import numpy as np

from bench.common import (
    CONFIG_DIR, RELEASED_ONNX, SAMPLE_DIR, BenchOptions, Figure, SectionSkipped, interleaved, median,
    run_json_subprocess,
)

TITLE = "int8 export (Paddle post-training quantization) vs the fp32 export"
THREADS = 2
PAUSE_S = 0.5  # see bench/inference.py: Paddle's OpenMP workers spin for 200 ms after their last work
CALIBRATION = (32, 101)  # synthetic training images: count, seed
HELD_OUT = (400, 202)  # held-out synthetic images: count, seed (another seed: no image in common)
SETS = {"ICDAR2015 sample": (736, "min"), "held-out synthetic": (960, "max")}


def export_both(work: Path) -> dict[str, str]:
    """Released ONNX -> student .pdparams -> export with Global.export_int8 (calibrated on synthetic train)."""
    from det_model.config import load_config
    from det_model.data.sources.synth import generate_synthetic
    from det_model.export import export_model
    from det_model.modeling.onnx_import import import_onnx

    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    import_onnx(RELEASED_ONNX, work / "student.pdparams")
    train_labels = generate_synthetic(work / "train", CALIBRATION[0], seed=CALIBRATION[1])
    cfg = load_config(CONFIG_DIR / "ch_PP-OCRv3_det_student.yml", [
        f"Global.pretrained_model={work / 'student.pdparams'}", f"Global.save_inference_dir={work / 'inference'}",
        "Global.use_gpu=false", "Global.export_onnx=false", "Global.export_int8=true",
        f"Global.export_int8_calibration_images={CALIBRATION[0]}", f"Train.dataset.data_dir={work / 'train'}",
        f"Train.dataset.label_file_list=[{train_labels}]",
    ])
    return {name: str(folder) for name, folder in export_model(cfg).items()}


def labelled_set(label_file: Path) -> list[tuple[Path, list[np.ndarray], list[bool]]]:
    items = []
    for line in label_file.read_text(encoding="utf-8").splitlines():
        rel, _, text = line.partition("\t")
        boxes = json.loads(text)
        items.append((label_file.parent / rel, [np.asarray(b["points"], np.float32) for b in boxes],
                      [b["transcription"] in ("###", "*") for b in boxes]))
    return items


def accuracy_rows(folders: dict[str, Path], sets: dict[str, list]) -> list[dict]:
    """hmean of each model per set, and the int8 boxes scored against the fp32 boxes (agreement)."""
    from det_model.inference.detector import TextDetector
    from det_model.inference.options import DetectorOptions
    from det_model.inference.images import read_image
    from det_model.metrics import DetMetric

    rows = []
    for set_name, items in sets.items():
        side, limit = SETS[set_name]
        detectors = {n: TextDetector(f, DetectorOptions(limit_side_len=side, limit_type=limit, cpu_threads=THREADS))
                     for n, f in folders.items()}
        metrics = {n: DetMetric() for n in detectors}
        agreement = DetMetric()
        for path, gts, tags in items:
            image = read_image(path)
            found = {n: d(image).boxes for n, d in detectors.items()}
            for n, boxes in found.items():
                metrics[n].update(boxes, gts, tags)
            agreement.update(found["int8"], found["fp32"], [False] * len(found["fp32"]))
        results = {n: m.get_metric() for n, m in metrics.items()}
        row = {"set": f"{set_name} ({len(items)} images, {side}/{limit})"}
        for n, r in results.items():
            row.update({f"{n} hmean": round(r["hmean"], 4), f"{n} P / R": f"{r['precision']:.3f} / {r['recall']:.3f}",
                        f"{n} boxes": r["det_care"]})
        row["int8 vs fp32 boxes (F)"] = round(agreement.get_metric()["hmean"], 4)
        rows.append(row)
    return rows


def network_inputs(paths: list[Path]) -> list[np.ndarray]:
    """(1, 3, H, W) float32 per image at 736 / min, as `det-model infer --limit-side-len 736 --limit-type min`."""
    from det_model.data.transforms import DetResizeForTest, NormalizeImage
    from det_model.inference.images import read_image

    resize, normalize = DetResizeForTest(limit_side_len=736, limit_type="min"), NormalizeImage()
    samples = [normalize(resize({"image": read_image(p)}, None), None)["image"] for p in paths]
    return [np.ascontiguousarray(s.transpose(2, 0, 1)[None], dtype=np.float32) for s in samples]


def speed(folders: dict[str, Path], inputs: list[np.ndarray], repeats: int, pause_s: float) -> dict[str, list[float]]:
    from det_model.inference.detector import TextDetector
    from det_model.inference.options import DetectorOptions
    from det_model.inference.predictor import run_predictor

    predictors = {n: TextDetector(f, DetectorOptions(cpu_threads=THREADS)).predictor for n, f in folders.items()}

    def whole_set(predictor) -> Callable[[], None]:
        return lambda: [run_predictor(predictor, x) for x in inputs]

    times = interleaved({n: whole_set(p) for n, p in predictors.items()}, repeats=repeats, warmup=1, pause_s=pause_s)
    return {n: [len(inputs) / t for t in values] for n, values in times.items()}  # images/s per pass


def run(options: BenchOptions) -> dict:
    if not RELEASED_ONNX.is_file() or not (SAMPLE_DIR / "label.txt").is_file():
        raise SectionSkipped(f"needs {RELEASED_ONNX} and {SAMPLE_DIR}")
    from det_model.data.sources.synth import generate_synthetic

    work = options.work_dir / "int8"
    exported = run_json_subprocess([sys.executable, "-m", "bench.int8", "--export-to", str(work)], timeout=3600)
    folders = {"fp32": Path(exported["model"]), "int8": Path(exported["model_int8"])}
    held = generate_synthetic(work / "held_out", HELD_OUT[0], seed=HELD_OUT[1])
    sets = {"ICDAR2015 sample": labelled_set(SAMPLE_DIR / "label.txt"), "held-out synthetic": labelled_set(held)}
    if options.max_images:
        sets = {k: v[: options.max_images] for k, v in sets.items()}
    rows = accuracy_rows(folders, sets)
    inputs = network_inputs([p for p, _, _ in sets["ICDAR2015 sample"]])
    repeats = options.repeats or (2 if options.quick else 12)
    per_pass = speed(folders, inputs, repeats, 0.0 if options.quick else PAUSE_S)
    timing = [{"model": n, "images/s (median)": round(median(v), 2), "images/s min-max": f"{min(v):.2f}-{max(v):.2f}",
               "ms/image (median)": round(1e3 / median(v), 1)} for n, v in per_pass.items()]
    figures = [
        Figure(f"network throughput, ICDAR2015 sample 736/min, {THREADS} threads, median of {repeats} passes",
               median(per_pass["int8"]), median(per_pass["fp32"]), "images/s", ">= 1.5"),
        Figure(f"network throughput, fastest of {repeats} passes", max(per_pass["int8"]), max(per_pass["fp32"]),
               "images/s", "", note="the same goal on each model's fastest pass"),
    ]
    for row, set_name in zip(rows, SETS):
        difference = abs(row["int8 hmean"] - row["fp32 hmean"])
        figures.append(Figure(f"hmean difference (int8 - fp32, absolute), {set_name}", row["int8 hmean"], row["fp32 hmean"], "hmean",
                              "<= 0.01", ratio=round(difference, 4), note="the ratio column is the difference"))
    notes = [
        f"Calibration: {CALIBRATION[0]} synthetic training images (seed {CALIBRATION[1]}), 960/max, Paddle PTQ "
        "(`det_model/quantize.py`: hist, conv2d and depthwise_conv2d calibrated, the depthwise convolutions fed "
        f"by hard_swish kept in float); held-out synthetic images use seed {HELD_OUT[1]}. "
        f"Both folders are re-made on every run. Throughput: {len(inputs)} images, "
        f"{repeats} interleaved passes after one warm-up, {PAUSE_S} s idle before each pass; the predictor "
        "`det-model infer` builds for each folder (oneDNN; int8 kernels for the int8 folder).",
        "Boxes: `det-model infer`'s (DBPostProcess + filter_det_boxes), scored with DetMetric (ICDAR IoU 0.5).",
    ]
    return {"title": TITLE, "figures": figures, "tables": {"accuracy": rows, "throughput": timing}, "notes": notes}


if __name__ == "__main__":  # the export worker: python -m bench.int8 --export-to DIR
    parser = argparse.ArgumentParser()
    parser.add_argument("--export-to", type=Path, required=True)
    print(json.dumps(export_both(parser.parse_args().export_to)))
