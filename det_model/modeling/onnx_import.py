"""Import the released PP-OCRv3 detector (ONNX, paddle2onnx export) into our student's state dict.

The released `ch_PP-OCRv3_det_infer.onnx` keeps Paddle's auto-generated parameter names (`conv2d_0.w_0`,
`batch_norm_0.w_1`, ...) as Constant nodes (or initializers) and does not fold BatchNorm. Those names follow
construction order, not our structured keys, so the mapping is structural: the i-th Conv / ConvTranspose /
BatchNormalization node in graph order is the i-th Conv2D / Conv2DTranspose / BatchNorm layer our student
runs in eval mode (recorded with forward hooks). Every tensor shape is checked, and biases are found by
following the graph (a Conv's 3rd input, or the constant added to its output, possibly through a Reshape).
The threshold branch (`head.thresh.*`) is training-only and absent from the file; it is left out of the
written `.pdparams` and reported.

Our own exports (`det-model export` ONNX) hold the head in its `DeployHead` form: the two transposed
convolutions and the BatchNorm between them folded into two 1x1 convolutions and a DepthToSpace. That form is
imported too: the transposed-convolution weights are read back out of the 1x1 kernels, the folded BatchNorm
scale and shift stay in conv2's weight and bias, and `conv_bn2` becomes the identity (weight 1, bias 0, mean 0,
variance 1 - epsilon). The imported student computes the same map as the exported one; only the separate
statistics of that one BatchNorm cannot be recovered (fine-tuning re-learns them).
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import paddle
from paddle import nn

from det_model.modeling.backbones.mobilenet_v3 import MobileNetV3
from det_model.modeling.detector import DBDetector
from det_model.modeling.heads.db_head import DBHead
from det_model.modeling.necks.rse_fpn import RSEFPN
from det_model.modeling.weights import save_params

logger = logging.getLogger(__name__)

ONNX_OP_FOR_LAYER: dict[type, str] = {
    nn.Conv2D: "Conv",
    nn.Conv2DTranspose: "ConvTranspose",
    nn.BatchNorm: "BatchNormalization",
}
# ONNX BatchNormalization inputs 1..4 -> legacy paddle BatchNorm state keys.
BN_INPUT_KEYS = ("weight", "bias", "_mean", "_variance")
TRAINING_ONLY_PREFIX = "head.thresh."
TRACE_INPUT_SIZE = 64
# Paddle's auto-generated parameter names, e.g. conv2d_12.w_0, batch_norm_3.w_2, conv2d_transpose_0.b_0.
PADDLE_PARAM_NAME = re.compile(r"^(conv2d|conv2d_transpose|depthwise_conv2d|batch_norm)_\d+\.[wb]_\d+$")


@dataclass
class ImportReport:
    onnx_path: str
    out_path: str
    imported: list[str] = field(default_factory=list)
    left_at_init: list[str] = field(default_factory=list)  # in our state dict, not in the ONNX file
    node_counts: dict[str, int] = field(default_factory=dict)
    deploy_head: bool = False  # our export's folded head form, unfolded

    def summary(self) -> str:
        form = ", DeployHead form unfolded" if self.deploy_head else ""
        return (
            f"{self.onnx_path} -> {self.out_path}: {len(self.imported)} tensors imported{form} "
            f"({', '.join(f'{n} {op}' for op, n in sorted(self.node_counts.items()))}); "
            f"{len(self.left_at_init)} left at initialisation (training-only {TRAINING_ONLY_PREFIX}*)"
        )


def build_student() -> DBDetector:
    """PP-OCRv3 student: MobileNetV3 large x0.5 without SE + RSEFPN(96) + DBHead(96, [3,2,2], k 50)."""
    backbone = MobileNetV3(scale=0.5, model_name="large", disable_se=True)
    neck = RSEFPN(backbone.out_channels, out_channels=96, shortcut=True)
    return DBDetector(backbone, neck, DBHead(neck.out_channels, k=50, kernel_list=(3, 2, 2)))


def execution_order(model: nn.Layer) -> list[tuple[str, nn.Layer]]:
    """(name, layer) of the conv/deconv/BN layers in the order an eval-mode forward runs them."""
    names = {id(layer): name for name, layer in model.named_sublayers()}
    order: list[tuple[str, nn.Layer]] = []
    hooks = [
        layer.register_forward_pre_hook(lambda lyr, _inputs: order.append((names[id(lyr)], lyr)))
        for layer in model.sublayers()
        if type(layer) in ONNX_OP_FOR_LAYER
    ]
    was_training = model.training
    model.eval()
    try:
        with paddle.no_grad():
            model(paddle.zeros([1, 3, TRACE_INPUT_SIZE, TRACE_INPUT_SIZE]))
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    return order


class OnnxGraph:
    """Constant tensors and producer/consumer maps of an ONNX graph."""

    def __init__(self, path: Path) -> None:
        import onnx  # only needed here
        from onnx import numpy_helper

        try:
            graph = onnx.load(str(path)).graph
        except Exception as exc:  # noqa: BLE001 - protobuf's DecodeError and friends: a file that is not ONNX
            raise ValueError(f"{path}: not an ONNX model ({type(exc).__name__}: {str(exc)[:120]}); pass an "
                             ".onnx file such as ch_PP-OCRv3_det_infer.onnx or a det-model export's "
                             "inference.onnx") from None
        self.nodes = list(graph.node)
        self.constants: dict[str, np.ndarray] = {
            init.name: numpy_helper.to_array(init) for init in graph.initializer
        }
        for node in self.nodes:
            if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
                self.constants[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
        self.producer = {out: node for node in self.nodes for out in node.output}
        self.consumers: dict[str, list] = {}
        for node in self.nodes:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)

    def ops(self, op_types: set[str]) -> list:
        return [node for node in self.nodes if node.op_type in op_types]

    def constant_behind(self, name: str) -> str | None:
        """`name` if it is a constant, or the constant a Reshape/Unsqueeze producing it reads; else None."""
        if name in self.constants:
            return name
        node = self.producer.get(name)
        if node is not None and node.op_type in ("Reshape", "Unsqueeze") and node.input[0] in self.constants:
            return node.input[0]
        return None

    def bias_of(self, node) -> str | None:
        """Bias constant of a Conv/ConvTranspose node: its 3rd input, or a constant Add-ed to its output."""
        if len(node.input) > 2 and node.input[2]:
            return node.input[2]
        for consumer in self.consumers.get(node.output[0], []):
            if consumer.op_type != "Add":
                continue
            for other in consumer.input:
                if other != node.output[0] and self.constant_behind(other):
                    return self.constant_behind(other)
        return None


DEPLOY_HEAD_LAYERS = 3  # head.binarize.conv2, conv_bn2, conv3: two 1x1 Conv nodes in the DeployHead form


def is_deploy_head_export(graph: OnnxGraph) -> bool:
    """Our export's head form: no ConvTranspose, the map comes out of a DepthToSpace."""
    return not graph.ops({"ConvTranspose"}) and bool(graph.ops({"DepthToSpace"}))


