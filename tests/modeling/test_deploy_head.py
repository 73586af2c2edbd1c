"""DeployHead: the exported form of the DB head computes the same P map as Head."""

from __future__ import annotations

import numpy as np
import paddle
import pytest

from det_model.modeling.heads.db_head import DeployHead, Head


def trained_like_head(in_channels: int, kernel_list: tuple[int, int, int], seed: int) -> Head:
    """A Head in eval mode with random weights and non-trivial BatchNorm statistics (the fold uses them)."""
    paddle.seed(seed)
    rng = np.random.default_rng(seed)
    head = Head(in_channels, kernel_list)
    for bn in (head.conv_bn1, head.conv_bn2):
        channels = bn.weight.shape[0]
        bn.weight.set_value(rng.uniform(0.5, 1.5, channels).astype(np.float32))
        bn.bias.set_value(rng.standard_normal(channels).astype(np.float32))
        bn._mean.set_value(rng.standard_normal(channels).astype(np.float32))
        bn._variance.set_value(rng.uniform(0.1, 2.0, channels).astype(np.float32))
    head.eval()
    return head


@pytest.mark.parametrize(
    "in_channels, kernel_list, shape",
    [
        (96, (3, 2, 2), (1, 96, 8, 12)),  # student
        (256, (7, 2, 2), (2, 256, 5, 3)),  # teacher, odd sizes
        (16, (1, 2, 2), (3, 16, 1, 1)),
    ],
)
def test_deploy_head_equals_head(in_channels, kernel_list, shape):
    head = trained_like_head(in_channels, kernel_list, seed=in_channels)
    x = paddle.to_tensor(np.random.default_rng(1).standard_normal(shape).astype(np.float32))
    with paddle.no_grad():
        expected = head(x).numpy()
        got = DeployHead(head)(x).numpy()
    assert got.shape == expected.shape == (shape[0], 1, shape[2] * 4, shape[3] * 4)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)


def test_deploy_head_tracks_each_output_pixel_to_its_phase():
    """A change of one deconvolution tap moves exactly the output pixels of that phase."""
    head = trained_like_head(8, (3, 2, 2), seed=3)
    x = paddle.to_tensor(np.random.default_rng(2).standard_normal((1, 8, 3, 4)).astype(np.float32))
    with paddle.no_grad():
        before = DeployHead(head)(x).numpy()
        weight = head.conv3.weight.numpy()
        weight[:, :, 1, 0] += 1.0  # conv3 phase (k, l) = (1, 0): rows 1 and 3, even columns of each block
        head.conv3.weight.set_value(weight)
        after = DeployHead(head)(x).numpy()
        np.testing.assert_allclose(after, head(x).numpy(), rtol=0, atol=1e-5)
    changed = np.abs(after - before)[0, 0] > 0
    rows, cols = np.nonzero(changed)
    assert set(rows % 2) == {1} and set(cols % 2) == {0}


def test_deploy_head_refuses_kernels_other_than_the_stride():
    head = Head(16, (3, 4, 2))
    assert not DeployHead.supports(head)
    with pytest.raises(ValueError, match="kernel = stride"):
        DeployHead(head)
