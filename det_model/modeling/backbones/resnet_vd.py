"""ResNet-vd backbone for text detection (PaddleOCR `ppocr/modeling/backbones/det_resnet_vd.py`).

He et al., "Bag of Tricks for Image Classification with CNNs" (2019), variant D: a 3-conv stem, stride on
the 3x3 conv of each bottleneck, and an average pool before the 1x1 projection shortcut. PP-OCRv3's teacher
uses depth 50. Sub-layer names follow PaddleOCR: `conv1_{1,2,3}`,
`bb_{stage}_{block}.{conv0,conv1,conv2,short}`, each with `_conv.weight` and `_batch_norm.*`.
"""

from __future__ import annotations

import paddle
import paddle.nn.functional as F
from paddle import nn

# Bottleneck depths per stage; PaddleOCR also has 18/34 (basic blocks), which PP-OCRv3 does not use.
BOTTLENECK_DEPTHS: dict[int, tuple[int, int, int, int]] = {
    50: (3, 4, 6, 3),
    101: (3, 4, 23, 3),
    152: (3, 8, 36, 3),
    200: (3, 12, 48, 3),
}
STAGE_FILTERS = (64, 128, 256, 512)
EXPANSION = 4


class ConvBNLayer(nn.Layer):
    """[AvgPool 2x2 s2 (vd shortcut)] -> Conv2D (no bias) -> BN -> [ReLU]; keys `_conv`, `_batch_norm`."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        act: str | None = None,
        is_vd_mode: bool = False,
    ) -> None:
        super().__init__()
        if act not in (None, "relu"):
            raise ValueError(f"unknown activation {act!r}; known: None, 'relu'")
        self.act = act
        self.is_vd_mode = is_vd_mode
        self._pool2d_avg = nn.AvgPool2D(kernel_size=2, stride=2, padding=0, ceil_mode=True)
        self._conv = nn.Conv2D(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=(kernel_size - 1) // 2,
            bias_attr=False,
        )
        self._batch_norm = nn.BatchNorm(out_channels, act=None)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        if self.is_vd_mode:
            x = self._pool2d_avg(x)
        y = self._batch_norm(self._conv(x))
        return F.relu(y) if self.act == "relu" else y


class BottleneckBlock(nn.Layer):
    """1x1 -> 3x3 (stride here) -> 1x1 (x4 channels), plus identity or projection shortcut, then ReLU."""

    def __init__(
        self, in_channels: int, filters: int, stride: int, use_identity: bool, is_first_stage: bool
    ) -> None:
        super().__init__()
        self.use_identity = use_identity
        self.conv0 = ConvBNLayer(in_channels, filters, 1, act="relu")
        self.conv1 = ConvBNLayer(filters, filters, 3, stride=stride, act="relu")
        self.conv2 = ConvBNLayer(filters, filters * EXPANSION, 1, act=None)
        if not use_identity:
            # The projection has stride 1; the vd avgpool downsamples instead (not in the first stage).
            self.short = ConvBNLayer(in_channels, filters * EXPANSION, 1, is_vd_mode=not is_first_stage)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        y = self.conv2(self.conv1(self.conv0(x)))
        shortcut = x if self.use_identity else self.short(x)
        return F.relu(shortcut + y)


class ResNet_vd(nn.Layer):  # noqa: N801 - PaddleOCR's class name, used as the config `name`.
    """ResNet-vd feature extractor returning 4 maps at strides 4, 8, 16, 32.

    Attributes:
        out_channels: [256, 512, 1024, 2048] for the bottleneck depths.
    """

    def __init__(self, in_channels: int = 3, layers: int = 50) -> None:
        super().__init__()
        if layers not in BOTTLENECK_DEPTHS:
            raise ValueError(
                f"ResNet_vd layers={layers} is not supported; known: {sorted(BOTTLENECK_DEPTHS)}"
            )
        self.layers = layers
        self.conv1_1 = ConvBNLayer(in_channels, 32, 3, stride=2, act="relu")
        self.conv1_2 = ConvBNLayer(32, 32, 3, act="relu")
        self.conv1_3 = ConvBNLayer(32, 64, 3, act="relu")
        self.pool2d_max = nn.MaxPool2D(kernel_size=3, stride=2, padding=1)

        self.out_channels: list[int] = []
        # Blocks are registered flat as `bb_{stage}_{block}` (PaddleOCR's names); this list is not registered.
        self.stages: list[list[BottleneckBlock]] = []
        channels = 64
        for stage, depth in enumerate(BOTTLENECK_DEPTHS[layers]):
            filters = STAGE_FILTERS[stage]
            blocks = []
            for block in range(depth):
                unit = BottleneckBlock(
                    channels,
                    filters,
                    stride=2 if block == 0 and stage != 0 else 1,
                    use_identity=block != 0,
                    is_first_stage=stage == 0,
                )
                blocks.append(self.add_sublayer(f"bb_{stage}_{block}", unit))
                channels = filters * EXPANSION
            self.stages.append(blocks)
            self.out_channels.append(channels)

    def forward(self, x: paddle.Tensor) -> list[paddle.Tensor]:
        y = self.pool2d_max(self.conv1_3(self.conv1_2(self.conv1_1(x))))  # (N, 64, H/4, W/4)
        features = []
        for blocks in self.stages:
            for block in blocks:
                y = block(y)
            features.append(y)
        return features  # strides 4, 8, 16, 32
