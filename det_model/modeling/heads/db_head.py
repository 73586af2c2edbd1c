"""DB head (PaddleOCR `ppocr/modeling/heads/det_db_head.py`).

Liao et al., "Real-time Scene Text Detection with Differentiable Binarization" (DB, AAAI 2020):
the probability (shrink) map P and threshold map T are predicted at input resolution from the stride-4
neck output, and the approximate binary map is B = 1 / (1 + exp(-k (P - T))) (DB eq. 2, k = 50).
Keys: `binarize.{conv1,conv_bn1,conv2,conv_bn2,conv3}.*` and the same under `thresh.`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import paddle
import paddle.nn.functional as F
from paddle import ParamAttr, nn
from paddle.nn.initializer import Assign, Constant, KaimingUniform, Uniform

from det_model.modeling.old_ir import add_channel_bias, pixel_shuffle, sigmoid

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
        x = F.relu(self.conv_bn2(self.conv2(x)))  # (N, C/4, H/2, W/2)
        return sigmoid(self.conv3(x))  # (N, 1, H, W)


def _batch_norm_affine(bn: nn.BatchNorm) -> tuple[np.ndarray, np.ndarray]:
    """Eval-mode BatchNorm as y = scale * x + shift (per channel)."""
    scale = bn.weight.numpy() / np.sqrt(bn._variance.numpy() + bn._epsilon)
    return scale, bn.bias.numpy() - bn._mean.numpy() * scale


def _constant(layer: nn.Layer, name: str, value: np.ndarray) -> paddle.Tensor:
    """A frozen float32 parameter of `layer` holding `value` (saved with the exported program)."""
    initializer = Assign(value.astype(np.float32))
    parameter = layer.create_parameter(list(value.shape), default_initializer=initializer)
    parameter.stop_gradient = True
    layer.add_parameter(name, parameter)
    return parameter


class DeployHead(nn.Layer):
    """Inference form of a `Head` for exported programs: the same map P, with both stride-2 transposed
    convolutions computed as 1x1 convolutions at stride 4 and a depth-to-space.

    With kernel = stride = 2 each output pixel of a transposed convolution depends on one input pixel, so
    deconv -> BN -> ReLU -> deconv -> sigmoid is a per-pixel network from x[:, h, w] (C channels, after
    conv1/BN/ReLU) to the 4 x 4 block P[4h:4h+4, 4w:4w+4]:
        hidden = ReLU(W_h x + b_h)          4C channels (i, j, c): conv2's phase (i, j), BN folded in
        block  = sigmoid(W_o hidden + b_o)  16 channels (2i+k, 2j+l): conv3's phase (k, l) of hidden (i, j)
        P      = depth_to_space(block, 4)
    Paddle Inference runs each line as one fused oneDNN convolution at H/4 x W/4, instead of deconvolutions
    at H/2 and H plus a separate ReLU and sigmoid. Equal to `Head` up to float rounding (export checks it).
    """

    def __init__(self, head: Head) -> None:
        super().__init__()
        if not self.supports(head):
            raise ValueError("DeployHead needs transposed convolutions with kernel = stride = "
                             f"{UPSAMPLE_STRIDE}, got {head.conv2} and {head.conv3}")
        s = UPSAMPLE_STRIDE
        self.conv1 = head.conv1
        self.conv_bn1 = head.conv_bn1
        w2 = head.conv2.weight.numpy()  # (C, C, s, s): in, out, kh, kw
        w3 = head.conv3.weight.numpy()  # (C, 1, s, s)
        channels = w2.shape[1]
        scale, shift = _batch_norm_affine(head.conv_bn2)
        hidden_weight = (w2 * scale[None, :, None, None]).transpose(2, 3, 1, 0)  # (i, j, c_out, c_in)
        hidden_bias = np.tile(head.conv2.bias.numpy() * scale + shift, s * s)
        out_weight = np.zeros((s * s, s * s, s, s, channels), np.float32)  # (row, col, i, j, c)
        for i, j, k, l in np.ndindex(s, s, s, s):
            out_weight[s * i + k, s * j + l, i, j] = w3[:, 0, k, l]
        hidden_weight = hidden_weight.reshape(s * s * channels, -1, 1, 1)
        self.hidden_weight = _constant(self, "hidden_weight", hidden_weight)
        self.hidden_bias = _constant(self, "hidden_bias", hidden_bias)
        self.out_weight = _constant(self, "out_weight", out_weight.reshape(s**4, s * s * channels, 1, 1))
        self.out_bias = _constant(self, "out_bias", np.repeat(head.conv3.bias.numpy(), s**4))

    @staticmethod
    def supports(head: Head) -> bool:
        """True when both transposed convolutions have kernel = stride (PP-OCRv3's kernel_list [k, 2, 2])."""
        return all(
            conv._kernel_size == [UPSAMPLE_STRIDE] * 2 and conv._stride == [UPSAMPLE_STRIDE] * 2
            for conv in (head.conv2, head.conv3)
        )

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x = F.relu(self.conv_bn1(self.conv1(x)))  # (N, C, H/4, W/4)
        hidden = F.relu(add_channel_bias(F.conv2d(x, self.hidden_weight), self.hidden_bias))
        block = sigmoid(add_channel_bias(F.conv2d(hidden, self.out_weight), self.out_bias))
        return pixel_shuffle(block, UPSAMPLE_STRIDE * UPSAMPLE_STRIDE)  # (N, 1, H, W)


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
