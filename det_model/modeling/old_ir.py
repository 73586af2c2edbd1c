"""Operator forms for old-IR programs (`inference.pdmodel`, `Global.export_with_pir: false`).

`det-model export` traces the eval-mode network into an old-IR program under `paddle.pir_utils.OldIrGuard`.
Paddle 3.3 builds some operators there in forms that fail or that Paddle Inference's oneDNN fusion passes do
not recognise; the helpers below append the classic operators instead. Eager mode (training, evaluation) and
PIR programs use the plain Paddle calls, so only the exported old-IR graph differs, never the numbers beyond
float rounding.
"""

from __future__ import annotations

import paddle
import paddle.nn.functional as F
from paddle.base.layer_helper import LayerHelper
from paddle.framework import in_pir_mode


def in_old_ir_program() -> bool:
    """True while an old-IR static program is being built (not eager, not PIR)."""
    return not paddle.in_dynamic_mode() and not in_pir_mode()


def _append_op(op_type: str, inputs: dict, x: paddle.Tensor, attrs: dict | None = None) -> paddle.Tensor:
    helper = LayerHelper(op_type)
    out = helper.create_variable_for_type_inference(x.dtype)
    helper.append_op(type=op_type, inputs=inputs, outputs={"Out": out}, attrs=attrs or {})
    return out


def sigmoid(x: paddle.Tensor) -> paddle.Tensor:
    """F.sigmoid; in old-IR programs the `sigmoid` op appended directly (Paddle 3.3 binds F.sigmoid to
    PIR-only operators, so the old-IR trace fails on it)."""
    if not in_old_ir_program():
        return F.sigmoid(x)
    return _append_op("sigmoid", {"X": x}, x)


def add_channel_bias(x: paddle.Tensor, bias: paddle.Tensor) -> paddle.Tensor:
    """x + bias[None, :, None, None]; in old-IR programs one `elementwise_add(axis=1)` with the [C] parameter,
    the form Paddle Inference folds into the preceding convolution (with an activation after it).
    (Paddle 3.3's conv layers write `reshape2` + `elementwise_add(axis=-1)`, which those passes skip.)"""
    if not in_old_ir_program():
        return x + bias.reshape([1, -1, 1, 1])
    return _append_op("elementwise_add", {"X": x, "Y": bias}, x, {"axis": 1})


def pointwise_conv(conv: paddle.nn.Conv2D, x: paddle.Tensor) -> paddle.Tensor:
    """conv(x) for a 1x1, stride-1, unpadded, ungrouped conv with bias; in old-IR programs with the bias as
    `add_channel_bias`, so that oneDNN runs bias (and a following activation) inside the convolution."""
    if not in_old_ir_program() or conv.bias is None:
        return conv(x)
    plain = conv._kernel_size == [1, 1] and conv._stride == [1, 1] and conv._groups == 1
    if not plain or conv._padding not in (0, [0, 0]):
        raise ValueError(f"pointwise_conv needs a plain 1x1 convolution, got {conv}")
    return add_channel_bias(F.conv2d(x, conv.weight), conv.bias)


def pixel_shuffle(x: paddle.Tensor, factor: int) -> paddle.Tensor:
    """F.pixel_shuffle (depth-to-space, NCHW); in old-IR programs the `pixel_shuffle` op appended directly."""
    if not in_old_ir_program():
        return F.pixel_shuffle(x, factor)
    return _append_op("pixel_shuffle", {"X": x}, x, {"upscale_factor": factor, "data_format": "NCHW"})