def _check_node_counts(graph: OnnxGraph, order: list[tuple[str, nn.Layer]], source: str,
                       deploy_head: bool = False) -> dict[str, int]:
    ours = Counter(ONNX_OP_FOR_LAYER[type(layer)] for _, layer in order)
    if deploy_head:
        ours.update({"ConvTranspose": -2, "BatchNormalization": -1, "Conv": 2})
        ours = +ours
    theirs = Counter(node.op_type for node in graph.ops(set(ONNX_OP_FOR_LAYER.values())))
    if ours != theirs:
        diffs = ", ".join(f"{op}: file {theirs.get(op, 0)} vs student {ours[op]}" for op in sorted(ours))
        raise ValueError(
            f"{source} is not a PP-OCRv3 student (MobileNetV3 x0.5 noSE + RSEFPN 96 + DBHead): {diffs}"
        )
    return dict(ours)


def _tensor(graph: OnnxGraph, name: str | None, source: str, node) -> np.ndarray:
    if name is None or name not in graph.constants:
        raise ValueError(
            f"{source}: {node.op_type} node {node.name or node.output[0]!r} input {name!r} is not a constant"
        )
    return graph.constants[name]


def _check_attributes(node, name: str, layer: nn.Layer, source: str) -> None:
    """Strides (conv/deconv) and epsilon (BN) must agree; weight shapes cover kernel size and groups."""
    import onnx

    attributes = {attr.name: onnx.helper.get_attribute_value(attr) for attr in node.attribute}
    if isinstance(layer, nn.BatchNorm):
        ours, theirs, what = layer._epsilon, attributes.get("epsilon", 1e-5), "epsilon"
        same = abs(ours - theirs) < 1e-9
    else:
        ours, theirs, what = list(layer._stride), list(attributes.get("strides", [1, 1])), "strides"
        same = ours == theirs
    if not same:
        raise ValueError(
            f"{source}: {node.op_type} {node.input[1]!r} has {what} {theirs}, our {name} has {ours}"
        )


