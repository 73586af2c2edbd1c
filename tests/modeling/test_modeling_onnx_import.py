"""Released-ONNX import: mapping, refusals, and parity with onnxruntime on real photos (data.md §3)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnx
import paddle
import pytest
from onnx import TensorProto, helper, numpy_helper

from det_model.modeling import DBDetector, load_weights
from det_model.modeling.backbones.mobilenet_v3 import MobileNetV3
from det_model.modeling.heads.db_head import DBHead
from det_model.modeling.necks.rse_fpn import RSEFPN
from det_model.modeling.onnx_import import build_student, execution_order, import_onnx
from support.paths import RELEASED_ONNX, SAMPLE_DIR

SAMPLE_IMAGES = SAMPLE_DIR / "images"
needs_released_model = pytest.mark.skipif(
    not RELEASED_ONNX.is_file(), reason=f"released PP-OCRv3 ONNX model not found at {RELEASED_ONNX}"
)
# Our layer class -> (ONNX op, Paddle's parameter-name prefix).
OP_FOR_LAYER = {
    "Conv2D": ("Conv", "conv2d"),
    "Conv2DTranspose": ("ConvTranspose", "conv2d_transpose"),
    "BatchNorm": ("BatchNormalization", "batch_norm"),
}
BN_SUFFIXES = ("w_0", "b_0", "w_1", "w_2")  # scale, shift, running mean, running variance


class FakeExport:
    """An ONNX graph in paddle2onnx's layout for a model's eval-mode layers (importable, not runnable).

    Weights are initializers named like Paddle parameters. Conv biases are a 3rd input; deconv biases are
    Reshape + Add after the node (paddle2onnx writes the latter). `edit(name, array)` may swap a tensor.
    """

    def __init__(self, edit=None) -> None:
        self.edit = edit
        self.nodes: list = []
        self.initializers: list = []

    def tensor(self, name: str, array: np.ndarray) -> str:
        array = self.edit(name, array) if self.edit else array
        self.initializers.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def add_layer(self, layer: paddle.nn.Layer, base: str, previous: str, out: str) -> str:
        op = OP_FOR_LAYER[type(layer).__name__][0]
        if op == "BatchNormalization":
            tensors = (layer.weight, layer.bias, layer._mean, layer._variance)
            inputs = [self.tensor(f"{base}.{suffix}", t.numpy()) for suffix, t in zip(BN_SUFFIXES, tensors)]
            self.nodes.append(helper.make_node(op, [previous, *inputs], [out], epsilon=1e-5))
            return out
        inputs = [previous, self.tensor(f"{base}.w_0", layer.weight.numpy())]
        if layer.bias is not None and op == "Conv":
            inputs.append(self.tensor(f"{base}.b_0", layer.bias.numpy()))
        self.nodes.append(helper.make_node(op, inputs, [out], strides=list(layer._stride)))
        if layer.bias is None or op == "Conv":
            return out
        shape = self.tensor(f"{out}_shape", np.array([1, -1, 1, 1], "int64"))
        bias = self.tensor(f"{base}.b_0", layer.bias.numpy())
        self.nodes.append(helper.make_node("Reshape", [bias, shape], [f"{out}_bias"]))
        self.nodes.append(helper.make_node("Add", [out, f"{out}_bias"], [f"{out}_biased"]))
        return f"{out}_biased"

    def save(self, model: paddle.nn.Layer, path: Path) -> None:
        counters: dict[str, int] = {}
        previous = "x"
        for index, (_, layer) in enumerate(execution_order(model)):
            prefix = OP_FOR_LAYER[type(layer).__name__][1]
            counters[prefix] = counters.get(prefix, -1) + 1
            previous = self.add_layer(layer, f"{prefix}_{counters[prefix]}", previous, f"out_{index}")
        graph = helper.make_graph(
            self.nodes,
            "fake_export",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 64, 64])],
            [helper.make_tensor_value_info(previous, TensorProto.FLOAT, None)],
            initializer=self.initializers,
        )
        onnx.save(helper.make_model(graph), str(path))


def write_onnx_like_paddle2onnx(model: paddle.nn.Layer, path: Path, edit=None) -> None:
    FakeExport(edit).save(model, path)


@pytest.fixture(scope="module")
def random_student() -> DBDetector:
    paddle.seed(11)
    return build_student()


def test_synthetic_export_of_our_student_round_trips(tmp_path: Path, random_student: DBDetector) -> None:
    write_onnx_like_paddle2onnx(random_student, tmp_path / "student.onnx")
    report = import_onnx(tmp_path / "student.onnx", tmp_path / "imported")
    assert report.out_path == str(tmp_path / "imported.pdparams")
    assert (
        all(key.startswith("head.thresh.") for key in report.left_at_init) and len(report.left_at_init) == 13
    )
    assert report.node_counts == {"Conv": 72, "BatchNormalization": 49, "ConvTranspose": 2}
    paddle.seed(12)
    fresh = build_student()
    load_report = load_weights(fresh, report.out_path)
    assert load_report.missing == report.left_at_init
    source_state = random_student.state_dict()
    for key in report.imported:
        assert np.array_equal(fresh.state_dict()[key].numpy(), source_state[key].numpy()), key


def test_tiny_foreign_model_is_refused_naming_the_node_counts(tmp_path: Path) -> None:
    weight = numpy_helper.from_array(np.zeros((4, 3, 3, 3), "float32"), "conv2d_0.w_0")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "conv2d_0.w_0"], ["y"])],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        initializer=[weight],
    )
    onnx.save(helper.make_model(graph), str(tmp_path / "tiny.onnx"))
    with pytest.raises(ValueError, match="Conv: file 1 vs student 72.*ConvTranspose: file 0 vs student 2"):
        import_onnx(tmp_path / "tiny.onnx", tmp_path / "out")
    assert not (tmp_path / "out.pdparams").exists()


def test_student_with_backbone_se_is_refused(tmp_path: Path) -> None:
    backbone = MobileNetV3(scale=0.5, disable_se=False)  # PP-OCRv3 disables SE in the backbone
    neck = RSEFPN(backbone.out_channels, 96)
    write_onnx_like_paddle2onnx(DBDetector(backbone, neck, DBHead(96)), tmp_path / "se.onnx")
    with pytest.raises(ValueError, match="Conv: file 88 vs student 72"):
        import_onnx(tmp_path / "se.onnx", tmp_path / "out")


def test_shape_mismatch_is_refused_naming_the_tensor(tmp_path: Path, random_student: DBDetector) -> None:
    def widen(name: str, array: np.ndarray) -> np.ndarray:
        return (
            np.zeros((96, 24, 3, 3), "float32") if name == "conv2d_71.w_0" else array
        )  # head conv1 [24,96,3,3]

    write_onnx_like_paddle2onnx(random_student, tmp_path / "wide.onnx", edit=widen)
    with pytest.raises(
        ValueError, match=r"conv2d_71\.w_0 has shape \[96, 24, 3, 3\] but head\.binarize\.conv1\.weight"
    ):
        import_onnx(tmp_path / "wide.onnx", tmp_path / "out")


def test_stray_parameter_tensor_is_refused(tmp_path: Path, random_student: DBDetector) -> None:
    path = tmp_path / "stray.onnx"
    write_onnx_like_paddle2onnx(random_student, path)
    model = onnx.load(str(path))
    model.graph.initializer.append(numpy_helper.from_array(np.zeros(3, "float32"), "conv2d_99.w_0"))
    onnx.save(model, str(path))
    with pytest.raises(ValueError, match=r"conv2d_99\.w_0"):
        import_onnx(path, tmp_path / "out")


def test_missing_onnx_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="absent.onnx"):
        import_onnx(tmp_path / "absent.onnx", tmp_path / "out")


# ------------------------------------------------------------------------------ the released model


@pytest.fixture(scope="module")
def released_student(tmp_path_factory: pytest.TempPathFactory) -> DBDetector:
    out = tmp_path_factory.mktemp("released") / "ch_PP-OCRv3_det_student"
    report = import_onnx(RELEASED_ONNX, out)
    assert len(report.imported) == 288
    assert report.left_at_init == [
        key for key in build_student().state_dict() if key.startswith("head.thresh.")
    ]
    model = build_student()
    load_weights(model, report.out_path)
    model.eval()
    return model


def det_resize_960_max(image: np.ndarray) -> np.ndarray:
    """PaddleOCR inference resize: long side limited to 960, sides rounded to multiples of 32 (min 32)."""
    height, width = image.shape[:2]
    ratio = 960.0 / max(height, width) if max(height, width) > 960 else 1.0
    resized_h = max(int(round(int(height * ratio) / 32) * 32), 32)
    resized_w = max(int(round(int(width * ratio) / 32) * 32), 32)
    return cv2.resize(image, (resized_w, resized_h))


def normalize(image: np.ndarray) -> np.ndarray:
    """(img/255 - mean)/std with ImageNet statistics applied to the BGR channels as-is; HWC -> NCHW."""
    mean = np.array([0.485, 0.456, 0.406], "float32")
    std = np.array([0.229, 0.224, 0.225], "float32")
    return ((image.astype("float32") / 255.0 - mean) / std).transpose(2, 0, 1)[None]


@needs_released_model
@pytest.mark.skipif(not SAMPLE_IMAGES.is_dir(), reason=f"sample images not found at {SAMPLE_IMAGES}")
def test_imported_student_matches_onnxruntime_on_real_photos(released_student: DBDetector) -> None:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(RELEASED_ONNX), providers=["CPUExecutionProvider"])
    paths = sorted(SAMPLE_IMAGES.glob("*.jpg"))
    assert len(paths) == 13
    worst = 0.0
    for path in paths:
        image = normalize(det_resize_960_max(cv2.imread(str(path))))
        (expected,) = session.run(None, {"x": image})
        with paddle.no_grad():
            ours = released_student(paddle.to_tensor(image)).shrink.numpy()
        assert ours.shape == expected.shape == (1, 1, *image.shape[2:])
        worst = max(worst, float(np.abs(ours - expected).max()))
    assert worst <= 1e-4, f"max |prob difference| {worst:.2e}"
