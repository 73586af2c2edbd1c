"""Learning-rate schedules with PaddleOCR's semantics (stepped every iteration)."""

from __future__ import annotations

from paddle.optimizer import lr as lr_sched

from det_model.config import schema


def build_lr_scheduler(cfg: schema.LRConfig, steps_per_epoch: int, epoch_num: int) -> lr_sched.LRScheduler:
    """Cosine: T = S·E (warmup not subtracted); W = round(warmup_epoch·S) linear warmup from 0.

    For t >= W, lr_t = lr/2·(1 + cos(π (t - W) / T)), as Paddle's LinearWarmup(CosineAnnealingDecay) gives.
    """
    if steps_per_epoch <= 0:
        raise ValueError(f"steps_per_epoch must be positive, got {steps_per_epoch}")
    warmup_steps = round(cfg.warmup_epoch * steps_per_epoch)
    if isinstance(cfg, schema.CosineLRConfig):
        inner: float | lr_sched.LRScheduler = lr_sched.CosineAnnealingDecay(
            learning_rate=cfg.learning_rate, T_max=steps_per_epoch * epoch_num
        )
    elif isinstance(cfg, schema.ConstLRConfig):
        inner = cfg.learning_rate
    else:
        raise ValueError(f"unknown lr schedule {type(cfg).__name__}; known: Cosine, Const")
    if warmup_steps > 0:
        return lr_sched.LinearWarmup(
            learning_rate=inner, warmup_steps=warmup_steps, start_lr=0.0, end_lr=cfg.learning_rate
        )
    if isinstance(inner, float):
        return lr_sched.LambdaDecay(learning_rate=inner, lr_lambda=lambda _: 1.0)
    return inner
