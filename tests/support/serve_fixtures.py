"""Fixture plugin of the tests that query `det-model serve` (tests/serving, tests/containers): the released
student exported once a session, and `det-model infer`'s records on this host for the sample images they
send, to compare the served answers with."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.serving import SAMPLE_IMAGES, export_released_student

SERVE_IMAGES = sorted(SAMPLE_IMAGES.glob("*.jpg"))[:4] if SAMPLE_IMAGES.is_dir() else []


@pytest.fixture(scope="session")
def served_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The released student as users export it (support.serving.export_released_student)."""
    return export_released_student(tmp_path_factory.mktemp("served_model"))


@pytest.fixture(scope="session")
def infer_records(served_model: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """`det-model infer`'s records (results.jsonl) for SERVE_IMAGES, keyed by file name."""
    from det_model.cli import main

    folder = tmp_path_factory.mktemp("infer_images")
    for path in SERVE_IMAGES:
        (folder / path.name).symlink_to(path.resolve())
    out = tmp_path_factory.mktemp("infer_out")
    assert main(["infer", "--model-dir", str(served_model), "--image", str(folder), "--out", str(out)]) == 0
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    return {Path(r["image"]).name: r for r in records}
