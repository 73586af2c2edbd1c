"""The peer: PaddleOCR 2.7.3's own code, downloaded at bench time into bench/.cache (never committed).

- `paddleocr_root()`: `pip download --no-deps paddleocr==2.7.3`, unzipped; the `paddleocr/` folder holds
  `ppocr/` and `tools/` as PaddleOCR's repository does.
- `load_db_postprocess()`: `ppocr/postprocess/db_postprocess.py` loaded as a lone module in OUR venv (it only
  imports numpy, cv2, shapely, pyclipper and paddle).
- `peer_python()`: a separate venv (numpy < 2, imgaug 0.4.0 and the few libraries the detection transforms
  import), because imgaug does not work with numpy 2. The transforms run there in a subprocess
  (`bench/peer_transforms.py`) and report JSON.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType

from bench.common import CACHE_DIR, SectionSkipped

PADDLEOCR_VERSION = "2.7.3"
WHEEL_DIR = CACHE_DIR / "wheels"
UNPACKED_DIR = CACHE_DIR / f"paddleocr-{PADDLEOCR_VERSION}"
PEER_VENV = CACHE_DIR / "peer-venv"
# What PaddleOCR's detection transforms import (operators, label_ops, iaa_augment, random_crop_data,
# make_border_map, make_shrink_map, copy_paste), pinned below numpy 2 for imgaug. imgaug itself is installed
# without its dependencies: it would pull opencv-python (GUI build) next to the headless one.
PEER_REQUIREMENTS = ("numpy<2", "opencv-python-headless<4.12", "scipy", "scikit-image", "imageio", "shapely",
                     "pyclipper", "six", "Pillow")
PEER_NO_DEPS = ("imgaug==0.4.0",)


def _run(cmd: list[str], what: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-10:])
        raise SectionSkipped(f"{what} failed ({' '.join(cmd)}):\n{tail}")


def paddleocr_root() -> Path:
    """The unpacked `paddleocr/` folder of the paddleocr 2.7.3 wheel (downloaded on first use)."""
    root = UNPACKED_DIR / "paddleocr"
    if (root / "ppocr").is_dir():
        return root
    WHEEL_DIR.mkdir(parents=True, exist_ok=True)
    wheels = sorted(WHEEL_DIR.glob(f"paddleocr-{PADDLEOCR_VERSION}-*.whl"))
    if not wheels:
        _run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", f"paddleocr=={PADDLEOCR_VERSION}",
              "-d", str(WHEEL_DIR)], f"downloading paddleocr=={PADDLEOCR_VERSION}")
        wheels = sorted(WHEEL_DIR.glob(f"paddleocr-{PADDLEOCR_VERSION}-*.whl"))
    if not wheels:
        raise SectionSkipped(f"pip download left no paddleocr {PADDLEOCR_VERSION} wheel in {WHEEL_DIR}")
    with zipfile.ZipFile(wheels[0]) as wheel:
        wheel.extractall(UNPACKED_DIR)
    if not (root / "ppocr").is_dir():
        raise SectionSkipped(f"{wheels[0].name} has no paddleocr/ppocr folder")
    return root


def load_db_postprocess() -> type:
    """PaddleOCR's `DBPostProcess` class, from its own file, as a stand-alone module."""
    path = paddleocr_root() / "ppocr" / "postprocess" / "db_postprocess.py"
    spec = importlib.util.spec_from_file_location("paddleocr_peer_db_postprocess", path)
    if spec is None or spec.loader is None:
        raise SectionSkipped(f"cannot load {path}")
    module: ModuleType = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.DBPostProcess


def peer_python() -> Path:
    """The peer venv's interpreter, created with `python3 -m venv` and filled on first use."""
    python = PEER_VENV / "bin" / "python"
    stamp = PEER_VENV / ".bench-installed"
    if stamp.exists():
        return python
    if not python.exists():
        _run(["python3", "-m", "venv", str(PEER_VENV)], "creating the peer venv")
    _run([str(python), "-m", "pip", "install", "-q", *PEER_REQUIREMENTS], "installing the peer's libraries")
    _run([str(python), "-m", "pip", "install", "-q", "--no-deps", *PEER_NO_DEPS], "installing imgaug")
    _run([str(python), "-c", "import imgaug.augmenters, numpy, cv2, shapely, pyclipper"], "importing imgaug")
    stamp.write_text("\n".join(PEER_REQUIREMENTS + PEER_NO_DEPS) + "\n")
    return python


def peer_versions(python: Path) -> dict[str, str]:
    """Versions of the peer venv's libraries, for the report."""
    code = ("import json, importlib.metadata as m; names = ['numpy', 'imgaug', 'opencv-python-headless', "
            "'shapely', 'pyclipper', 'scikit-image', 'scipy']; out = {}\n"
            "for n in names:\n  try: out[n] = m.version(n)\n  except m.PackageNotFoundError: pass\n"
            "import platform; out['python'] = platform.python_version(); print(json.dumps(out))")
    proc = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
    import json

    return json.loads(proc.stdout) if proc.returncode == 0 else {}
