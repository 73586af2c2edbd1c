"""The detector flags of `det-model infer` and `det-model serve` are read into DetectorOptions (defaults from
DetectorOptions itself); serve resizes whole images, so it has no --no-slice."""

from __future__ import annotations

import pytest

from det_model.cli import build_parser
from det_model.cli_options import detector_options
from det_model.inference.options import DetectorOptions

REQUIRED = {"infer": ["--model-dir", "m", "--image", "i"], "serve": ["--model-dir", "m"]}

# (command, flags, the options they give)
CASES = [
    ("infer", [], DetectorOptions()),
    ("serve", [], DetectorOptions()),
    ("infer", ["--limit-side-len", "736", "--limit-type", "min"], DetectorOptions(736, "min")),
    ("serve", ["--limit-side-len", "736", "--limit-type", "min"], DetectorOptions(736, "min")),
    ("infer", ["--cpu-threads", "1", "--no-mkldnn", "--use-gpu"],
     DetectorOptions(cpu_threads=1, enable_mkldnn=False, use_gpu=True)),
    ("serve", ["--cpu-threads", "1", "--no-mkldnn", "--use-gpu"],
     DetectorOptions(cpu_threads=1, enable_mkldnn=False, use_gpu=True)),
    ("infer", ["--no-slice", "--limit-type", "resize_long"],
     DetectorOptions(slice_long_images=False, limit_type="resize_long")),
]


@pytest.mark.parametrize("command, flags, expected", CASES)
def test_flags_give_detector_options(command: str, flags: list[str], expected: DetectorOptions) -> None:
    args = build_parser().parse_args([command, *REQUIRED[command], *flags])
    assert detector_options(args) == expected


@pytest.mark.parametrize(
    "command, flags, message",
    [
        ("infer", ["--limit-side-len", "0"], "argument --limit-side-len: must be >= 1, got 0"),
        ("serve", ["--cpu-threads", "0"], "argument --cpu-threads: must be >= 1, got 0"),
        ("serve", ["--limit-type", "mean"], "argument --limit-type: invalid choice: 'mean'"),
        ("serve", ["--no-slice"], "unrecognized arguments: --no-slice"),
    ],
)
def test_bad_flags_exit_2_naming_the_flag(command: str, flags: list[str], message: str, capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args([command, *REQUIRED[command], *flags])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err
