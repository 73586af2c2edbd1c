"""The learning-rate schedule against hand-computed values of PaddleOCR's Cosine-with-warmup schedule
(S = 125 steps an epoch, E = 500 epochs, warmup 2 epochs)."""

import pytest

from det_model.config import schema
from det_model.training.loop import eval_due
from det_model.training.schedule import build_lr_scheduler


def test_cosine_with_warmup_matches_paddleocr_values() -> None:
    scheduler = build_lr_scheduler(schema.CosineLRConfig(learning_rate=0.001, warmup_epoch=2), 125, 500)
    wanted = {0: 0.0, 1: 4e-6, 125: 5e-4, 250: 1e-3, 31250: 5.0628e-4, 62500: 3.95e-8}
    seen = {}
    for step in range(62501):
        if step in wanted:
            seen[step] = scheduler.get_lr()
        scheduler.step()
    for step, value in wanted.items():
        assert seen[step] == pytest.approx(value, rel=2e-3, abs=1e-12), step


def test_const_schedule_and_bad_steps() -> None:
    scheduler = build_lr_scheduler(schema.ConstLRConfig(learning_rate=0.01), 10, 5)
    for _ in range(7):
        scheduler.step()
    assert scheduler.get_lr() == pytest.approx(0.01)
    with pytest.raises(ValueError, match="steps_per_epoch must be positive"):
        build_lr_scheduler(schema.ConstLRConfig(), 0, 5)


@pytest.mark.parametrize(
    "step, start, interval, due",
    [
        (400, 0, 400, True),  # eval_batch_step [0, 400]: steps 400, 800, ...
        (399, 0, 400, False),
        (800, 0, 400, True),
        (3000, 3000, 2000, False),  # strictly after start
        (5000, 3000, 2000, True),
        (5, 0, 0, False),  # interval 0 never evaluates
    ],
)
def test_eval_schedule(step: int, start: int, interval: int, due: bool) -> None:
    assert eval_due(step, start, interval) is due
