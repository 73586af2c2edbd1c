"""int8 post-training quantization of an exported detector for CPU serving (`Global.export_int8`).

Paddle's own post-training quantization (`paddle.static.quantization.PostTrainingQuantization`) of the old-IR
`inference.pdmodel`, calibrated on images of the training set (`Train.dataset`), pre-processed as the folder's
`inference.yml` says (960 / max). The result is a sibling folder `<folder>/int8/` (program with
quantize/dequantize operators, the same `inference.yml` with `Global.precision: int8`) that `det-model infer`
runs with oneDNN's int8 kernels. Chosen over onnxruntime's static quantization of our ONNX by measurement
(docs/benchmarks.md, section int8): at equal accuracy onnxruntime's int8 model was no faster than the fp32
`paddle.inference` program on this CPU, Paddle's int8 program about 2x faster.

oneDNN runs in int8 only the operators of `det_model.inference.predictor.ONEDNN_INT8_OPS`: with its default list (which adds
`elementwise_mul`) the RSE-FPN's and SE blocks' channel-broadcast multiplies come out wrong (hmean 0.15 instead
of 0.89 on synthetic images), so they stay in float.

The depthwise convolutions that read a hard_swish output (the backbone's 1/16 and 1/32 stages) stay in float
too (`float_op_weights`: float weights, and Paddle's `skip_quant` attribute, which oneDNN's int8 placement
honours). Their input is signed (hard_swish reaches -0.375: int8's 127 levels, where the relu-fed ones get
uint8's 255) under one scale for channels whose ranges differ (the widest ~6x the median one, up to 11x; ~3x
before the relu-fed ones), and each output channel reads a single input channel, so the rounding is not
averaged out as in the other convolutions. Measured on training images not used for calibration, the mean
|int8 - fp32| of the probability map drops from 0.0023 to 0.0011 and the int8 boxes' agreement with the fp32
boxes rises from F 0.945 to 0.969; at 1/16 and 1/32 of the input size they cost about 10% of the int8
throughput (bench/findings.md, int8).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

import numpy as np
import yaml

from det_model.config.schema import DetConfig
from det_model.data.label_file import read_label_file
from det_model.data.transforms import DetResizeForTest
from det_model.inference.detector import TextDetector, normalize_from_yml, read_inference_yml
from det_model.inference.images import ImageError, read_image
from det_model.inference.predictor import MODEL_PREFIX, PRECISION_KEY, model_files
from det_model.metrics import DetMetric

logger = logging.getLogger(__name__)

INT8_DIR = "int8"
ALGO = "hist"  # activation ranges at the 99.999th percentile of their histograms (PaddleSlim's default)
QUANTIZED_OPS = ("conv2d", "depthwise_conv2d")  # inputs and outputs calibrated
FLOAT_OP = "depthwise_conv2d"  # ... when its input is FLOAT_INPUT_OP's output: computed in float (see above)
FLOAT_INPUT_OP = "hard_swish"
SKIP_QUANT_ATTR = "skip_quant"  # an op with skip_quant = 1 stays in float in oneDNN's int8 program
# Parity with the fp32 program, on the calibration images: the int8 boxes scored against the fp32 boxes as
# ground truth with the ICDAR protocol (IoU > 0.5), F >= BOX_AGREEMENT_MIN. Not bitwise: int8 rounds each
# activation to 1/255 of its calibrated range, which moves text edges by a pixel or two (IoU stays far above
# 0.5) and flips boxes whose mean score is near box_thresh or that split/merge at thresh. Measured: F 0.986 on
# the bench's 32 synthetic calibration images (144 boxes), 1.0 on 3 (8 boxes, tests/export); on images not
# calibrated on 0.969 (64 synthetic) and 0.94 (the 13 ICDAR2015 sample images, 736 / min). A broken int8
# program (oneDNN's int8 elementwise_mul) scores about 0.15. The bound fails such a program with a wide margin
# on both sides and leaves the accuracy judgement to the hmean goals of the benchmark.
BOX_AGREEMENT_MIN = 0.8


def calibration_images(cfg: DetConfig, count: int) -> list[Path]:
    """Up to `count` readable images of `Train.dataset`, spread evenly over its label files (deterministic)."""
    train = cfg.Train
    if count < 1:
        raise ValueError(f"{cfg.source or 'config'}: Global.export_int8_calibration_images must be >= 1, got {count}")
    if train is None:
        raise ValueError(f"{cfg.source or 'config'}: Global.export_int8 needs a Train section (calibration images)")
    paths: list[Path] = []
    for label_file in train.dataset.label_file_list:
        records, _ = read_label_file(label_file, train.dataset.delimiter)
        for record in records:
            rel = record.img_path if isinstance(record.img_path, str) else record.img_path[0]
            paths.append(Path(train.dataset.data_dir) / rel)
    step = max(1, len(paths) // max(count, 1))
    chosen = [p for p in paths[::step] if p.is_file()][:count]
    if not chosen:
        raise ValueError(
            f"{cfg.source or 'config'}: no calibration image found for Global.export_int8 under "
            f"Train.dataset.data_dir={train.dataset.data_dir} (label files {list(train.dataset.label_file_list)})"
        )
    return chosen


def calibration_inputs(fp32_folder: Path, images: list[Path]) -> list[np.ndarray]:
    """(1, 3, H, W) float32 per image, pre-processed as `det-model infer` does for this folder."""
    settings = read_inference_yml(fp32_folder)
    resize = next(
        (op["DetResizeForTest"] for op in (settings.get("PreProcess") or {}).get("transform_ops") or []
         if isinstance(op, dict) and "DetResizeForTest" in op),
        {},
    ) or {}
    resize_op = DetResizeForTest(limit_side_len=resize.get("limit_side_len", 960),
                                 limit_type=resize.get("limit_type", "max"))
    normalize = normalize_from_yml(settings)
    inputs = []
    for path in images:
        try:
            sample = normalize(resize_op({"image": read_image(path)}, None), None)
            inputs.append(np.ascontiguousarray(sample["image"].transpose(2, 0, 1)[None], dtype=np.float32))
        except ImageError as exc:
            logger.warning("calibration: skipping %s", exc)
    if not inputs:
        raise ValueError(f"none of the {len(images)} calibration images could be read (see the log)")
    return inputs


def post_training_quantize(fp32_folder: Path, inputs: list[np.ndarray], out: Path) -> Path:
    """Calibrate and save the int8 program of an old-IR fp32 folder into `out`; returns `out`."""
    import paddle
    from paddle.static.quantization import PostTrainingQuantization

    program, params = model_files(fp32_folder)
    if program.suffix != ".pdmodel":
        raise ValueError(f"{fp32_folder}: int8 export needs the old-IR program (Global.export_with_pir=false)")
    paddle.enable_static()
    try:
        scope = paddle.static.Scope()  # a fresh one: the calibration's variables are dropped afterwards
        with paddle.pir_utils.OldIrGuard(), paddle.static.scope_guard(scope), tempfile.TemporaryDirectory() as scratch:
            float_weights = float_op_weights(read_program(program.read_bytes()))
            ptq = PostTrainingQuantization(
                executor=paddle.static.Executor(paddle.CPUPlace()), scope=scope,
                model_dir=str(fp32_folder), model_filename=program.name, params_filename=params.name,
                data_loader=lambda: ({"x": x} for x in inputs), batch_nums=len(inputs), algo=ALGO,
                quantizable_op_type=list(QUANTIZED_OPS), skip_tensor_list=float_weights, onnx_format=True,
                cache_dir=scratch,
            )
            ptq.quantize()
            ptq.save_quantized_model(str(out), model_filename=f"{MODEL_PREFIX}.pdmodel",
                                     params_filename=f"{MODEL_PREFIX}.pdiparams")
            saved = out / f"{MODEL_PREFIX}.pdmodel"
            saved.write_bytes(mark_float_ops(saved.read_bytes(), set(float_weights)))
    finally:
        paddle.disable_static()
    settings = read_inference_yml(fp32_folder)
    settings.setdefault("Global", {})[PRECISION_KEY] = "int8"
    (out / f"{MODEL_PREFIX}.yml").write_text(yaml.safe_dump(settings, sort_keys=False))
    return out


def read_program(program_bytes: bytes):
    """The old-IR `paddle.static.Program` of a serialized inference.pdmodel."""
    import paddle

    with paddle.pir_utils.OldIrGuard():
        return paddle.static.Program.parse_from_string(program_bytes)


def float_op_weights(program) -> list[str]:
    """Weights of the operators of old-IR `program` that stay in float: FLOAT_OP fed by FLOAT_INPUT_OP."""
    producers = {name: op.type for op in program.global_block().ops for name in op.output_arg_names}
    return [op.input("Filter")[0] for op in program.global_block().ops
            if op.type == FLOAT_OP and producers.get(op.input("Input")[0]) == FLOAT_INPUT_OP]


def mark_float_ops(program_bytes: bytes, float_weights: set[str]) -> bytes:
    """The serialized program with skip_quant = 1 on every FLOAT_OP operator reading one of `float_weights`."""
    program = read_program(program_bytes)
    marked = 0
    for op in program.global_block().ops:
        if op.type == FLOAT_OP and op.input("Filter")[0] in float_weights:
            op._set_attr(SKIP_QUANT_ATTR, 1)
            marked += 1
    if marked != len(float_weights):  # a weight was renamed by the quantization: it would run in int8
        raise RuntimeError(f"int8 export: found {marked} of the {len(float_weights)} operators to keep float")
    return program.desc.serialize_to_string()


def box_agreement(fp32_folder: Path, int8_folder: Path, images: list[Path]) -> tuple[float, int]:
    """(F-score of the int8 boxes against the fp32 boxes as ground truth, fp32 box count) on `images`."""
    fp32, int8 = TextDetector(fp32_folder), TextDetector(int8_folder)
    metric, reference_boxes = DetMetric(), 0
    for path in images:
        image = read_image(path)
        expected = fp32(image).boxes
        reference_boxes += len(expected)
        metric.update(int8(image).boxes, expected, [False] * len(expected))
    result = metric.get_metric()
    if not reference_boxes:  # nothing to match: agreement means int8 finds nothing either
        return (1.0 if not result.get("det_care") else 0.0), 0
    return float(result["hmean"]), reference_boxes


class Int8AgreementError(ValueError):
    """The int8 boxes stray too far from the fp32 boxes: an expected failure (few or unlike calibration
    images), reported by the CLI as one line."""


def export_int8(cfg: DetConfig, fp32_folder: Path, count: int) -> Path:
    """`<fp32_folder>/int8/`: quantized, checked against the fp32 boxes (Int8AgreementError below
    BOX_AGREEMENT_MIN)."""
    images = calibration_images(cfg, count)
    out = fp32_folder / INT8_DIR
    if out.exists():
        shutil.rmtree(out)
    post_training_quantize(fp32_folder, calibration_inputs(fp32_folder, images), out)
    agreement, boxes = box_agreement(fp32_folder, out, images)
    if agreement < BOX_AGREEMENT_MIN:
        raise Int8AgreementError(
            f"{out}: int8 boxes agree with the fp32 boxes at F = {agreement:.3f} < {BOX_AGREEMENT_MIN} "
            f"on {len(images)} calibration images ({boxes} fp32 boxes); with few boxes, calibrate on more images "
            f"(Global.export_int8_calibration_images)"
        )
    logger.info("int8 export %s: %d calibration images, box agreement with fp32 F = %.3f (%d boxes)",
                out, len(images), agreement, boxes)
    return out
