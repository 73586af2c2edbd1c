"""MobileNetV3 backbone for text detection (PaddleOCR `ppocr/modeling/backbones/det_mobilenet_v3.py`).

Howard et al., "Searching for MobileNetV3" (2019). PP-OCRv3's student uses the "large" layout at scale 0.5
with SE disabled (`disable_se=True`): the attention moves into the RSEFPN neck instead.
Sub-layer names follow PaddleOCR so official `.pdparams` load unchanged: `conv.conv.weight`,
`stage{i}.{j}.{expand_conv|bottleneck_conv|mid_se|linear_conv}.*`, tail `stage3.{n}.conv.weight`.
"""

from __future__ import annotations

from typing import NamedTuple

import paddle
import paddle.nn.functional as F
from paddle import nn

from det_model.modeling.old_ir import pointwise_conv

SUPPORTED_SCALES = (0.35, 0.5, 0.75, 1.0, 1.25)
ACTIVATIONS = ("relu", "hardswish")


class BlockSpec(NamedTuple):
    """One inverted-residual block of the MobileNetV3 table (channels before scaling)."""

    kernel: int
    expand: int
    out: int
    use_se: bool
    act: str
    stride: int


# MobileNetV3-Large, paper table 1 (the 1x1 head conv "960" is the tail below).
LARGE_BLOCKS = (
    BlockSpec(3, 16, 16, False, "relu", 1),
    BlockSpec(3, 64, 24, False, "relu", 2),
    BlockSpec(3, 72, 24, False, "relu", 1),
    BlockSpec(5, 72, 40, True, "relu", 2),
    BlockSpec(5, 120, 40, True, "relu", 1),
    BlockSpec(5, 120, 40, True, "relu", 1),
    BlockSpec(3, 240, 80, False, "hardswish", 2),
    BlockSpec(3, 200, 80, False, "hardswish", 1),
    BlockSpec(3, 184, 80, False, "hardswish", 1),
    BlockSpec(3, 184, 80, False, "hardswish", 1),
    BlockSpec(3, 480, 112, True, "hardswish", 1),
    BlockSpec(3, 672, 112, True, "hardswish", 1),
    BlockSpec(5, 672, 160, True, "hardswish", 2),
    BlockSpec(5, 960, 160, True, "hardswish", 1),
    BlockSpec(5, 960, 160, True, "hardswish", 1),
)
LARGE_TAIL_CHANNELS = 960
STEM_CHANNELS = 16
# A stride-2 block with index > 2 opens a new stage (so blocks 0-2 form stage 0 at stride 4).
LARGE_FIRST_SPLIT_INDEX = 2


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round `value` to the nearest multiple of `divisor`, never going below 90% of it (MobileNet rule)."""
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def _activate(x: paddle.Tensor, act: str | None) -> paddle.Tensor:
    if act is None:
        return x
    if act == "relu":
        return F.relu(x)
    if act == "hardswish":
        return F.hardswish(x)
    raise ValueError(f"unknown activation {act!r}; known: {', '.join(ACTIVATIONS)}")


class ConvBNLayer(nn.Layer):
    """Conv2D (no bias) -> BatchNorm -> optional activation; keys `conv.weight`, `bn.*`."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        groups: int = 1,
        act: str | None = None,
    ) -> None:
        super().__init__()
        self.act = act
        self.conv = nn.Conv2D(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=(kernel_size - 1) // 2,
            groups=groups,
            bias_attr=False,
        )
        # Legacy `nn.BatchNorm` (momentum 0.9, eps 1e-5): PaddleOCR's class, state keys and parameter names.
        self.bn = nn.BatchNorm(out_channels, act=None)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return _activate(self.bn(self.conv(x)), self.act)


