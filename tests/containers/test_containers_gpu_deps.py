"""The gpu target's dependency set resolves for its Python (3.12, Ubuntu 24.04's) on Linux x86_64.

Resolved by pip against PyPI with binary wheels only, for the target's interpreter and platform rather than
this one's (`pip install --dry-run --report --python-version ... --platform ...`): nothing is installed and no
image is built. paddlepaddle-gpu 3.x is published only on Paddle's own index (not reachable from every
network), so the check resolves the CPU paddlepaddle wheel of the same release in its place: that proves
Paddle ships this release for the target Python and that its Python dependencies agree with every other pin.
The CUDA build itself is asserted in the image by docker/check_paddle.py --cuda (see test_containers_scripts).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "docker"))
from requirements import requirements  # noqa: E402 (docker/ is a script folder, not a package)

pytestmark = pytest.mark.containers

GPU_PYTHON = "3.12"  # python3 of docker/Dockerfile's GPU_BASE (Ubuntu 24.04)
GLIBC_MINOR = 39  # Ubuntu 24.04's glibc 2.39: every manylinux_2_N with N <= 39 runs there
PLATFORMS = [f"manylinux_2_{n}_x86_64" for n in range(GLIBC_MINOR, 16, -1)] + [
    "manylinux2014_x86_64",
    "manylinux2010_x86_64",
    "manylinux1_x86_64",
]


def resolve(reqs: list[str], python: str, tmp_path: Path) -> dict[str, str]:
    """name -> version that pip would install for `python` on Linux x86_64 (binary wheels only)."""
    report = tmp_path / "report.json"
    platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet"]
        + ["--only-binary=:all:", "--implementation", "cp", "--python-version", python, *platforms]
        + ["--report", str(report), *reqs],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    installs = json.loads(report.read_text())["install"]
    return {i["metadata"]["name"].lower(): i["metadata"]["version"] for i in installs}


def test_gpu_image_dependency_set_resolves_for_its_python(tmp_path: Path) -> None:
    gpu = requirements(gpu=True)
    paddle_gpu = [r for r in gpu if r.startswith("paddlepaddle-gpu==")]
    assert len(paddle_gpu) == 1
    version = paddle_gpu[0].split("==")[1]
    stand_in = [r if r not in paddle_gpu else f"paddlepaddle=={version}" for r in gpu]
    resolved = resolve(stand_in, GPU_PYTHON, tmp_path)
    for pin in stand_in:
        name, want = pin.split("==")
        assert resolved.get(name.lower()) == want, f"{pin}: pip resolved {resolved.get(name.lower())}"


def test_resolution_check_rejects_a_python_that_the_pins_do_not_support(tmp_path: Path) -> None:
    """Python 3.10, as in Paddle's own 3.3.1 GPU images: numpy 2.4 and friends have no wheel for it."""
    with pytest.raises(AssertionError, match="numpy"):
        resolve(["numpy==2.4.6"], "3.10", tmp_path)
