"""Fail an image build whose Paddle is not the pinned version, or (with --cuda) not a CUDA build.

    python docker/check_paddle.py REQUIREMENTS [--cuda]

REQUIREMENTS is the file docker/requirements.py wrote; its paddlepaddle(-gpu)==X line is the expected
version. Neither check needs a GPU, so the gpu target is verified on any build machine.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

PIN = re.compile(r"^paddlepaddle(?:-gpu)?==(\S+)$")


def pinned_version(requirements: Path) -> str:
    pins = [m.group(1) for line in requirements.read_text().splitlines() if (m := PIN.match(line.strip()))]
    if len(pins) != 1:
        raise ValueError(f"{requirements}: expected one paddlepaddle pin, found {pins}")
    return pins[0]


def problems(want_version: str, cuda: bool) -> list[str]:
    import paddle

    found = []
    if paddle.__version__ != want_version:
        found.append(f"paddle {paddle.__version__} is installed, the pin is {want_version}")
    if cuda and not paddle.is_compiled_with_cuda():
        found.append(f"paddle {paddle.__version__} is not a CUDA build (is_compiled_with_cuda() is False)")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("requirements", type=Path)
    parser.add_argument("--cuda", action="store_true", help="also require a CUDA build of Paddle")
    args = parser.parse_args(argv)
    try:
        found = problems(pinned_version(args.requirements), args.cuda)
    except (OSError, ValueError) as exc:
        found = [str(exc)]
    for problem in found:
        print(f"error: {problem}", file=sys.stderr)
    if not found:
        import paddle

        kind = f"CUDA {paddle.version.cuda()}, cuDNN {paddle.version.cudnn()}" if args.cuda else "CPU"
        print(f"paddle {paddle.__version__} ({kind}) on Python {sys.version.split()[0]}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
