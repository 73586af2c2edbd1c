"""Allowed ranges of numeric config values, checked when the typed config is built (`loader.py`), so that
`Global.epoch_num=0` or `box_thresh=5` is an error naming the YAML line or the `-o` flag instead of a run that
trains nothing or a crash deep inside Paddle. Keys are (dataclass name, field name)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional


@dataclass(frozen=True)
class Range:
    low: Optional[float] = None
    high: Optional[float] = None
    low_open: bool = False  # low itself is not allowed
    high_open: bool = False
    multiple: Optional[int] = None  # the value must be a multiple of this (the detector's stride 32)

    def holds(self, value: float) -> bool:
        if isinstance(value, float) and not math.isfinite(value):
            return False
        if self.multiple is not None and value % self.multiple != 0:
            return False
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return self.high is None or (value < self.high or (not self.high_open and value == self.high))

    def describe(self) -> str:
        low = None if self.low is None else f"{'>' if self.low_open else '>='} {self.low:g}"
        high = None if self.high is None else f"{'<' if self.high_open else '<='} {self.high:g}"
        multiple = None if self.multiple is None else f"a multiple of {self.multiple}"
        return " and ".join(p for p in (low, high, multiple) if p)


AT_LEAST_1 = Range(1)
NON_NEGATIVE = Range(0)
POSITIVE = Range(0, low_open=True)
PROBABILITY = Range(0, 1)
FRACTION = Range(0, 1, low_open=True, high_open=True)

RANGES: dict[tuple[str, str], Range] = {
    ("GlobalConfig", "epoch_num"): AT_LEAST_1,
    ("GlobalConfig", "log_smooth_window"): AT_LEAST_1,
    ("GlobalConfig", "print_batch_step"): AT_LEAST_1,
    ("GlobalConfig", "save_epoch_step"): NON_NEGATIVE,
    ("GlobalConfig", "eval_batch_step"): NON_NEGATIVE,  # each of [start, interval]
    ("GlobalConfig", "eval_batch_epoch"): AT_LEAST_1,
    ("GlobalConfig", "calc_epoch_interval"): AT_LEAST_1,
    ("GlobalConfig", "scale_loss"): POSITIVE,
    ("MobileNetV3Config", "scale"): POSITIVE,
    ("DBHeadConfig", "k"): POSITIVE,
    ("DBLossConfig", "alpha"): NON_NEGATIVE,
    ("DBLossConfig", "beta"): NON_NEGATIVE,
    ("DBLossConfig", "ohem_ratio"): POSITIVE,
    ("CosineLRConfig", "learning_rate"): POSITIVE,
    ("CosineLRConfig", "warmup_epoch"): NON_NEGATIVE,
    ("ConstLRConfig", "learning_rate"): POSITIVE,
    ("ConstLRConfig", "warmup_epoch"): NON_NEGATIVE,
    ("L2RegularizerConfig", "factor"): NON_NEGATIVE,
    ("LoaderConfig", "batch_size_per_card"): AT_LEAST_1,
    ("LoaderConfig", "num_workers"): NON_NEGATIVE,
    ("DatasetConfig", "ratio_list"): POSITIVE,
    ("EastRandomCropDataConfig", "size"): Range(32, multiple=32),  # the DB detector's input stride
    ("EastRandomCropDataConfig", "max_tries"): AT_LEAST_1,
    ("EastRandomCropDataConfig", "min_crop_side_ratio"): Range(0, 1, low_open=True),
    ("CopyPasteConfig", "objects_paste_ratio"): PROBABILITY,
    ("FliplrConfig", "p"): PROBABILITY,
    ("MakeBorderMapConfig", "shrink_ratio"): FRACTION,
    ("MakeBorderMapConfig", "thresh_min"): PROBABILITY,
    ("MakeBorderMapConfig", "thresh_max"): PROBABILITY,
    ("MakeShrinkMapConfig", "shrink_ratio"): Range(0, 1, low_open=True),
    ("MakeShrinkMapConfig", "min_text_size"): NON_NEGATIVE,
    ("DetResizeForTestConfig", "limit_side_len"): AT_LEAST_1,
    ("DetResizeForTestConfig", "image_shape"): AT_LEAST_1,
    ("DetResizeForTestConfig", "resize_long"): AT_LEAST_1,
}
for _post in ("DBPostProcessConfig", "DistillationDBPostProcessConfig"):
    RANGES.update({(_post, "thresh"): PROBABILITY, (_post, "box_thresh"): PROBABILITY,
                   (_post, "max_candidates"): AT_LEAST_1, (_post, "unclip_ratio"): POSITIVE})


def range_problems(cls: type, values: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    """(key path below the dataclass, problem) for each value outside its range; lists are checked item by
    item (a crop size [0, 0] names item 0)."""
    problems = []
    for name, value in values.items():
        allowed = RANGES.get((cls.__name__, name))
        if allowed is None or value is None:
            continue
        items = list(enumerate(value)) if isinstance(value, (tuple, list)) else [(None, value)]
        for index, item in items:
            if isinstance(item, (int, float)) and not isinstance(item, bool) and not allowed.holds(item):
                path = (name,) if index is None else (name, index)
                problems.append((path, f"must be {allowed.describe()}, got {item!r}"))
    return problems
