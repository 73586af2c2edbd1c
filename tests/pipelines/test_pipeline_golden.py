"""The compiled pipeline against a reviewed copy: any change of wiring, resources, defaults or component
source shows up as a diff of tests/pipelines/golden/ppocrv3_det.yaml.

After an intended change, regenerate the copy and review its diff with the code:
`make golden` (or `UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/pipelines/test_pipeline_golden.py`).
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

from pipelines.cli import main

GOLDEN = Path(__file__).resolve().parent / "golden" / "ppocrv3_det.yaml"


def test_compiled_pipeline_matches_the_golden_file(tmp_path: Path) -> None:
    out = tmp_path / "ppocrv3_det.yaml"
    assert main(["compile", "-o", str(out)]) == 0
    compiled = out.read_text(encoding="utf-8")
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.write_text(compiled, encoding="utf-8")
    golden = GOLDEN.read_text(encoding="utf-8")
    diff = "".join(
        difflib.unified_diff(golden.splitlines(True), compiled.splitlines(True), str(GOLDEN), "compiled", n=2)
    )
    assert not diff, f"the compiled pipeline changed (`make golden` after review):\n{diff[:6000]}"
