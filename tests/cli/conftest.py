"""Fixtures for the command-line tests: random-init student weights (a file `eval` can load)."""

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def student_weights(tmp_path_factory) -> Path:
    import paddle

    from det_model.config import config_path, load_config
    from det_model.modeling import build_model

    paddle.seed(0)
    model = build_model(load_config(config_path("ch_PP-OCRv3_det_student.yml")).Architecture)
    path = tmp_path_factory.mktemp("weights") / "student.pdparams"
    paddle.save(model.state_dict(), str(path))
    return path
