"""`python -m pipelines fetch-released`: the released ONNX out of the wheel, without its dependencies, and a clear
error when the index cannot be reached. pip is replaced by a fake runner: no network."""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path
from typing import Sequence

import pytest
from support.paths import RELEASED_ONNX

from pipelines import cli
from pipelines.released import MEMBER, WHEEL, ReleasedModelError, fetch_released

needs_onnx = pytest.mark.skipif(not RELEASED_ONNX.is_file(), reason=f"released ONNX not found at {RELEASED_ONNX}")


def fake_pip(member: bytes | None, returncode: int = 0, stderr: str = ""):
    calls: list[list[str]] = []

    def run(args: Sequence[str]) -> subprocess.CompletedProcess:
        calls.append(list(args))
        if member is not None:
            dest = Path(args[args.index("-d") + 1])
            with zipfile.ZipFile(dest / "rapidocr_onnxruntime-1.2.3-py3-none-any.whl", "w") as wheel:
                wheel.writestr(MEMBER, member)
        return subprocess.CompletedProcess(args, returncode, "", stderr)

    return run, calls


@needs_onnx
def test_the_onnx_is_taken_from_the_wheel_without_dependencies(tmp_path: Path) -> None:
    run, calls = fake_pip(RELEASED_ONNX.read_bytes())
    out = fetch_released(tmp_path / "m" / "det.onnx", run=run)
    assert out.read_bytes() == RELEASED_ONNX.read_bytes()
    assert "--no-deps" in calls[0] and WHEEL in calls[0]
    fetch_released(out, run=run)  # already there and intact: no second download
    assert len(calls) == 1


def test_an_unreachable_index_is_a_clear_error(tmp_path: Path) -> None:
    run, _ = fake_pip(None, returncode=1, stderr="ERROR: Could not find a version (from versions: none)")
    with pytest.raises(ReleasedModelError, match="could not download rapidocr-onnxruntime==1.2.3.*reachable"):
        fetch_released(tmp_path / "det.onnx", run=run)
    assert not (tmp_path / "det.onnx").exists()


def test_a_wheel_with_another_file_is_refused(tmp_path: Path) -> None:
    run, _ = fake_pip(b"not the model")
    with pytest.raises(ReleasedModelError, match="expected 2432880 bytes"):
        fetch_released(tmp_path / "det.onnx", run=run)
    assert not (tmp_path / "det.onnx").exists()


def test_the_cli_exits_with_the_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(out: Path) -> Path:
        raise ReleasedModelError("could not download it")

    monkeypatch.setattr("pipelines.released.fetch_released", failing)
    with pytest.raises(SystemExit, match="error: could not download it"):
        cli.main(["fetch-released", "--out", str(tmp_path / "x.onnx")])
