"""Loss construction from the config, and PaddleOCR's CombinedLoss (weighted sum of named terms)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import paddle

from det_model.config import schema
from det_model.losses.db_loss import DBLoss
from det_model.losses.distillation import DistillationDBLoss, DistillationDilaDBLoss, DistillationDMLLoss

Tensor = paddle.Tensor
LossFn = Callable[[object, Mapping[str, Tensor]], dict[str, Tensor]]


@dataclass(frozen=True)
class CombinedLoss:
    """loss = Σ w_i·term_i["loss"]; every term's sub-keys are logged, multiplied by its weight."""

    terms: tuple[tuple[LossFn, float], ...]

    def __call__(self, predictions, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        out: dict[str, Tensor] = {}
        total = None
        for term, weight in self.terms:
            values = term(predictions, batch)
            total = values["loss"] * weight if total is None else total + values["loss"] * weight
            out.update({k: v * weight for k, v in values.items() if k != "loss"})
        out["loss"] = total
        return out


def _db_loss(cfg) -> DBLoss:
    return DBLoss(
        balance_loss=cfg.balance_loss,
        main_loss_type=cfg.main_loss_type,
        alpha=cfg.alpha,
        beta=cfg.beta,
        ohem_ratio=cfg.ohem_ratio,
        eps=cfg.eps,
    )


def _build_term(cfg: schema.LossTermConfig) -> LossFn:
    if isinstance(cfg, schema.DistillationDBLossConfig):
        if not cfg.model_name_list:
            raise ValueError("DistillationDBLoss.model_name_list is empty")
        return DistillationDBLoss(model_name_list=cfg.model_name_list, db_loss=_db_loss(cfg), name=cfg.name)
    if isinstance(cfg, schema.DistillationDilaDBLossConfig):
        if not cfg.model_name_pairs:
            raise ValueError("DistillationDilaDBLoss.model_name_pairs is empty")
        return DistillationDilaDBLoss(
            model_name_pairs=cfg.model_name_pairs,
            alpha=cfg.alpha,
            balance_loss=cfg.balance_loss,
            main_loss_type=cfg.main_loss_type,
            ohem_ratio=cfg.ohem_ratio,
            eps=cfg.eps,
            teacher_thresh=cfg.teacher_thresh,
            name=cfg.name,
        )
    if isinstance(cfg, schema.DistillationDMLLossConfig):
        if cfg.use_log or cfg.multi_head:
            raise ValueError(
                "DistillationDMLLoss.use_log / multi_head are recognition options; detection uses neither"
            )
        if not cfg.model_name_pairs:
            raise ValueError("DistillationDMLLoss.model_name_pairs is empty")
        return DistillationDMLLoss(
            model_name_pairs=cfg.model_name_pairs,
            maps_name=cfg.maps_name or ("thrink_maps",),
            act=cfg.act,
            reduction=cfg.reduction,
            name=cfg.name,
        )
    raise ValueError(f"unknown loss term {type(cfg).__name__}")


def build_loss(cfg: schema.LossConfig) -> LossFn:
    """DBLoss for a plain detector, CombinedLoss of distillation terms for a DistillationModel."""
    if isinstance(cfg, schema.DBLossConfig):
        return _db_loss(cfg)
    if isinstance(cfg, schema.CombinedLossConfig):
        return CombinedLoss(tuple((_build_term(t), t.weight) for t in cfg.loss_config_list))
    raise ValueError(f"unknown loss {type(cfg).__name__}; known: DBLoss, CombinedLoss")
