"""`det-model serve` refuses unusable arguments with one clear line and exit code 2, before binding a port."""

from __future__ import annotations

from pathlib import Path

import pytest

from det_model.cli import main


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model-dir", "{tmp}/missing"], "no such folder"),
        (["--model-dir", "{tmp}"], "no inference.json"),
        (["--model-dir", "{tmp}", "--image-root", "{tmp}/nope"], "--image-root"),
        (["--model-dir", "{tmp}", "--max-batch-size", "0"], "--max-batch-size 0 must be >= 1"),
        (["--model-dir", "{tmp}", "--max-delay-ms", "-1"], "--max-delay-ms -1.0"),
        (["--model-dir", "{tmp}", "--max-images", "0"], "request limits must be positive"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(tmp_path: Path, capsys, args: list[str], message: str) -> None:
    code = main(["serve", *[a.format(tmp=tmp_path) for a in args], "--port", "1"])
    assert code == 2
    assert message in capsys.readouterr().err
