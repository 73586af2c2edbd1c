"""The gpu target's dependency set resolves for its Python (3.11 on Ubuntu 22.04, glibc 2.35) on Linux x86_64.

Nothing is installed and no image is built: pip resolves the set against PyPI (`install --dry-run --report`)
and every file it picked must be a wheel whose tags run on cp311 / manylinux_2_35_x86_64, or a pure-Python
sdist (kfp-server-api ships only one). paddlepaddle-gpu 3.x is published only on Paddle's own index (not
reachable from every network), so the check resolves the CPU paddlepaddle wheel of the same release in its
place: that proves Paddle ships this release for the target Python and that its Python dependencies agree with
every other pin. The CUDA build itself is asserted inside the image by `docker/check_paddle.py --cuda`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.tags import compatible_tags, cpython_tags
from packaging.utils import canonicalize_name, parse_wheel_filename

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "docker"))
from requirements import requirements  # noqa: E402 (docker/ is a script folder, not a package)

pytestmark = pytest.mark.containers

GLIBC_MINOR = 35  # Ubuntu 22.04 (docker/Dockerfile's GPU_BASE): every manylinux_2_N with N <= 35 runs there
PLATFORMS = [f"manylinux_2_{n}_x86_64" for n in range(GLIBC_MINOR, 4, -1)] + [
    "manylinux2014_x86_64",
    "manylinux2010_x86_64",
    "manylinux1_x86_64",
    "linux_x86_64",
]
PURE_SDISTS = {"kfp-server-api"}  # pure-Python packages published only as sdists


def target_tags(python: tuple[int, int]) -> set:
    return set(cpython_tags(python, platforms=PLATFORMS)) | set(
        compatible_tags(python, f"cp{python[0]}{python[1]}", PLATFORMS)
    )


def pip_report(args: list[str], tmp_path: Path) -> list[dict]:
    report = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet"]
        + ["--report", str(report), *args],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(report.read_text())["install"]


def resolve_for(reqs: list[str], python: str, tmp_path: Path) -> list[dict]:
    """pip's resolution for another interpreter and platform (wheels only: pip's rule for --platform)."""
    platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
    return pip_report(["--only-binary=:all:", "--python-version", python, *platforms, *reqs], tmp_path)


def test_gpu_image_dependency_set_resolves_for_its_python(tmp_path: Path) -> None:
    if sys.version_info[:2] != (3, 11):
        pytest.skip("resolves with this interpreter, so it must be the gpu target's Python 3.11")
    gpu = requirements(gpu=True)
    paddle_gpu = [r for r in gpu if r.startswith("paddlepaddle-gpu==")]
    assert len(paddle_gpu) == 1
    stand_in = [f"paddlepaddle=={r.split('==')[1]}" if r in paddle_gpu else r for r in gpu]
    installs = pip_report(stand_in, tmp_path)
    versions = {canonicalize_name(i["metadata"]["name"]): i["metadata"]["version"] for i in installs}
    for pin in stand_in:
        name, want = pin.split("==")
        got = versions.get(canonicalize_name(name))
        assert got == want, f"{pin}: pip resolved {got}"
    tags = target_tags((3, 11))
    for item in installs:
        filename = item["download_info"]["url"].rsplit("/", 1)[-1]
        name = canonicalize_name(item["metadata"]["name"])
        if not filename.endswith(".whl"):
            assert name in PURE_SDISTS, f"{filename}: an sdist that would be compiled in the image"
            continue
        assert parse_wheel_filename(filename)[3] & tags, f"{filename} does not run on cp311/glibc 2.35"


@pytest.mark.parametrize(
    "python, pin, missing",
    [
        ("3.10", "numpy==2.4.6", "numpy"),  # Paddle's own 3.3.1 GPU images: numpy 2.4 needs >= 3.11
        ("3.12", "paddle2onnx==2.0.1", "onnxoptimizer==0.3.13"),  # Ubuntu 24.04's Python: no wheel
    ],
)
def test_pins_do_not_resolve_for_the_pythons_of_the_alternatives(
    tmp_path: Path, python: str, pin: str, missing: str
) -> None:
    """Why the gpu target is neither Paddle's image (3.10) nor a 3.12 one; also shows the check can fail."""
    with pytest.raises(AssertionError, match=missing):
        resolve_for([pin], python, tmp_path)
