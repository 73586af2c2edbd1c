"""LK-PAN, the PP-OCRv3 teacher neck (PaddleOCR `ppocr/modeling/necks/db_fpn.py`, class LKPAN).

PP-OCRv3 report (arXiv 2206.03001) section 3.1: a PAN (Liu et al., "Path Aggregation Network", 2018) whose
path-augmentation and output convs use large 9x9 kernels. Plain convs, no bias, no BatchNorm/activation.
Keys: `ins_conv.{0..3}.weight`, `inp_conv.{0..3}.weight`, `pan_head_conv.{0..2}.weight`,
`pan_lat_conv.{0..3}.weight`.
"""

from __future__ import annotations

import paddle
from paddle import ParamAttr, nn
from paddle.nn.initializer import KaimingUniform

from det_model.modeling.necks.rse_fpn import PYRAMID_LEVELS, fuse_to_stride4, top_down

LARGE_KERNEL = 9
MODES = ("large",)


def _conv(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> nn.Conv2D:
    return nn.Conv2D(
        in_channels,
        out_channels,
        kernel_size,
        stride=stride,
        padding=kernel_size // 2,
        weight_attr=ParamAttr(initializer=KaimingUniform()),
        bias_attr=False,
    )


class LKPAN(nn.Layer):
    """Large-kernel PAN: 4 backbone maps -> one map with `out_channels` channels at stride 4.

    Args:
        in_channels: channels of the 4 backbone outputs (strides 4..32).
        out_channels: channels of the lateral 1x1 convs and of the output (out_channels // 4 per level).
        mode: "large" (9x9 convs, PP-OCRv3). PaddleOCR's "lite" (depthwise-separable) is not implemented.
    """

    def __init__(self, in_channels: list[int], out_channels: int = 256, mode: str = "large") -> None:
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"LKPAN mode {mode!r} is not implemented; known: {list(MODES)}")
        if len(in_channels) != PYRAMID_LEVELS:
            raise ValueError(
                f"LKPAN needs {PYRAMID_LEVELS} input levels, got in_channels={list(in_channels)}"
            )
        if out_channels % PYRAMID_LEVELS:
            raise ValueError(f"LKPAN out_channels must be a multiple of {PYRAMID_LEVELS}, got {out_channels}")
        self.out_channels = out_channels
        level_channels = out_channels // PYRAMID_LEVELS
        self.ins_conv = nn.LayerList()
        self.inp_conv = nn.LayerList()
        self.pan_head_conv = nn.LayerList()
        self.pan_lat_conv = nn.LayerList()
        for index, channels in enumerate(in_channels):
            self.ins_conv.append(_conv(channels, out_channels, 1))
            self.inp_conv.append(_conv(out_channels, level_channels, LARGE_KERNEL))
            if index > 0:
                self.pan_head_conv.append(_conv(level_channels, level_channels, 3, stride=2))
            self.pan_lat_conv.append(_conv(level_channels, level_channels, LARGE_KERNEL))

    def forward(self, features: list[paddle.Tensor]) -> paddle.Tensor:
        c2, c3, c4, c5 = features
        lateral = [self.ins_conv[3](c5), self.ins_conv[2](c4), self.ins_conv[1](c3), self.ins_conv[0](c2)][
            ::-1
        ]
        summed = top_down(lateral)
        f5 = self.inp_conv[3](summed[3])
        f4 = self.inp_conv[2](summed[2])
        f3 = self.inp_conv[1](summed[1])
        f2 = self.inp_conv[0](summed[0])
        # Bottom-up path augmentation (PAN): each level += strided conv of the level below.
        pan3 = f3 + self.pan_head_conv[0](f2)
        pan4 = f4 + self.pan_head_conv[1](pan3)
        pan5 = f5 + self.pan_head_conv[2](pan4)
        p2 = self.pan_lat_conv[0](f2)
        p3 = self.pan_lat_conv[1](pan3)
        p4 = self.pan_lat_conv[2](pan4)
        p5 = self.pan_lat_conv[3](pan5)
        return fuse_to_stride4([p2, p3, p4, p5])  # (N, out_channels, H/4, W/4)
