"""DB, DML and CML losses with named terms."""

from det_model.losses.combined import CombinedLoss, build_loss
from det_model.losses.db_loss import DBLoss
from det_model.losses.distillation import DistillationDBLoss, DistillationDilaDBLoss, DistillationDMLLoss

__all__ = [
    "CombinedLoss",
    "DBLoss",
    "DistillationDBLoss",
    "DistillationDMLLoss",
    "DistillationDilaDBLoss",
    "build_loss",
]
