"""Each recipe run end to end through kfp.local on tiny settings: the tasks that must run ran, the others did
not, evaluate and export got the branch's student. Slow (one to a few minutes each on 2 cores)."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
from support.kfp_helpers import component_base

from det_model.config import config_path, load_config
from det_model.modeling.weights import save_params
from det_model.training.pretrained import sub_model_layers
from pipelines.local import TINY, run_local

pytestmark = pytest.mark.slow

RAN = {
    "full": {"fetch-hiertext", "train-dml-teacher", "extract-params", "train-cml-student", "evaluate", "export"},
    "dml-finetune": {"fetch-hiertext", "train-dml-teacher", "extract-params", "train-cml-student", "evaluate",
                     "export"},
    "cml-finetune": {"fetch-hiertext", "train-cml-student", "evaluate", "export"},
    "student-finetune": {"fetch-hiertext", "train-cml-student", "evaluate", "export"},
}


@pytest.fixture(scope="module")
def distill_tar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stand-in for PaddleOCR's published ch_PP-OCRv3_det_distill_train.tar: Student, Student2, Teacher."""
    root = tmp_path_factory.mktemp("published")
    rng = np.random.default_rng(0)
    layers = sub_model_layers(load_config(config_path("ch_PP-OCRv3_det_cml.yml")))

    def stand_in(key: str, shape: tuple) -> np.ndarray:  # batch-norm variances positive, as in any checkpoint
        value = rng.uniform(0.5, 1.5, size=shape) if key.endswith("_variance") else rng.normal(size=shape) * 0.05
        return value.astype("float32")

    params = {
        f"{name}.{key}": stand_in(key, value.shape)
        for name, layer in layers.items()
        for key, value in layer.state_dict().items()
    }
    save_params(params, root / "ch_PP-OCRv3_det_distill_train" / "best_accuracy")
    archive = root / "ch_PP-OCRv3_det_distill_train.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(root / "ch_PP-OCRv3_det_distill_train", arcname="ch_PP-OCRv3_det_distill_train")
    return archive


def arguments(recipe: str, checkpoint: Path) -> dict:
    uri = str(checkpoint)
    return {
        "full": {"recipe": "full", "student_pretrained_uri": ""},
        "dml-finetune": {"recipe": "dml-finetune", "teacher_pretrained_uri": uri, "student_pretrained_uri": uri},
        "cml-finetune": {"recipe": "cml-finetune", "teacher_pretrained_uri": uri, "student_pretrained_uri": uri},
        "student-finetune": {"recipe": "student-finetune", "student_pretrained_uri": uri},
    }[recipe]


@pytest.mark.parametrize("recipe", sorted(RAN))
def test_recipe_runs_locally(recipe: str, distill_tar: Path, tmp_path: Path) -> None:
    run = run_local({**TINY, **arguments(recipe, distill_tar)}, tmp_path)
    ran = {p.name for p in run.run_dir.iterdir() if (p / "executor_output.json").exists()}
    assert {component_base(name) for name in ran} == RAN[recipe]
    assert len(ran) == len(RAN[recipe])  # one task per component: the other branches did not run
    student = next(run.run_dir / name for name in ran if component_base(name) == "train-cml-student")
    model_meta = json.loads((student / "executor_output.json").read_text())["artifacts"]["model"]["artifacts"][0]
    assert model_meta["metadata"]["recipe"] == recipe
    assert 0.0 <= run.metrics["hmean"] <= 1.0 and run.metrics["images"] > 0
    assert ("start_hmean" in run.metrics) == (recipe != "full")  # full here starts its students from scratch
    assert (run.serving / "inference.pdiparams").exists()
    assert (run.serving.name == "Student") == (recipe != "student-finetune")  # CML exports one folder a model
    expected = {  # task -> sub-model -> the part of the checkpoint it got (None: a plain file)
        "full": {"train-cml-student": {"Teacher": None}, "train-dml-teacher": {}},
        "dml-finetune": {"train-cml-student": {"Student": "Student", "Student2": "Student2", "Teacher": None},
                         "train-dml-teacher": {"Student": "Teacher", "Student2": "Teacher"}},
        "cml-finetune": {"train-cml-student": {"Student": "Student", "Student2": "Student2", "Teacher": "Teacher"}},
        "student-finetune": {"train-cml-student": {"Student": "Student"}},
    }[recipe]
    for name in ran:
        if component_base(name) in expected:
            record = json.loads((run.run_dir / name / "pretrained" / "pretrained.json").read_text())
            assert {k: v["part"] for k, v in record.items()} == expected[component_base(name)], name
    report = (run.run_dir / "evaluate" / "report").read_text()
    assert ("<th>starting weights</th><th>trained</th>" in report) == (recipe != "full")
    assert ("teacher trained in this run" in report) == (recipe in ("full", "dml-finetune"))
