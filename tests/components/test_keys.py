"""Content keys (components/keys.py): equal for identical work, different when anything that matters does."""

from __future__ import annotations

import pytest

from components.keys import KEY_LENGTH, content_key

CONFIG = "Global:\n  epoch_num: 500\n"
INPUTS = {
    "dataset": "minio://mlpipeline/v2/artifacts/p/r1/fetch/1/dataset",
    "teacher_params": "minio://x/params",
}


def test_identical_work_gets_the_same_key_whatever_the_input_order() -> None:
    assert content_key(CONFIG, INPUTS) == content_key(CONFIG, dict(reversed(list(INPUTS.items()))))
    assert len(content_key(CONFIG, INPUTS)) == KEY_LENGTH


@pytest.mark.parametrize(
    "config, inputs",
    [
        ("Global:\n  epoch_num: 501\n", INPUTS),  # a changed setting
        (CONFIG, {**INPUTS, "dataset": "minio://mlpipeline/v2/artifacts/p/r2/fetch/7/dataset"}),  # new data
        (CONFIG, {**INPUTS, "pretrained": "s3://w/teacher.pdparams"}),  # an extra input
    ],
)
def test_anything_that_changes_the_result_changes_the_key(config: str, inputs: dict) -> None:
    assert content_key(config, inputs) != content_key(CONFIG, INPUTS)
