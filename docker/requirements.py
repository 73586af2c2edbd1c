"""Print the image's pip requirements from pyproject.toml, one a line.

    python docker/requirements.py            the [project] dependencies as pinned
    python docker/requirements.py --gpu      the same, with paddlepaddle==X swapped for paddlepaddle-gpu==X

The gpu target of docker/Dockerfile installs exactly `--gpu`'s output, and tests/containers checks offline
that this set resolves for the GPU image's Python and platform, so both read the pins from one place.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
CPU_PADDLE, GPU_PADDLE = "paddlepaddle==", "paddlepaddle-gpu=="


def requirements(pyproject: Path = PYPROJECT, gpu: bool = False) -> list[str]:
    """The dependencies; with gpu=True the CPU Paddle pin becomes the GPU package of the same version."""
    deps = list(tomllib.loads(pyproject.read_text())["project"]["dependencies"])
    if not gpu:
        return deps
    paddle = [d for d in deps if d.startswith(CPU_PADDLE)]
    if len(paddle) != 1:
        raise ValueError(f"{pyproject}: expected one '{CPU_PADDLE}<version>' dependency, found {paddle}")
    return [GPU_PADDLE + d.removeprefix(CPU_PADDLE) if d in paddle else d for d in deps]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpu", action="store_true", help="paddlepaddle-gpu instead of paddlepaddle")
    parser.add_argument("--pyproject", type=Path, default=PYPROJECT)
    args = parser.parse_args(argv)
    try:
        print("\n".join(requirements(args.pyproject, args.gpu)))
    except (OSError, KeyError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
