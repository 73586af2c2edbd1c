"""Shapes, parameter counts and state-dict keys of the PP-OCRv3 student and teacher (facts §2, §11)."""

from __future__ import annotations

import numpy as np
import paddle
import pytest

from modeling_configs import STUDENT_CFG, TEACHER_CFG
from det_model.modeling import DBDetector, DBMaps, build_detector
from det_model.modeling.backbones.mobilenet_v3 import MobileNetV3
from det_model.modeling.backbones.resnet_vd import ResNet_vd
from det_model.modeling.build import build_backbone, build_head, build_neck
from det_model.modeling.detector import check_input_size
from det_model.modeling.necks.lk_pan import LKPAN

SIZE = 128  # smallest convenient multiple of 32 with a >1 pixel stride-32 map


@pytest.fixture(scope="module")
def student() -> DBDetector:
    paddle.seed(0)
    return build_detector(STUDENT_CFG)


@pytest.fixture(scope="module")
def teacher() -> DBDetector:
    paddle.seed(0)
    return build_detector(TEACHER_CFG)


def _images(height: int = SIZE, width: int = SIZE, batch: int = 2) -> paddle.Tensor:
    return paddle.to_tensor(
        np.random.default_rng(0).standard_normal((batch, 3, height, width)).astype("float32")
    )


def _counts(layer: paddle.nn.Layer) -> tuple[int, int]:
    """(trainable parameters incl. BN affine, non-trainable tensors = BN running statistics)."""
    trainable = sum(int(np.prod(p.shape)) for p in layer.parameters() if p.trainable)
    fixed = sum(int(np.prod(p.shape)) for p in layer.parameters() if not p.trainable)
    return trainable, fixed


# ------------------------------------------------------------------------------------------ shapes


def test_student_train_mode_returns_three_maps_at_input_size(student: DBDetector) -> None:
    student.train()
    maps = student(_images(SIZE, 2 * SIZE))
    assert isinstance(maps, DBMaps)
    assert [list(m.shape) for m in maps] == [[2, 1, SIZE, 2 * SIZE]] * 3


def test_student_eval_mode_returns_only_the_shrink_map(student: DBDetector) -> None:
    student.eval()
    maps = student(_images())
    assert list(maps.shrink.shape) == [2, 1, SIZE, SIZE]
    assert maps.threshold is None and maps.binary is None
    student.train()


def test_binary_map_is_the_db_step_function(student: DBDetector) -> None:
    student.train()
    maps = student(_images())
    shrink, threshold, binary = (m.numpy().astype("float64") for m in maps)
    assert np.allclose(binary, 1.0 / (1.0 + np.exp(-50.0 * (shrink - threshold))), atol=1e-5)
    assert 0.0 <= shrink.min() and shrink.max() <= 1.0


