"""The released PP-OCRv3 detector for `make run`, taken from the package registry instead of Baidu's servers.

The `rapidocr-onnxruntime==1.2.3` wheel carries PaddleOCR's `ch_PP-OCRv3_det_infer.onnx`. Only that file is
taken: `pip download --no-deps` fetches the wheel alone (its declared dependencies would pull the non-headless
OpenCV), and the member is read out of the zip, checked against its known size and sha256, and written
atomically. Nothing is installed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Callable, Sequence

WHEEL = "rapidocr-onnxruntime==1.2.3"
MEMBER = "rapidocr_onnxruntime/models/ch_PP-OCRv3_det_infer.onnx"
SIZE = 2_432_880
SHA256 = "3439588c030faea393a54515f51e983d8e155b19a2e8aba7891934c1cf0de526"
DEFAULT_PATH = Path(".cache/released/ch_PP-OCRv3_det_infer.onnx")

Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


class ReleasedModelError(RuntimeError):
    """The released model could not be obtained; the message says why and what to do instead."""


def _pip(args: Sequence[str]) -> "subprocess.CompletedProcess[str]":
    return subprocess.run(list(args), capture_output=True, text=True, timeout=600)


def download_command(dest: Path) -> list[str]:
    pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    return pip + [WHEEL, "-d", str(dest)]


def _is_released(path: Path) -> bool:
    return path.is_file() and path.stat().st_size == SIZE and _sha256(path.read_bytes()) == SHA256


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _member_of(wheel: Path) -> bytes:
    with zipfile.ZipFile(wheel) as archive:
        if MEMBER not in archive.namelist():
            raise ReleasedModelError(f"{wheel.name}: no {MEMBER} inside")
        data = archive.read(MEMBER)
    if len(data) != SIZE or _sha256(data) != SHA256:
        raise ReleasedModelError(
            f"{wheel.name}:{MEMBER}: {len(data)} bytes, sha256 {_sha256(data)}; "
            f"expected {SIZE} bytes, {SHA256}"
        )
    return data


def fetch_released(out: Path = DEFAULT_PATH, run: Runner = _pip) -> Path:
    """`out` holding the released ONNX (kept when already there and intact); raises ReleasedModelError."""
    out = Path(out)
    if _is_released(out):
        return out
    with tempfile.TemporaryDirectory(prefix="released-") as tmp:
        result = run(download_command(Path(tmp)))
        wheels = sorted(Path(tmp).glob("*.whl"))
        if result.returncode != 0 or not wheels:
            tail = " | ".join((result.stderr or result.stdout or "").strip().splitlines()[-3:])
            raise ReleasedModelError(
                f"could not download {WHEEL} from the package index (is it reachable? pip exit "
                f"{result.returncode}: {tail or 'no output'}). Without network, copy "
                f"ch_PP-OCRv3_det_infer.onnx (sha256 {SHA256}) to {out}"
            )
        data = _member_of(wheels[0])
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    partial.write_bytes(data)
    os.replace(partial, out)
    return out
