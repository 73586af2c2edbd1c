"""DB head (PaddleOCR `ppocr/modeling/heads/det_db_head.py`).

Liao et al., "Real-time Scene Text Detection with Differentiable Binarization" (DB, AAAI 2020):
the probability (shrink) map P and threshold map T are predicted at input resolution from the stride-4
neck output, and the approximate binary map is B = 1 / (1 + exp(-k (P - T))) (DB eq. 2, k = 50).
Keys: `binarize.{conv1,conv_bn1,conv2,conv_bn2,conv3}.*` and the same under `thresh.`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import paddle
import paddle.nn.functional as F
from paddle import ParamAttr, nn
from paddle.nn.initializer import Constant, KaimingUniform, Uniform

from det_model.modeling.old_ir import add_channel_bias, in_old_ir_program, sigmoid

UPSAMPLE_STRIDE = 2  # each transposed convolution doubles H and W


class DBMaps(NamedTuple):
    """DB head output, each (N, 1, H, W) at input resolution.

    Attributes:
        shrink: probability map P (sigmoid), the only map in eval mode and in exported models.
        threshold: threshold map T; None in eval mode.
        binary: approximate binary map B = sigmoid(k (P - T)); None in eval mode.
    """

    shrink: paddle.Tensor
    threshold: paddle.Tensor | None = None
    binary: paddle.Tensor | None = None


def _uniform_bias(fan_in: int) -> ParamAttr:
    bound = 1.0 / math.sqrt(fan_in)
    return ParamAttr(initializer=Uniform(-bound, bound))


def _batch_norm(channels: int) -> nn.BatchNorm:
    return nn.BatchNorm(
        channels,
        param_attr=ParamAttr(initializer=Constant(1.0)),
        bias_attr=ParamAttr(initializer=Constant(1e-4)),
        act=None,
    )


class Head(nn.Layer):
    """conv(k0) -> BN -> ReLU -> deconv(k1, s2) -> BN -> ReLU -> deconv(k2, s2) -> sigmoid; stride 4 -> 1."""

    def __init__(self, in_channels: int, kernel_list: tuple[int, int, int] = (3, 2, 2)) -> None:
        super().__init__()
        if len(kernel_list) != 3:
            raise ValueError(f"DBHead kernel_list needs 3 kernel sizes, got {list(kernel_list)}")
        inner = in_channels // 4
        k0, k1, k2 = kernel_list
        self.conv1 = nn.Conv2D(in_channels, inner, k0, padding=k0 // 2, bias_attr=False)
        self.conv_bn1 = _batch_norm(inner)
        self.conv2 = nn.Conv2DTranspose(
            inner,
            inner,
            k1,
            stride=UPSAMPLE_STRIDE,
            weight_attr=ParamAttr(initializer=KaimingUniform()),
            bias_attr=_uniform_bias(inner),
        )
        self.conv_bn2 = _batch_norm(inner)
        self.conv3 = nn.Conv2DTranspose(
            inner,
            1,
            k2,
            stride=UPSAMPLE_STRIDE,
            weight_attr=ParamAttr(initializer=KaimingUniform()),
            bias_attr=_uniform_bias(inner),
        )

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x = F.relu(self.conv_bn1(self.conv1(x)))  # (N, C/4, H/4, W/4)
        x = F.relu(self.conv_bn2(_upsampling_conv(self.conv2, x)))  # (N, C/4, H/2, W/2)
        return sigmoid(_upsampling_conv(self.conv3, x))  # (N, 1, H, W)


def _upsampling_conv(conv: nn.Conv2DTranspose, x: paddle.Tensor) -> paddle.Tensor:
    """conv(x); in old-IR exports with the bias as `elementwise_add(axis=1)`, so that Paddle Inference folds
    the bias and the BatchNorm after it into the oneDNN deconvolution (9 of 65 ms per 960 x 544 image)."""
    if not in_old_ir_program():
        return conv(x)
    return add_channel_bias(F.conv2d_transpose(x, conv.weight, stride=UPSAMPLE_STRIDE), conv.bias)


class DBHead(nn.Layer):
    """Two identical branches: `binarize` -> P and `thresh` -> T; B from the step function in training.

    Args:
        in_channels: neck output channels (96 for the PP-OCRv3 student, 256 for the teacher).
        k: amplification factor of the step function (DB eq. 2).
        kernel_list: kernels of conv1, conv2, conv3 ([3,2,2] student, [7,2,2] teacher).
    """

    def __init__(self, in_channels: int, k: int = 50, kernel_list: tuple[int, int, int] = (3, 2, 2)) -> None:
        super().__init__()
        self.k = k
        self.binarize = Head(in_channels, tuple(kernel_list))
        self.thresh = Head(in_channels, tuple(kernel_list))

    def step_function(self, shrink: paddle.Tensor, threshold: paddle.Tensor) -> paddle.Tensor:
        """Differentiable binarization B = 1 / (1 + exp(-k (P - T)))."""
        return paddle.reciprocal(1 + paddle.exp(-self.k * (shrink - threshold)))

    def forward(self, x: paddle.Tensor) -> DBMaps:
        shrink = self.binarize(x)
        if not self.training:
            return DBMaps(shrink)  # the threshold branch is training-only
        threshold = self.thresh(x)
        return DBMaps(shrink, threshold, self.step_function(shrink, threshold))
