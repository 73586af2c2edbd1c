"""DetectorOptions: PaddleOCR's inference defaults, and every bad value refused once, naming the option."""

from __future__ import annotations

import dataclasses

import pytest

from det_model.data.transforms.det_resize_for_test import LIMIT_TYPES as RESIZE_LIMIT_TYPES
from det_model.inference.options import LIMIT_TYPES, DetectorOptions


def test_defaults_are_paddleocr_inference_and_cpu_settings() -> None:
    options = DetectorOptions()
    assert (options.limit_side_len, options.limit_type) == (960, "max")  # tools/infer/utility.py
    assert (options.cpu_threads, options.enable_mkldnn, options.use_gpu) == (2, True, False)
    assert options.slice_long_images is True


def test_limit_types_are_the_resize_transforms_own() -> None:
    assert sorted(LIMIT_TYPES) == sorted(RESIZE_LIMIT_TYPES)
    assert LIMIT_TYPES[0] == DetectorOptions().limit_type  # the default is listed first


# (values, accepted): edge values that must pass
GOOD = [
    ({"limit_side_len": 1}, "the smallest side"),
    ({"cpu_threads": 0}, "0 keeps Paddle's default thread count"),
    ({"limit_type": "min", "limit_side_len": 736}, "PaddleOCR's eval resize"),
    ({"limit_type": "resize_long"}, "resize_long"),
    ({"enable_mkldnn": False, "use_gpu": True, "slice_long_images": False}, "every switch flipped"),
]


@pytest.mark.parametrize("values, case", GOOD, ids=[c for _, c in GOOD])
def test_good_values_are_kept(values: dict, case: str) -> None:
    options = DetectorOptions(**values)
    assert {name: getattr(options, name) for name in values} == values


# (values, the whole message)
BAD = [
    ({"limit_side_len": 0}, "DetectorOptions.limit_side_len must be an integer >= 1, got 0"),
    ({"limit_side_len": -960}, "DetectorOptions.limit_side_len must be an integer >= 1, got -960"),
    ({"limit_side_len": 960.0}, "DetectorOptions.limit_side_len must be an integer >= 1, got 960.0"),
    ({"limit_side_len": "960"}, "DetectorOptions.limit_side_len must be an integer >= 1, got '960'"),
    ({"limit_side_len": True}, "DetectorOptions.limit_side_len must be an integer >= 1, got True"),
    ({"cpu_threads": -1}, "DetectorOptions.cpu_threads must be an integer >= 0, got -1"),
    ({"cpu_threads": None}, "DetectorOptions.cpu_threads must be an integer >= 0, got None"),
    (
        {"limit_type": "mean"},
        "DetectorOptions.limit_type must be one of ('max', 'min', 'resize_long'), got 'mean'",
    ),
    (
        {"limit_type": "MAX"},
        "DetectorOptions.limit_type must be one of ('max', 'min', 'resize_long'), got 'MAX'",
    ),
    ({"enable_mkldnn": "false"}, "DetectorOptions.enable_mkldnn must be true or false, got 'false'"),
    ({"use_gpu": 1}, "DetectorOptions.use_gpu must be true or false, got 1"),
    ({"slice_long_images": None}, "DetectorOptions.slice_long_images must be true or false, got None"),
]


@pytest.mark.parametrize("values, message", BAD, ids=[f"{k}={v!r}" for row, _ in BAD for k, v in row.items()])
def test_bad_value_is_refused_naming_the_option(values: dict, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        DetectorOptions(**values)
    assert str(raised.value) == message


def test_options_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        DetectorOptions().limit_side_len = 1  # type: ignore[misc]
