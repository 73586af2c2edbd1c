"""Issue 16's table: every wrong input gives exit code != 0 and one `error:` line naming the file, line or field
(or a counted skip), never a traceback. Each case builds its bad input under tmp_path and runs the command
in-process. docs/bad_inputs.md lists the same cases for users."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import pytest

from bad_input_fixtures import eval_args, train_args, write_dataset


@dataclass(frozen=True)
class Case:
    row: str  # the row of issue 16
    build: Callable[[Path, Path], list[str]]  # (tmp_path, student weights) -> argv
    code: int
    message: str  # regex that must appear on stderr
    program: str = "det-model"
    absent: tuple[str, ...] = ()  # files (relative to tmp_path) that must not have been written


def _all_corrupt(tmp: Path) -> Path:
    data = tmp / "data"
    write_dataset(data, count=4, corrupt=(0, 1, 2, 3))
    return data


def _compare_not_a_run(tmp: Path, _: Path) -> list[str]:
    (tmp / "holiday_photos").mkdir()
    (tmp / "holiday_photos" / "beach.jpg").write_bytes(b"x")
    return ["compare", str(tmp / "holiday_photos"), "--out", str(tmp / "cmp")]


CASES = {
    "3-train-no-usable-sample": Case(
        "3", lambda tmp, _: train_args(_all_corrupt(tmp), tmp / "out"), 2,
        r"label\.txt'\]: no usable training sample in epoch 1.*\n.*corrupt_image: 4 \(e\.g\. .*label\.txt:\d",
        absent=("out/latest.pdparams",)),
    "3-eval-no-usable-image": Case(
        "3", lambda tmp, w: eval_args(_all_corrupt(tmp), w, tmp / "eval"), 2,
        r"no usable evaluation image.*\n.*corrupt_image: 4 \(e\.g\. .*label\.txt:\d",
        absent=("eval/metrics.json",)),
    "6-compare-not-a-run-folder": Case(
        "6", _compare_not_a_run, 2, r"holiday_photos: not a run folder.*run_config\.json", program="pipelines",
        absent=("cmp/comparison.md",)),
}


def run_program(program: str, argv: list[str]) -> int:
    if program == "pipelines":
        from pipelines.cli import main as pipelines_main

        return pipelines_main(argv)
    from det_model.cli import main as det_model_main

    return det_model_main(argv)


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_gives_a_clear_error(name: str, tmp_path: Path, student_weights: Path, capsys) -> None:
    case = CASES[name]
    code = run_program(case.program, case.build(tmp_path, student_weights))
    captured = capsys.readouterr()
    assert code == case.code, captured.err[-3000:]
    assert re.search(case.message, captured.err), captured.err[-3000:]
    assert "Traceback" not in captured.err + captured.out
    for rel in case.absent:
        assert not (tmp_path / rel).exists(), f"{rel} must not be written"


def find_record(path: Path, kind: str) -> Optional[dict]:
    import json

    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return next((r for r in records if r.get("type") == kind), None)


def test_partial_skips_are_counted_in_metrics_files(tmp_path: Path, student_weights: Path, capsys) -> None:
    """Row 3: one corrupt image of four is skipped; train and eval still run and record the count by reason."""
    import json

    data = tmp_path / "data"
    write_dataset(data, count=5, corrupt=(2,))
    assert run_program("det-model", eval_args(data, student_weights, tmp_path / "eval")) == 0
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["skipped"] == {"corrupt_image": 1} and metrics["images"] == 4
    assert run_program("det-model", train_args(data, tmp_path / "out", "Global.eval_batch_step=[0, 0]")) == 0
    skips = find_record(tmp_path / "out" / "metrics.jsonl", "skips")
    assert skips is not None and skips["skipped"] == {"corrupt_image": 1} and skips["epoch"] == 1