def test_student_backbone_and_neck_shapes(student: DBDetector) -> None:
    features = student.backbone(_images())
    assert student.backbone.out_channels == [16, 24, 56, 480]
    assert [list(f.shape) for f in features] == [
        [2, channels, SIZE // stride, SIZE // stride]
        for channels, stride in zip([16, 24, 56, 480], [4, 8, 16, 32])
    ]
    assert list(student.neck(features).shape) == [2, 96, SIZE // 4, SIZE // 4]


def test_teacher_backbone_neck_and_head_shapes(teacher: DBDetector) -> None:
    images = _images(64, 96, batch=1)
    features = teacher.backbone(images)
    assert teacher.backbone.out_channels == [256, 512, 1024, 2048]
    assert [list(f.shape) for f in features] == [
        [1, channels, 64 // stride, 96 // stride]
        for channels, stride in zip([256, 512, 1024, 2048], [4, 8, 16, 32])
    ]
    assert list(teacher.neck(features).shape) == [1, 256, 16, 24]
    teacher.train()
    assert [list(m.shape) for m in teacher(images)] == [[1, 1, 64, 96]] * 3


@pytest.mark.parametrize(
    "shape",
    [
        [1, 3, 100, 128],  # height not a multiple of 32
        [1, 3, 128, 48],  # width not a multiple of 32
        [1, 3, 16, 16],  # smaller than one stride-32 cell
    ],
)
def test_input_not_multiple_of_32_is_rejected_naming_the_shape(student: DBDetector, shape: list[int]) -> None:
    with pytest.raises(
        ValueError, match=rf"multiples of 32.*{shape}".replace("[", r"\[").replace("]", r"\]")
    ):
        student(paddle.zeros(shape))


def test_dynamic_dimensions_pass_the_size_check() -> None:
    check_input_size([-1, 3, -1, -1])  # to_static InputSpec: nothing to check


# ------------------------------------------------------------------------------- parameter counts


def test_student_parameter_counts(student: DBDetector) -> None:
    assert _counts(student) == (603_418, 12_560)
    assert _counts(student.backbone)[0] == 398_480
    assert _counts(student.neck)[0] == 158_424
    assert _counts(student.head)[0] == 46_514


def test_teacher_parameter_counts(teacher: DBDetector) -> None:
    assert _counts(teacher) == (32_895_970, 53_760)
    assert _counts(teacher.backbone)[0] == 23_527_264
    assert _counts(teacher.neck)[0] == 7_729_152
    assert _counts(teacher.head)[0] == 1_639_554


def test_mobilenet_with_se_matches_the_reference_count() -> None:
    assert _counts(MobileNetV3(scale=0.5, disable_se=False))[0] == 778_022


def test_student_has_no_se_in_the_backbone(student: DBDetector) -> None:
    assert not [key for key in student.state_dict() if "mid_se" in key]
    with_se = MobileNetV3(scale=0.5, disable_se=False).state_dict()
    assert "stage1.0.mid_se.conv1.weight" in with_se  # the switch is what removes them


# ------------------------------------------------------------------------------- key names

# (stage, index, in, mid, out, kernel, stride) from PaddleOCR's MobileNetV3 large layer table at scale 0.5.
MOBILENET_TABLE = [
    (0, 0, 8, 8, 8, 3, 1),
    (0, 1, 8, 32, 16, 3, 2),
    (0, 2, 16, 40, 16, 3, 1),
    (1, 0, 16, 40, 24, 5, 2),
    (1, 1, 24, 64, 24, 5, 1),
    (1, 2, 24, 64, 24, 5, 1),
    (2, 0, 24, 120, 40, 3, 2),
    (2, 1, 40, 104, 40, 3, 1),
    (2, 2, 40, 96, 40, 3, 1),
    (2, 3, 40, 96, 40, 3, 1),
    (2, 4, 40, 240, 56, 3, 1),
    (2, 5, 56, 336, 56, 3, 1),
    (3, 0, 56, 336, 80, 5, 2),
    (3, 1, 80, 480, 80, 5, 1),
    (3, 2, 80, 480, 80, 5, 1),
]


@pytest.mark.parametrize("stage,index,cin,mid,cout,kernel,stride", MOBILENET_TABLE)
def test_mobilenet_block_channels_match_the_layer_table(
    student: DBDetector, stage: int, index: int, cin: int, mid: int, cout: int, kernel: int, stride: int
) -> None:
    state = student.state_dict()
    prefix = f"backbone.stage{stage}.{index}"
    assert list(state[f"{prefix}.expand_conv.conv.weight"].shape) == [mid, cin, 1, 1]
    assert list(state[f"{prefix}.bottleneck_conv.conv.weight"].shape) == [mid, 1, kernel, kernel]
    assert list(state[f"{prefix}.linear_conv.conv.weight"].shape) == [cout, mid, 1, 1]
    block = student.backbone.stages[stage][index]
    assert block.bottleneck_conv.conv._stride == [stride, stride]


@pytest.mark.parametrize(
    "key,shape",
    [
        ("backbone.conv.conv.weight", [8, 3, 3, 3]),  # stem
        ("backbone.conv.bn._mean", [8]),
        ("backbone.stage2.0.expand_conv.conv.weight", [120, 24, 1, 1]),  # seen in PaddleOCR logs (#8984)
        ("backbone.stage3.3.conv.weight", [480, 80, 1, 1]),  # tail ConvBN closes stage 3
        ("backbone.stage3.3.bn._variance", [480]),
        ("neck.ins_conv.0.in_conv.weight", [96, 16, 1, 1]),
        ("neck.ins_conv.3.se_block.conv1.weight", [24, 96, 1, 1]),
        ("neck.inp_conv.3.in_conv.weight", [24, 96, 3, 3]),
        ("neck.inp_conv.0.se_block.conv2.bias", [24]),
        ("head.binarize.conv1.weight", [24, 96, 3, 3]),
        ("head.binarize.conv_bn1._variance", [24]),
        ("head.thresh.conv2.weight", [24, 24, 2, 2]),  # Conv2DTranspose: [in, out, k, k]
        ("head.thresh.conv3.bias", [1]),
    ],
)
def test_student_key_names(student: DBDetector, key: str, shape: list[int]) -> None:
    assert list(student.state_dict()[key].shape) == shape


@pytest.mark.parametrize(
    "key,shape",
    [
        ("backbone.conv1_1._conv.weight", [32, 3, 3, 3]),
        ("backbone.conv1_3._batch_norm._mean", [64]),
        ("backbone.bb_0_0.short._conv.weight", [256, 64, 1, 1]),  # first stage projects without avgpool
        ("backbone.bb_1_0.conv1._conv.weight", [128, 128, 3, 3]),
        ("backbone.bb_3_2.conv2._batch_norm._variance", [2048]),
        ("neck.ins_conv.3.weight", [256, 2048, 1, 1]),
        ("neck.inp_conv.0.weight", [64, 256, 9, 9]),
        ("neck.pan_head_conv.2.weight", [64, 64, 3, 3]),
        ("neck.pan_lat_conv.3.weight", [64, 64, 9, 9]),
        ("head.binarize.conv1.weight", [64, 256, 7, 7]),
    ],
)
def test_teacher_key_names(teacher: DBDetector, key: str, shape: list[int]) -> None:
    assert list(teacher.state_dict()[key].shape) == shape


def test_teacher_shortcuts_only_on_first_blocks_with_vd_pool_after_stage_0(teacher: DBDetector) -> None:
    shorts = sorted(key.split(".")[1] for key in teacher.state_dict() if key.endswith("short._conv.weight"))
    assert shorts == ["bb_0_0", "bb_1_0", "bb_2_0", "bb_3_0"]
    assert [teacher.backbone.stages[s][0].short.is_vd_mode for s in range(4)] == [False, True, True, True]
    assert teacher.backbone.stages[1][0].short._conv._stride == [1, 1]
    assert not any(".bias" in key for key in teacher.state_dict() if key.startswith("neck."))


# ---------------------------------------------------------------------------- unsupported options


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: MobileNetV3(model_name="small"), "model_name 'small'"),  # only PP-OCRv3's layout
        (lambda: MobileNetV3(scale=0.6), "scale 0.6"),  # PaddleOCR's allowed scale list
        (lambda: ResNet_vd(layers=34), "layers=34"),  # basic-block depths not implemented
        (lambda: LKPAN([256, 512, 1024, 2048], mode="lite"), "mode 'lite'"),
        (lambda: LKPAN([256, 512, 1024]), "4 input levels"),
        (lambda: build_backbone(object()), "known: MobileNetV3, ResNet_vd"),
        (lambda: build_neck(object(), [16, 24, 56, 480]), "known: RSEFPN, LKPAN"),
        (lambda: build_head(object(), 96), "known: DBHead"),
    ],
)
def test_unsupported_options_raise_value_error(make, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make()


def test_student_exports_with_a_dynamic_input_spec(tmp_path) -> None:
    """The size check must not break `paddle.jit.to_static` ([None, 3, -1, -1], PaddleOCR's export spec)."""
    from paddle.static import InputSpec

    paddle.seed(0)
    model = build_detector(STUDENT_CFG)  # to_static converts the layer in place: keep the fixtures dygraph
    model.eval()
    images = _images(64, 96, batch=1)
    expected = model(images).shrink.numpy()
    static = paddle.jit.to_static(
        model, input_spec=[InputSpec([None, 3, -1, -1], "float32")], full_graph=True
    )
    paddle.jit.save(static, str(tmp_path / "inference"))
    exported = paddle.jit.load(str(tmp_path / "inference"))(images)
    assert np.allclose(exported.numpy(), expected, atol=1e-5)
