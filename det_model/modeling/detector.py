"""DB detectors: one Backbone -> Neck -> DBHead model, and the named-sub-model distillation wrapper.

PaddleOCR `ppocr/modeling/architectures/base_model.py` (BaseModel) and `distillation_model.py`
(DistillationModel). Sub-layer names (`backbone`, `neck`, `head`; sub-models `Student`, `Student2`,
`Teacher`) make the state-dict keys equal to PaddleOCR's, e.g. `Student.backbone.conv.conv.weight`.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

import paddle
from paddle import nn

from det_model.modeling.heads.db_head import DBMaps

logger = logging.getLogger(__name__)

# Every pyramid level must halve exactly down to stride 32, or the FPN sums do not line up.
INPUT_MULTIPLE = 32


class DBFeatures(NamedTuple):
    """Training-mode output of a DBDetector built with `return_all_feats=True`."""

    backbone_out: list[paddle.Tensor]
    neck_out: paddle.Tensor
    maps: DBMaps


def check_input_size(shape: list[int] | tuple[int, ...]) -> None:
    """Raise ValueError unless the spatial size of an (N, C, H, W) input is a multiple of 32.

    Dynamic dimensions (-1, as under `paddle.jit.to_static` with an InputSpec) are not checked.
    """
    if len(shape) != 4:
        raise ValueError(f"DB detector input must be (N, C, H, W), got shape {list(shape)}")
    height, width = shape[2], shape[3]
    if any(size > 0 and size % INPUT_MULTIPLE for size in (height, width)):
        raise ValueError(
            f"DB detector input height and width must be multiples of {INPUT_MULTIPLE}, "
            f"got shape {list(shape)} "
            f"(resize with DetResizeForTest, or crop to a multiple of {INPUT_MULTIPLE})"
        )


class TrainableLayer(nn.Layer):
    """A network whose optimizer updates only the parameters left trainable."""

    def trainable_parameters(self) -> list[paddle.Tensor]:
        """Parameters the optimizer should update (frozen sub-models and BN running stats excluded)."""
        return [param for param in self.parameters() if param.trainable]


class DBDetector(TrainableLayer):
    """Backbone -> Neck -> DBHead (PaddleOCR BaseModel for algorithm DB).

    forward(x) with x (N, 3, H, W), H and W multiples of 32, returns DBMaps (3 maps in training mode,
    the shrink map only in eval mode). With `return_all_feats=True`, training mode returns DBFeatures.
    """

    def __init__(
        self, backbone: nn.Layer, neck: nn.Layer, head: nn.Layer, return_all_feats: bool = False
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.neck = neck
        self.head = head
        self.return_all_feats = return_all_feats

    def forward(self, x: paddle.Tensor) -> DBMaps | DBFeatures:
        if paddle.in_dynamic_mode():  # static shapes may be symbolic; PaddleOCR's export has no check either
            check_input_size(x.shape)
        features = self.backbone(x)  # 4 maps, strides 4..32
        fused = self.neck(features)  # (N, C, H/4, W/4)
        maps = self.head(fused)
        if self.return_all_feats and self.training:
            return DBFeatures(features, fused, maps)
        return maps


class DistillationModel(TrainableLayer):
    """Named DB sub-models run on the same input (PaddleOCR DistillationModel).

    Args:
        models: sub-models in config order, registered under their names (keys `<Name>.backbone...`).
        frozen: names whose parameters get `trainable=False` (PaddleOCR `freeze_params: true`).
        frozen_in_eval_mode: keep frozen sub-models in eval mode even after `train()`, so their BatchNorm
            uses and keeps its running statistics. PaddleOCR leaves them in train mode (batch statistics,
            running stats drift). In eval mode a frozen DB sub-model returns only its shrink map
            (threshold/binary are None); the CML losses only use the teacher's shrink map.
    """

    def __init__(
        self,
        models: dict[str, DBDetector],
        frozen: set[str] | frozenset[str] = frozenset(),
        frozen_in_eval_mode: bool = True,
    ) -> None:
        super().__init__()
        unknown = set(frozen) - set(models)
        if unknown:
            raise ValueError(f"frozen sub-models {sorted(unknown)} are not among the models {list(models)}")
        if not models:
            raise ValueError("DistillationModel needs at least one sub-model")
        self.model_names = list(models)
        self.frozen = frozenset(frozen)
        self.frozen_in_eval_mode = frozen_in_eval_mode
        for name, model in models.items():
            self.add_sublayer(name, model)
            if name in self.frozen:
                for param in model.parameters():
                    param.trainable = False  # also sets stop_gradient
        if self.frozen_in_eval_mode:
            self.set_frozen_eval()

    def sub_model(self, name: str) -> DBDetector:
        if name not in self.model_names:
            raise KeyError(f"no sub-model {name!r}; known: {self.model_names}")
        return self._sub_layers[name]

    def set_frozen_eval(self) -> None:
        """Put the frozen sub-models in eval mode (layer flags only; the global tracer mode is left alone)."""
        for name in self.frozen:
            model = self._sub_layers[name]
            model.training = False
            for layer in model.sublayers():
                layer.training = False

    def train(self, mode: bool = True) -> DistillationModel:
        super().train(mode)
        if mode and self.frozen_in_eval_mode:
            self.set_frozen_eval()
        return self

    def forward(self, x: paddle.Tensor) -> dict[str, DBMaps]:
        outputs = {}
        for name in self.model_names:
            model = self._sub_layers[name]
            if name in self.frozen:
                with paddle.no_grad():
                    outputs[name] = model(x)
            else:
                outputs[name] = model(x)
        return outputs
