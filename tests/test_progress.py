"""Row 17 of issue 16: plain progress lines when output is not a terminal; no ccache warning on start."""

from __future__ import annotations

import io
import logging
import subprocess
import sys

from det_model.progress import PlainProgress, progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_every_tenth_without_a_terminal(caplog) -> None:
    with caplog.at_level(logging.INFO, logger="det_model.progress"):
        items = list(progress(range(20), desc="eval", unit="batches", stream=io.StringIO()))
    assert items == list(range(20))
    lines = [r.getMessage() for r in caplog.records if r.name == "det_model.progress"]
    assert lines[0] == "eval: 2/20 batches (10%)" and lines[-1] == "eval: 20/20 batches (100%)"
    assert len(lines) == 10 and not any("\r" in line for line in lines)


def test_terminal_gets_a_tqdm_bar_and_plain_false_is_silent() -> None:
    bar = progress(total=5, desc="train", unit="steps", stream=_Terminal())
    assert not isinstance(bar, PlainProgress) and not bar.disable
    bar.close()
    quiet = progress(total=5, desc="train", unit="steps", plain=False, stream=io.StringIO())
    assert not isinstance(quiet, PlainProgress) and quiet.disable


def test_no_ccache_warning_when_paddle_is_imported_through_det_model() -> None:
    code = "import det_model.training.loop"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "ccache" not in result.stderr
