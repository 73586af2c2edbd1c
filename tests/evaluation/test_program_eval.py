"""Evaluation through the inference program: the same maps as `det-model infer`'s predictor, and the switch."""

from __future__ import annotations

import numpy as np
import paddle
from support.infer_fixtures import config, random_weights

from det_model.export import export_model
from det_model.inference.detector import TextDetector
from det_model.inference.predictor import run_predictor
from det_model.modeling import build_model, load_weights
from det_model.program_eval import forward_builder, program_forward

STUDENT = "ch_PP-OCRv3_det_student.yml"


def test_program_forward_gives_infer_maps_bit_for_bit(tmp_path):
    weights = random_weights(config(STUDENT), tmp_path / "student.pdparams")
    (folder,) = export_model(
        config(STUDENT, f"Global.pretrained_model={weights}", f"Global.save_inference_dir={tmp_path / 'inf'}",
               "Global.export_onnx=false")
    ).values()
    model = build_model(config(STUDENT).Architecture)
    load_weights(model, str(weights))
    model.train()
    forward = program_forward(model)
    assert model.training  # the caller's mode is back
    x = np.random.default_rng(3).standard_normal((2, 3, 96, 128)).astype(np.float32)
    expected = run_predictor(TextDetector(folder).predictor, x)
    np.testing.assert_array_equal(forward(paddle.to_tensor(x)), expected)
    np.testing.assert_array_equal(forward(x), expected)


def test_switch_turns_the_program_off():
    assert forward_builder(config(STUDENT)) is program_forward
    assert forward_builder(config(STUDENT, "Global.eval_with_inference_program=false")) is None
