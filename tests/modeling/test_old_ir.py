"""det_model.modeling.old_ir: eager mode gives the plain Paddle results (old-IR forms: tests/export)."""

from __future__ import annotations

import numpy as np
import paddle
import paddle.nn.functional as F
import pytest

from det_model.modeling.old_ir import (
    add_channel_bias,
    in_old_ir_program,
    pixel_shuffle,
    pointwise_conv,
    sigmoid,
)


def test_eager_forms_equal_the_plain_operators():
    rng = np.random.default_rng(0)
    x = paddle.to_tensor(rng.standard_normal((2, 3, 4, 5)).astype(np.float32))
    bias = paddle.to_tensor(rng.standard_normal(3).astype(np.float32))
    assert not in_old_ir_program()
    np.testing.assert_array_equal(sigmoid(x).numpy(), F.sigmoid(x).numpy())
    expected = x.numpy() + bias.numpy()[None, :, None, None]
    np.testing.assert_allclose(add_channel_bias(x, bias).numpy(), expected, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(pixel_shuffle(x[:, :1].tile([1, 4, 1, 1]), 2).numpy(),
                                  F.pixel_shuffle(x[:, :1].tile([1, 4, 1, 1]), 2).numpy())
    conv = paddle.nn.Conv2D(3, 2, 1)
    np.testing.assert_array_equal(pointwise_conv(conv, x).numpy(), conv(x).numpy())


def test_old_ir_program_gets_the_classic_operators():
    paddle.enable_static()
    try:
        with paddle.pir_utils.OldIrGuard():
            program = paddle.static.Program()
            with paddle.static.program_guard(program):
                x = paddle.static.data("x", [None, 3, -1, -1], "float32")
                bias = paddle.static.create_parameter([3], "float32", name="b")
                assert in_old_ir_program()
                y = sigmoid(add_channel_bias(x, bias))
                pixel_shuffle(pointwise_conv(paddle.nn.Conv2D(3, 4, 1), y), 2)
            ops = program.global_block().ops
            assert [op.type for op in ops] == [
                "elementwise_add", "sigmoid", "conv2d", "elementwise_add", "pixel_shuffle"
            ]
            assert ops[0].attr("axis") == 1 and ops[0].input("Y") == ["b"]
            assert ops[3].attr("axis") == 1 and ops[3].input("X") == ops[2].output("Output")
            assert ops[4].attr("upscale_factor") == 2
    finally:
        paddle.disable_static()


@pytest.mark.parametrize("conv", [
    paddle.nn.Conv2D(3, 2, 3), paddle.nn.Conv2D(3, 2, 1, stride=2), paddle.nn.Conv2D(4, 2, 1, groups=2),
    paddle.nn.Conv2D(3, 2, 1, padding=1),
], ids=["3x3", "stride2", "grouped", "padded"])
def test_pointwise_conv_refuses_other_convolutions_in_old_ir(conv):
    paddle.enable_static()
    try:
        with paddle.pir_utils.OldIrGuard():
            program = paddle.static.Program()
            with paddle.static.program_guard(program):
                x = paddle.static.data("x", [None, conv._in_channels, -1, -1], "float32")
                with pytest.raises(ValueError, match="plain 1x1"):
                    pointwise_conv(conv, x)
    finally:
        paddle.disable_static()
