"""The distillation terms of PP-OCRv3's DML (teacher) and CML (student) recipes.

Unlike PaddleOCR, every configured value (alpha, beta, balance_loss, main_loss_type, ohem_ratio, eps) is
used: PaddleOCR's DistillationDBLoss/DistillationDilaDBLoss call their parent constructor without arguments,
so their YAML knobs are silently ignored (the shipped values equal the defaults, so results agree).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Mapping

import paddle

from det_model.losses.basic import balance_loss, dice_loss, dilate_2x2
from det_model.losses.db_loss import DBLoss

Tensor = paddle.Tensor

# PaddleOCR's maps_name spellings ("thrink" sic) -> the named map.
MAPS_BY_NAME = {
    "thrink_maps": "shrink",
    "shrink_maps": "shrink",
    "threshold_maps": "threshold",
    "binary_maps": "binary",
}


def _sub_model_output(predictions: Mapping, name: str):
    if name not in predictions:
        raise KeyError(f"the loss names sub-model {name!r}, but the model has {', '.join(predictions)}")
    return predictions[name]


@dataclass(frozen=True)
class DistillationDBLoss:
    """DBLoss against the ground truth for each listed sub-model; keys `{name}_{model}_{term}`."""

    model_name_list: tuple[str, ...]
    db_loss: DBLoss
    name: str = "db"

    def __call__(self, predictions: Mapping, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        out: dict[str, Tensor] = {}
        for model in self.model_name_list:
            terms = self.db_loss(_sub_model_output(predictions, model), batch)
            out.update({f"{self.name}_{model}_{k}": v for k, v in terms.items() if k != "loss"})
        out["loss"] = paddle.add_n(list(out.values()))
        return out


@dataclass(frozen=True)
class DistillationDilaDBLoss:
    """CML teacher -> student term: D = dilate2x2(P_teacher > teacher_thresh) used as the shrink label.

    loss = α·BalanceLoss(P_S, D, M_s) + Dice(B_S, D, M_s), with M_s the ground-truth shrink mask.
    The pseudo label is built on the device (no numpy round trip) and carries no gradient.
    """

    model_name_pairs: tuple[tuple[str, str], ...]
    alpha: float = 5.0
    balance_loss: bool = True
    main_loss_type: str = "DiceLoss"
    ohem_ratio: float = 3.0
    eps: float = 1e-6
    teacher_thresh: float = 0.3
    name: str = "dila_dbloss"

    def __call__(self, predictions: Mapping, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        mask = batch["shrink_mask"]
        out: dict[str, Tensor] = {}
        for student, teacher in self.model_name_pairs:
            s_maps = _sub_model_output(predictions, student)
            t_shrink = _sub_model_output(predictions, teacher).shrink[:, 0].detach()
            pseudo = dilate_2x2((t_shrink > self.teacher_thresh).astype(t_shrink.dtype))
            loss_shrink = self.alpha * balance_loss(
                s_maps.shrink[:, 0],
                pseudo,
                mask,
                main_loss_type=self.main_loss_type,
                negative_ratio=self.ohem_ratio,
                balance=self.balance_loss,
                eps=self.eps,
            )
            loss_binary = dice_loss(s_maps.binary[:, 0], pseudo, mask, self.eps)
            out[f"{self.name}_{student}_{teacher}"] = loss_shrink + loss_binary
        out["loss"] = paddle.add_n(list(out.values()))
        return out


def symmetric_kl(p1: Tensor, p2: Tensor, eps: float = 1e-5) -> Tensor:
    """PaddleOCR's DML "KL" per element: 0.5·[p2·log((p2+ε)/(p1+ε)+ε) + p1·log((p1+ε)/(p2+ε)+ε)].

    Only the positive-class term (not a Bernoulli KL); for p1 = p2 = p it is p·log(1+ε), not 0.
    """
    forward = p2 * paddle.log((p2 + eps) / (p1 + eps) + eps)
    backward = p1 * paddle.log((p1 + eps) / (p2 + eps) + eps)
    return 0.5 * (forward + backward)


@dataclass(frozen=True)
class DistillationDMLLoss:
    """Deep mutual learning between two students' maps; gradients reach both (no detach).

    `reduction="paddleocr"` keeps PaddleOCR's per-sample vector [B] (the summed loss becomes a vector and its
    backward weighs every scalar term by B); "mean" reduces it to a scalar.
    """

    model_name_pairs: tuple[tuple[str, str], ...]
    maps_name: tuple[str, ...] = ("thrink_maps",)
    act: Literal["softmax", "sigmoid"] | None = None
    reduction: Literal["mean", "paddleocr"] = "mean"
    name: str = "dml"

    def __post_init__(self) -> None:
        unknown = [m for m in self.maps_name if m not in MAPS_BY_NAME]
        if unknown:
            raise ValueError(
                f"DistillationDMLLoss.maps_name {unknown[0]!r}; known: {', '.join(MAPS_BY_NAME)}"
            )

    def _activate(self, x: Tensor) -> Tensor:
        if self.act is None:
            return x
        if self.act == "softmax":
            return paddle.nn.functional.softmax(x, axis=-1)
        return paddle.nn.functional.sigmoid(x)

    def __call__(self, predictions: Mapping, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        out: dict[str, Tensor] = {}
        for idx, (first, second) in enumerate(self.model_name_pairs):
            a = _sub_model_output(predictions, first)
            b = _sub_model_output(predictions, second)
            for map_name in self.maps_name:
                attr = MAPS_BY_NAME[map_name]
                p1 = self._activate(getattr(a, attr)[:, 0])
                p2 = self._activate(getattr(b, attr)[:, 0])
                per_sample = symmetric_kl(p1, p2).mean(axis=[1, 2])  # (N,)
                value = per_sample if self.reduction == "paddleocr" else per_sample.mean()
                out[f"{self.name}_{map_name}_{idx}"] = value
        out["loss"] = paddle.add_n(list(out.values()))
        return out
