"""`det-model export`: inference folders that `paddle.inference` (and onnxruntime) load.

PaddleOCR `tools/export_model.py`: each folder holds the program + `inference.pdiparams`, with input `x` of
spec [None, 3, -1, -1] float32 and one output, the eval-mode probability map P (N, 1, H, W). As in PaddleOCR
3.x, `Global.export_with_pir` picks the program format: false (the default) writes the old-IR
`inference.pdmodel` (+ `.pdiparams.info`), the format of the released PP-OCRv3 models; true writes the PIR
`inference.json`. Both load in `paddle.inference` and `det-model infer`; the old-IR program is the faster one
on CPU (its upsampling runs in oneDNN, see docs/benchmarks.md). Distillation configs give one folder per
sub-model (`Student/`, `Student2/`, `Teacher/`; deploy `Student`). Also written: `inference.yml`
(pre/post-processing, as PaddleOCR 3.x does) and, when paddle2onnx is installed and `Global.export_onnx`,
`inference.onnx`; with `Global.export_int8`, `int8/` in the deployed folder (det_model/quantize.py). Every
exported program is reloaded with paddle.inference and compared with the dygraph model (<= 1e-5 against
the traced wrapper, <= 1e-3 against the training-form detector).
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np
import paddle
import yaml
from paddle import nn

from det_model.config.schema import DetConfig, NormalizeImageConfig
from det_model.device import select_device
from det_model.modeling.detector import DBDetector
from det_model.modeling.heads.db_head import DeployHead
from det_model.quantize import export_int8
from det_model.training.checkpoint import load_eval_weights

logger = logging.getLogger(__name__)

MODEL_PREFIX = "inference"
INPUT_NAME = "x"
PARITY_TOLERANCE = 1e-5
# The exported DB head (DeployHead) sums in another order than the training-form head: float32 rounding. With
# random weights a deep teacher has activations up to ~1e4, which moves P by up to ~1e-4; trained ones ~1e-6.
DEPLOY_TOLERANCE = 1e-3
# onnxruntime's kernels sum in another order than Paddle's; on a deep random-weight ResNet50 teacher fed
# noise the probabilities differ by up to ~8e-5, so ONNX gets a looser (still tight) bound.
ONNX_PARITY_TOLERANCE = 5e-4
PARITY_INPUT_SHAPE = (2, 3, 96, 128)  # any multiple of 32 works; batch 2 exercises the dynamic N
ONNX_OPSET = 13
INT8_SUB_MODELS = ("", "Student")  # Global.export_int8 quantizes the deployed model only


class ProbabilityMap(nn.Layer):
    """Export wrapper: the detector's eval-mode shrink map P (N, 1, H, W) as the single output, computed by
    backbone -> neck -> the DB head's P branch in its inference form (`DeployHead`, the same function with
    the transposed convolutions as fused 1x1 convolutions) where the head supports it."""

    def __init__(self, detector: DBDetector) -> None:
        super().__init__()
        self.backbone = detector.backbone
        self.neck = detector.neck
        branch = detector.head.binarize
        self.shrink_head = DeployHead(branch) if DeployHead.supports(branch) else branch

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.shrink_head(self.neck(self.backbone(x)))


def sub_models(model: nn.Layer) -> dict[str, nn.Layer]:
    """{folder name: detector}; "" (the export root itself) for a plain detector."""
    from det_model.modeling import DistillationModel

    if isinstance(model, DistillationModel):
        return {name: model.sub_model(name) for name in model.model_names}
    return {"": model}


def inference_yml(cfg: DetConfig, model_name: str) -> dict:
    """PaddleOCR 3.x `inference.yml`: PreProcess for deployment (960 / max) and the configured PostProcess."""
    normalize = next(
        (
            op
            for op in (cfg.Eval.dataset.transforms if cfg.Eval else ())
            if isinstance(op, NormalizeImageConfig)
        ),
        NormalizeImageConfig(),
    )
    post = cfg.PostProcess
    return {
        "Global": {"model_name": model_name, "algorithm": "DB", "input_name": INPUT_NAME},
        "PreProcess": {
            "transform_ops": [
                {"DecodeImage": {"img_mode": "BGR", "channel_first": False}},
                {"DetResizeForTest": {"limit_side_len": 960, "limit_type": "max"}},
                {
                    "NormalizeImage": {
                        "scale": float(normalize.scale),
                        "mean": list(normalize.mean),
                        "std": list(normalize.std),
                        "order": normalize.order,
                    }
                },
                {"ToCHWImage": None},
                {"KeepKeys": {"keep_keys": ["image", "shape"]}},
            ]
        },
        "PostProcess": {
            "name": "DBPostProcess",
            "thresh": post.thresh,
            "box_thresh": post.box_thresh,
            "max_candidates": post.max_candidates,
            "unclip_ratio": post.unclip_ratio,
            "use_dilation": post.use_dilation,
            "score_mode": post.score_mode,
            "box_type": post.box_type,
        },
    }


PROGRAM_SUFFIXES = {True: "json", False: "pdmodel"}  # keyed by Global.export_with_pir


def save_inference_program(wrapper: ProbabilityMap, folder: Path, with_pir: bool) -> Path:
    """paddle.jit.save of the probability-map wrapper (built in eager mode, as jit.save requires of every
    layer) as a PIR (`inference.json`) or old-IR (`inference.pdmodel`) program; returns the program path.
    A program of the other format left in `folder` by an earlier export is removed, so that the folder
    cannot pair it with the new parameters."""
    folder.mkdir(parents=True, exist_ok=True)
    wrapper.eval()
    spec = paddle.static.InputSpec(shape=[None, 3, -1, -1], dtype="float32", name=INPUT_NAME)
    prefix = str(folder / MODEL_PREFIX)
    if with_pir:
        paddle.jit.save(wrapper, prefix, input_spec=[spec])
    else:
        with paddle.pir_utils.OldIrGuard():
            paddle.jit.save(wrapper, prefix, input_spec=[spec])
    program = folder / f"{MODEL_PREFIX}.{PROGRAM_SUFFIXES[with_pir]}"
    if not program.is_file():
        raise RuntimeError(f"paddle.jit.save wrote no {program} (Global.export_with_pir={with_pir})")
    other = folder / f"{MODEL_PREFIX}.{PROGRAM_SUFFIXES[not with_pir]}"
    for stale in [other, folder / f"{MODEL_PREFIX}.pdiparams.info"] if with_pir else [other]:
        if stale.is_file():
            stale.unlink()
            logger.info("%s: removed %s of an earlier export in the other format", folder, stale.name)
    return program


def check_parity(detector: nn.Layer, wrapper: ProbabilityMap, folder: Path) -> float:
    """Max |P_exported - P_dygraph| on a fixed random input. RuntimeError when the program differs from the
    eager `wrapper` it was traced from by more than PARITY_TOLERANCE, or from the training-form `detector`
    by more than DEPLOY_TOLERANCE."""
    from det_model.inference.predictor import create_predictor, run_predictor

    x = np.random.default_rng(0).standard_normal(PARITY_INPUT_SHAPE).astype(np.float32)
    with paddle.no_grad():
        expected = detector(paddle.to_tensor(x)).shrink.numpy()
        traced = wrapper(paddle.to_tensor(x)).numpy()
    got = run_predictor(create_predictor(folder, cpu_threads=0, ir_optim=False), x)
    for what, reference, tolerance in (
        ("the dygraph export wrapper", traced, PARITY_TOLERANCE),
        ("the dygraph model", expected, DEPLOY_TOLERANCE),
    ):
        difference = float(np.abs(got - reference).max()) if got.shape == reference.shape else float("inf")
        if difference > tolerance:
            raise RuntimeError(
                f"{folder}: exported model disagrees with {what} "
                f"(shape {got.shape} vs {reference.shape}, max difference {difference:.2e} > {tolerance})"
            )
    return difference  # against the dygraph model, the last one checked


def export_onnx(wrapper: ProbabilityMap, folder: Path, program: Path) -> Path | None:
    """`inference.onnx` via paddle2onnx (opset 13, no optimizer pass), checked against paddle.inference with
    onnxruntime when installed. None (and a logged reason) when paddle2onnx is missing or fails.

    paddle2onnx 2.x cannot convert an old-IR program's `nearest_interp_v2` (it reads the translated scale as
    float64), so for an `inference.pdmodel` folder it converts a PIR save of the same wrapper instead.
    """
    try:
        import paddle2onnx
    except ImportError:
        logger.info("paddle2onnx is not installed: no ONNX export")
        return None
    target = folder / f"{MODEL_PREFIX}.onnx"
    with tempfile.TemporaryDirectory() as scratch:
        if program.suffix != ".json":
            program = save_inference_program(wrapper, Path(scratch), with_pir=True)
        try:
            paddle2onnx.export(
                model_filename=str(program),
                params_filename=str(program.with_suffix(".pdiparams")),
                save_file=str(target),
                opset_version=ONNX_OPSET,
                optimize_tool="None",
            )
        except (Exception, SystemExit) as exc:  # paddle2onnx reports failures with sys.exit(-1)
            logger.error(
                "%s: paddle2onnx could not convert the program (%r); no ONNX file written", folder, exc
            )
            target.unlink(missing_ok=True)
            return None
    if not target.is_file():
        logger.error("%s: paddle2onnx wrote no %s", folder, target.name)
        return None
    check_onnx_parity(folder, target)
    return target


def check_onnx_parity(folder: Path, onnx_path: Path) -> float | None:
    """Max |onnxruntime - paddle.inference| on a fixed input; RuntimeError above ONNX_PARITY_TOLERANCE."""
    try:
        import onnxruntime
    except ImportError:
        return None
    from det_model.inference.predictor import create_predictor, run_predictor

    x = np.random.default_rng(1).standard_normal(PARITY_INPUT_SHAPE).astype(np.float32)
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # paddle2onnx leaves unused initializers that onnxruntime warns about
    session = onnxruntime.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {session.get_inputs()[0].name: x})
    expected = run_predictor(create_predictor(folder, cpu_threads=0, ir_optim=False), x)
    difference = float(np.abs(got - expected).max())
    if got.shape != expected.shape or difference > ONNX_PARITY_TOLERANCE:
        raise RuntimeError(
            f"{onnx_path}: onnxruntime disagrees with paddle.inference by {difference:.2e} "
            f"(> {ONNX_PARITY_TOLERANCE})"
        )
    return difference


def export_model(cfg: DetConfig) -> dict[str, Path]:
    """Export every (sub-)model of `cfg.Architecture` with the weights of Global.checkpoints/pretrained_model.

    Returns {sub-model name (or "model"): folder}.
    """
    if not cfg.Global.save_inference_dir:
        raise ValueError(f"{cfg.source or 'config'}: set -o Global.save_inference_dir=<folder> to export")
    from det_model.modeling import build_model

    select_device(cfg.Global.use_gpu)
    model = build_model(cfg.Architecture)
    weights = load_eval_weights(cfg, model)
    model.eval()
    root = Path(cfg.Global.save_inference_dir)
    folders: dict[str, Path] = {}
    for name, detector in sub_models(model).items():
        folder = root / name if name else root
        wrapper = ProbabilityMap(detector)
        program = save_inference_program(wrapper, folder, cfg.Global.export_with_pir)
        (folder / f"{MODEL_PREFIX}.yml").write_text(
            yaml.safe_dump(inference_yml(cfg, name or "PP-OCRv3_det"), sort_keys=False)
        )
        difference = check_parity(detector, wrapper, folder)
        onnx_path = export_onnx(wrapper, folder, program) if cfg.Global.export_onnx else None
        logger.info(
            "exported %s (weights %s) to %s: max |exported - dygraph| %.1e%s",
            name or "model",
            weights,
            folder,
            difference,
            f", ONNX {onnx_path.name}" if onnx_path else "",
        )
        folders[name or "model"] = folder
        if cfg.Global.export_int8 and name in INT8_SUB_MODELS:
            folders[f"{name or 'model'}_int8"] = export_int8(
                cfg, folder, cfg.Global.export_int8_calibration_images
            )
    return folders
