"""RSE-FPN, the PP-OCRv3 student neck (PaddleOCR `ppocr/modeling/necks/db_fpn.py`, class RSEFPN).

PP-OCRv3 report (arXiv 2206.03001) section 3.1: an FPN whose 1x1 lateral and 3x3 output convs are
"residual squeeze-and-excitation" layers, x + SE(x), so the SE cannot suppress a channel entirely in a
narrow (96-channel) FPN. No BatchNorm or activation anywhere in the neck.
Keys: `ins_conv.{i}.in_conv.weight`, `ins_conv.{i}.se_block.conv{1,2}.{weight,bias}`, likewise `inp_conv.{i}`.
"""

from __future__ import annotations

import paddle
import paddle.nn.functional as F
from paddle import ParamAttr, nn
from paddle.nn.initializer import KaimingUniform

from det_model.modeling.backbones.mobilenet_v3 import SEModule
from det_model.modeling.old_ir import in_old_ir_program

PYRAMID_LEVELS = 4


def upsample_nearest(x: paddle.Tensor, scale: int) -> paddle.Tensor:
    """Nearest-neighbour upsampling by an integer factor (PaddleOCR's `F.upsample(mode="nearest")`).

    Eager mode and old-IR programs (`inference.pdmodel`) use `interpolate` (one `nearest_interp_v2` op, which
    oneDNN runs). PIR programs (`inference.json`, also the source of the ONNX export) get a broadcast +
    reshape: Paddle 3.3 stores interpolate's scale as float64 there, which oneDNN and paddle2onnx reject.
    The two forms give bit-identical results.
    """
    if paddle.in_dynamic_mode() or in_old_ir_program():
        return F.interpolate(x, scale_factor=scale, mode="nearest")
    shape = paddle.shape(x)
    n, c, h, w = shape[0], shape[1], shape[2], shape[3]
    return x.unsqueeze([3, 5]).expand([n, c, h, scale, w, scale]).reshape([n, c, h * scale, w * scale])


def top_down(lateral: list[paddle.Tensor]) -> list[paddle.Tensor]:
    """FPN top-down sums: [in2, in3, in4, in5] -> [out2, out3, out4, in5], each level += up2(level above)."""
    in2, in3, in4, in5 = lateral
    out4 = in4 + upsample_nearest(in5, 2)
    out3 = in3 + upsample_nearest(out4, 2)
    out2 = in2 + upsample_nearest(out3, 2)
    return [out2, out3, out4, in5]


def fuse_to_stride4(levels: list[paddle.Tensor]) -> paddle.Tensor:
    """Upsample [p2, p3, p4, p5] to stride 4 and concatenate in PaddleOCR's order [p5, p4, p3, p2]."""
    p2, p3, p4, p5 = levels
    return paddle.concat(
        [upsample_nearest(p5, 8), upsample_nearest(p4, 4), upsample_nearest(p3, 2), p2], axis=1
    )


class RSELayer(nn.Layer):
    """Conv(k) then x + SE(x) (or SE(x) alone when `shortcut=False`)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, shortcut: bool = True) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.shortcut = shortcut
        self.in_conv = nn.Conv2D(
            in_channels,
            out_channels,
            kernel_size,
            padding=kernel_size // 2,
            weight_attr=ParamAttr(initializer=KaimingUniform()),
            bias_attr=False,
        )
        self.se_block = SEModule(out_channels)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x = self.in_conv(x)
        if not self.shortcut:
            return self.se_block(x)
        if in_old_ir_program():  # one multiply over the map instead of a multiply and an add
            return x * (self.se_block.attention(x) + 1.0)
        return x + self.se_block(x)


class RSEFPN(nn.Layer):
    """Residual-SE FPN: 4 backbone maps -> one map with `out_channels` channels at stride 4.

    Args:
        in_channels: channels of the 4 backbone outputs (strides 4..32).
        out_channels: output channels; each level contributes out_channels // 4.
        shortcut: use the residual form x + SE(x).
    """

    def __init__(self, in_channels: list[int], out_channels: int = 96, shortcut: bool = True) -> None:
        super().__init__()
        if len(in_channels) != PYRAMID_LEVELS:
            raise ValueError(
                f"RSEFPN needs {PYRAMID_LEVELS} input levels, got in_channels={list(in_channels)}"
            )
        if out_channels % PYRAMID_LEVELS:
            raise ValueError(
                f"RSEFPN out_channels must be a multiple of {PYRAMID_LEVELS}, got {out_channels}"
            )
        self.out_channels = out_channels
        self.ins_conv = nn.LayerList()
        self.inp_conv = nn.LayerList()
        # Built interleaved (ins_i, inp_i) like PaddleOCR, so auto-generated parameter names match its export.
        for channels in in_channels:
            self.ins_conv.append(RSELayer(channels, out_channels, 1, shortcut))
            self.inp_conv.append(RSELayer(out_channels, out_channels // PYRAMID_LEVELS, 3, shortcut))

    def forward(self, features: list[paddle.Tensor]) -> paddle.Tensor:
        c2, c3, c4, c5 = features
        # PaddleOCR's op order (deepest first); the ONNX importer relies on execution order.
        lateral = [self.ins_conv[3](c5), self.ins_conv[2](c4), self.ins_conv[1](c3), self.ins_conv[0](c2)][
            ::-1
        ]
        summed = top_down(lateral)
        p5 = self.inp_conv[3](summed[3])
        p4 = self.inp_conv[2](summed[2])
        p3 = self.inp_conv[1](summed[1])
        p2 = self.inp_conv[0](summed[0])
        return fuse_to_stride4([p2, p3, p4, p5])  # (N, out_channels, H/4, W/4)