def _map_layer(
    graph: OnnxGraph, node, name: str, layer: nn.Layer, source: str
) -> dict[str, tuple[str, np.ndarray]]:
    """{our state key: (onnx tensor name, array)} for one layer/node pair."""
    if isinstance(layer, nn.BatchNorm):
        pairs = {f"{name}.{key}": onnx_name for key, onnx_name in zip(BN_INPUT_KEYS, node.input[1:5])}
    else:
        pairs = {f"{name}.weight": node.input[1]}
        bias = graph.bias_of(node)
        if (bias is not None) != (layer.bias is not None):
            raise ValueError(
                f"{source}: {node.op_type} {node.input[1]!r} {'has' if bias else 'has no'} bias "
                f"but our {name} "
                f"{'has none' if layer.bias is None else 'has one'}"
            )
        if bias is not None:
            pairs[f"{name}.bias"] = bias
    return {key: (onnx_name, _tensor(graph, onnx_name, source, node)) for key, onnx_name in pairs.items()}


def _unfold_deploy_head(graph: OnnxGraph, hidden, out, model: DBDetector, source: str) -> dict[str, np.ndarray]:
    """head.binarize.conv2 / conv_bn2 / conv3 from DeployHead's two 1x1 convolutions (see module doc)."""
    head = model.head.binarize
    s = int(head.conv2._stride[0])
    hidden_w, out_w = _tensor(graph, hidden.input[1], source, hidden), _tensor(graph, out.input[1], source, out)
    hidden_b = _tensor(graph, graph.bias_of(hidden), source, hidden)
    out_b = _tensor(graph, graph.bias_of(out), source, out)
    c_in, c_mid = int(head.conv2.weight.shape[0]), int(head.conv2.weight.shape[1])
    if hidden_w.shape != (s * s * c_mid, c_in, 1, 1) or out_w.shape != (s ** 4, s * s * c_mid, 1, 1):
        raise ValueError(f"{source}: head convolutions {list(hidden_w.shape)} and {list(out_w.shape)} are not "
                         f"DeployHead's for {c_in} channels; not a PP-OCRv3 student export")
    blocks = out_w.reshape(s * s, s * s, s, s, c_mid)  # (row, col, i, j, c): zero unless row//s == i, col//s == j
    w3 = np.array([[blocks[k, l, 0, 0] for l in range(s)] for k in range(s)])  # (k, l, c): phase (0, 0)
    eps = float(head.conv_bn2._epsilon)
    return {
        "head.binarize.conv2.weight": hidden_w.reshape(s, s, c_mid, c_in).transpose(3, 2, 0, 1),
        "head.binarize.conv2.bias": hidden_b.reshape(-1)[:c_mid],
        "head.binarize.conv_bn2.weight": np.ones(c_mid, np.float32),
        "head.binarize.conv_bn2.bias": np.zeros(c_mid, np.float32),
        "head.binarize.conv_bn2._mean": np.zeros(c_mid, np.float32),
        "head.binarize.conv_bn2._variance": np.full(c_mid, 1.0 - eps, np.float32),
        "head.binarize.conv3.weight": w3.transpose(2, 0, 1)[:, None, :, :],
        "head.binarize.conv3.bias": out_b.reshape(-1)[:1],
    }


