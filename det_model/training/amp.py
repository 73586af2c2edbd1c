"""Mixed precision as PaddleOCR configures it (`Global.use_amp`, `amp_level`, `amp_dtype`, `scale_loss`)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import paddle

from det_model.config import schema


@dataclass
class AmpContext:
    enabled: bool = False
    level: str = "O2"
    dtype: str = "float16"
    black_list: tuple[str, ...] = ()
    white_list: tuple[str, ...] = ()
    scaler: Any = None

    @classmethod
    def from_config(cls, g: schema.GlobalConfig) -> "AmpContext":
        if not g.use_amp:
            return cls()
        scaler = paddle.amp.GradScaler(
            init_loss_scaling=g.scale_loss, use_dynamic_loss_scaling=g.use_dynamic_loss_scaling
        )
        return cls(True, g.amp_level, g.amp_dtype, g.amp_custom_black_list, g.amp_custom_white_list, scaler)

    def decorate(self, model, optimizer):
        if self.enabled and self.level == "O2":
            model, optimizer = paddle.amp.decorate(
                models=model, optimizers=optimizer, level="O2", master_weight=True, dtype=self.dtype
            )
        return model, optimizer

    def autocast(self):
        if not self.enabled:
            return contextlib.nullcontext()
        return paddle.amp.auto_cast(
            enable=True,
            level=self.level,
            dtype=self.dtype,
            custom_black_list=set(self.black_list) or None,
            custom_white_list=set(self.white_list) or None,
        )

    def to_float32(self, predictions):
        """Losses run in float32, as PaddleOCR casts predictions before the loss."""
        if not self.enabled:
            return predictions
        if isinstance(predictions, dict):
            return {k: self.to_float32(v) for k, v in predictions.items()}
        return type(predictions)(*(None if t is None else t.astype("float32") for t in predictions))

    def backward_and_step(self, loss: paddle.Tensor, optimizer) -> None:
        if self.scaler is None:
            loss.backward()
            optimizer.step()
            return
        scaled = self.scaler.scale(loss)
        scaled.backward()
        self.scaler.minimize(optimizer, scaled)
