"""det_model.modeling.old_ir: eager mode gives the plain Paddle results (old-IR forms: tests/infer)."""

from __future__ import annotations

import numpy as np
import paddle
import paddle.nn.functional as F

from det_model.modeling.old_ir import add_channel_bias, in_old_ir_program, sigmoid


def test_eager_forms_equal_the_plain_operators():
    rng = np.random.default_rng(0)
    x = paddle.to_tensor(rng.standard_normal((2, 3, 4, 5)).astype(np.float32))
    bias = paddle.to_tensor(rng.standard_normal(3).astype(np.float32))
    assert not in_old_ir_program()
    np.testing.assert_array_equal(sigmoid(x).numpy(), F.sigmoid(x).numpy())
    expected = x.numpy() + bias.numpy()[None, :, None, None]
    np.testing.assert_allclose(add_channel_bias(x, bias).numpy(), expected, rtol=0, atol=1e-6)


def test_old_ir_program_gets_the_classic_operators():
    paddle.enable_static()
    try:
        with paddle.pir_utils.OldIrGuard():
            program = paddle.static.Program()
            with paddle.static.program_guard(program):
                x = paddle.static.data("x", [None, 3, -1, -1], "float32")
                bias = paddle.static.create_parameter([3], "float32", name="b")
                assert in_old_ir_program()
                sigmoid(add_channel_bias(x, bias))
            ops = program.global_block().ops
            assert [op.type for op in ops] == ["elementwise_add", "sigmoid"]
            assert ops[0].attr("axis") == 1 and ops[0].input("Y") == ["b"]
    finally:
        paddle.disable_static()
