"""A `paddle.inference` predictor for an exported DB detector folder (inference.json/.pdmodel + .pdiparams)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

MODEL_PREFIX = "inference"
# int8 folders (`Global.export_int8`, det_model/quantize.py) say so in inference.yml; they run in oneDNN's int8
# kernels for these operators only (its default list adds elementwise_mul, whose channel-broadcast form in the
# RSE-FPN and SE blocks comes out wrong in int8).
PRECISION_KEY = "precision"
ONEDNN_INT8_OPS = frozenset(
    {"conv2d", "depthwise_conv2d", "fused_conv2d", "elementwise_add", "concat", "nearest_interp_v2", "pool2d"}
)


def model_files(model_dir: str | Path) -> tuple[Path, Path]:
    """(program, params) of an inference folder: inference.json (PIR) or inference.pdmodel (old IR)."""
    folder = Path(model_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"--model-dir {folder}: no such folder")
    params = folder / f"{MODEL_PREFIX}.pdiparams"
    for program in (folder / f"{MODEL_PREFIX}.json", folder / f"{MODEL_PREFIX}.pdmodel"):
        if program.is_file() and params.is_file():
            return program, params
    subfolders = sorted(p.name for p in folder.iterdir() if (p / f"{MODEL_PREFIX}.pdiparams").is_file())
    hint = (
        f"; it has sub-model folders {subfolders}: pass e.g. {folder / subfolders[0]}" if subfolders else ""
    )
    raise FileNotFoundError(
        f"--model-dir {folder}: no {MODEL_PREFIX}.json (or .pdmodel) + {MODEL_PREFIX}.pdiparams{hint}"
    )


def require_gpu() -> None:
    """--use-gpu is an explicit request: fail instead of printing Paddle's error and running on the CPU."""
    import paddle

    if not paddle.device.is_compiled_with_cuda():
        raise ValueError("--use-gpu: this Paddle build has no CUDA support (paddlepaddle, not paddlepaddle-gpu); "
                         "leave out --use-gpu to run on the CPU")
    if paddle.device.cuda.device_count() == 0:
        raise ValueError("--use-gpu: Paddle sees no CUDA device (check nvidia-smi and CUDA_VISIBLE_DEVICES); "
                         "leave out --use-gpu to run on the CPU")


def create_predictor(
    model_dir: str | Path,
    *,
    cpu_threads: int = 2,
    enable_mkldnn: bool = False,
    use_gpu: bool = False,
    ir_optim: bool = True,
    int8: bool = False,
):
    """A paddle.inference predictor for an exported detector, checked to map (N,3,H,W) -> (N,1,H,W).

    `int8` (a quantized folder) runs the quantized operators in oneDNN's int8 kernels; without oneDNN the
    program still runs, in float (quantize-dequantize pairs), slowly.

    `ir_optim=False` runs the program as saved (no operator fusion such as folding BatchNorm into the
    convolution, which changes float rounding): what export's parity checks compare with the dygraph model.
    """
    from paddle import inference

    if use_gpu:
        require_gpu()
    program, params = model_files(model_dir)
    config = inference.Config(str(program), str(params))
    if use_gpu:
        config.enable_use_gpu(500, 0)
    else:
        config.disable_gpu()
        if cpu_threads > 0:  # 0 keeps Paddle's default (the same kernels and summation order as dygraph)
            config.set_cpu_math_library_num_threads(cpu_threads)
        if enable_mkldnn:
            config.enable_mkldnn()
            if int8:
                config.enable_mkldnn_int8(set(ONEDNN_INT8_OPS))
        else:  # Paddle 3.x turns oneDNN on by default for CPU
            config.disable_mkldnn()
    config.switch_ir_optim(ir_optim)
    if program.suffix == ".pdmodel":  # Paddle 3.3 fails to create PIR predictors with this pass
        config.enable_memory_optim()  # reuse intermediate buffers, as PaddleOCR's predictor does
    config.disable_glog_info()
    try:
        predictor = inference.create_predictor(config)
    except Exception as exc:  # paddle raises assorted types for unreadable programs
        raise ValueError(
            f"--model-dir {model_dir}: paddle.inference cannot load {program.name}: {exc}"
        ) from exc
    try:
        check_detector_io(predictor, Path(model_dir))
    except ValueError as exc:
        if not (enable_mkldnn and not use_gpu):
            raise
        # Some programs hold ops oneDNN cannot run (e.g. float64 interpolate scales in Paddle 3.3).
        logger.warning("%s: oneDNN cannot run this model (%s); using the plain CPU kernels", model_dir, exc)
        return create_predictor(
            model_dir, cpu_threads=cpu_threads, enable_mkldnn=False, use_gpu=False, ir_optim=ir_optim
        )
    return predictor


def run_predictor(predictor, x: np.ndarray) -> np.ndarray:
    """One forward pass: (N, 3, H, W) float32 -> the first output as numpy."""
    handle = predictor.get_input_handle(predictor.get_input_names()[0])
    handle.reshape(list(x.shape))
    handle.copy_from_cpu(np.ascontiguousarray(x, dtype=np.float32))
    predictor.run()
    return predictor.get_output_handle(predictor.get_output_names()[0]).copy_to_cpu()


def check_detector_io(predictor, folder: Path) -> None:
    """Refuse programs that are not a DB detector: one input, one output, (1,3,32,32) -> (1,1,32,32)."""
    inputs, outputs = predictor.get_input_names(), predictor.get_output_names()
    what = f"--model-dir {folder}: not a DB text detector"
    if len(inputs) != 1 or len(outputs) != 1:
        raise ValueError(f"{what} (inputs {inputs}, outputs {outputs}; expected one image in, one map out)")
    input_shape = predictor.get_input_handle(inputs[0]).shape()  # PIR programs report [0] until reshaped
    if len(input_shape) == 4 and input_shape[1] not in (3, -1):
        raise ValueError(f"{what} (input {inputs[0]} has shape {input_shape}; expected [N, 3, H, W])")
    try:
        probe = run_predictor(predictor, np.zeros((1, 3, 32, 32), np.float32))
    except Exception as exc:  # any failure means the program is not a detector
        raise ValueError(f"{what} (a (1, 3, 32, 32) input fails: {exc})") from exc
    if probe.shape != (1, 1, 32, 32):
        raise ValueError(
            f"{what} (a (1, 3, 32, 32) input gives {list(probe.shape)}; expected [1, 1, 32, 32])"
        )