class SEModule(nn.Layer):
    """Squeeze-and-excitation: x * hardsigmoid(W2 relu(W1 avgpool(x))), hardsigmoid = clip(0.2x + 0.5, 0, 1).

    Also used by RSEFPN's RSELayer. Keys `conv1.{weight,bias}`, `conv2.{weight,bias}`.
    """

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2D(1)
        self.conv1 = nn.Conv2D(channels, channels // reduction, 1)
        self.conv2 = nn.Conv2D(channels // reduction, channels, 1)

    def attention(self, x: paddle.Tensor) -> paddle.Tensor:
        """hardsigmoid(W2 relu(W1 avgpool(x))), (N, C, 1, 1)."""
        hidden = F.relu(pointwise_conv(self.conv1, self.avg_pool(x)))
        return F.hardsigmoid(pointwise_conv(self.conv2, hidden), slope=0.2, offset=0.5)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return x * self.attention(x)


class ResidualUnit(nn.Layer):
    """Inverted residual: 1x1 expand -> kxk depthwise -> [SE] -> 1x1 linear; identity add if shapes allow."""

    def __init__(
        self,
        in_channels: int,
        mid_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int,
        use_se: bool,
        act: str,
    ) -> None:
        super().__init__()
        self.use_shortcut = stride == 1 and in_channels == out_channels
        self.use_se = use_se
        self.expand_conv = ConvBNLayer(in_channels, mid_channels, 1, act=act)
        self.bottleneck_conv = ConvBNLayer(
            mid_channels, mid_channels, kernel_size, stride=stride, groups=mid_channels, act=act
        )
        if use_se:
            self.mid_se = SEModule(mid_channels)
        self.linear_conv = ConvBNLayer(mid_channels, out_channels, 1, act=None)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        y = self.bottleneck_conv(self.expand_conv(x))
        if self.use_se:
            y = self.mid_se(y)
        y = self.linear_conv(y)
        return x + y if self.use_shortcut else y


class MobileNetV3(nn.Layer):
    """MobileNetV3 feature extractor returning 4 maps at strides 4, 8, 16, 32.

    Args:
        in_channels: image channels.
        model_name: only "large" (PP-OCRv3's choice) is implemented.
        scale: width multiplier, one of SUPPORTED_SCALES.
        disable_se: drop every SE block of the backbone (PP-OCRv3 student: True).

    Attributes:
        out_channels: channels of the 4 outputs; [16, 24, 56, 480] for large x0.5.
    """

    def __init__(
        self, in_channels: int = 3, model_name: str = "large", scale: float = 0.5, disable_se: bool = False
    ) -> None:
        super().__init__()
        if model_name != "large":
            raise ValueError(
                f"MobileNetV3 model_name {model_name!r} is not implemented; known: 'large' (PP-OCRv3's)"
            )
        if scale not in SUPPORTED_SCALES:
            raise ValueError(f"MobileNetV3 scale {scale} is not supported; known: {list(SUPPORTED_SCALES)}")
        self.disable_se = disable_se
        channels = make_divisible(STEM_CHANNELS * scale)
        self.conv = ConvBNLayer(in_channels, channels, 3, stride=2, act="hardswish")

        self.out_channels: list[int] = []
        stages: list[list[nn.Layer]] = [[]]
        for index, spec in enumerate(LARGE_BLOCKS):
            if spec.stride == 2 and index > LARGE_FIRST_SPLIT_INDEX:
                self.out_channels.append(channels)
                stages.append([])
            out_channels = make_divisible(scale * spec.out)
            stages[-1].append(
                ResidualUnit(
                    channels,
                    make_divisible(scale * spec.expand),
                    out_channels,
                    spec.kernel,
                    spec.stride,
                    use_se=spec.use_se and not disable_se,
                    act=spec.act,
                )
            )
            channels = out_channels
        tail_channels = make_divisible(scale * LARGE_TAIL_CHANNELS)
        stages[-1].append(ConvBNLayer(channels, tail_channels, 1, act="hardswish"))
        self.out_channels.append(tail_channels)

        self.stages: list[nn.Sequential] = []
        for index, layers in enumerate(stages):
            stage = nn.Sequential(*layers)
            self.add_sublayer(f"stage{index}", stage)
            self.stages.append(stage)

    def forward(self, x: paddle.Tensor) -> list[paddle.Tensor]:
        x = self.conv(x)  # (N, 8, H/2, W/2) at x0.5
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features  # strides 4, 8, 16, 32