def map_onnx_to_student(graph: OnnxGraph, model: DBDetector, source: str) -> dict[str, np.ndarray]:
    """{state key: array} for the student `model` from the ONNX graph (the released layout, or our export's
    DeployHead form); ValueError on any disagreement."""
    order = execution_order(model)
    deploy_head = is_deploy_head_export(graph)
    _check_node_counts(graph, order, source, deploy_head)
    nodes = graph.ops(set(ONNX_OP_FOR_LAYER.values()))
    extra: dict[str, np.ndarray] = {}
    if deploy_head:
        extra = _unfold_deploy_head(graph, nodes[-2], nodes[-1], model, source)
        order, nodes = order[:-DEPLOY_HEAD_LAYERS], nodes[:-2]
    state = model.state_dict()
    mapped: dict[str, np.ndarray] = {}
    used: set[str] = set()
    for node, (name, layer) in zip(nodes, order):
        if node.op_type != ONNX_OP_FOR_LAYER[type(layer)]:
            raise ValueError(
                f"{source}: node {node.op_type} {node.input[1]!r} comes where our student runs {name}"
            )
        _check_attributes(node, name, layer, source)
        for key, (onnx_name, array) in _map_layer(graph, node, name, layer, source).items():
            expected = tuple(int(size) for size in state[key].shape)
            if tuple(array.shape) != expected:
                raise ValueError(
                    f"{source}: {onnx_name} has shape {list(array.shape)} but {key} needs {list(expected)}; "
                    f"not a PP-OCRv3 student"
                )
            mapped[key] = array.astype(np.float32)
            used.add(onnx_name)
    unused = sorted(name for name in graph.constants if PADDLE_PARAM_NAME.match(name) and name not in used)
    if unused:
        raise ValueError(f"{source}: parameters {unused[:5]} ({len(unused)}) have no place in the student")
    for key, array in extra.items():
        if tuple(array.shape) != tuple(int(n) for n in state[key].shape):
            raise ValueError(f"{source}: {key} unfolds to {list(array.shape)}, needs {list(state[key].shape)}")
        mapped[key] = np.ascontiguousarray(array, dtype=np.float32)
    return mapped


def import_onnx(onnx_path: str | Path, out_path: str | Path) -> ImportReport:
    """Write the released model's weights as a student `.pdparams` (keys `backbone.…`, `neck.…`, `head.…`)."""
    onnx_path = Path(onnx_path)
    if not onnx_path.is_file():
        raise FileNotFoundError(f"ONNX model not found: {onnx_path}")
    model = build_student()
    graph = OnnxGraph(onnx_path)
    mapped = map_onnx_to_student(graph, model, str(onnx_path))
    left = [key for key in model.state_dict() if key not in mapped]
    unexpected = [key for key in left if not key.startswith(TRAINING_ONLY_PREFIX)]
    if unexpected:
        raise ValueError(
            f"{onnx_path}: no tensors for {unexpected[:5]} ({len(unexpected)} keys); not a PP-OCRv3 student"
        )
    written = save_params(mapped, out_path)
    report = ImportReport(
        onnx_path=str(onnx_path),
        out_path=str(written),
        imported=list(mapped),
        left_at_init=left,
        node_counts=dict(Counter(node.op_type for node in graph.ops(set(ONNX_OP_FOR_LAYER.values())))),
        deploy_head=is_deploy_head_export(graph),
    )
    logger.info("%s", report.summary())
    return report
