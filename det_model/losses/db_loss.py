"""DBLoss: α·L_s + β·L_t + L_b (DB paper eq. 9), PaddleOCR's term choices and key names."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import paddle

from det_model.losses.basic import balance_loss, dice_loss, mask_l1_loss

Tensor = paddle.Tensor

LABEL_KEYS = ("threshold_map", "threshold_mask", "shrink_map", "shrink_mask")


@dataclass(frozen=True)
class DBLoss:
    """`alpha` is α (shrink-map weight) and `beta` is β (threshold-map weight) of DB eq. 9.

    The shrink term is `balance_loss` with `main_loss_type` (Dice in PP-OCRv3), the threshold term masked L1,
    the binary term Dice. `loss_cbn` is kept at 0 so logs have the keys PaddleOCR users know.
    """

    balance_loss: bool = True
    main_loss_type: str = "DiceLoss"
    alpha: float = 5.0
    beta: float = 10.0
    ohem_ratio: float = 3.0
    eps: float = 1e-6

    def __call__(self, maps, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        missing = [k for k in LABEL_KEYS if k not in batch]
        if missing:
            raise KeyError(
                f"DBLoss needs batch fields {', '.join(LABEL_KEYS)}; missing: {', '.join(missing)}"
            )
        if maps.threshold is None or maps.binary is None:
            raise ValueError("DBLoss needs the training-mode maps (threshold and binary); call model.train()")
        shrink, threshold, binary = maps.shrink[:, 0], maps.threshold[:, 0], maps.binary[:, 0]
        loss_shrink = self.alpha * balance_loss(
            shrink,
            batch["shrink_map"],
            batch["shrink_mask"],
            main_loss_type=self.main_loss_type,
            negative_ratio=self.ohem_ratio,
            balance=self.balance_loss,
            eps=self.eps,
        )
        loss_threshold = self.beta * mask_l1_loss(
            threshold, batch["threshold_map"], batch["threshold_mask"], self.eps
        )
        loss_binary = dice_loss(binary, batch["shrink_map"], batch["shrink_mask"], self.eps)
        loss_cbn = paddle.zeros([], dtype=loss_shrink.dtype)
        return {
            "loss": loss_shrink + loss_threshold + loss_binary + loss_cbn,
            "loss_shrink_maps": loss_shrink,
            "loss_threshold_maps": loss_threshold,
            "loss_binary_maps": loss_binary,
            "loss_cbn": loss_cbn,
        }
