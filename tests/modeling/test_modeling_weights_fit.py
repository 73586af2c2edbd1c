"""The rule for weights a run depends on (rows 1 and 2 of issue 16): what may be missing, and what stops."""

from __future__ import annotations

import logging

import pytest

from det_model.modeling.weights import LoadReport, require_fit

BACKBONE = ["backbone.conv.weight", "backbone.stage.weight"]
NECK_HEAD = ["neck.in.weight", "head.binarize.conv1.weight"]
THRESH = ["head.thresh.conv1.weight", "head.thresh.conv3.bias"]


def _report(loaded, missing=(), mismatched=(), unexpected=()) -> LoadReport:
    return LoadReport("w.pdparams", loaded=list(loaded), missing=list(missing),
                      shape_mismatched=list(mismatched), unexpected=list(unexpected))


@pytest.mark.parametrize("report, full, error", [
    (_report(BACKBONE + NECK_HEAD + THRESH), False, None),  # everything
    (_report(BACKBONE + NECK_HEAD, THRESH), False, None),  # import-onnx output: threshold branch at init
    (_report(BACKBONE, NECK_HEAD + THRESH), False, None),  # ImageNet backbone (PaddleOCR pretrain_models)
    (_report(["Student." + k for k in BACKBONE + NECK_HEAD], ["Student." + k for k in THRESH]), False, None),
    (_report(BACKBONE + ["head.binarize.conv1.weight"], ["neck.in.weight"]), False,
     r"loaded 3 of 4 model keys; missing 1 \(first: neck\.in\.weight\)"),
    (_report(BACKBONE[:1] + NECK_HEAD, THRESH, [("backbone.stage.weight", (8, 3), (16, 3))]), False,
     r".*; shape-mismatched 1 \(first: backbone\.stage\.weight file \[8, 3\] vs model \[16, 3\]\)"),
    (_report(BACKBONE + NECK_HEAD, THRESH), True, r".*; missing 2 \(first: head\.thresh\..*frozen sub-model must load"),
    (_report(["head.binarize.conv1.weight"], BACKBONE + ["neck.in.weight"] + THRESH), False,
     r"loaded 1 of 6 model keys; missing 3"),  # "loaded 1, missing 303": a wrong file
])
def test_require_fit(report: LoadReport, full: bool, error) -> None:
    if error is None:
        require_fit(report, "Global.pretrained_model", full=full)
    else:
        with pytest.raises(ValueError, match=r"Global\.pretrained_model=w\.pdparams does not fit the model: " + error):
            require_fit(report, "Global.pretrained_model", full=full)


def test_tolerated_missing_keys_are_a_warning(caplog) -> None:
    with caplog.at_level(logging.WARNING):
        require_fit(_report(BACKBONE, NECK_HEAD + THRESH), "Global.pretrained_model")
    assert "4 keys start from initialisation (first: neck.in.weight)" in caplog.text
